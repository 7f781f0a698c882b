#include "session.hpp"

#include <poll.h>
#include <unistd.h>

#include <cstring>
#include <utility>

#include "warmpool/common/clock.hpp"
#include "warmpool/common/job_checks.hpp"
#include "warmpool/common/spin_relax.hpp"
#include "warmpool/common/unix_socket.hpp"
#include "warmpool/job_error.hpp"

namespace warmpool::detail {

namespace {

// A waiting caller spins this long after the last reply before sleeping on the futex: a reply
// that arrives within it costs no system call on either side.
constexpr std::int64_t kReplySpinNs = 50'000;
// Inline results at least this large are read into a buffer handed back by an earlier caller
// (map's batches) when there is one: a fresh allocation of tens of KiB per batch keeps growing
// and trimming the heap, and every regrown page is a page fault.
constexpr std::size_t kReusedPayloadMin = 4096;
constexpr std::size_t kSparePayloadsMax = 16;
// How often a sleeping drainer wakes to check that the daemon is still there.
constexpr std::int64_t kLivenessCheckNs = 100'000'000;

// How long the background thread drains in one turn.
constexpr std::int64_t kBackgroundSliceNs = 50'000'000;
// The background thread parks only after its job table stayed empty this long: a caller making
// one call after another empties and refills the table every job, and waking a parked thread
// each time would cost a context switch per call.
constexpr std::int64_t kBackgroundLingerNs = 100'000'000;

bool power_of_two_in_range(std::uint64_t n) {
    return n >= 4096 && n <= (1ull << 30) && (n & (n - 1)) == 0;
}

// Argument blobs kept for reuse beyond those of jobs in flight.
constexpr BlobPool::Limits kArgumentBlobLimits{4, 512ull << 20};

}  // namespace

std::shared_ptr<Session> Session::connect(const std::string& socket_path, const std::string& client_name,
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

    std::shared_ptr<Session> session(new Session());
    session->welcome_ = w;
    session->control_ = std::move(fd.value());
    session->doorbell_ = std::move(passed[1]);
    session->segment_ = std::move(segment.value());
    session->results_ = ResultBlobs(session->control_.get(), session->socket_mu_);
    session->header_ = reinterpret_cast<SessionHeader*>(session->segment_.data());
    if (session->header_->magic != kSessionMagic || session->header_->generation != w.session_generation) {
        throw ConnectError("the session memory does not belong to this session");
    }
    std::byte* base = session->segment_.data();
    session->lane_ = reinterpret_cast<Lane*>(base + layout.lane_offset());
    // Without the board (it could not be mapped) every job goes through the submit ring.
    if (auto board = SharedSegment::adopt(std::move(passed[2]), sizeof(LaneBoard), SharedSegment::Access::read_only,
                                          "lane board");
        board && reinterpret_cast<const LaneBoard*>(board->data())->magic == kLaneBoardMagic) {
        session->board_segment_ = std::move(board.value());
        session->board_ = reinterpret_cast<const LaneBoard*>(session->board_segment_.data());
        session->board_words_ = (w.worker_slots + 63) / 64;
    }
    session->submit_ = RingProducer(RingView::at(base + layout.submit_offset(), layout.submit_ring_bytes));
    session->replies_.emplace_back(RingView::at(base + layout.control_offset(), layout.control_ring_bytes));
    for (std::uint32_t slot = 0; slot < w.worker_slots; ++slot) {
        session->replies_.emplace_back(RingView::at(base + layout.reply_offset(slot), layout.reply_ring_bytes));
    }
    // Each new argument blob's memfd goes to the supervisor before a job names it (the worker
    // that runs the job gets it from there); retired ones are let go of.
    Session* raw = session.get();
    session->arguments_ = BlobPool(
        segment_label(w.pool_name, "arguments." + std::to_string(::getpid())),
        BlobPool::Broker{[raw](std::uint64_t object, int blob_fd) -> Status {
                             std::lock_guard lock(raw->socket_mu_);
                             return send_message(raw->control_.get(), protocol::BlobOffer{object}, blob_fd);
                         },
                         [raw](std::uint64_t object) {
                             std::lock_guard lock(raw->socket_mu_);
                             [[maybe_unused]] auto st = send_message(raw->control_.get(), protocol::BlobRetire{object});
                         }},
        kArgumentBlobLimits);
    session->background_ = std::thread([raw = session.get()] { raw->background_loop(); });
    return session;
}

Session::~Session() {
    {
        std::lock_guard lock(mu_);
        stopping_.store(true, std::memory_order_seq_cst);
    }
    cv_.notify_all();
    // A drainer asleep on the reply futex would otherwise sleep out its slice (up to 50 ms).
    if (header_ != nullptr) header_->client_wake.notify_futex();
    if (background_.joinable()) background_.join();
    fail_all("the client closed its session");
    // Closing the control socket (control_'s destructor) tells the supervisor we left.
}

JobRecord Session::make_record(std::uint64_t id, std::string_view function, std::uint32_t flags,
                               std::uint64_t fingerprint, const CallOptions& options) const {
    if (function.empty() || function.size() > kFunctionNameMax) {
        throw JobError(ErrorKind::bad_request, "function names are 1 to " + std::to_string(kFunctionNameMax) + " bytes");
    }
    JobRecord record{};
    record.job_id = id;
    record.fingerprint = fingerprint;
    record.flags = flags;
    if (options.deadline) {
        // steady_clock is CLOCK_MONOTONIC on Linux, the clock every process of the pool uses.
        record.deadline_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                                 options.deadline->time_since_epoch()).count();
        if (record.deadline_ns == 0) record.deadline_ns = 1;
    }
    record.timeout_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(options.timeout).count();
    set_function_name(record, function);
    return record;
}

