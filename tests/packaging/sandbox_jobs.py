"""Python jobs that do what the service's sandbox must allow a Python job: NumPy arithmetic
(its import loads BLAS and starts its threads) and a ctypes callback (libffi closures, which
must not need memory both writable and executable)."""
import ctypes
import ctypes.util

import numpy

import warmpool

_libc = ctypes.CDLL(ctypes.util.find_library("c"))
_COMPARE = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_long), ctypes.POINTER(ctypes.c_long))


@warmpool.job
def numpy_dot(values):
    a = numpy.array(values, dtype=numpy.float64)
    return float(a @ a)


@warmpool.job
def ctypes_sort(values):
    """Sorts with libc's qsort calling back into Python for every comparison."""
    compare = _COMPARE(lambda a, b: (a[0] > b[0]) - (a[0] < b[0]))
    array = (ctypes.c_long * len(values))(*values)
    _libc.qsort(array, len(values), ctypes.sizeof(ctypes.c_long), compare)
    return list(array)
