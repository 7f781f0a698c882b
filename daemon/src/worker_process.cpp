#include "warmpool/daemon/worker_process.hpp"

#include <fcntl.h>
#include <sched.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>

#include "warmpool/common/adaptive_spin.hpp"
#include "warmpool/common/blob_fault_guard.hpp"
#include "warmpool/common/clock.hpp"
#include "warmpool/common/did_you_mean.hpp"
#include "warmpool/common/job_checks.hpp"
#include "warmpool/common/spin_relax.hpp"
#include "warmpool/common/unique_fd.hpp"
#include "warmpool/daemon/job_library.hpp"
#include "warmpool/daemon/job_runner.hpp"
#include "warmpool/daemon/lane_watcher.hpp"
#include "warmpool/daemon/logging.hpp"
#include "warmpool/daemon/supervisor_channel.hpp"
#include "warmpool/daemon/timings_recorder.hpp"
#include "warmpool/daemon/worker_sessions.hpp"

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
// Inbox space is handed back to the supervisor after this many records (or an eighth of the
// ring's bytes), and as soon as the inbox is empty: not after every record, which would store to
// a line the supervisor reads and fence the store once per job. (The supervisor never waits for
// inbox space: it tries again on its next pass.)
constexpr unsigned kInboxReleaseEvery = 32;
// The supervisor hears of finished jobs (it may then give us more, and it counts them) when the
// inbox runs dry, and at least every this many jobs while it does not: telling it after every
// job costs a full fence per job, and what is still in the inbox keeps us busy meanwhile.
constexpr unsigned kTellSupervisorEvery = 16;

// The worker: its initialisation, its inbox, and the replies it publishes. What runs a job is
// the JobRunner; the lanes are the LaneWatcher's; the sessions' mappings are WorkerSessions'.
// Of the worker's record it writes state (announce_ready()), jobs_done, inbox_done, running_seq,
// running_since_ns, running_reply_tail for an inbox job, init_ns, last_run_ns and rss_bytes; it
// also writes its JobOutcome entries and its ReplyTail entries, and (through its TimingsRecorder)
// its slot's WorkerTimings.
class Worker {
public:
    explicit Worker(const WorkerSetup& setup)
        : setup_(setup),
          pool_header_(&setup.pool_memory().header()),
          record_(&setup.pool_memory().worker(setup.slot)),
          inbox_(setup.pool_memory().inbox(setup.slot)),
          sessions_(setup, channel_, ::getpid()),
          lanes_(setup, sessions_) {
        context_.pool_name = setup_.pool_name;
        context_.worker_slot = static_cast<int>(setup_.slot);
        context_.pid = ::getpid();
    }

    [[noreturn]] void run() {
        const std::int64_t started = monotonic_ns();
        auto library = LoadedJobLibrary::open(setup_.jobs_library);
        if (!library) fail_init(library.error().message());
        library_.emplace(std::move(library.value()));
        if (!setup_.preloaded) {
            if (auto st = library_->run_preload(); !st) fail_init(st.error().message());
        }
        if (auto st = library_->instantiate(context_); !st) fail_init(st.error().message());
        std::size_t python_jobs = 0;
        if (setup_.python.enabled) {
            auto host = PythonHost::start(setup_.python, context_);
            if (!host) fail_init(host.error().message());
            python_ = std::move(host.value());
            auto functions = python_->take_functions();
            python_jobs = functions.size();
            if (auto st = library_->add_python(std::move(functions), context_); !st) fail_init(st.error().message());
        }
        check_configured_functions();
        // Before ready, so that the supervisor knows them before it gives us a job of theirs.
        if (auto st = declare_functions(); !st) fail_init("cannot declare the functions' settings: " + st.error().message());
        runner_.emplace(*library_, context_, setup_.inline_max, python_ != nullptr,
                        JobRunner::Hooks{[this](const JobRecord& job, std::uint64_t object) {
                                             return channel_.argument_blob(job.session_slot, job.session_generation,
                                                                           object);
                                         },
                                         [this](const JobRecord& job) { return sessions_.may_unpickle(job); }});
        timings_.emplace(setup_.pool_memory().worker_timings(setup_.slot),
                         [this](std::string_view name) { return library_->find(name) != nullptr; });
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
    // The timeouts and retries the functions declare, the job library's (FunctionOptions) and the
    // Python jobs' (@warmpool.job) in one message: the pool's [functions.NAME] settings win over
    // them, and they over the pool's defaults (FunctionCatalog::settings). Sent even if empty,
    // so that a reload to a library that declares nothing any more is heard.
    Status declare_functions() {
        protocol::FunctionSettings settings;
        settings.functions = library_->declared_settings();
        if (python_) {
            const auto& python = python_->declared().functions;
            settings.functions.insert(settings.functions.end(), python.begin(), python.end());
        }
        if (settings.functions.size() > protocol::kMaxFunctionSettings) {
            return make_error(SysError::Code::invalid,
                              std::to_string(settings.functions.size()) + " functions declare settings (at most " +
                                  std::to_string(protocol::kMaxFunctionSettings) + ")");
        }
        if (auto st = channel_.declare_functions(settings); !st) return st;
        return channel_.list_functions(library_->function_list());
    }

    // A [functions.NAME] section or --function for a name we do not serve is a typo: caught here,
    // where the library (and the Python modules) are loaded, since only they know their names.
    void check_configured_functions() {
        for (const auto& name : setup_.configured_functions) {
            if (library_->find(name) != nullptr) continue;
            spdlog::error("worker slot {}: the configuration has settings for function '{}' ([functions.{}] or "
                          "--function), which neither the job library nor the Python modules export{}",
                          setup_.slot, name, name, did_you_mean(name, library_->names()));
            ::_exit(kWorkerExitBadConfig);
        }
    }

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
                lanes_.stop_watching();
                if (lanes_.claimed()) {  // a post seen on the way out goes first; the record waits its turn
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
            if (exiting()) {
                // A post this worker may have been the only one to see is served before it goes.
                lanes_.stop_watching();
                if (lanes_.claimed()) {
                    run_claimed_lane_job();
                    continue;
                }
                spdlog::info("worker slot {} exiting after {} jobs", setup_.slot, record_->jobs_done.load());
                ::_exit(kWorkerExitOk);
            }
            wait_for_work();
        }
    }