std::shared_ptr<JobSlot> Session::submit(std::string_view function, std::uint32_t flags, std::uint64_t fingerprint,
                                         std::string_view payload, const CallOptions& options) {
    // Large arguments are written once into shared memory of their own, never into the ring.
    if (payload.size() > welcome_.inline_max) {
        return submit_in_place(
            function, flags, fingerprint, payload.size(),
            [payload](std::byte* out) { std::memcpy(out, payload.data(), payload.size()); }, options);
    }
    auto slot = std::make_shared<JobSlot>();
    slot->id = next_id_.fetch_add(1, std::memory_order_relaxed);
    JobRecord record = make_record(slot->id, function, flags, fingerprint, options);
    return publish_job(std::move(slot), record, payload, options);
}

std::shared_ptr<JobSlot> Session::submit_in_place(std::string_view function, std::uint32_t flags,
                                                  std::uint64_t fingerprint, std::size_t bytes,
                                                  const PayloadWriter& write, const CallOptions& options) {
    auto slot = std::make_shared<JobSlot>();
    slot->id = next_id_.fetch_add(1, std::memory_order_relaxed);
    JobRecord record = make_record(slot->id, function, flags | kJobBlob, fingerprint, options);
    Result<BlobPool::Blob> blob = [&] {
        std::lock_guard lock(blob_mu_);
        return arguments_.acquire(bytes);
    }();
    if (!blob) throw JobError(ErrorKind::overloaded, "cannot store the arguments: " + blob.error().message());
    try {
        write(blob->data);
    } catch (...) {
        release_argument(blob->ref.object);
        throw;
    }
    blob->ref.bytes = bytes;
    blob->publish();
    slot->argument_blob = blob->ref.object;
    const BlobRef ref = blob->ref;
    return publish_job(std::move(slot), record, std::string_view(reinterpret_cast<const char*>(&ref), sizeof ref),
                       options);
}

void Session::release_argument(std::uint64_t object) {
    std::lock_guard lock(blob_mu_);
    arguments_.release(object);
}

