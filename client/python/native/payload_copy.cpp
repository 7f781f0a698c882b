#include "payload_copy.hpp"

#include <cstring>

#include "warmpool/common/large_copy.hpp"
#include "warmpool/huge_page_advice.hpp"
#include "without_gil.hpp"

namespace warmpool::python {

namespace {

// Below this a copy takes less than a GIL hand-over would.
constexpr std::size_t kReleaseGilMin = 256 * 1024;

void copy(std::byte* out, std::span<const std::byte> in) {
    if (in.size() >= kReleaseGilMin) {
        without_gil([&] { copy_large(out, in.data(), in.size()); });
    } else if (!in.empty()) {
        std::memcpy(out, in.data(), in.size());
    }
}

}  // namespace

HeldBuffer hold_buffer(const py::handle& object) {
    auto* view = new Py_buffer();
    if (PyObject_GetBuffer(object.ptr(), view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) != 0) {
        delete view;
        throw py::error_already_set();
    }
    // buffer_info takes ownership of the Py_buffer and releases it when destroyed.
    return HeldBuffer{py::buffer_info(view, true)};
}

py::object materialize_bytes(std::span<const std::byte> bytes, bool readonly) {
    const auto n = static_cast<Py_ssize_t>(bytes.size());
    PyObject* raw = readonly ? PyBytes_FromStringAndSize(nullptr, n) : PyByteArray_FromStringAndSize(nullptr, n);
    if (raw == nullptr) throw py::error_already_set();
    py::object object = py::reinterpret_steal<py::object>(raw);
    auto* data = reinterpret_cast<std::byte*>(readonly ? PyBytes_AS_STRING(raw) : PyByteArray_AS_STRING(raw));
    advise_huge_pages(data, bytes.size());
    copy(data, bytes);
    return object;
}

py::object materialize(const py::handle& view, bool readonly) {
    HeldBuffer held = hold_buffer(view);
    return materialize_bytes(held.bytes(), readonly);
}

}  // namespace warmpool::python
