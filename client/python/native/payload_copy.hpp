// Copies between Python buffers and shared memory, the large ones with the GIL released.
//
// hold_buffer() keeps a Python object's bytes for a copy (the envelope is laid out by
// warmpool/common/pickle_envelope.hpp, straight into a job's argument blob, so a 64 MiB bytes
// argument is copied once). materialize() is the one copy of a result's buffer out
// of shared memory, into a new bytes or bytearray whose memory got huge-page advice before being
// touched (fresh 4 KiB pages cost microseconds each to fault in).
#pragma once

#include <pybind11/pybind11.h>

#include <cstddef>
#include <span>

namespace warmpool::python {

namespace py = pybind11;

// One contiguous byte range of a Python object, held (with its Py_buffer) while copied.
struct HeldBuffer {
    py::buffer_info info;
    std::span<const std::byte> bytes() const {
        return {static_cast<const std::byte*>(info.ptr), static_cast<std::size_t>(info.size * info.itemsize)};
    }
};

// Requests a C-contiguous read-only view; raises BufferError for anything else.
HeldBuffer hold_buffer(const py::handle& object);

// A new bytes (readonly) or bytearray holding a copy of `view`'s bytes.
py::object materialize(const py::handle& view, bool readonly);
// The same from raw memory that stays valid while this runs.
py::object materialize_bytes(std::span<const std::byte> bytes, bool readonly);

}  // namespace warmpool::python
