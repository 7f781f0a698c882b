// NativeClient and NativeFuture: warmpool::Client as the pure-Python layer sees it.
//
// Payloads come in as a head and a list of buffers (a pickle envelope from _codec.dumps, or JSON
// text with no buffers) and go out as (status, flags, payload) tuples; encoding and decoding
// stay in Python. The GIL is released whenever a call may wait or copies much, so one
// NativeClient serves many Python threads. Nothing here runs Python code from libwarmpool's
// threads: completions reach Python through a queue a Python thread waits on.
#pragma once

#include <pybind11/pybind11.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "warmpool/client.hpp"

namespace warmpool::python {

namespace py = pybind11;

class NativeFuture {
public:
    NativeFuture(std::shared_ptr<Client> client, RawFuture raw) : client_(std::move(client)), raw_(std::move(raw)) {}

    std::uint64_t id() const { return raw_.id(); }
    bool done() const { return raw_.ready(); }
    // True if the job finished within `timeout` seconds (None: waits as long as it takes).
    // A signal handler that raises (SIGINT's KeyboardInterrupt) ends the wait with its exception.
    bool wait(std::optional<double> timeout) const;
    void cancel(bool force) const;
    // Waits, then (status, flags, payload): payload is bytes, or for a large result a read-only
    // memoryview of the shared memory it arrived in (valid while the view lives).
    py::tuple result() const;
    // A finished batch's items as a list of (status, bytes); raises ValueError if malformed.
    py::list batch_results(std::size_t count) const;

    const RawFuture& raw() const { return raw_; }

private:
    std::shared_ptr<Client> client_;
    RawFuture raw_;
};

class NativeClient {
public:
    NativeClient(const std::string& pool, const std::string& runtime_dir, const std::string& client_name,
                 const std::string& redis_password_file = {});

    // One call. encoding: 0 binary, 1 JSON, 2 pickle (warmpool::Encoding); head and buffers as
    // _codec.dumps returns them. timeout_s: run-time limit; deadline_s: from now;
    // priority: CallOptions::priority.
    NativeFuture submit(const std::string& function, int encoding, const py::handle& head, const py::list& buffers,
                        std::optional<double> timeout_s, std::optional<double> deadline_s, int priority);
    // One batch record of already-encoded items (bytes-like), for map.
    NativeFuture submit_batch(const std::string& function, int encoding, const py::list& items,
                              std::optional<double> timeout_s, std::optional<double> deadline_s, int priority);

    // The completion queue (Client::watch).
    void watch(const NativeFuture& future);
    bool unwatch(const NativeFuture& future);
    py::list completions(std::optional<double> timeout);
    void wake();

    std::string status(double timeout) const;
    const std::string& pool_name() const { return client_->pool_name(); }
    unsigned worker_slots() const { return client_->worker_slots(); }
    std::size_t inline_max() const { return client_->inline_max(); }
    long supervisor_pid() const { return client_->supervisor_pid(); }

private:
    std::shared_ptr<Client> client_;
    std::string runtime_dir_;
};

// Registers the buffer type that result() wraps large payloads in.
void bind_result_buffer(py::module_& m);

}  // namespace warmpool::python
