#include "warmpool/daemon/worker_process.hpp"

#include <fcntl.h>
#include <sched.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstdio>
#include <cstring>
#include <memory>
#include <unordered_map>
#include <vector>

#include "warmpool/common/adaptive_spin.hpp"
#include "warmpool/common/blob_fault_guard.hpp"
#include "warmpool/common/blob_mappings.hpp"
#include "warmpool/common/blob_pool.hpp"
#include "warmpool/common/clock.hpp"
#include "warmpool/common/job_checks.hpp"
#include "warmpool/common/spin_relax.hpp"
#include "warmpool/common/shared_segment.hpp"
#include "warmpool/common/unique_fd.hpp"
#include "warmpool/daemon/dispatch_policy.hpp"
#include "warmpool/daemon/job_library.hpp"
#include "warmpool/daemon/logging.hpp"
#include "warmpool/daemon/supervisor_channel.hpp"
#include "warmpool/error_kind.hpp"

namespace warmpool {

namespace {

// How long an idle worker spins on its inbox before sleeping on the futex. Short: on a small
// machine a spinning worker takes a core from the client and the supervisor.
constexpr std::int64_t kInboxSpinNs = 20'000;
// The watcher of the lanes spins longer: the client it serves is the only other process spinning,
// and a call that finds no watcher pays two wake-ups through the supervisor instead.
constexpr std::int64_t kWatcherSpinNs = 100'000;
constexpr std::int64_t kIdleSleepNs = 1'000'000'000;
constexpr std::int64_t kRssIntervalNs = 10'000'000;  // how often RSS is measured between jobs
// The result buffer is kept between jobs (its pages stay warm) unless a job grew it beyond this.
constexpr std::size_t kScratchKeepBytes = 128u << 20;
// Per session: result blobs kept for reuse, and argument blobs kept mapped.
constexpr BlobPool::Limits kResultBlobLimits{4, 512ull << 20};
constexpr std::size_t kArgumentMappings = 4;
// Inbox space is handed back to the supervisor after this many records (or an eighth of the
// ring's bytes), and as soon as the inbox is empty: not after every record, which would store to
// a line the supervisor reads and fence the store once per job. (The supervisor never waits for
// inbox space: it tries again on its next pass.)
constexpr unsigned kInboxReleaseEvery = 32;
// The supervisor hears of finished jobs (it may then give us more, and it counts them) when the
// inbox runs dry, and at least every this many jobs while it does not: telling it after every
// job costs a full fence per job, and what is still in the inbox keeps us busy meanwhile.
constexpr unsigned kTellSupervisorEvery = 16;


struct Outcome {
    std::uint16_t status = 0;  // 0 ok, else ErrorKind
    std::uint32_t flags = 0;   // kJobJson | kJobBatch describe `payload`
    std::string payload;       // result bytes, or the error message
    std::optional<BlobPool::Blob> blob;  // a result written in place: its bytes are in here
    // Calls by outcome, added to the worker's counters once the reply is out.
    std::array<std::uint32_t, kOutcomeSlots> counts{};
};

// This worker's view of one client session: the mapping and our reply ring in it, the result
// blobs we made for it (kept for reuse) and the client's argument blobs we have mapped.
struct SessionView {
    std::uint64_t generation = 0;
    SharedSegment segment;
    SessionHeader* header = nullptr;
    Lane* lane = nullptr;
    RingProducer reply;
    bool reply_overrun_logged = false;  // the client broke its reply ring: said once, not per reply
    BlobPool results;
    BlobMappings arguments{kArgumentMappings};
};

// What a job whose result blob shrank under us gets: only the session's client can have done it.
constexpr const char* kResultBlobShrank = "a result blob of this session shrank under the worker";

// A result written in place: small results go to the worker's buffer, large ones straight into a
// result blob of the session (taken from its pool, grown by moving to a larger one).
//
// The session's client maps that blob too and may shrink it while the job writes: the blob is
// written under a BlobFaultGuard for as long as the job may write it, and if it shrank the result
// is worthless (shrank() says so) and the blob leaves the pool.
class ResultOutput final : public JobOutput {
public:
    ResultOutput(std::string& small, BlobPool& pool, std::size_t inline_max)
        : small_(small), pool_(pool), inline_max_(inline_max) {}
    ~ResultOutput() override { let_go(); }

    char* extend(std::size_t n) override {
        const std::size_t at = size_;
        const std::size_t need = at + n;
        if (!blob_ && need <= inline_max_) {
            small_.resize(need);
            size_ = need;
            return small_.data() + at;
        }
        if (!blob_ || need > blob_->capacity) {
            auto bigger = pool_.acquire(need);
            if (!bigger) {
                throw std::runtime_error("cannot store a result of " + std::to_string(need) +
                                         " bytes: " + bigger.error().message());
            }
            // Armed before the copy, which writes the new blob (and reads the old one, still guarded).
            auto guard = std::make_unique<BlobFaultGuard>(bigger->segment->data(), bigger->segment->size());
            std::memcpy(bigger->data, data(), at);
            let_go();
            blob_ = bigger.value();
            guard_ = std::move(guard);
        }
        size_ = need;
        return reinterpret_cast<char*>(blob_->data) + at;
    }
    void shrink(std::size_t new_size) override {
        if (new_size >= size_) return;
        size_ = new_size;
        if (!blob_) small_.resize(new_size);
    }
    std::size_t size() const override { return size_; }
    const char* data() const override {
        return blob_ ? reinterpret_cast<const char*>(blob_->data) : small_.data();
    }

    // A blob the result went to shrank under the job's writes: the result is not what the job wrote.
    bool shrank() const { return shrank_ || (guard_ && guard_->shrank()); }

    // The blob holding the result, if it went to one and did not shrink; the caller then owns it.
    std::optional<BlobPool::Blob> take_blob() {
        if (shrank()) return std::nullopt;  // let_go() discards it
        auto blob = blob_;
        if (blob) blob->ref.bytes = size_;
        blob_.reset();
        guard_.reset();
        return blob;
    }

private:
    // Gives the current blob back to the pool, or out of it if it shrank.
    void let_go() {
        if (!blob_) return;
        if (guard_->shrank()) {
            shrank_ = true;
            pool_.discard(blob_->ref.object);
        } else {
            pool_.release(blob_->ref.object);
        }
        guard_.reset();
        blob_.reset();
    }

