// warmpool._native: the extension module the pure-Python client is built on.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdlib>

#include "native_client.hpp"
#include "payload_copy.hpp"
#include "warmpool/job_error.hpp"

namespace py = pybind11;
using warmpool::python::NativeClient;
using warmpool::python::NativeFuture;

namespace {

// Raises warmpool.errors' class for `error` (error_for: one class per kind).
void raise_job_error(const warmpool::JobError& error) {
    py::module_ errors = py::module_::import("warmpool.errors");
    py::object exc = errors.attr("error_for")(static_cast<int>(error.kind()), error.message());
    PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(exc.ptr())), exc.ptr());
}

void raise_connect_error(const warmpool::ConnectError& error) {
    py::module_ errors = py::module_::import("warmpool.errors");
    py::object exc = errors.attr("ConnectError")(error.what());
    PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(exc.ptr())), exc.ptr());
}

std::string env_or(const char* name, const std::string& fallback) {
    const char* value = std::getenv(name);
    return value != nullptr && *value != '\0' ? std::string(value) : fallback;
}

}  // namespace

PYBIND11_MODULE(_native, m) {
    m.doc() = "warmpool's client library (libwarmpool) for the warmpool package";

    py::register_exception_translator([](std::exception_ptr p) {
        try {
            if (p) std::rethrow_exception(p);
        } catch (const warmpool::JobError& e) {
            raise_job_error(e);
        } catch (const warmpool::ConnectError& e) {
            raise_connect_error(e);
        }
    });
    warmpool::python::bind_result_buffer(m);

    m.attr("ENCODING_BINARY") = 0;
    m.attr("ENCODING_JSON") = 1;
    m.attr("ENCODING_PICKLE") = 2;
    m.attr("PRIORITY_MIN") = warmpool::kPriorityMin;
    m.attr("PRIORITY_MAX") = warmpool::kPriorityMax;
    m.attr("PRIORITY_DEFAULT") = warmpool::kPriorityDefault;
    m.attr("FLAG_JSON") = 1u << 0;
    m.attr("FLAG_PICKLE") = 1u << 3;

    m.def("materialize", &warmpool::python::materialize, py::arg("view"), py::arg("readonly"),
          "A new bytes (readonly) or bytearray copy of a buffer, its memory advised huge pages first");

    py::class_<NativeFuture>(m, "NativeFuture")
        .def_property_readonly("id", &NativeFuture::id)
        .def("done", &NativeFuture::done)
        .def("wait", &NativeFuture::wait, py::arg("timeout") = py::none())
        .def("cancel", &NativeFuture::cancel, py::arg("force") = false)
        .def("result", &NativeFuture::result)
        .def("batch_results", &NativeFuture::batch_results, py::arg("count"));

    py::class_<NativeClient>(m, "NativeClient")
        .def(py::init([](const std::optional<std::string>& pool, const std::optional<std::string>& runtime_dir,
                         const std::string& client_name, const std::optional<std::string>& redis_password_file) {
                 // Empty strings: $WARMPOOL_POOL and $WARMPOOL_RUNTIME_DIR, as the C++ client. A pool
                 // "redis://..." is a scale-out cluster (Client::connect).
                 return new NativeClient(pool.value_or(env_or("WARMPOOL_POOL", "")),
                                         runtime_dir.value_or(env_or("WARMPOOL_RUNTIME_DIR", "")), client_name,
                                         redis_password_file.value_or(""));
             }),
             py::arg("pool") = py::none(), py::arg("runtime_dir") = py::none(), py::arg("client_name") = "python",
             py::arg("redis_password_file") = py::none())
        .def("submit", &NativeClient::submit, py::arg("name"), py::arg("encoding"), py::arg("head"),
             py::arg("buffers"), py::arg("timeout_s") = py::none(), py::arg("deadline_s") = py::none(),
             py::arg("priority") = warmpool::kPriorityDefault)
        .def("submit_batch", &NativeClient::submit_batch, py::arg("name"), py::arg("encoding"), py::arg("items"),
             py::arg("timeout_s") = py::none(), py::arg("deadline_s") = py::none(),
             py::arg("priority") = warmpool::kPriorityDefault)
        .def("watch", &NativeClient::watch)
        .def("unwatch", &NativeClient::unwatch)
        .def("completions", &NativeClient::completions, py::arg("timeout") = py::none())
        .def("wake", &NativeClient::wake)
        .def("status", &NativeClient::status, py::arg("timeout") = 5.0)
        .def_property_readonly("pool_name", &NativeClient::pool_name)
        .def_property_readonly("worker_slots", &NativeClient::worker_slots)
        .def_property_readonly("inline_max", &NativeClient::inline_max)
        .def_property_readonly("supervisor_pid", &NativeClient::supervisor_pid);
}
