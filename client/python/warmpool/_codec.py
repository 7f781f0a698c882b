"""The pickle envelope: how Python arguments and results travel (kJobPickle; docs/PROTOCOL.md).

One envelope is one pickled object with its large buffers beside it rather than inside it, so
a 64 MiB bytes object or a NumPy array is written once, straight into shared memory:

    offset 0    b"WPK5", u32 buffer count n                       (little-endian)
    offset 8    u64 length of the pickle stream
    offset 16   n x {u64 length, u32 flags (bit 0: read-only), u32 reserved}
    then        the pickle stream (protocol 5)
    then        each buffer, at the next multiple of 64 after what precedes it

A read-only buffer comes back as `bytes`, a writable one as `bytearray` (NumPy wraps it: the
array is writable and owns its memory, as after any unpickling). This module is shared by the
client and the worker; the native parts that write and copy large buffers live beside them.
"""

from __future__ import annotations

import pickle
import struct

MAGIC = b"WPK5"
HEADER = struct.Struct("<4sIQ")
BUFFER_ENTRY = struct.Struct("<QII")
ALIGN = 64
# Buffers smaller than this stay inside the pickle stream: a table entry and padding cost more
# than the copy saves.
OUT_OF_BAND_MIN = 4096
FLAG_READONLY = 1


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def _from_buffer_bytes(buffer):
    """Rebuilds a top-level bytes (or memoryview) argument or result sent out of band."""
    return buffer if type(buffer) is bytes else bytes(buffer)


def _from_buffer_bytearray(buffer):
    return buffer if type(buffer) is bytearray else bytearray(buffer)


class _OutOfBand:
    """Wraps one large top-level bytes, bytearray or memoryview so that it leaves the stream.

    Pickle never asks a reducer about exact bytes objects, so only values the envelope itself
    sees (the call's arguments, a job's result) can go out of band this way; a NumPy array does
    so wherever it is, by itself.
    """

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value

    def __reduce_ex__(self, protocol):
        value = self.value
        if type(value) is bytearray:
            return _from_buffer_bytearray, (pickle.PickleBuffer(value),)
        view = memoryview(value)
        if not view.contiguous:
            return _from_buffer_bytes, (view.tobytes(),)
        return _from_buffer_bytes, (pickle.PickleBuffer(view.toreadonly()),)


_BYTES_LIKE = (bytes, bytearray, memoryview)


def _large_buffer(value) -> bool:
    t = type(value)
    if t is memoryview:
        return True  # pickle refuses memoryviews; this way they arrive as bytes
    return (t is bytes or t is bytearray) and len(value) >= OUT_OF_BAND_MIN


def wrap_value(value):
    """A value to pickle, with a large bytes-like object marked to go out of band."""
    return _OutOfBand(value) if type(value) in _BYTES_LIKE and _large_buffer(value) else value


def wrap_call(args: tuple, kwargs: dict):
    """(args, kwargs) of a call, its large bytes-like arguments marked to go out of band.
    (Loops rather than any() over a generator: this runs for every call.)"""
    for a in args:
        if type(a) in _BYTES_LIKE and _large_buffer(a):
            args = tuple(map(wrap_value, args))
            break
    if kwargs:
        for v in kwargs.values():
            if type(v) in _BYTES_LIKE and _large_buffer(v):
                kwargs = {k: wrap_value(v) for k, v in kwargs.items()}
                break
    return args, kwargs


def dumps(obj):
    """Encodes obj. Returns (head, buffers, total): the payload is `head` followed by each buffer
    at the next multiple of 64 (join() does it in Python; the native writers do the same in
    shared memory). `head` is padded so that the first buffer starts at len(head)."""
    buffers = []

    def keep_out_of_band(picklebuffer):
        view = picklebuffer.raw()
        if view.nbytes < OUT_OF_BAND_MIN:
            return True  # in band
        buffers.append(view)
        return False

    stream = pickle.dumps(obj, protocol=5, buffer_callback=keep_out_of_band)
    if not buffers:
        return HEADER.pack(MAGIC, 0, len(stream)) + stream, buffers, HEADER.size + len(stream)
    parts = [HEADER.pack(MAGIC, len(buffers), len(stream))]
    for view in buffers:
        parts.append(BUFFER_ENTRY.pack(view.nbytes, FLAG_READONLY if view.readonly else 0, 0))
    parts.append(stream)
    head = b"".join(parts)
    head += bytes(_align(len(head)) - len(head))
    total = len(head)
    for i, view in enumerate(buffers):
        if i:
            total = _align(total)
        total += view.nbytes
    return head, buffers, total