    std::string& small_;
    BlobPool& pool_;
    std::size_t inline_max_;
    std::size_t size_ = 0;
    std::optional<BlobPool::Blob> blob_;
    std::unique_ptr<BlobFaultGuard> guard_;  // over blob_'s mapping while blob_ is set
    bool shrank_ = false;  // a blob let go of earlier had shrunk
};

class Worker {
public:
    explicit Worker(const WorkerSetup& setup)
        : setup_(setup),
          pool_header_(reinterpret_cast<PoolHeader*>(setup.pool_base)),
          record_(reinterpret_cast<WorkerRecord*>(setup.pool_base +
                                                  setup.pool_layout.worker_table_offset()) +
                  setup.slot),
          inbox_(RingView::at(setup.pool_base + setup.pool_layout.inbox_offset(setup.slot),
                              setup.pool_layout.inbox_ring_bytes)),
          board_(setup.lane_board),
          lane_outcome_(reinterpret_cast<LaneOutcome*>(setup.pool_base +
                                                       setup.pool_layout.lane_outcome_offset(setup.slot))),
          active_sessions_(reinterpret_cast<const std::atomic<std::uint64_t>*>(
              setup.pool_base + setup.pool_layout.active_sessions_offset())),
          session_table_(reinterpret_cast<const SessionEntry*>(setup.pool_base +
                                                               setup.pool_layout.session_table_offset())) {}

    [[noreturn]] void run() {
        const std::int64_t started = monotonic_ns();
        auto library = LoadedJobLibrary::open(setup_.jobs_library);
        if (!library) fail_init(library.error().message());
        library_.emplace(std::move(library.value()));
        context_.pool_name = setup_.pool_name;
        context_.worker_slot = static_cast<int>(setup_.slot);
        context_.pid = getpid();
        if (auto st = library_->instantiate(context_); !st) fail_init(st.error().message());
        std::size_t python_jobs = 0;
        if (setup_.python.enabled) {
            auto host = PythonHost::start(setup_.python, context_);
            if (!host) fail_init(host.error().message());
            python_ = std::move(host.value());
            auto functions = python_->take_functions();
            python_jobs = functions.size();
            if (auto st = library_->add_python(std::move(functions), context_); !st) fail_init(st.error().message());
            // Before ready, so that the supervisor knows them before it gives us a job of theirs.
            if (auto st = channel_.declare_functions(python_->declared()); !st) {
                fail_init("cannot declare the Python jobs' settings: " + st.error().message());
            }
        }
        // Only workers read blobs a client can shrink under them. Installed after the library's
        // initialisation, which might set a SIGBUS handler of its own: ours must see a fault first.
        if (auto st = install_blob_fault_handler(); !st) fail_init(st.error().message());
        statm_.reset(::open("/proc/self/statm", O_RDONLY | O_CLOEXEC));
        measure_rss();

        record_->init_ns.store(monotonic_ns() - started, std::memory_order_relaxed);
        // The supervisor may have told this worker to stop while it initialised (a reload that
        // replaced it, a shutdown): then it goes as a worker told to stop does, instead of
        // storing ready over exiting and serving a slot nobody gives work to.
        if (!announce_ready(*record_)) {
            spdlog::info("worker slot {} told to stop while it initialised; exiting", setup_.slot);
            ::_exit(kWorkerExitOk);
        }
        pool_header_->supervisor_wake.notify_eventfd(setup_.supervisor_eventfd);
        spdlog::info("worker slot {} ready: {} functions initialised in {:.3f} s", setup_.slot,
                     library_->library().functions.size() + python_jobs,
                     static_cast<double>(record_->init_ns.load()) / 1e9);
        serve();
    }

private:
    [[noreturn]] void fail_init(const std::string& why) {
        spdlog::error("worker slot {} initialisation failed: {}", setup_.slot, why);
        ::_exit(kWorkerExitInitFailed);
    }

    [[noreturn]] void serve() {
        std::uint64_t seq = record_->inbox_done.load(std::memory_order_acquire);
        unsigned unreleased = 0;
        std::uint64_t unreleased_bytes = 0;
        unsigned untold = 0;  // jobs finished since the supervisor was last told
        const std::uint64_t release_bytes = setup_.pool_layout.inbox_ring_bytes / 8;
        for (;;) {
            std::span<const std::byte> bytes;
            auto peek = inbox_.peek(bytes);
            if (peek == RingConsumer::Peek::record) {
                stop_watching();
                if (claimed_) {  // a post seen on the way out goes first; the record waits its turn
                    run_claimed_lane_job();
                    continue;
                }
                handle(bytes, seq);  // marks the job done
                inbox_.pop();
                unreleased_bytes += bytes.size();
                if (++unreleased == kInboxReleaseEvery || unreleased_bytes >= release_bytes) {
                    inbox_.release();
                    unreleased = 0;
                    unreleased_bytes = 0;
                }
                ++seq;
                if (++untold == kTellSupervisorEvery || inbox_.empty_now()) {
                    untold = 0;
                    pool_header_->supervisor_wake.notify_eventfd(setup_.supervisor_eventfd);
                }
                continue;
            }
            inbox_.release();
            unreleased = 0;
            unreleased_bytes = 0;
            if (peek == RingConsumer::Peek::corrupt) {
                spdlog::critical("inbox ring corrupt; exiting");
                ::_exit(1);
            }
            if (record_->state.load(std::memory_order_acquire) ==
                static_cast<std::uint32_t>(WorkerState::exiting)) {
                // A post this worker may have been the only one to see is served before it goes.
                stop_watching();
                if (claimed_) {
                    run_claimed_lane_job();
                    continue;
                }
                spdlog::info("worker slot {} exiting after {} jobs", setup_.slot,
                             record_->jobs_done.load());
                ::_exit(kWorkerExitOk);
            }
            wait_for_work();
        }
    }