std::shared_ptr<JobSlot> Session::publish_job(std::shared_ptr<JobSlot> slot, JobRecord& record,
                                              std::string_view payload, const CallOptions& options) {
    record.payload_bytes = static_cast<std::uint32_t>(payload.size());
    const auto size = static_cast<std::uint32_t>(sizeof record + payload.size());

    bool was_idle = false;
    auto abandon = [&](ErrorKind kind, const std::string& why) {
        {
            std::lock_guard lock(mu_);
            jobs_.erase(slot->id);
        }
        if (slot->argument_blob != 0) release_argument(slot->argument_blob);
        throw JobError(kind, why);
    };

    {
        std::unique_lock lock(mu_);
        if (lost_) {
            const std::string why = lost_reason_;
            lock.unlock();
            if (slot->argument_blob != 0) release_argument(slot->argument_blob);
            throw JobError(ErrorKind::shutting_down, why);
        }
        was_idle = jobs_.empty();
        jobs_.emplace(slot->id, slot);
        if (was_idle && background_parked_) cv_.notify_all();  // it watches non-empty tables
    }

    std::lock_guard submit_lock(submit_mu_);
    if (was_idle && post_to_lane(record, payload)) return slot;
    const std::int64_t started = monotonic_ns();
    std::byte* out = nullptr;
    while ((out = submit_.try_reserve(size)) == nullptr) {
        if (size > submit_.max_record()) abandon(ErrorKind::bad_request, "the job record is too large");
        const bool waited_enough = options.max_wait.count() >= 0 &&
                                   monotonic_ns() - started > options.max_wait.count() * 1'000'000;
        if (!options.wait_if_full || waited_enough) {
            abandon(ErrorKind::overloaded, "the pool's queue is full");
        }
        // While we wait for room, keep replies flowing: workers may be waiting on us.
        {
            std::unique_lock lock(mu_);
            drain_in_turn(lock, DrainerTurns::Role::owner, monotonic_ns(), [&] { deliver_available(); });
        }
        std::uint32_t token = submit_.control()->space.prepare_sleep();
        if ((out = submit_.try_reserve(size)) != nullptr) {
            submit_.control()->space.cancel_sleep();
            break;
        }
        submit_.control()->space.sleep_futex(token, 1'000'000);
        if (!check_alive()) abandon(ErrorKind::shutting_down, lost_reason_);
    }
    std::memcpy(out, &record, sizeof record);
    std::memcpy(out + sizeof record, payload.data(), payload.size());
    submit_.commit(size);
    submit_.publish();
    header_->supervisor_wake.notify_eventfd(doorbell_.get());
    return slot;
}

bool Session::worker_watching() const {
    for (std::uint32_t i = 0; i < board_words_; ++i) {
        if (board_->watching[i].load(std::memory_order_seq_cst) != 0) return true;
    }
    return false;
}

// Hands a job straight to the idle worker watching the lanes (shm_layout.hpp: Lane). Only a
// client with nothing in flight does, so the lane holds at most one of its jobs at a time. True
// if the job is posted; false if it must go through the submit ring.
bool Session::post_to_lane(const JobRecord& record, std::string_view payload) {
    if (board_ == nullptr || !lane_may_carry(record, payload.size()) ||
        board_->open.load(std::memory_order_relaxed) == 0 || !worker_watching()) {
        return false;
    }
    if (lane_state(lane_->word.load(std::memory_order_acquire)) != LaneWordState::free) return false;
    std::memcpy(&lane_->record, &record, sizeof record);
    std::memcpy(lane_->payload, payload.data(), payload.size());
    const std::uint64_t posted = lane_word(++lane_ticket_, 0, LaneWordState::posted);
    lane_->word.store(posted, std::memory_order_seq_cst);
    // The post, then (a full fence between) the watchers: a worker that stops watching clears its
    // bit and then looks at the lanes once more, so one of us sees the other.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (worker_watching()) return true;
    std::uint64_t expected = posted;
    if (lane_->word.compare_exchange_strong(expected, lane_word(lane_ticket_, 0, LaneWordState::free),
                                           std::memory_order_acq_rel)) {
        return false;  // taken back: nobody watches
    }
    return true;  // a worker claimed it meanwhile
}

