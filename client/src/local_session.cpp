#include "local_session.hpp"

#include <cstring>
#include <utility>

#include "warmpool/common/clock.hpp"
#include "warmpool/common/unix_socket.hpp"
#include "warmpool/job_error.hpp"

namespace warmpool::detail {

namespace {

bool power_of_two_in_range(std::uint64_t n) {
    return n >= 4096 && n <= (1ull << 30) && (n & (n - 1)) == 0;
}

}  // namespace

std::shared_ptr<LocalSession> LocalSession::connect(const std::string& socket_path, const std::string& client_name,
                                          int timeout_ms) {
    auto fd = connect_unix(socket_path);
    if (!fd) {
        throw ConnectError("cannot connect to " + socket_path + " (" + fd.error().message() +
                           "): is warmpoold running?");
    }
    if (auto st = send_message(fd->get(), protocol::Hello{protocol::kProtocolVersion, client_name}); !st) {
        throw ConnectError("cannot greet the pool at " + socket_path + ": " + st.error().message());
    }
    std::vector<UniqueFd> passed;
    auto frame = receive_frame(fd->get(), timeout_ms, &passed);
    if (!frame) throw ConnectError("no answer from the pool at " + socket_path + ": " + frame.error().message());
    if (!frame.value()) throw ConnectError("the pool at " + socket_path + " closed the connection during set-up");
    if (frame.value()->type == protocol::MessageType::refused) {
        auto refused = protocol::decode<protocol::Refused>(*frame.value());
        throw ConnectError("the pool refused the session" +
                           (refused ? " (" + refused->kind + "): " + refused->message : std::string()));
    }
    auto welcome = protocol::decode<protocol::Welcome>(*frame.value());
    if (!welcome) throw ConnectError("bad welcome from the pool: " + welcome.error().message());
    if (passed.size() != protocol::kWelcomeFds) throw ConnectError("the pool did not pass the session's descriptors");

    const protocol::Welcome& w = welcome.value();
    if (w.worker_slots == 0 || w.worker_slots > 4096 || !power_of_two_in_range(w.submit_ring_bytes) ||
        !power_of_two_in_range(w.control_ring_bytes) || !power_of_two_in_range(w.reply_ring_bytes)) {
        throw ConnectError("the pool announced an impossible session layout");
    }
    const SessionLayout layout{w.worker_slots, w.submit_ring_bytes, w.control_ring_bytes, w.reply_ring_bytes};
    auto segment = SharedSegment::adopt(std::move(passed[0]), layout.total_bytes(),
                                        SharedSegment::Access::read_write, "session");
    if (!segment) throw ConnectError("cannot map the session memory: " + segment.error().message());
    const SessionMemory memory{segment->data(), layout};
    if (memory.header().magic != kSessionMagic || memory.header().generation != w.session_generation) {
        throw ConnectError("the session memory does not belong to this session");
    }
    // Without the board (it could not be mapped) every job goes through the submit ring.
    auto board = SharedSegment::adopt(std::move(passed[2]), sizeof(LaneBoard), SharedSegment::Access::read_only,
                                      "lane board");
    return std::shared_ptr<LocalSession>(new LocalSession(w, std::move(fd.value()), std::move(passed[1]),
                                                std::move(segment.value()), memory,
                                                board ? std::move(board.value()) : SharedSegment()));
}

LocalSession::LocalSession(const protocol::Welcome& welcome, UniqueFd control, UniqueFd doorbell, SharedSegment segment,
                 const SessionMemory& memory, SharedSegment board)
    : welcome_(welcome),
      info_{welcome.pool_name, welcome.supervisor_pid, welcome.worker_slots, welcome.inline_max},
      control_(std::move(control)),
      doorbell_(std::move(doorbell)),
      segment_(std::move(segment)),
      arguments_(welcome_.pool_name, control_),
      submitter_(memory, std::move(board), doorbell_.get()),
      waits_(memory.header().client_wake),
      drainer_(memory, doorbell_.get(), control_, welcome_.pool_name,
               ReplyDrainer::Peers{waits_, jobs_, completions_, arguments_}),
      background_([this] { drainer_.run_background(); }) {}

LocalSession::~LocalSession() {
    waits_.stop();
    if (background_.joinable()) background_.join();
    drainer_.fail_all("the client closed its session");
}

std::shared_ptr<JobSlot> LocalSession::submit(std::string_view function, std::uint32_t flags, std::uint64_t fingerprint,
                                         std::string_view payload, const CallOptions& options) {
    // Large arguments are written once into shared memory of their own, never into the ring.
    if (payload.size() > welcome_.inline_max) {
        return submit_in_place(
            function, flags, fingerprint, payload.size(),
            [payload](std::byte* out) { std::memcpy(out, payload.data(), payload.size()); }, options);
    }
    auto slot = std::make_shared<JobSlot>();
    slot->id = submitter_.new_job_id();
    JobRecord record = job_record(slot->id, function, flags, fingerprint, options);
    return publish_job(std::move(slot), record, payload, options);
}

std::shared_ptr<JobSlot> LocalSession::submit_in_place(std::string_view function, std::uint32_t flags,
                                                  std::uint64_t fingerprint, std::size_t bytes,
                                                  const PayloadWriter& write, const CallOptions& options) {
    auto slot = std::make_shared<JobSlot>();
    slot->id = submitter_.new_job_id();
    JobRecord record = job_record(slot->id, function, flags | kJobBlob, fingerprint, options);
    Result<BlobPool::Blob> blob = arguments_.acquire(bytes);
    if (!blob) throw JobError(ErrorKind::overloaded, "cannot store the arguments: " + blob.error().message());
    try {
        write(blob->data);
    } catch (...) {
        arguments_.release(blob->ref.object);
        throw;
    }
    blob->ref.bytes = bytes;
    blob->publish();
    slot->argument_blob = blob->ref.object;
    const BlobRef ref = blob->ref;
    return publish_job(std::move(slot), record, std::string_view(reinterpret_cast<const char*>(&ref), sizeof ref),
                       options);
}

std::shared_ptr<JobSlot> LocalSession::publish_job(std::shared_ptr<JobSlot> slot, JobRecord& record,
                                              std::string_view payload, const CallOptions& options) {
    record.payload_bytes = static_cast<std::uint32_t>(payload.size());
    const auto size = static_cast<std::uint32_t>(sizeof record + payload.size());

    bool was_idle = false;
    auto abandon = [&](ErrorKind kind, const std::string& why) {
        {
            auto lock = waits_.lock();
            jobs_.erase(slot->id);
        }
        if (slot->argument_blob != 0) arguments_.release(slot->argument_blob);
        throw JobError(kind, why);
    };

    {
        auto lock = waits_.lock();
        if (jobs_.lost()) {
            const std::string why = jobs_.lost_reason();
            lock.unlock();
            if (slot->argument_blob != 0) arguments_.release(slot->argument_blob);
            throw JobError(ErrorKind::shutting_down, why);
        }
        was_idle = jobs_.add(slot);
        if (was_idle && waits_.parked()) waits_.wake_all();  // it watches non-empty tables
    }

    auto producer = submitter_.lock();
    if (was_idle && submitter_.post_to_lane(record, payload)) return slot;
    const std::int64_t started = monotonic_ns();
    while (!submitter_.try_write(record, payload)) {
        if (!submitter_.fits(size)) abandon(ErrorKind::bad_request, "the job record is too large");
        const bool waited_enough = options.max_wait.count() >= 0 &&
                                   monotonic_ns() - started > options.max_wait.count() * 1'000'000;
        if (!options.wait_if_full || waited_enough) {
            abandon(ErrorKind::overloaded, "the pool's queue is full");
        }
        // While we wait for room, keep replies flowing: workers may be waiting on us.
        drainer_.deliver_in_turn();
        if (submitter_.write_or_sleep(record, payload, 1'000'000)) break;
        // Not alive: the reason was set under the mutex, which this thread has taken since, and
        // it never changes after.
        if (!drainer_.daemon_alive()) abandon(ErrorKind::shutting_down, jobs_.lost_reason());
    }
    return slot;
}

void LocalSession::give_back_payload(std::string&& buffer) {
    if (buffer.capacity() < JobTable::kReusedPayloadMin) return;
    auto lock = waits_.lock();
    jobs_.keep_spare(std::move(buffer));
}

bool LocalSession::wait(JobSlot& slot, std::int64_t deadline_ns) { return drainer_.wait_for(slot.done, deadline_ns); }

void LocalSession::cancel(JobSlot& slot, bool force) {
    {
        auto lock = waits_.lock();
        if (slot.done.load(std::memory_order_acquire) || !jobs_.holds(slot.id)) return;
        slot.cancel_requested = true;
    }
    [[maybe_unused]] auto st = control_.send(protocol::Cancel{slot.id, force});
}

void LocalSession::watch(JobSlot& slot) {
    auto lock = waits_.lock();
    if (completions_.watch(slot)) waits_.wake_blocked();
}

bool LocalSession::unwatch(JobSlot& slot) {
    auto lock = waits_.lock();
    return completions_.unwatch(slot);
}

std::size_t LocalSession::wait_completions(std::vector<std::uint64_t>& out, std::int64_t deadline_ns) {
    drainer_.wait_for(completions_.ready(), deadline_ns, /*yields=*/true);
    auto lock = waits_.lock();
    return completions_.take(out);
}

void LocalSession::wake_completions() {
    auto lock = waits_.lock();
    completions_.wake();
    waits_.wake_all();
    // A thread draining for the queue may sleep on the reply futex: ring it.
    waits_.ring_drainer();
}

}  // namespace warmpool::detail