    // Spins a while for work: a record in the inbox, or, if this worker watches the lanes, a job
    // a client posted to its lane. Then, with nothing found, stops watching and sleeps.
    void wait_for_work() {
        watch();
        if (claimed_) {  // stepping aside for another watcher, it found a post
            run_claimed_lane_job();
            return;
        }
        const std::int64_t wait_start = monotonic_ns();
        const std::int64_t window = watching_ ? kWatcherSpinNs : kInboxSpinNs;
        auto wait_ended = [&] { idle_spin_.waited(monotonic_ns() - wait_start, window); };
        const std::int64_t spin_until = idle_spin_.spin_now() ? wait_start + window : 0;
        while (monotonic_ns() < spin_until) {
            if (!inbox_.empty_now()) {
                wait_ended();
                return;
            }
            if (watching_ && !may_take_lane_jobs()) stop_watching();
            if (watching_ && claim_posted_lane_job()) {
                wait_ended();
                stop_watching(/*keep_role=*/true);  // nobody waits behind the job it claimed
                run_claimed_lane_job();
                return;
            }
            spin_relax();
        }
        stop_watching();
        if (claimed_) {
            wait_ended();
            run_claimed_lane_job();
            return;
        }
        // The supervisor did not see the lane jobs end: it may hold jobs back for want of an
        // idle worker, and this one is idle now.
        if (lane_jobs_untold_) {
            lane_jobs_untold_ = false;
            pool_header_->supervisor_wake.notify_eventfd(setup_.supervisor_eventfd);
        }
        // Idle: let go of what we keep for sessions that ended (their mappings, our result blobs).
        std::erase_if(sessions_, [](const auto& entry) { return !session_active(entry.second); });
        std::uint32_t token = record_->inbox_wake.prepare_sleep();
        if (!inbox_.empty_now() || exiting()) {
            record_->inbox_wake.cancel_sleep();
            wait_ended();
            return;
        }
        record_->inbox_wake.sleep_futex(token, kIdleSleepNs);
        wait_ended();  // woken for work, or a second with none: a long wait either way
    }

    bool exiting() const {
        return record_->state.load(std::memory_order_acquire) == static_cast<std::uint32_t>(WorkerState::exiting);
    }

    // ---- Lanes (shm_layout.hpp: Lane, LaneBoard) ----
    //
    // One worker at a time watches: two idle workers spinning beside a client that spins would be
    // three spinners on what may be two cores. A worker watches while idle, stops while it runs
    // anything, and starts again just before it publishes a lane job's reply, so that the
    // client's next post, made as soon as it has the reply, finds it watching.

    // Lanes open, this worker not exiting, not due for recycling nor being replaced.
    bool may_take_lane_jobs() const {
        return board_->open.load(std::memory_order_relaxed) != 0 && !exiting() &&
               record_->jobs_done.load(std::memory_order_relaxed) <
                   record_->lanes_until_jobs.load(std::memory_order_relaxed);
    }

    // Takes the watcher's role unless another worker holds it, then shows clients it watches.
    // The role outlives a lane job the watcher runs (it stops showing itself meanwhile), so
    // another idle worker does not start spinning beside it.
    void watch() {
        if (watching_ || !may_take_lane_jobs()) return;
        const std::uint64_t bit = std::uint64_t{1} << (setup_.slot % 64);
        if (!watcher_role_) {
            std::atomic<std::uint64_t>& role = board_->watcher_role[setup_.slot / 64];
            if ((role.fetch_or(bit, std::memory_order_seq_cst) & ~bit) != 0) {
                role.fetch_and(~bit, std::memory_order_seq_cst);  // another worker has it
                return;
            }
            watcher_role_ = true;
        }
        board_->watching[setup_.slot / 64].fetch_or(bit, std::memory_order_seq_cst);
        watching_ = true;
    }

    // Clears this worker's bit, then looks at every lane once more: a client that saw the bit set
    // may have posted. A post found then is claimed (claimed_), to be run by the caller, if this
    // worker may take one now; any other post found is handed to the supervisor, which queues it.
    // keep_role: it runs the lane job it just claimed, and will show itself again before replying.
    void stop_watching(bool keep_role = false) {
        const std::uint64_t bit = std::uint64_t{1} << (setup_.slot % 64);
        if (watching_) {
            board_->watching[setup_.slot / 64].fetch_and(~bit, std::memory_order_seq_cst);
            std::atomic_thread_fence(std::memory_order_seq_cst);
            watching_ = false;
            // Not while a lane job runs or waits to (the record describes that one), nor when this
            // worker may not take lane jobs at all.
            if (!claimed_ && !running_lane_job_ && may_take_lane_jobs()) claim_posted_lane_job();
            if (any_posted_lane()) {
                pool_header_->lane_posts_left.store(1, std::memory_order_seq_cst);
                pool_header_->supervisor_wake.notify_eventfd(setup_.supervisor_eventfd);
            }
        }
        if (watcher_role_ && !keep_role) {
            board_->watcher_role[setup_.slot / 64].fetch_and(~bit, std::memory_order_seq_cst);
            watcher_role_ = false;
        }
    }

    bool any_posted_lane() {
        return any_active_session(0, [](std::uint32_t, SessionView& view) {
            return lane_state(view.lane->word.load(std::memory_order_acquire)) == LaneWordState::posted;
        });
    }

    // Claims one posted lane job of any active session, if there is one. The record tells a
    // supervisor what this worker claimed before the claim, so that a death at any point leaves
    // the job with exactly one owner. Sessions are looked at from the one after the last claimed,
    // so none is always last.
    bool claim_posted_lane_job() {
        return any_active_session(lane_scan_from_, [this](std::uint32_t slot, SessionView& view) {
            if (!claim(slot, view)) return false;
            lane_scan_from_ = slot + 1;
            return true;
        });
    }

