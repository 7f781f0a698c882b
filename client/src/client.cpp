#include "warmpool/client.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>

#include "local_session.hpp"
#include "redis_session.hpp"
#include "session.hpp"
#include "warmpool/common/clock.hpp"
#include "warmpool/common/runtime_paths.hpp"
#include "warmpool/common/shm_layout.hpp"
#include "warmpool/common/status_query.hpp"
#include "warmpool/common/unix_socket.hpp"
#include "warmpool/redis/redis_endpoint.hpp"

namespace warmpool {

namespace {

std::string resolve_pool(std::string_view pool) {
    if (!pool.empty()) return std::string(pool);
    if (const char* env = std::getenv("WARMPOOL_POOL"); env != nullptr && *env != '\0') return env;
    return "default";
}

std::string control_socket_of(std::string_view pool, const std::string& runtime_dir) {
    const std::string name = resolve_pool(pool);
    if (!valid_pool_name(name)) throw ConnectError("invalid pool name '" + name + "'");
    return PoolPaths::in(runtime_dir.empty() ? default_runtime_dir() : runtime_dir, name).control_socket;
}

// Hands each item of a batch's result to `read_item`; false if the payload is malformed or
// holds another number of items.
bool read_batch_results(std::string_view payload, std::size_t expected, std::size_t first,
                        const Client::ItemReader& read_item) {
    BatchHeader header;
    if (payload.size() < sizeof header) return false;
    std::memcpy(&header, payload.data(), sizeof header);
    if (header.count != expected) return false;
    // Checked whole before any item is handed over, so a malformed batch fails all of its items.
    std::size_t pos = sizeof header;
    for (std::size_t i = 0; i < expected; ++i) {
        BatchResultItem item;
        if (payload.size() - pos < sizeof item) return false;
        std::memcpy(&item, payload.data() + pos, sizeof item);
        pos += sizeof item;
        if (payload.size() - pos < item.bytes) return false;
        pos += item.bytes;
    }
    if (pos != payload.size()) return false;
    pos = sizeof header;
    for (std::size_t i = 0; i < expected; ++i) {
        BatchResultItem item;
        std::memcpy(&item, payload.data() + pos, sizeof item);
        pos += sizeof item;
        read_item(first + i, item.status, payload.substr(pos, item.bytes));
        pos += item.bytes;
    }
    return true;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// RawFuture

std::uint64_t RawFuture::id() const { return slot_ ? slot_->id : 0; }

bool RawFuture::ready() const { return slot_ && slot_->done.load(std::memory_order_acquire); }

void RawFuture::wait() const {
    if (!slot_) throw std::logic_error("wait on an empty future");
    session_->wait(*slot_, -1);
}

bool RawFuture::wait_for(std::chrono::nanoseconds timeout) const {
    if (!slot_) throw std::logic_error("wait on an empty future");
    return session_->wait(*slot_, monotonic_ns() + timeout.count());
}

void RawFuture::cancel(bool force) const {
    if (slot_) session_->cancel(*slot_, force);
}

std::string RawFuture::get() const { return std::string(get_view()); }

std::string_view RawFuture::get_view() const {
    wait();
    if (slot_->status != 0) {
        // result(): a long message travels in a blob, as a long result does.
        throw JobError(error_kind_from_code(slot_->status).value_or(ErrorKind::bad_request),
                       std::string(slot_->result()));
    }
    return slot_->result();
}

Bytes RawFuture::get_bytes() const {
    const std::string_view encoded = get_view();
    // A std::string's encoding: its length (Cereal's size tag), then the bytes.
    std::uint64_t length = 0;
    if (encoded.size() < sizeof length) throw JobError(ErrorKind::type_mismatch, "the result is not a byte string");
    std::memcpy(&length, encoded.data(), sizeof length);
    if (length != encoded.size() - sizeof length) {
        throw JobError(ErrorKind::type_mismatch, "the result is not a byte string of the length it claims");
    }
    const std::string_view bytes = encoded.substr(sizeof length);
    // Blob results are kept by their lease alone (not the session); inline ones by the slot.
    if (slot_->result_lease) return Bytes(slot_->result_lease, bytes);
    return Bytes(std::shared_ptr<const void>(slot_, slot_.get()), bytes);
}

std::uint16_t RawFuture::status() const { return ready() ? slot_->status : 0; }
std::uint32_t RawFuture::reply_flags() const { return ready() ? slot_->flags : 0; }
std::string_view RawFuture::reply() const { return ready() ? slot_->result() : std::string_view(); }

// ---------------------------------------------------------------------------------------------
// Client

Client::Client(std::shared_ptr<detail::Session> session) : session_(std::move(session)) {}
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;
Client::~Client() = default;

Client Client::connect(std::string_view pool, const Options& options) {
    const std::string name = resolve_pool(pool);
    if (is_redis_endpoint(name)) return Client(detail::RedisSession::connect(name, options));
    return connect_socket(control_socket_of(name, options.runtime_dir), options);
}

Client Client::connect_socket(const std::string& socket_path, const Options& options) {
    std::string name = options.client_name.empty() ? std::string(program_invocation_short_name) : options.client_name;
    return Client(detail::LocalSession::connect(socket_path, name, options.connect_timeout_ms));
}

const std::string& Client::pool_name() const { return session_->info().pool_name; }
pid_t Client::supervisor_pid() const { return session_->info().supervisor_pid; }
unsigned Client::worker_slots() const { return session_->info().worker_slots; }
std::size_t Client::inline_max() const { return session_->info().inline_max; }

RawFuture Client::submit_in_place(std::string_view function, std::uint64_t fingerprint, std::size_t bytes,
                                  const PayloadWriter& write, const CallOptions& options) {
    return RawFuture(session_, session_->submit_in_place(function, 0, fingerprint, bytes, write, options));
}

RawFuture Client::submit_in_place(std::string_view function, Encoding encoding, std::size_t bytes,
                                  const PayloadWriter& write, const CallOptions& options) {
    // Only binary arguments carry a type fingerprint.
    return RawFuture(session_,
                     session_->submit_in_place(function, encoding_flags(encoding), 0, bytes, write, options));
}

RawFuture Client::submit_encoded(std::string_view function, Encoding encoding, std::uint64_t fingerprint,
                                 std::string payload, const CallOptions& options) {
    return RawFuture(session_, session_->submit(function, encoding_flags(encoding),
                                                encoding == Encoding::binary ? fingerprint : 0, payload, options));
}

RawFuture Client::submit_record(std::string_view function, std::uint32_t flags, std::uint64_t fingerprint,
                                std::string payload, const CallOptions& options) {
    return RawFuture(session_, session_->submit(function, flags, fingerprint, payload, options));
}

RawFuture Client::submit_batch(std::string_view function, Encoding encoding,
                               const std::vector<std::string_view>& items, const CallOptions& options) {
    if (items.empty()) throw JobError(ErrorKind::bad_request, "a batch needs at least one item");
    std::size_t bytes = sizeof(BatchHeader);
    for (const auto& item : items) bytes += sizeof(std::uint32_t) + item.size();
    std::string buffer(bytes, '\0');
    const BatchHeader header{static_cast<std::uint32_t>(items.size()), 0};
    std::memcpy(buffer.data(), &header, sizeof header);
    std::size_t at = sizeof header;
    for (const auto& item : items) {
        if (item.size() > UINT32_MAX) throw JobError(ErrorKind::bad_request, "a batch item is too large");
        const auto len = static_cast<std::uint32_t>(item.size());
        std::memcpy(buffer.data() + at, &len, sizeof len);
        std::memcpy(buffer.data() + at + sizeof len, item.data(), item.size());
        at += sizeof len + item.size();
    }
    return RawFuture(session_, session_->submit(function, kJobBatch | encoding_flags(encoding), 0, buffer, options));
}

bool Client::read_batch(std::string_view reply, std::size_t count, const ItemReader& read_item) {
    return read_batch_results(reply, count, 0, read_item);
}

void Client::watch(const RawFuture& future) {
    if (!future.slot_) throw std::logic_error("watch of an empty future");
    future.session_->watch(*future.slot_);
}

bool Client::unwatch(const RawFuture& future) {
    return future.slot_ && future.session_->unwatch(*future.slot_);
}

std::size_t Client::wait_completions(std::vector<std::uint64_t>& out, std::chrono::nanoseconds timeout) {
    return session_->wait_completions(out, timeout.count() < 0 ? -1 : monotonic_ns() + timeout.count());
}

void Client::wake_completions() { session_->wake_completions(); }

RawFuture Client::submit_json(std::string_view function, std::string_view json_args, const CallOptions& options) {
    return submit_encoded(function, Encoding::json, 0, std::string(json_args), options);
}

std::vector<ItemResult> Client::map_json(std::string_view function, const std::vector<std::string>& json_args,
                                         const MapOptions& options) {
    std::vector<ItemResult> results(json_args.size());
    map_encoded(
        function, Encoding::json, 0, json_args.size(),
        [&](std::size_t i, std::string& out) { out += json_args[i]; },
        [&](std::size_t i, std::uint16_t status, std::string_view bytes) {
            ItemResult& result = results[i];
            result.ok = status == 0;
            if (!result.ok) result.error = error_kind_from_code(status).value_or(ErrorKind::bad_request);
            result.value.assign(bytes);
        },
        options);
    return results;
}

void Client::map_encoded(std::string_view function, Encoding encoding, std::uint64_t fingerprint, std::size_t count,
                         const ItemWriter& write_item, const ItemReader& read_item, const MapOptions& options) {
    if (count == 0) return;
    const detail::SessionInfo& info = session_->info();
    const std::size_t workers = std::max<std::size_t>(1, info.worker_slots / 2);
    // Enough batches that every worker gets several (so none idles at the end), few enough that
    // the per-batch costs vanish.
    std::size_t chunk = options.chunk_size;
    if (chunk == 0) chunk = std::clamp<std::size_t>(count / (workers * 8), 1, 4096);
    // A batch's result must fit inline too, or it travels as a blob (a new shared-memory object
    // each time): results usually take about what their arguments take, plus 4 bytes an item.
    const std::size_t byte_budget = info.inline_max / 2;
    // Batches in flight: enough to keep every worker's prefetch queue fed while the oldest one's
    // results are read, few enough that their buffers are reused rather than piling up.
    const std::size_t window = workers * 8;

    struct Batch {
        std::size_t first;
        std::size_t count;
        std::shared_ptr<detail::JobSlot> slot;
    };
    std::deque<Batch> in_flight;
    const std::uint32_t flags = kJobBatch | encoding_flags(encoding);
    const std::uint64_t fp = encoding == Encoding::binary ? fingerprint : 0;

    auto finish_oldest = [&] {
        Batch batch = std::move(in_flight.front());
        in_flight.pop_front();
        RawFuture future(session_, batch.slot);
        future.wait();
        const detail::JobSlot& slot = *batch.slot;
        if (slot.status != 0) {
            for (std::size_t i = 0; i < batch.count; ++i) read_item(batch.first + i, slot.status, slot.result());
            return;
        }
        if (!read_batch_results(slot.result(), batch.count, batch.first, read_item)) {
            const auto bad = static_cast<std::uint16_t>(ErrorKind::bad_request);
            for (std::size_t i = 0; i < batch.count; ++i) read_item(batch.first + i, bad, "malformed batch result");
        }
        session_->give_back_payload(std::move(batch.slot->payload));
    };

    std::string buffer;
    std::size_t next = 0;
    while (next < count) {
        if (in_flight.size() >= window) finish_oldest();
        const std::size_t first = next;
        buffer.assign(sizeof(BatchHeader), '\0');
        while (next < count && next - first < chunk && buffer.size() < byte_budget) {
            const std::size_t at = buffer.size();
            buffer.append(sizeof(std::uint32_t), '\0');
            write_item(next, buffer);
            const auto len = static_cast<std::uint32_t>(buffer.size() - at - sizeof(std::uint32_t));
            std::memcpy(buffer.data() + at, &len, sizeof len);
            ++next;
        }
        BatchHeader header{static_cast<std::uint32_t>(next - first), 0};
        std::memcpy(buffer.data(), &header, sizeof header);
        in_flight.push_back(Batch{first, next - first, session_->submit(function, flags, fp, buffer, options.call)});
    }
    while (!in_flight.empty()) finish_oldest();
}

std::string pool_status(std::string_view pool, const std::string& runtime_dir, int timeout_ms) {
    const std::string name = resolve_pool(pool);
    if (!valid_pool_name(name)) throw ConnectError("invalid pool name '" + name + "'");
    const std::string socket =
        PoolPaths::in(runtime_dir.empty() ? default_runtime_dir() : runtime_dir, name).status_socket;
    auto answer = query_status(socket, "json", timeout_ms);
    if (!answer) throw ConnectError("cannot reach pool '" + name + "': " + answer.error().message());
    // A pool that is going away may close the socket before it answers.
    if (answer.value().empty()) throw ConnectError("pool '" + name + "' sent an empty status reply (is it stopping?)");
    return std::move(answer.value());
}

namespace {

// Sends one admin request over a fresh connection and returns the pool's answer.
template <class Request>
std::string admin_request(std::string_view pool, const std::string& runtime_dir, const Request& request) {
    const std::string path = control_socket_of(pool, runtime_dir);
    auto fd = connect_unix(path);
    if (!fd) throw ConnectError("cannot connect to " + path + " (" + fd.error().message() + "): is warmpoold running?");
    if (auto st = send_message(fd->get(), request); !st) {
        throw ConnectError("cannot send the command: " + st.error().message());
    }
    auto frame = receive_frame(fd->get(), 10'000);
    if (!frame) throw ConnectError("no answer from the pool: " + frame.error().message());
    if (!frame.value()) throw ConnectError("the pool closed the connection without answering");
    if (frame.value()->type == protocol::MessageType::refused) {
        auto refused = protocol::decode<protocol::Refused>(*frame.value());
        throw JobError(ErrorKind::bad_request, refused ? refused->message : "refused");
    }
    auto reply = protocol::decode<protocol::AdminReply>(*frame.value());
    if (!reply) throw ConnectError("bad answer from the pool: " + reply.error().message());
    if (!reply->ok) throw JobError(ErrorKind::bad_request, reply->message);
    return reply->message;
}

}  // namespace

std::string admin_command(std::string_view pool, const std::string& runtime_dir, const std::string& command) {
    return admin_request(pool, runtime_dir, protocol::Admin{command, {}});
}

std::string scale_pool(std::string_view pool, const std::string& runtime_dir, unsigned workers) {
    return admin_request(pool, runtime_dir, protocol::Scale{workers});
}

}  // namespace warmpool