template <class Drain>
bool Session::drain_in_turn(std::unique_lock<std::mutex>& lock, DrainerTurns::Role role, std::int64_t now_ns,
                            Drain&& drain) {
    if (!turns_.try_take(role, now_ns)) return false;
    lock.unlock();
    drain();
    lock.lock();
    turns_.end(monotonic_ns());
    if (waiters_ > 0) cv_.notify_all();  // one of them may take over
    return true;
}

bool Session::wait(JobSlot& slot, std::int64_t deadline_ns) { return wait_flag(slot.done, deadline_ns); }

bool Session::wait_flag(const std::atomic<bool>& flag, std::int64_t deadline_ns, bool yields) {
    const auto role = yields ? DrainerTurns::Role::yielding : DrainerTurns::Role::owner;
    std::unique_lock lock(mu_);
    DrainerTurns::Request step_aside(turns_);
    auto drain = [&] {
        step_aside.withdraw();  // the turn is ours now
        drain_until(&flag, deadline_ns, yields);
    };
    while (!flag.load(std::memory_order_acquire)) {
        const std::int64_t now = monotonic_ns();
        if (deadline_ns >= 0 && now >= deadline_ns) return false;
        if (drain_in_turn(lock, role, now, drain)) continue;
        if (!yields && turns_.held_by_yielding()) {
            // Ask it to step aside, and wait a moment for that rather than sleep.
            step_aside.ask();
            lock.unlock();
            header_->client_wake.notify_futex();
            const std::int64_t limit = monotonic_ns() + kReplySpinNs;
            while (turns_.held_by_yielding() && monotonic_ns() < limit) spin_relax();
            lock.lock();
            if (!turns_.held_by_yielding() || !turns_.held()) continue;
        }
        auto limit = std::chrono::nanoseconds(deadline_ns >= 0 ? std::min(deadline_ns - now, kLivenessCheckNs)
                                                               : kLivenessCheckNs);
        ++waiters_;
        cv_.wait_for(lock, limit);
        --waiters_;
    }
    return true;
}

void Session::complete(JobSlot& slot) {
    slot.done.store(true, std::memory_order_release);
    if (slot.watched) {
        slot.watched = false;
        completions_.push_back(slot.id);
        completions_ready_.store(true, std::memory_order_release);
    }
}

void Session::watch(JobSlot& slot) {
    std::lock_guard lock(mu_);
    if (slot.done.load(std::memory_order_acquire)) {
        completions_.push_back(slot.id);
        completions_ready_.store(true, std::memory_order_release);
        if (waiters_ > 0) cv_.notify_all();
        return;
    }
    slot.watched = true;
}

bool Session::unwatch(JobSlot& slot) {
    std::lock_guard lock(mu_);
    return std::exchange(slot.watched, false);
}

std::size_t Session::wait_completions(std::vector<std::uint64_t>& out, std::int64_t deadline_ns) {
    wait_flag(completions_ready_, deadline_ns, /*yields=*/true);
    std::lock_guard lock(mu_);
    const std::size_t n = completions_.size();
    out.insert(out.end(), completions_.begin(), completions_.end());
    completions_.clear();
    completions_ready_.store(false, std::memory_order_relaxed);
    return n;
}

void Session::wake_completions() {
    std::lock_guard lock(mu_);
    completions_ready_.store(true, std::memory_order_release);
    cv_.notify_all();
    // A thread draining for the queue may sleep on the reply futex: ring it.
    header_->client_wake.notify_futex();
}