    // Whether `found(slot, view)` holds for an active session, asked of each in turn from session
    // slot `from` round to the one before it.
    template <class Found>
    bool any_active_session(std::uint32_t from, Found&& found) {
        const std::uint32_t words = setup_.pool_layout.active_words();
        const std::uint32_t start_word = (from / 64) % words;
        const std::uint32_t start_bit = from % 64;
        for (std::uint32_t n = 0; n <= words; ++n) {
            const std::uint32_t w = (start_word + n) % words;
            std::uint64_t bits = active_sessions_[w].load(std::memory_order_acquire);
            if (n == 0) bits &= ~std::uint64_t{0} << start_bit;  // the start word from its bit on
            if (n == words) bits &= start_bit == 0 ? 0 : ~std::uint64_t{0} >> (64 - start_bit);  // the rest
            while (bits != 0) {
                const auto slot = static_cast<std::uint32_t>(w * 64 + std::countr_zero(bits));
                bits &= bits - 1;
                SessionView* view = watched_session(slot);
                if (view != nullptr && found(slot, *view)) return true;
            }
        }
        return false;
    }

    // The active session in `slot`, mapped on first sight: one shm_open and mmap per session, as
    // its first job would cost. Null if it is gone.
    SessionView* watched_session(std::uint32_t slot) {
        const std::uint64_t generation = session_table_[slot].generation.load(std::memory_order_relaxed);
        auto it = sessions_.find(slot);
        if (it != sessions_.end() && it->second.generation == generation) return &it->second;
        if (generation == 0) return nullptr;
        return session_for(slot, generation);
    }

    bool claim(std::uint32_t slot, SessionView& view) {
        Lane& lane = *view.lane;
        std::uint64_t word = lane.word.load(std::memory_order_acquire);
        if (lane_state(word) != LaneWordState::posted) return false;
        // A client with nothing in flight has read every reply; one whose ring lacks room for a
        // reply is not served here (the supervisor queues its post), so no worker ever waits on it.
        if (view.reply.free_bytes() < lane_reply_room_) return false;
        const std::uint64_t ticket = lane_ticket(word);
        record_->lane_session_slot.store(slot, std::memory_order_relaxed);
        record_->lane_generation.store(view.generation, std::memory_order_relaxed);
        record_->lane_ticket.store(ticket, std::memory_order_relaxed);
        // Only this worker publishes into that reply ring: its tail stays put until our reply.
        record_->running_reply_tail.store(view.reply.published_tail(), std::memory_order_relaxed);
        record_->lane_progress.store(lane_progress(lane_taken_, LaneStage::claiming), std::memory_order_seq_cst);
        if (!lane.word.compare_exchange_strong(word, lane_word(ticket, setup_.slot, LaneWordState::claimed),
                                               std::memory_order_acq_rel)) {
            record_->lane_progress.store(lane_progress(lane_taken_, LaneStage::none), std::memory_order_release);
            return false;
        }
        // Copied out before the lane is the client's again; what it says is checked when it runs.
        std::memcpy(&claimed_job_, &lane.record, sizeof claimed_job_);
        const std::size_t bytes = std::min<std::size_t>(claimed_job_.payload_bytes, kLanePayloadMax);
        claimed_payload_.assign(lane.payload, lane.payload + bytes);
        claimed_job_.session_slot = slot;
        claimed_job_.session_generation = view.generation;
        claimed_job_.attempt = 1;
        claimed_job_.enqueued_ns = monotonic_ns();
        record_->lane_job_id.store(claimed_job_.job_id, std::memory_order_relaxed);
        ++lane_taken_;
        record_->lane_progress.store(lane_progress(lane_taken_, LaneStage::taken), std::memory_order_release);
        lane.word.store(lane_word(ticket, 0, LaneWordState::free), std::memory_order_release);
        claimed_ = true;
        return true;
    }

    // Runs the claimed lane job like a job from the inbox and replies through the reply ring.
    void run_claimed_lane_job() {
        claimed_ = false;
        running_lane_job_ = true;
        const JobRecord& job = claimed_job_;
        const std::span<const std::byte> payload(claimed_payload_);
        SessionView* session = session_for(job);
        std::uint32_t counted = kOutcomeDropped;
        if (session != nullptr) {
            const std::int64_t start = monotonic_ns();
            record_->running_since_ns.store(start, std::memory_order_relaxed);
            record_->running_seq.store(kLaneRunningSeq, std::memory_order_release);
            context_.job_id = job.job_id;
            context_.attempt = 1;
            // No supervisor saw a lane job: it is checked here as a submission would be.
            Outcome outcome;
            if (!lane_may_carry(job, payload.size())) {
                outcome = fail(ErrorKind::bad_request,
                               "a lane carries one call with its arguments inline and no time limit of its own");
            } else if (auto why = job_refusal(job, payload, JobLimits{setup_.inline_max})) {
                outcome = fail(ErrorKind::bad_request, std::move(*why));
            } else {
                outcome = execute(job, payload, *session);
            }
            const std::int64_t run_ns = monotonic_ns() - start;
            seal(*session, job, outcome);
            lane_outcome_->last_status.store(outcome.status < kOutcomeDropped ? outcome.status : 0,
                                             std::memory_order_relaxed);
            // Watching again before the reply: the client may post its next call the moment it has it.
            if (inbox_.empty_now() && !exiting()) watch();
            const bool published = reply(*session, job, outcome, 0, run_ns);
            if (published) counted = outcome.status < kOutcomeDropped ? outcome.status : 0;
            // Measured before it is counted, as for an inbox job (max_rss recycling follows it).
            if (monotonic_ns() - last_rss_ns_ >= kRssIntervalNs) measure_rss();
        }
        // Counted once the reply is out; then the stage goes back to none (shm_layout.hpp).
        std::atomic<std::uint64_t>& count = lane_outcome_->counts[counted];
        count.store(count.load(std::memory_order_relaxed) + 1, std::memory_order_release);
        record_->running_seq.store(kNoRunningJob, std::memory_order_release);
        record_->lane_progress.store(lane_progress(lane_taken_, LaneStage::none), std::memory_order_release);
        running_lane_job_ = false;
        lane_jobs_untold_ = true;
        const std::uint64_t done = record_->jobs_done.load(std::memory_order_relaxed) + 1;
        record_->jobs_done.store(done, std::memory_order_relaxed);
        // Due for recycling: the supervisor, which would not hear of lane jobs, is told now.
        if (done == record_->lanes_until_jobs.load(std::memory_order_relaxed)) {
            pool_header_->supervisor_wake.notify_eventfd(setup_.supervisor_eventfd);
        }
    }

