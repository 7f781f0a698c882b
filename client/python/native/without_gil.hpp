// without_gil(fn): runs fn with the GIL released and takes it back in ordinary code, never in a
// destructor.
//
// pybind11::gil_scoped_release takes the GIL back in its destructor. A daemon thread (the
// Executor's collector, a user's thread waiting for a job) that does so while the interpreter
// finalises is ended by CPython with pthread_exit, and that unwinding, started inside a
// destructor (noexcept), calls std::terminate: a script that exits while a job completes would
// abort ("terminate called without an active exception"). Started here instead, the unwinding
// ends the thread quietly, as it does any daemon thread then.
#pragma once

#include <Python.h>
#include <cxxabi.h>

#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

namespace warmpool::python {

template <class Fn>
auto without_gil(Fn&& fn) -> std::invoke_result_t<Fn&> {
    using Result = std::invoke_result_t<Fn&>;
    std::exception_ptr error;
    PyThreadState* state = PyEval_SaveThread();
    if constexpr (std::is_void_v<Result>) {
        try {
            fn();
        } catch (abi::__forced_unwind&) {
            throw;  // the thread is being ended: it never takes the GIL back
        } catch (...) {
            error = std::current_exception();
        }
        PyEval_RestoreThread(state);
        if (error) std::rethrow_exception(error);
    } else {
        std::optional<Result> result;
        try {
            result.emplace(fn());
        } catch (abi::__forced_unwind&) {
            throw;
        } catch (...) {
            error = std::current_exception();
        }
        PyEval_RestoreThread(state);
        if (error) std::rethrow_exception(error);
        return std::move(*result);
    }
}

}  // namespace warmpool::python
