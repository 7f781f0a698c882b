// Copies between Python buffers and shared memory, the large ones with the GIL released.
//
// A pickle envelope (warmpool/_codec.py) is a head followed by each out-of-band buffer at the
// next multiple of 64: write_envelope lays it out straight into a job's argument blob, so a
// 64 MiB bytes argument is copied once. materialize() is the one copy of a result's buffer out
// of shared memory, into a new bytes or bytearray whose memory got huge-page advice before being
// touched (fresh 4 KiB pages cost microseconds each to fault in).
#pragma once

#include <pybind11/pybind11.h>

#include <cstddef>
#include <span>
#include <vector>

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

constexpr std::size_t kEnvelopeAlign = 64;
inline std::size_t align_up(std::size_t n) { return (n + kEnvelopeAlign - 1) / kEnvelopeAlign * kEnvelopeAlign; }

// The envelope's size: the head, then each buffer at the next multiple of 64 (the head is
// already padded so that the first starts right after it).
std::size_t envelope_bytes(const HeldBuffer& head, const std::vector<HeldBuffer>& buffers);
// Writes it to `out` (envelope_bytes() of room). Touches no Python object: callable without the GIL.
void write_envelope(std::byte* out, const HeldBuffer& head, const std::vector<HeldBuffer>& buffers);

// A new bytes (readonly) or bytearray holding a copy of `view`'s bytes.
py::object materialize(const py::handle& view, bool readonly);
// The same from raw memory that stays valid while this runs.
py::object materialize_bytes(std::span<const std::byte> bytes, bool readonly);

}  // namespace warmpool::python