    void handle(std::span<const std::byte> bytes, std::uint64_t seq) {
        JobRecord job;
        if (bytes.size() < sizeof job) {
            spdlog::critical("short record in inbox; exiting");
            ::_exit(1);
        }
        std::memcpy(&job, bytes.data(), sizeof job);
        std::span<const std::byte> payload = bytes.subspan(sizeof job);
        if (payload.size() != job.payload_bytes) {
            spdlog::critical("inbox record length mismatch; exiting");
            ::_exit(1);
        }

        SessionView* session = session_for(job);
        if (session == nullptr) {  // the client is gone: nobody to reply to
            JobOutcome& entry = outcome_entry(seq);
            entry = JobOutcome{};
            entry.counts[kOutcomeDropped] = batch_item_count(job, payload);
            record_->inbox_done.store(seq + 1, std::memory_order_release);
            return;
        }

        record_->running_reply_tail.store(session->reply.published_tail(), std::memory_order_relaxed);
        const std::int64_t start = monotonic_ns();
        record_->running_since_ns.store(start, std::memory_order_relaxed);
        record_->running_seq.store(running_word_of_inbox_seq(seq), std::memory_order_release);

        context_.job_id = job.job_id;
        context_.attempt = job.attempt;
        Outcome outcome = execute(job, payload, *session);
        const std::int64_t end = monotonic_ns();
        const std::int64_t run_ns = end - start;
        seal(*session, job, outcome);
        // Recorded before the reply goes out: whoever sees the reply or the done mark may count it.
        JobOutcome& entry = outcome_entry(seq);
        std::copy(outcome.counts.begin(), outcome.counts.end(), entry.counts);
        // The last job in the inbox: watching the lanes before the reply, so that a caller making
        // one call at a time finds a watcher for its next call.
        if (inbox_.only_peeked_left() && !exiting()) watch();
        const bool published = reply(*session, job, outcome, start - job.enqueued_ns, run_ns);
        if (!published) {
            entry = JobOutcome{};
            entry.counts[kOutcomeDropped] = batch_item_count(job, payload);
        }

        // Measured before the done mark, which the supervisor's recycling check (max_rss) follows.
        if (end - last_rss_ns_ >= kRssIntervalNs) measure_rss();
        record_->last_run_ns.store(run_ns, std::memory_order_relaxed);
        // Done before no longer running: a supervisor looking between the two stores must see
        // one of them, or it would take the job for one that never started and run it again.
        record_->inbox_done.store(seq + 1, std::memory_order_release);
        record_->running_seq.store(kNoRunningJob, std::memory_order_release);
        // Only this process writes it: no read-modify-write needed.
        record_->jobs_done.store(record_->jobs_done.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    }

    // Publishes a sealed outcome (publish()), then lets go of what it held: a result blob nobody
    // will read goes back to the pool, and the buffer is kept for the next job. False if the
    // reply could not be delivered.
    bool reply(SessionView& session, const JobRecord& job, Outcome& outcome, std::int64_t queue_ns,
               std::int64_t run_ns) {
        const bool published = publish(session, job, outcome, queue_ns, run_ns);
        if (outcome.blob && !published) session.results.release(outcome.blob->ref.object);
        // Results a client keeps (Bytes) pile up beyond the limits: let go of those, it has its
        // own mapping of them.
        if (outcome.blob) session.results.trim(true);
        // The buffer goes back for the next job, unless a huge result grew it.
        if (outcome.payload.capacity() <= kScratchKeepBytes) {
            scratch_ = std::move(outcome.payload);
            scratch_.clear();
        }
        return published;
    }

    JobOutcome& outcome_entry(std::uint64_t seq) {
        auto* table = reinterpret_cast<JobOutcome*>(setup_.pool_base + setup_.pool_layout.outcome_offset(setup_.slot));
        return table[seq % kOutcomeEntries];
    }

    void measure_rss() {
        last_rss_ns_ = monotonic_ns();
        char text[64];
        const ssize_t n = statm_ ? ::pread(statm_.get(), text, sizeof text - 1, 0) : -1;
        if (n <= 0) return;
        text[n] = '\0';
        unsigned long long pages_total = 0, pages_resident = 0;
        if (std::sscanf(text, "%llu %llu", &pages_total, &pages_resident) != 2) return;
        record_->rss_bytes.store(pages_resident * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE)),
                                 std::memory_order_relaxed);
    }

    static Outcome fail(ErrorKind kind, std::string message) {
        Outcome outcome{static_cast<std::uint16_t>(kind), 0, std::move(message)};
        outcome.counts[static_cast<std::size_t>(kind)] = 1;
        return outcome;
    }

    Outcome execute(const JobRecord& job, std::span<const std::byte> payload, SessionView& session) {
        if (job.deadline_ns != 0 && monotonic_ns() > job.deadline_ns) {
            return fail(ErrorKind::deadline_exceeded, "the job's deadline passed before it started");
        }
        std::string_view name = function_name(job);
        LoadedJobLibrary::Entry* entry = library_->find(name);
        if (entry == nullptr) {
            return fail(ErrorKind::unknown_function,
                        "no function '" + std::string(name) + "' in the job library" +
                            (python_ ? " or among the Python jobs" : ""));
        }
        const Encoding encoding = encoding_of(job.flags);
        if (auto refused = refuse_encoding(job, *entry, encoding)) return std::move(*refused);
        if (encoding == Encoding::binary && job.fingerprint != 0 &&
            entry->function->fingerprint() != 0 && job.fingerprint != entry->function->fingerprint()) {
            return fail(ErrorKind::type_mismatch,
                        "function '" + std::string(name) +
                            "' was called with argument or result types other than its own");
        }

        const std::string_view inline_args(reinterpret_cast<const char*>(payload.data()), payload.size());
        if ((job.flags & kJobBlob) == 0) return run(job, *entry, encoding, inline_args, session);

        const std::optional<BlobRef> blob_ref = blob_ref_of(payload);
        if (!blob_ref) return fail(ErrorKind::bad_request, "malformed blob reference");
        const BlobRef& ref = *blob_ref;
        // Freed by the client when it has our reply; a retry on another worker may need it.
        const std::string object = "a" + std::to_string(ref.object);
        auto mapped = session.arguments.map(
            object, ref,
            [&] { return channel_.argument_blob(job.session_slot, session.generation, ref.object); },
            SharedSegment::Access::read_only);
        if (!mapped) return fail(ErrorKind::bad_request, "argument blob: " + mapped.error().message());
        // The job reads the client's object in place, and the client may shrink it meanwhile:
        // the guard turns the reads past its new end into zeros instead of a SIGBUS that kills us.
        const std::shared_ptr<SharedSegment> blob = mapped->segment;  // mapped while the job reads it
        const BlobFaultGuard guard(blob->data(), blob->size());
        Outcome outcome = run(job, *entry, encoding, mapped->bytes, session);
        if (!guard.shrank()) return outcome;
        // What the job made of zeros is not the client's argument: nothing of it goes out.
        if (outcome.blob) session.results.release(outcome.blob->ref.object);
        session.arguments.drop(object);  // its pages are ours now, not the object's
        spdlog::debug("job {} of session {}: its argument blob {} shrank while the job read it", job.job_id,
                      job.session_slot, object);
        return fail(ErrorKind::bad_request, "the argument blob shrank while the job read it");
    }

