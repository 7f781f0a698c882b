#include "warmpool/client.hpp"

#include <cerrno>
#include <cstring>

#include "session.hpp"
#include "warmpool/common/clock.hpp"
#include "warmpool/common/runtime_paths.hpp"
#include "warmpool/common/shm_layout.hpp"
#include "warmpool/common/unix_socket.hpp"

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

// Splits a batch result payload into items; false if it is malformed or has the wrong count.
bool parse_batch_results(std::string_view payload, std::size_t expected, std::vector<ItemResult>& out,
                         std::size_t first) {
    BatchHeader header;
    if (payload.size() < sizeof header) return false;
    std::memcpy(&header, payload.data(), sizeof header);
    if (header.count != expected) return false;
    std::size_t pos = sizeof header;
    for (std::size_t i = 0; i < expected; ++i) {
        BatchResultItem item;
        if (payload.size() - pos < sizeof item) return false;
        std::memcpy(&item, payload.data() + pos, sizeof item);
        pos += sizeof item;
        if (payload.size() - pos < item.bytes) return false;
        ItemResult& result = out[first + i];
        result.ok = item.status == 0;
        if (!result.ok) result.error = error_kind_from_code(item.status).value_or(ErrorKind::bad_request);
        result.value.assign(payload.data() + pos, item.bytes);
        pos += item.bytes;
    }
    return pos == payload.size();
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

std::string RawFuture::get() const {
    wait();
    if (slot_->status != 0) {
        throw JobError(error_kind_from_code(slot_->status).value_or(ErrorKind::bad_request), slot_->payload);
    }
    return slot_->payload;
}

// ---------------------------------------------------------------------------------------------
// Client

Client::Client(std::shared_ptr<detail::Session> session) : session_(std::move(session)) {}
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;
Client::~Client() = default;

Client Client::connect(std::string_view pool, const Options& options) {
    return connect_socket(control_socket_of(pool, options.runtime_dir), options);
}

Client Client::connect_socket(const std::string& socket_path, const Options& options) {
    std::string name = options.client_name.empty() ? std::string(program_invocation_short_name) : options.client_name;
    return Client(detail::Session::connect(socket_path, name, options.connect_timeout_ms));
}

const std::string& Client::pool_name() const { return session_->welcome().pool_name; }
pid_t Client::supervisor_pid() const { return session_->welcome().supervisor_pid; }
unsigned Client::worker_slots() const { return session_->welcome().worker_slots; }

RawFuture Client::submit_encoded(std::string_view function, Encoding encoding, std::uint64_t fingerprint,
                                 std::string payload, const CallOptions& options) {
    const std::uint32_t flags = encoding == Encoding::json ? std::uint32_t{kJobJson} : 0u;
    return RawFuture(session_, session_->submit(function, flags, encoding == Encoding::json ? 0 : fingerprint,
                                                payload, options));
}

RawFuture Client::submit_json(std::string_view function, std::string_view json_args, const CallOptions& options) {
    return submit_encoded(function, Encoding::json, 0, std::string(json_args), options);
}

std::vector<ItemResult> Client::map_json(std::string_view function, const std::vector<std::string>& json_args,
                                         const MapOptions& options) {
    return map_encoded(function, Encoding::json, 0, json_args.size(),
                       [&](std::size_t i, std::string& out) { out += json_args[i]; }, options);
}

std::vector<ItemResult> Client::map_encoded(std::string_view function, Encoding encoding, std::uint64_t fingerprint,
                                            std::size_t count, const ItemWriter& write_item,
                                            const MapOptions& options) {
    std::vector<ItemResult> results(count);
    if (count == 0) return results;
    const auto& welcome = session_->welcome();
    const std::size_t workers = std::max<std::size_t>(1, welcome.worker_slots / 2);
    // Enough batches that every worker gets several (so none idles at the end), few enough that
    // the per-batch costs vanish.
    std::size_t chunk = options.chunk_size;
    if (chunk == 0) chunk = std::clamp<std::size_t>(count / (workers * 8), 1, 4096);
    const std::size_t byte_budget = welcome.inline_max - sizeof(BatchHeader);

    struct Batch {
        std::size_t first;
        std::size_t count;
        std::shared_ptr<detail::JobSlot> slot;
    };
    std::vector<Batch> batches;
    batches.reserve(count / chunk + 1);
    const std::uint32_t flags = kJobBatch | (encoding == Encoding::json ? std::uint32_t{kJobJson} : 0u);
    const std::uint64_t fp = encoding == Encoding::json ? 0 : fingerprint;

    std::string buffer;
    std::size_t first = 0, in_batch = 0;
    auto flush = [&] {
        BatchHeader header{static_cast<std::uint32_t>(in_batch), 0};
        std::memcpy(buffer.data(), &header, sizeof header);
        batches.push_back(Batch{first, in_batch, session_->submit(function, flags, fp, buffer, options.call)});
        first += in_batch;
        in_batch = 0;
        buffer.clear();
    };
    for (std::size_t i = 0; i < count; ++i) {
        if (in_batch == 0) buffer.assign(sizeof(BatchHeader), '\0');
        const std::size_t at = buffer.size();
        buffer.append(sizeof(std::uint32_t), '\0');
        write_item(i, buffer);
        const auto len = static_cast<std::uint32_t>(buffer.size() - at - sizeof(std::uint32_t));
        std::memcpy(buffer.data() + at, &len, sizeof len);
        ++in_batch;
        if (in_batch == chunk || buffer.size() >= byte_budget) flush();
    }
    if (in_batch > 0) flush();

    for (auto& batch : batches) {
        RawFuture future(session_, batch.slot);
        future.wait();
        const detail::JobSlot& slot = *batch.slot;
        if (slot.status != 0) {
            const ErrorKind kind = error_kind_from_code(slot.status).value_or(ErrorKind::bad_request);
            for (std::size_t i = 0; i < batch.count; ++i) {
                results[batch.first + i] = ItemResult{false, kind, slot.payload};
            }
            continue;
        }
        if (!parse_batch_results(slot.payload, batch.count, results, batch.first)) {
            for (std::size_t i = 0; i < batch.count; ++i) {
                results[batch.first + i] = ItemResult{false, ErrorKind::bad_request, "malformed batch result"};
            }
        }
        batch.slot.reset();  // free each batch's bytes as soon as they are copied out
    }
    return results;
}

std::string admin_command(std::string_view pool, const std::string& runtime_dir, const std::string& command) {
    const std::string path = control_socket_of(pool, runtime_dir);
    auto fd = connect_unix(path);
    if (!fd) throw ConnectError("cannot connect to " + path + " (" + fd.error().message() + "): is warmpoold running?");
    if (auto st = send_message(fd->get(), protocol::Admin{command, {}}); !st) {
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

}  // namespace warmpool
