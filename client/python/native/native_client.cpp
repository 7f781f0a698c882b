#include "native_client.hpp"

#include <chrono>
#include <algorithm>
#include <cmath>
#include <string_view>
#include <vector>

#include "payload_copy.hpp"
#include "warmpool/common/pickle_envelope.hpp"
#include "without_gil.hpp"

namespace warmpool::python {

namespace {

// Results at least this large are handed to Python as a view of the shared memory they arrived
// in: _codec.loads then copies each out-of-band buffer once, straight out of it.
constexpr std::size_t kViewMin = 64 * 1024;

// How often a wait without the GIL comes back to run Python's signal handlers.
constexpr std::chrono::nanoseconds kSignalCheckInterval = std::chrono::milliseconds(50);

Encoding encoding_from(int value) {
    if (value < 0 || value > static_cast<int>(Encoding::pickle)) throw py::value_error("unknown encoding");
    return static_cast<Encoding>(value);
}

CallOptions call_options(std::optional<double> timeout_s, std::optional<double> deadline_s, int priority) {
    CallOptions options;
    options.priority = priority;  // checked by _calls.check_priority, and again by the client library
    if (timeout_s && *timeout_s > 0) {
        options.timeout = std::chrono::milliseconds(std::max<std::int64_t>(1, std::llround(*timeout_s * 1000)));
    }
    if (deadline_s) {
        options.deadline = std::chrono::steady_clock::now() +
                           std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                               std::chrono::duration<double>(std::max(0.0, *deadline_s)));
    }
    return options;
}

std::chrono::nanoseconds to_ns(std::optional<double> seconds) {
    if (!seconds) return std::chrono::nanoseconds(-1);
    return std::chrono::nanoseconds(static_cast<std::int64_t>(std::max(0.0, std::min(*seconds, 1e9)) * 1e9));
}

// Keeps a finished future (and so its result's shared memory) alive under a memoryview.
struct ResultBuffer {
    RawFuture future;
    std::string_view bytes;
};

}  // namespace

bool NativeFuture::wait(std::optional<double> timeout) const {
    if (raw_.ready()) return true;
    // In slices, with the interpreter's signal handlers run between them: Python runs its
    // handlers only when it has control, and Ctrl-C must interrupt a wait for a long job (as it
    // does a wait on a standard executor's future) rather than last as long as the job.
    using Clock = std::chrono::steady_clock;
    const bool forever = !timeout;
    const Clock::time_point end = Clock::now() + (forever ? std::chrono::nanoseconds(0) : to_ns(timeout));
    while (true) {
        std::chrono::nanoseconds slice = kSignalCheckInterval;
        if (!forever) {
            const auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(end - Clock::now());
            slice = std::clamp(left, std::chrono::nanoseconds(0), slice);
        }
        if (without_gil([&] { return raw_.wait_for(slice); })) return true;
        if (PyErr_CheckSignals() != 0) throw py::error_already_set();
        if (!forever && Clock::now() >= end) return false;
    }
}

void NativeFuture::cancel(bool force) const {
    without_gil([&] { raw_.cancel(force); });
}

py::tuple NativeFuture::result() const {
    wait(std::nullopt);
    const std::string_view reply = raw_.reply();
    py::object payload;
    if (raw_.status() == 0 && reply.size() >= kViewMin) {
        py::object holder = py::cast(ResultBuffer{raw_, reply});
        payload = py::reinterpret_steal<py::object>(PyMemoryView_FromObject(holder.ptr()));
        if (!payload) throw py::error_already_set();
    } else {
        payload = py::bytes(reply.data(), reply.size());
    }
    return py::make_tuple(raw_.status(), raw_.reply_flags(), std::move(payload));
}

py::list NativeFuture::batch_results(std::size_t count) const {
    wait(std::nullopt);
    py::list items;
    if (raw_.status() != 0) throw py::value_error("the batch failed as a whole");
    const bool ok = Client::read_batch(raw_.reply(), count, [&](std::size_t, std::uint16_t status, std::string_view bytes) {
        items.append(py::make_tuple(status, py::bytes(bytes.data(), bytes.size())));
    });
    if (!ok) throw py::value_error("malformed batch result");
    return items;
}