def join(head: bytes, buffers) -> bytes:
    """The whole payload as one bytes object (small payloads; large ones are written in place)."""
    if not buffers:
        return head
    out = bytearray(head)
    for i, view in enumerate(buffers):
        if i:
            out += bytes(_align(len(out)) - len(out))
        out += view
    return bytes(out)


def _copy(view, readonly):
    return bytes(view) if readonly else bytearray(view)


def loads(payload, materialize=_copy):
    """Decodes a payload (any bytes-like object). `materialize(view, readonly)` turns each
    out-of-band buffer into the object the stream expects (bytes when read-only, else
    bytearray); the native parts pass one that copies with huge pages. Raises ValueError on
    a malformed envelope."""
    view = memoryview(payload)
    if view.ndim != 1 or view.itemsize != 1:
        view = view.cast("B")
    if view.nbytes < HEADER.size:
        raise ValueError("pickle envelope: shorter than its header")
    magic, count, stream_bytes = HEADER.unpack_from(view, 0)
    if magic != MAGIC:
        raise ValueError("pickle envelope: bad magic")
    if count == 0:  # most calls and results: the stream alone
        if HEADER.size + stream_bytes != view.nbytes:
            raise ValueError("pickle envelope: its length does not match the payload's")
        return pickle.loads(view[HEADER.size:])
    table_end = HEADER.size + count * BUFFER_ENTRY.size
    if count > view.nbytes // BUFFER_ENTRY.size or table_end + stream_bytes > view.nbytes:
        raise ValueError("pickle envelope: lengths beyond the payload")
    stream = view[table_end:table_end + stream_bytes]
    buffers = []
    at = _align(table_end + stream_bytes)
    for i in range(count):
        length, flags, _ = BUFFER_ENTRY.unpack_from(view, HEADER.size + i * BUFFER_ENTRY.size)
        if i:
            at = _align(at)
        if length > view.nbytes - at:
            raise ValueError("pickle envelope: a buffer runs past the payload")
        buffers.append(materialize(view[at:at + length], bool(flags & FLAG_READONLY)))
        at += length
    if at != view.nbytes:
        raise ValueError("pickle envelope: trailing bytes")
    return pickle.loads(stream, buffers=buffers)


# ---------------------------------------------------------------------------------------------
# Exceptions. A job that raises ends as handler_error; its reply's payload is the exception's
# text (type, message and the remote traceback) and, for a pickle call, a marker and the
# pickled exception, so a Python caller can raise the original.

EXCEPTION_MARKER = b"\0warmpool-exception\0"


def describe_exception(exc: BaseException) -> str:
    import traceback  # only when a job fails: a client script starts faster without it
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    head = f"{type(exc).__module__}.{type(exc).__qualname__}" if type(exc).__module__ != "builtins" \
        else type(exc).__qualname__
    return f"{head}: {exc}\n\n{text}"


def encode_exception(exc: BaseException, with_pickle: bool) -> bytes:
    text = describe_exception(exc).encode("utf-8", "backslashreplace")
    if not with_pickle:
        return text
    try:
        pickled = pickle.dumps(exc, protocol=5)
        pickle.loads(pickled)  # an exception that pickles but cannot be rebuilt is sent as text
    except Exception:
        return text
    return text + EXCEPTION_MARKER + pickled


def decode_exception(payload: bytes):
    """(text, exception or None) from a handler_error payload."""
    text, marker, pickled = bytes(payload).partition(EXCEPTION_MARKER)
    exc = None
    if marker:
        try:
            exc = pickle.loads(pickled)
        except Exception:
            exc = None
        if not isinstance(exc, BaseException):
            exc = None
    return text.decode("utf-8", "replace"), exc