void Session::drain_until(const std::atomic<bool>* target, std::int64_t deadline_ns, bool yields) {
    bool waiting = false;  // no reply came since wait_start
    std::int64_t wait_start = 0;
    std::int64_t spin_until = 0;  // reply_spin_ decides whether a wait spins
    for (;;) {
        const std::size_t delivered = deliver_available();
        const bool target_done = target != nullptr && target->load(std::memory_order_acquire);
        if (delivered > 0 || target_done) {
            if (waiting) reply_spin_.waited(monotonic_ns() - wait_start, kReplySpinNs);
            waiting = false;
        }
        if (target_done) return;
        if (yields && turns_.wanted()) return;
        if (delivered > 0) continue;
        const std::int64_t now = monotonic_ns();
        if (deadline_ns >= 0 && now >= deadline_ns) return;
        {
            std::lock_guard lock(mu_);
            if (stopping_ || lost_) return;
        }
        if (!waiting) {
            waiting = true;
            wait_start = now;
            // A yielding drainer sleeps at once: it stands in for threads that wait for jobs of
            // their own, and its spinning would take a core from the workers.
            spin_until = !yields && reply_spin_.spin_now() ? now + kReplySpinNs : 0;
        }
        if (now < spin_until) {
            spin_relax();
            continue;
        }
        std::uint32_t token = header_->client_wake.prepare_sleep();
        if (replies_pending() || (target != nullptr && target->load(std::memory_order_acquire)) ||
            (yields && turns_.wanted(std::memory_order_seq_cst)) ||
            stopping_.load(std::memory_order_seq_cst)) {
            header_->client_wake.cancel_sleep();
            continue;
        }
        const std::int64_t sleep = deadline_ns >= 0 ? std::min(deadline_ns - now, kLivenessCheckNs) : kLivenessCheckNs;
        header_->client_wake.sleep_futex(token, sleep);
        if (!replies_pending() && !check_alive()) return;
    }
}

void Session::give_back_payload(std::string&& buffer) {
    if (buffer.capacity() < kReusedPayloadMin) return;
    std::lock_guard lock(mu_);
    if (spare_payloads_.size() < kSparePayloadsMax) spare_payloads_.push_back(std::move(buffer));
}

bool Session::replies_pending() {
    for (auto& ring : replies_) {
        if (!ring.empty_now()) return true;
    }
    return false;
}

std::size_t Session::deliver_available() {
    std::size_t delivered = 0;
    for (auto& ring : replies_) {
        std::span<const std::byte> bytes;
        RingConsumer::Peek peek;
        while ((peek = ring.peek(bytes)) == RingConsumer::Peek::record) {
            ReplyRecord reply;
            if (bytes.size() < sizeof reply) {
                peek = RingConsumer::Peek::corrupt;
                break;
            }
            std::memcpy(&reply, bytes.data(), sizeof reply);
            std::span<const std::byte> payload = bytes.subspan(sizeof reply);
            if (payload.size() != reply.payload_bytes) {
                peek = RingConsumer::Peek::corrupt;
                break;
            }
            deliver(reply, payload);
            ring.pop();
            if (++delivered % 64 == 0) ring.release();
        }
        ring.release();
        if (peek == RingConsumer::Peek::corrupt) {
            fail_all("a reply ring of this session is corrupt");
            return delivered;
        }
    }
    // The supervisor may be holding our jobs until we make room: tell it we did.
    if (delivered > 0 && header_->reply_room_wanted.load(std::memory_order_relaxed) != 0 &&
        header_->reply_room_wanted.exchange(0) != 0) {
        header_->supervisor_wake.notify_eventfd(doorbell_.get());
    }
    return delivered;
}