    // Runs a job that passed the checks above on its arguments.
    Outcome run(const JobRecord& job, LoadedJobLibrary::Entry& entry, Encoding encoding, std::string_view args,
                SessionView& session) {
        Outcome outcome;
        outcome.payload = std::move(scratch_);
        outcome.payload.clear();
        outcome.flags = job.flags & (kJobEncodingFlags | kJobBatch);
        if ((job.flags & kJobBatch) == 0) {
            std::uint16_t status = 0;
            if (entry.instance->writes_in_place()) {
                ResultOutput out(outcome.payload, session.results, reply_inline_max(job.flags, setup_.inline_max));
                status = invoke_guarded(outcome.payload, [&] { entry.instance->invoke_into(encoding, args, out); });
                if (out.shrank()) {
                    spdlog::debug("job {} of session {}: a result blob shrank while the job wrote it", job.job_id,
                                  job.session_slot);
                    return fail(ErrorKind::bad_request, kResultBlobShrank);
                }
                if (status == 0) {
                    outcome.blob = out.take_blob();
                    if (!outcome.blob) outcome.payload.resize(out.size());
                }
            } else {
                status = invoke(entry, encoding, args, outcome.payload);
            }
            if (status != 0) outcome = Outcome{status, 0, std::move(outcome.payload), {}};
            outcome.counts[status < kOutcomeDropped ? status : 0] = 1;
            return outcome;
        }
        scratch_ = std::move(outcome.payload);
        return execute_batch(entry, encoding, args);
    }

    // Runs `call`; on failure replaces `out` with the message and returns the ErrorKind.
    template <class Call>
    static std::uint16_t invoke_guarded(std::string& out, Call&& call) {
        try {
            call();
            return 0;
        } catch (const JobFailure& e) {
            out = failure_text(e);
            return static_cast<std::uint16_t>(e.kind());
        } catch (const std::exception& e) {
            out = e.what();
        } catch (...) {
            out = "the handler threw something that is not a std::exception";
        }
        return static_cast<std::uint16_t>(ErrorKind::handler_error);
    }

    // Runs one call; appends the result (or, on failure, the message) to `out`.
    std::uint16_t invoke(LoadedJobLibrary::Entry& entry, Encoding encoding, std::string_view args,
                         std::string& out) {
        return invoke_appending(out, [&] { entry.instance->invoke(encoding, args, out); });
    }

    // One batch item of a Python job (for pickle, a chunk of calls); as invoke().
    static std::uint16_t invoke_python_item(LoadedJobLibrary::Entry& entry, Encoding encoding, std::string_view args,
                                            std::string& out) {
        return invoke_appending(out, [&] { PythonHost::invoke_batch_item(*entry.instance, encoding, args, out); });
    }

    // Runs `call`, which appends its result to `out`; on failure replaces what it appended with
    // the message and returns the ErrorKind.
    template <class Call>
    static std::uint16_t invoke_appending(std::string& out, Call&& call) {
        const std::size_t mark = out.size();
        try {
            call();
            return 0;
        } catch (const JobFailure& e) {
            out.resize(mark);
            out += failure_text(e);
            return static_cast<std::uint16_t>(e.kind());
        } catch (const std::exception& e) {
            out.resize(mark);
            out += e.what();
        } catch (...) {
            out.resize(mark);
            out += "the handler threw something that is not a std::exception";
        }
        return static_cast<std::uint16_t>(ErrorKind::handler_error);
    }

    // A failure's reply payload: a Python job's may hold NUL bytes, which what() cannot carry.
    static std::string failure_text(const JobFailure& e) {
        if (const auto* python = dynamic_cast<const PythonJobFailure*>(&e)) return python->payload();
        return e.what();
    }

    // Calls a function cannot take in this encoding, and pickle from a peer the pool does not
    // trust to run code as its user: answered before anything is decoded.
    std::optional<Outcome> refuse_encoding(const JobRecord& job, const LoadedJobLibrary::Entry& entry,
                                           Encoding encoding) const {
        const std::string& name = entry.function->name();
        if (encoding == Encoding::pickle && !entry.python) {
            // A Python client calling by name sends pickle first and, told this, JSON from then on.
            return fail(ErrorKind::type_mismatch, "function '" + name + "' is a C++ job: it takes JSON (or binary), not pickle");
        }
        if (!entry.python) return std::nullopt;
        if (name == kPythonByValue && encoding != Encoding::pickle) {
            return fail(ErrorKind::unknown_function, "no function '" + name + "': functions by value come as pickle");
        }
        if (encoding == Encoding::binary) {
            return fail(ErrorKind::type_mismatch, "function '" + name + "' is a Python job: it takes pickle or JSON");
        }
        if (encoding == Encoding::pickle && !may_unpickle(job)) {
            return fail(ErrorKind::permission,
                        "this pool does not take pickle from this peer (python.pickle): unpickling runs code as the "
                        "pool's user; call exported jobs with JSON instead");
        }
        return std::nullopt;
    }

