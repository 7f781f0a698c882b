"""Exports a Python job named like one of the C++ example jobs: an initialisation error."""
import warmpool


@warmpool.job(name="gcd")
def gcd(pair):
    return 0