void Session::deliver(const ReplyRecord& reply, std::span<const std::byte> payload) {
    std::shared_ptr<JobSlot> slot;
    {
        std::lock_guard lock(mu_);
        auto it = jobs_.find(reply.job_id);
        if (it != jobs_.end()) {
            slot = std::move(it->second);
            jobs_.erase(it);
            if ((reply.flags & kJobBlob) == 0 && payload.size() >= kReusedPayloadMin && !spare_payloads_.empty()) {
                slot->payload = std::move(spare_payloads_.back());
                spare_payloads_.pop_back();
            }
        }
    }
    if (!slot) {  // not ours to wait for any more (session lost meanwhile)
        if ((reply.flags & kJobBlob) != 0) {
            // Nobody will read the result: its lease, dropped at once, hands the blob back to the worker.
            [[maybe_unused]] auto dropped = results_.take(reply.worker_pid, payload);
        }
        return;
    }
    // The terminal reply: no worker reads the arguments any more.
    if (slot->argument_blob != 0) release_argument(std::exchange(slot->argument_blob, 0));
    slot->status = reply.status;
    slot->flags = reply.flags;
    if ((reply.flags & kJobBlob) != 0) {
        if (auto taken = results_.take(reply.worker_pid, payload)) {
            slot->result_lease = std::move(taken->lease);
            slot->result_in_blob = taken->bytes;
        } else {
            slot->status = static_cast<std::uint16_t>(ErrorKind::handler_error);
            slot->payload = "the result could not be read: " + taken.error().message();
        }
    } else {
        slot->payload.assign(reinterpret_cast<const char*>(payload.data()), payload.size());
    }
    std::lock_guard lock(mu_);
    if (slot->cancel_requested && slot->status == 0) {
        slot->status = static_cast<std::uint16_t>(ErrorKind::cancelled);
        slot->payload = "cancelled while running; its result was dropped";
        slot->result_lease.reset();
    }
    complete(*slot);
    // Only threads blocked in wait() need telling; waking the condition variable for nobody
    // would still cost a system call per job.
    if (waiters_ > 0) cv_.notify_all();
}

bool Session::check_alive() {
    pollfd p{control_.get(), POLLRDHUP, 0};
    int rc = ::poll(&p, 1, 0);
    // Readable alone is the answer to a request of the drainer's; a hang-up is the end.
    if (rc == 0 || (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) == 0) return true;
    if (rc < 0 && errno == EINTR) return true;
    fail_all("connection to pool '" + welcome_.pool_name + "' lost: the daemon stopped or dropped this session");
    return false;
}

void Session::fail_all(const std::string& why) {
    {
        std::lock_guard lock(mu_);
        if (!lost_) {
            lost_ = true;
            lost_reason_ = why;
        }
        for (auto& [id, slot] : jobs_) {
            slot->status = static_cast<std::uint16_t>(ErrorKind::shutting_down);
            slot->payload = lost_reason_;
            complete(*slot);
        }
        jobs_.clear();
    }
    cv_.notify_all();
}

void Session::cancel(JobSlot& slot, bool force) {
    {
        std::lock_guard lock(mu_);
        if (slot.done.load(std::memory_order_acquire) || jobs_.find(slot.id) == jobs_.end()) return;
        slot.cancel_requested = true;
    }
    std::lock_guard lock(socket_mu_);
    [[maybe_unused]] auto st = send_message(control_.get(), protocol::Cancel{slot.id, force});
}

void Session::background_loop() {
    std::unique_lock lock(mu_);
    std::int64_t last_busy_ns = 0;
    while (!stopping_) {
        const std::int64_t now = monotonic_ns();
        if (jobs_.empty() || lost_) {
            if (!lost_ && now - last_busy_ns < kBackgroundLingerNs) {
                cv_.wait_for(lock, std::chrono::nanoseconds(DrainerTurns::kBackgroundIdleNs));
            } else {
                background_parked_ = true;
                cv_.wait(lock);
                background_parked_ = false;
            }
            continue;
        }
        last_busy_ns = now;
        if (!drain_in_turn(lock, DrainerTurns::Role::background, now,
                           [&] { drain_until(nullptr, now + kBackgroundSliceNs); })) {
            cv_.wait_for(lock, std::chrono::nanoseconds(DrainerTurns::kBackgroundIdleNs));
        }
    }
}

}  // namespace warmpool::detail