    // What the supervisor decided about the job's session (SessionEntry::trust), as long as the
    // session in that slot is still the job's.
    bool may_unpickle(const JobRecord& job) const {
        if (job.session_slot >= setup_.pool_layout.session_slots) return false;
        const SessionEntry& entry = session_table_[job.session_slot];
        if (entry.generation.load(std::memory_order_acquire) != job.session_generation) return false;
        const std::uint32_t trust = entry.trust.load(std::memory_order_acquire);
        // Still the same generation after the trust was read: the trust is this session's.
        if (entry.generation.load(std::memory_order_relaxed) != job.session_generation) return false;
        return (trust & kSessionMayUnpickle) != 0;
    }

    Outcome execute_batch(LoadedJobLibrary::Entry& entry, Encoding encoding, std::string_view args) {
        // Checked before the result is sized for the count: no supervisor saw a batch in a blob.
        const std::optional<std::uint32_t> count = batch_count(std::as_bytes(std::span(args.data(), args.size())));
        if (!count) {
            return fail(ErrorKind::bad_request,
                        args.size() < sizeof(BatchHeader) ? "malformed batch" : "batch item count out of range");
        }
        Outcome outcome;
        outcome.flags = kJobBatch | encoding_flags(encoding);
        std::string& out = outcome.payload;
        out.reserve(args.size() + *count * sizeof(BatchResultItem));
        out.append(args.data(), sizeof(BatchHeader));
        std::size_t pos = sizeof(BatchHeader);
        for (std::uint32_t i = 0; i < *count; ++i) {
            std::uint32_t len = 0;
            if (args.size() - pos < sizeof len) return fail(ErrorKind::bad_request, "malformed batch item");
            std::memcpy(&len, args.data() + pos, sizeof len);
            pos += sizeof len;
            if (args.size() - pos < len) return fail(ErrorKind::bad_request, "malformed batch item");
            const std::size_t item_at = out.size();
            out.append(sizeof(BatchResultItem), '\0');
            BatchResultItem item{};
            item.status = entry.python ? invoke_python_item(entry, encoding, args.substr(pos, len), out)
                                       : invoke(entry, encoding, args.substr(pos, len), out);
            item.bytes = static_cast<std::uint32_t>(out.size() - item_at - sizeof item);
            std::memcpy(out.data() + item_at, &item, sizeof item);
            ++outcome.counts[item.status < kOutcomeDropped ? item.status : 0];
            pos += len;
        }
        if (pos != args.size()) return fail(ErrorKind::bad_request, "trailing bytes after batch");
        return outcome;
    }

    SessionView* session_for(const JobRecord& job) { return session_for(job.session_slot, job.session_generation); }

    SessionView* session_for(std::uint32_t slot, std::uint64_t generation) {
        auto it = sessions_.find(slot);
        if (it == sessions_.end() || it->second.generation != generation) {
            if (it != sessions_.end()) sessions_.erase(it);
            if (auto gone = gone_sessions_.find(slot); gone != gone_sessions_.end() && gone->second == generation) {
                return nullptr;
            }
            auto fd = channel_.session(slot, generation);
            Result<SharedSegment> segment =
                fd ? SharedSegment::adopt(std::move(fd.value()), setup_.session_layout.total_bytes(),
                                          SharedSegment::Access::read_write, "session " + std::to_string(slot))
                   : Result<SharedSegment>(fd.error());
            if (!segment) {
                spdlog::debug("session {} is gone: {}", slot, segment.error().message());
                gone_sessions_[slot] = generation;
                return nullptr;
            }
            SessionView view;
            view.generation = generation;
            view.segment = std::move(segment.value());
            view.header = reinterpret_cast<SessionHeader*>(view.segment.data());
            if (view.header->magic != kSessionMagic || view.header->generation != generation) {
                return nullptr;
            }
            view.lane = reinterpret_cast<Lane*>(view.segment.data() + setup_.session_layout.lane_offset());
            view.reply = RingProducer(RingView::at(
                view.segment.data() + setup_.session_layout.reply_offset(setup_.slot),
                setup_.session_layout.reply_ring_bytes));
            const SupervisorChannel channel = channel_;
            view.results = BlobPool(
                segment_label(setup_.pool_name, "results." + std::to_string(context_.pid)),
                BlobPool::Broker{
                    [channel, slot, generation](std::uint64_t object, int fd) {
                        return channel.offer_result(slot, generation, object, fd);
                    },
                    [channel, slot, generation](std::uint64_t object) {
                        channel.retire_result(slot, generation, object);
                    }},
                kResultBlobLimits);
            it = sessions_.emplace(slot, std::move(view)).first;
        }
        if (!session_active(it->second)) return nullptr;
        return &it->second;
    }

    static bool session_active(const SessionView& view) {
        return view.header->state.load(std::memory_order_acquire) ==
               static_cast<std::uint32_t>(SessionState::active);
    }

    // Readies an outcome for its reply: a payload too big to go inline is copied into a result
    // blob, and a result blob is marked published. Either is a write to an object the session's
    // client maps read-write and may have shrunk: done under a guard, and a blob that shrank turns
    // the outcome into bad_request (and leaves the pool).
    void seal(SessionView& session, const JobRecord& job, Outcome& outcome) {
        std::string_view copy_in;  // bytes still to go into the blob
        const std::uint32_t inline_max = reply_inline_max(job.flags, setup_.inline_max);
        if (!outcome.blob && outcome.payload.size() > inline_max) {
            // Encoded into the buffer (a typed result): copied once into a reused blob.
            auto blob = session.results.acquire(outcome.payload.size());
            if (!blob) {
                fail_sealed(outcome, inline_max, ErrorKind::handler_error,
                            "cannot store a result of " + std::to_string(outcome.payload.size()) +
                                " bytes: " + blob.error().message());
                return;
            }
            outcome.blob = blob.value();
            outcome.blob->ref.bytes = outcome.payload.size();
            copy_in = outcome.payload;
        }
        if (!outcome.blob) return;
        const std::shared_ptr<const SharedSegment>& mapping = outcome.blob->segment;
        {
            const BlobFaultGuard guard(mapping->data(), mapping->size());
            if (!copy_in.empty()) std::memcpy(outcome.blob->data, copy_in.data(), copy_in.size());
            outcome.blob->publish();
            if (!guard.shrank()) return;
        }
        session.results.discard(outcome.blob->ref.object);
        outcome.blob.reset();
        spdlog::debug("job {} of session {}: its result blob shrank before the reply", job.job_id, job.session_slot);
        fail_sealed(outcome, inline_max, ErrorKind::bad_request, kResultBlobShrank);
    }