    // Spins a while for work: a record in the inbox, or, if this worker watches the lanes, a job
    // a client posted to its lane. Then, with nothing found, stops watching and sleeps.
    void wait_for_work() {
        lanes_.watch();
        if (lanes_.claimed()) {  // stepping aside for another watcher, it found a post
            run_claimed_lane_job();
            return;
        }
        const std::int64_t wait_start = monotonic_ns();
        const std::int64_t window = lanes_.watching() ? kWatcherSpinNs : kInboxSpinNs;
        auto wait_ended = [&] { idle_spin_.waited(monotonic_ns() - wait_start, window); };
        const std::int64_t spin_until = idle_spin_.spin_now() ? wait_start + window : 0;
        while (monotonic_ns() < spin_until) {
            if (!inbox_.empty_now()) {
                wait_ended();
                return;
            }
            if (lanes_.watching() && !lanes_.may_take_jobs()) lanes_.stop_watching();
            if (lanes_.watching() && lanes_.claim_posted()) {
                wait_ended();
                lanes_.stop_watching(/*keep_role=*/true);  // nobody waits behind the job it claimed
                run_claimed_lane_job();
                return;
            }
            spin_relax();
        }
        lanes_.stop_watching();
        if (lanes_.claimed()) {
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
        sessions_.forget_ended();
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

    // Runs the claimed lane job like a job from the inbox and replies through the reply ring.
    void run_claimed_lane_job() {
        const JobRecord& job = lanes_.start_claimed();
        SessionView* session = sessions_.find(job.session_slot, job.session_generation);
        std::size_t counted = kOutcomeDropped;
        if (session != nullptr) {
            const std::int64_t start = monotonic_ns();
            record_->running_since_ns.store(start, std::memory_order_relaxed);
            record_->running_seq.store(kLaneRunningSeq, std::memory_order_release);
            JobResult result = runner_->execute(job, lanes_.claimed_payload(), session->blobs, JobOrigin::lane);
            const std::int64_t run_ns = monotonic_ns() - start;
            runner_->seal(job, result, session->blobs);
            lanes_.note_status(result.outcome_slot());
            // Watching again before the reply: the client may post its next call the moment it has it.
            if (inbox_.empty_now() && !exiting()) lanes_.watch();
            const bool published = reply(*session, job, result, 0, run_ns);
            if (published) {
                counted = result.outcome_slot();
                std::atomic<std::uint64_t>& lane_jobs =
                    setup_.pool_memory().reply_tail(setup_.slot, job.session_slot).lane_jobs;
                lane_jobs.store(lane_jobs.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
            }
            timings_->record(job.function, start - job.enqueued_ns, run_ns);
            // Measured before it is counted, as for an inbox job (max_rss recycling follows it).
            if (monotonic_ns() - last_rss_ns_ >= kRssIntervalNs) measure_rss();
        }
        // Counted once the reply is out; then the stage goes back to none (shm_layout.hpp).
        lanes_.count_claimed(counted);
        record_->running_seq.store(kNoRunningJob, std::memory_order_release);
        lanes_.finish_claimed();
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

        JobOutcome& entry = outcome_entry(seq);
        SessionView* session = sessions_.find(job.session_slot, job.session_generation);
        if (session == nullptr) {  // the client is gone: nobody to reply to
            entry = JobOutcome{};
            entry.counts[kOutcomeDropped] = batch_item_count(job, payload);
            record_->inbox_done.store(seq + 1, std::memory_order_release);
            return;
        }

        record_->running_reply_tail.store(session->reply.published_tail(), std::memory_order_relaxed);
        const std::int64_t start = monotonic_ns();
        record_->running_since_ns.store(start, std::memory_order_relaxed);
        record_->running_seq.store(running_word_of_inbox_seq(seq), std::memory_order_release);

        JobResult result = runner_->execute(job, payload, session->blobs, JobOrigin::inbox);
        const std::int64_t end = monotonic_ns();
        const std::int64_t run_ns = end - start;
        runner_->seal(job, result, session->blobs);
        // Recorded before the reply goes out: whoever sees the reply or the done mark may count it.
        std::copy(result.counts.begin(), result.counts.end(), entry.counts);
        // The last job in the inbox: watching the lanes before the reply, so that a caller making
        // one call at a time finds a watcher for its next call.
        if (inbox_.only_peeked_left() && !exiting()) lanes_.watch();
        const bool published = reply(*session, job, result, start - job.enqueued_ns, run_ns);
        timings_->record(job.function, start - job.enqueued_ns, run_ns);
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

    // Publishes a sealed result, then hands what it held back to the runner. False if the reply
    // could not be delivered.
    bool reply(SessionView& session, const JobRecord& job, JobResult& result, std::int64_t queue_ns,
               std::int64_t run_ns) {
        const bool published = publish(session, job, result, queue_ns, run_ns);
        runner_->finish(result, published, session.blobs);
        return published;
    }

    // False if the reply could not be delivered (the client left, or broke its ring).
    bool publish(SessionView& session, const JobRecord& job, const JobResult& result, std::int64_t queue_ns,
                 std::int64_t run_ns) {
        ReplyRecord reply{};
        reply.job_id = job.job_id;
        reply.status = result.status;
        reply.flags = result.flags;
        reply.worker_pid = context_.pid;  // getpid() would be a system call per reply
        reply.queue_ns = queue_ns;
        reply.run_ns = run_ns;

        std::string_view body = result.payload;
        if (result.blob) {
            reply.flags |= kJobBlob;
            body = std::string_view(reinterpret_cast<const char*>(&result.blob->ref), sizeof(BlobRef));
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
        ReplyTail& entry = setup_.pool_memory().reply_tail(setup_.slot, session_slot);
        if (entry.generation.load(std::memory_order_relaxed) != session.generation) {
            entry.generation.store(0, std::memory_order_release);
            entry.tail.store(session.reply.published_tail(), std::memory_order_release);
            entry.replies.store(1, std::memory_order_relaxed);
            entry.lane_jobs.store(0, std::memory_order_relaxed);
            entry.generation.store(session.generation, std::memory_order_release);
            return;
        }
        entry.tail.store(session.reply.published_tail(), std::memory_order_release);
        entry.replies.store(entry.replies.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    }

    JobOutcome& outcome_entry(std::uint64_t seq) {
        return setup_.pool_memory().outcome(setup_.slot, seq);
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

    const WorkerSetup& setup_;
    SupervisorChannel channel_{setup_.supervisor_channel};
    PoolHeader* pool_header_;
    WorkerRecord* record_;
    RingConsumer inbox_;
    WorkerContext context_;  // job objects may keep a reference: it lives as long as the worker
    std::optional<LoadedJobLibrary> library_;
    std::unique_ptr<PythonHost> python_;  // if the pool hosts Python jobs
    std::optional<JobRunner> runner_;     // once the library is loaded
    std::optional<TimingsRecorder> timings_;  // likewise
    WorkerSessions sessions_;
    LaneWatcher lanes_;
    UniqueFd statm_;
    std::int64_t last_rss_ns_ = 0;
    AdaptiveSpin idle_spin_;  // whether wait_for_work() spins before it sleeps
    bool lane_jobs_untold_ = false;  // lane jobs ended since the supervisor was last rung
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
