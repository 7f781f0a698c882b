"""The Process + Pipe md5 article's work on a warm pool: the messages go to the exported
md5_worker.Md5Chain, whose 10 s initialisation each worker did once when the pool started.
Run it twice: both runs take about the md5 work alone (see README.md).

    /usr/bin/python3 examples/python/md5_warm.py
"""
import sys
import time

import warmpool

from md5_worker import Md5Chain

MESSAGES = ["Hello World", "Hello Python", "Hello warmpool", "Goodbye World"]
EXPECTED_FIRST = "1e4110cf294414bc2ac346ad274a7af3"  # "Hello World", a million rounds


def main():
    start = time.time()
    with warmpool.Executor() as pool:
        results = list(pool.map(Md5Chain, MESSAGES))  # runs on each worker's one Md5Chain()
    delta = time.time() - start
    for msg, digest in zip(MESSAGES, results):
        print(f"{msg!r:18} -> {digest}")
    print(f"warmpool: took {delta:.3f} seconds")
    return 0 if results[0] == EXPECTED_FIRST else 1


if __name__ == "__main__":
    sys.exit(main())