    // Turns an outcome into an error that goes inline, counted against all of the job's calls.
    void fail_sealed(Outcome& outcome, std::uint32_t inline_max, ErrorKind kind, std::string message) const {
        std::uint32_t calls = 0;
        for (const std::uint32_t n : outcome.counts) calls += n;
        outcome = fail(kind, std::move(message));
        outcome.counts[static_cast<std::size_t>(kind)] = std::max(calls, 1u);
        // Inline, so it must fit the room the dispatcher reserved for one reply.
        if (outcome.payload.size() > inline_max) outcome.payload.resize(inline_max);
    }

    // False if the reply could not be delivered (the client left, or broke its ring).
    bool publish(SessionView& session, const JobRecord& job, Outcome& outcome, std::int64_t queue_ns,
                 std::int64_t run_ns) {
        ReplyRecord reply{};
        reply.job_id = job.job_id;
        reply.status = outcome.status;
        reply.flags = outcome.flags;
        reply.worker_pid = context_.pid;  // getpid() would be a system call per reply
        reply.queue_ns = queue_ns;
        reply.run_ns = run_ns;

        std::string_view body = outcome.payload;
        if (outcome.blob) {
            reply.flags |= kJobBlob;
            body = std::string_view(reinterpret_cast<const char*>(&outcome.blob->ref), sizeof(BlobRef));
        }
        reply.payload_bytes = static_cast<std::uint32_t>(body.size());
        const auto size = static_cast<std::uint32_t>(sizeof reply + body.size());

        // The dispatcher gave us this job only with room reserved for its reply, and a lane job
        // only with room seen free: no room now means the client moved its ring's indices itself.
        // Waiting for it would let one client hold a worker that everyone shares, so the reply
        // is dropped, and the client has only itself to blame.
        std::byte* slot = session.reply.try_reserve(size);
        if (slot == nullptr) {
            if (!session.reply_overrun_logged) {
                spdlog::warn("reply ring of session {} has no room although it was reserved: the client "
                             "moved its indices; dropping its replies while that lasts (first: job {})",
                             job.session_slot, job.job_id);
                session.reply_overrun_logged = true;
            }
            return false;
        }
        std::memcpy(slot, &reply, sizeof reply);
        std::memcpy(slot + sizeof reply, body.data(), body.size());
        session.reply.commit(size);
        session.reply.publish();
        count_reply_tail(session, job.session_slot);
        session.header->client_wake.notify_futex();
        return true;
    }

    // Tells the supervisor how far we published into this session's reply ring (ReplyTail in
    // shm_layout.hpp), so it never has to believe the ring's tail, which the client can write.
    void count_reply_tail(const SessionView& session, std::uint32_t session_slot) {
        auto& entry = *reinterpret_cast<ReplyTail*>(setup_.pool_base +
                                                    setup_.pool_layout.reply_tail_offset(setup_.slot, session_slot));
        if (entry.generation.load(std::memory_order_relaxed) != session.generation) {
            entry.generation.store(0, std::memory_order_release);
            entry.tail.store(session.reply.published_tail(), std::memory_order_release);
            entry.generation.store(session.generation, std::memory_order_release);
            return;
        }
        entry.tail.store(session.reply.published_tail(), std::memory_order_release);
    }

    const WorkerSetup& setup_;
    SupervisorChannel channel_{setup_.supervisor_channel};
    PoolHeader* pool_header_;
    WorkerRecord* record_;
    RingConsumer inbox_;
    std::optional<LoadedJobLibrary> library_;
    std::unique_ptr<PythonHost> python_;  // if the pool hosts Python jobs
    WorkerContext context_;  // job objects may keep a reference: it lives as long as the worker
    UniqueFd statm_;
    std::int64_t last_rss_ns_ = 0;
    std::unordered_map<std::uint32_t, SessionView> sessions_;
    // Per session slot, the generation the supervisor last said is gone: not asked for again.
    std::unordered_map<std::uint32_t, std::uint64_t> gone_sessions_;
    std::string scratch_;  // result buffer, kept between jobs so its pages stay warm
    AdaptiveSpin idle_spin_;  // whether wait_for_work() spins before it sleeps
    // Lanes
    LaneBoard* board_;
    LaneOutcome* lane_outcome_;
    const std::atomic<std::uint64_t>* active_sessions_;
    const SessionEntry* session_table_;
    bool watching_ = false;      // its bit in LaneBoard::watching is set
    bool watcher_role_ = false;  // its bit in LaneBoard::watcher_role is set
    bool claimed_ = false;  // claimed_job_ waits to be run
    bool running_lane_job_ = false;
    bool lane_jobs_untold_ = false;  // lane jobs ended since the supervisor was last rung
    std::uint64_t lane_taken_ = 0;
    std::uint32_t lane_scan_from_ = 0;
    // Reply-ring room a lane reply needs wherever the ring's tail stands: two of the largest.
    const std::uint64_t lane_reply_room_ =
        2 * max_reply_bytes(sizeof(ReplyRecord), reply_inline_max(0, setup_.inline_max));  // session slot the next look at the lanes starts from
    JobRecord claimed_job_{};
    std::vector<std::byte> claimed_payload_;
};

}  // namespace

void run_worker(const WorkerSetup& setup) {
    init_logging(setup.pool_name, "worker", setup.log_level);
    if (setup.cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(setup.cpu, &set);
        if (::sched_setaffinity(0, sizeof set, &set) != 0) {
            spdlog::warn("cannot pin worker slot {} to CPU {}: {}", setup.slot, setup.cpu, std::strerror(errno));
        }
    }
    Worker worker(setup);
    worker.run();
}

}  // namespace warmpool
