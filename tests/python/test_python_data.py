"""Large bytes-like arguments and results (64 MiB, through shared-memory blobs) and NumPy arrays
(pickle-5 out-of-band buffers), both ways, with Python jobs."""

import hashlib

import numpy
import pytest

import warmpool

import py_jobs

SIZE = 64 << 20


@pytest.fixture(scope="module")
def data():
    # Not one repeated byte: a misplaced or dropped page would show.
    return bytes(range(256)) * (SIZE // 256 - 1) + hashlib.sha256(b"tail").digest() * 8


@pytest.fixture
def executor(shared_python_pool):
    with warmpool.Executor(shared_python_pool.name, shared_python_pool.dir) as ex:
        yield ex


@pytest.mark.parametrize("make, received, returned", [
    (bytes, "bytes", bytes),
    (bytearray, "bytearray", bytearray),
    (memoryview, "bytes", bytes),
], ids=["bytes", "bytearray", "memoryview"])
def test_64_mib_argument_and_echo(executor, data, make, received, returned):
    assert len(data) == SIZE
    value = make(data)
    kind, size, digest = executor.submit(py_jobs.describe, value).result(timeout=60)
    assert (kind, size, digest) == (received, SIZE, hashlib.md5(data).hexdigest())
    echoed = executor.submit(py_jobs.echo, value).result(timeout=60)
    assert type(echoed) is returned
    assert echoed == data


@pytest.mark.parametrize("kind, returned", [("bytes", bytes), ("bytearray", bytearray), ("memoryview", bytes)])
def test_64_mib_result(shared_python_pool, kind, returned):
    client = warmpool.Client(shared_python_pool.name, shared_python_pool.dir)
    result = client.call(py_jobs.make, kind, SIZE, 0xA5)
    assert type(result) is returned
    assert len(result) == SIZE and result == b"\xa5" * SIZE


@pytest.mark.parametrize("array", [
    numpy.arange(2_000_000, dtype=numpy.float64).reshape(1000, 2000) / 7,   # 16 MB: out of band
    numpy.arange(60, dtype=numpy.int16).reshape(3, 4, 5),                  # small: in the stream
    numpy.asfortranarray(numpy.arange(120_000, dtype=numpy.int32).reshape(300, 400)),
], ids=["float64-16MB", "int16-small", "int32-fortran"])
def test_numpy_array_both_ways(executor, array):
    result, argument_writable = executor.submit(py_jobs.array_plus_one, array).result(timeout=60)
    assert isinstance(result, numpy.ndarray)
    assert result.dtype == array.dtype and result.shape == array.shape
    assert numpy.array_equal(result, array + 1)
    assert argument_writable
    assert result.flags.writeable
    result[(0,) * result.ndim] = 42  # it is the caller's own array
    echoed = executor.submit(py_jobs.echo, array).result(timeout=60)
    assert echoed.dtype == array.dtype and echoed.shape == array.shape and numpy.array_equal(echoed, array)
    assert echoed.flags.writeable