NativeClient::NativeClient(const std::string& pool, const std::string& runtime_dir, const std::string& client_name,
                           const std::string& redis_password_file)
    : runtime_dir_(runtime_dir) {
    Client::Options options;
    options.runtime_dir = runtime_dir;
    options.client_name = client_name;
    options.redis_password_file = redis_password_file;
    client_ = without_gil([&] { return std::make_shared<Client>(Client::connect(pool, options)); });
}

NativeFuture NativeClient::submit(const std::string& function, int encoding, const py::handle& head,
                                  const py::list& buffers, std::optional<double> timeout_s,
                                  std::optional<double> deadline_s, int priority) {
    const Encoding enc = encoding_from(encoding);
    const CallOptions options = call_options(timeout_s, deadline_s, priority);
    HeldBuffer held_head = hold_buffer(head);
    if (buffers.empty() && held_head.bytes().size() <= client_->inline_max()) {
        const auto bytes = held_head.bytes();
        return NativeFuture(client_, client_->submit_encoded(function, enc, 0,
                                                             std::string(reinterpret_cast<const char*>(bytes.data()),
                                                                         bytes.size()),
                                                             options));
    }
    std::vector<HeldBuffer> held;
    std::vector<std::span<const std::byte>> spans;
    held.reserve(buffers.size());
    spans.reserve(buffers.size());
    for (const auto& buffer : buffers) {
        held.push_back(hold_buffer(buffer));
        spans.push_back(held.back().bytes());
    }
    const std::size_t total = envelope_bytes(held_head.bytes().size(), spans);
    // The copies into shared memory, and any wait for room in the queue, without the GIL.
    RawFuture raw = without_gil([&] {
        return client_->submit_in_place(
            function, enc, total, [&](std::byte* out) { write_envelope(out, held_head.bytes(), spans); }, options);
    });
    return NativeFuture(client_, std::move(raw));
}

NativeFuture NativeClient::submit_batch(const std::string& function, int encoding, const py::list& items,
                                        std::optional<double> timeout_s, std::optional<double> deadline_s,
                                        int priority) {
    const Encoding enc = encoding_from(encoding);
    const CallOptions options = call_options(timeout_s, deadline_s, priority);
    std::vector<HeldBuffer> held;
    held.reserve(items.size());
    std::vector<std::string_view> views;
    views.reserve(items.size());
    for (const auto& item : items) {
        held.push_back(hold_buffer(item));
        const auto bytes = held.back().bytes();
        views.emplace_back(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    }
    RawFuture raw = without_gil([&] { return client_->submit_batch(function, enc, views, options); });
    return NativeFuture(client_, std::move(raw));
}

void NativeClient::watch(const NativeFuture& future) { client_->watch(future.raw()); }

bool NativeClient::unwatch(const NativeFuture& future) { return client_->unwatch(future.raw()); }

py::list NativeClient::completions(std::optional<double> timeout) {
    std::vector<std::uint64_t> ids;
    without_gil([&] { client_->wait_completions(ids, to_ns(timeout)); });
    py::list out;
    for (auto id : ids) out.append(id);
    return out;
}

void NativeClient::wake() { client_->wake_completions(); }

std::string NativeClient::status(double timeout) const {
    const std::string pool = client_->pool_name();
    const int timeout_ms = static_cast<int>(std::max(1.0, timeout * 1000));
    return without_gil([&] { return pool_status(pool, runtime_dir_, timeout_ms); });
}

void bind_result_buffer(py::module_& m) {
    py::class_<ResultBuffer>(m, "_ResultBuffer", py::buffer_protocol())
        .def_buffer([](ResultBuffer& r) {
            return py::buffer_info(const_cast<char*>(r.bytes.data()), 1, py::format_descriptor<std::uint8_t>::format(),
                                   1, {static_cast<py::ssize_t>(r.bytes.size())}, {1}, /*readonly=*/true);
        });
}

}  // namespace warmpool::python
