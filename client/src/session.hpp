// detail::Session: the client side of one pool session. Private to libwarmpool.
//
// Owns the control connection, the session's shared memory, and the table of jobs awaiting
// their reply. Thread-safe: submissions are serialised by one mutex (one producer of the submit
// ring); replies are consumed by one thread at a time, "the drainer", which is whichever thread
// is waiting for a result (or the background thread when nobody waits), so the common
// request/response path runs on the caller's own thread with no hand-off. Who drains when is
// DrainerTurns' rule (drainer_turns.hpp); every path takes the turn through drain_in_turn().
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "drainer_turns.hpp"
#include "result_blobs.hpp"
#include "warmpool/call_options.hpp"
#include "warmpool/common/adaptive_spin.hpp"
#include "warmpool/common/blob_pool.hpp"
#include "warmpool/common/byte_ring.hpp"
#include "warmpool/common/protocol.hpp"
#include "warmpool/common/shared_segment.hpp"
#include "warmpool/common/shm_layout.hpp"
#include "warmpool/common/unique_fd.hpp"
#include "warmpool/error_kind.hpp"

namespace warmpool::detail {

struct JobSlot {
    std::uint64_t id = 0;
    std::atomic<bool> done{false};
    std::uint16_t status = 0;  // 0 ok, else ErrorKind; valid once done
    std::uint32_t flags = 0;   // of the reply payload
    std::string payload;       // result bytes or error message
    // A result read in place: the lease keeps its blob mapped and taken (ResultBlobs::take).
    std::shared_ptr<const void> result_lease;
    std::string_view result_in_blob;
    std::uint64_t argument_blob = 0;  // our argument blob's object, freed when the reply arrives
    bool cancel_requested = false;
    bool watched = false;  // its id goes to the session's completion queue when done (mu_)

    // The result bytes (status ok) or the error message, valid while the slot lives.
    std::string_view result() const { return result_lease ? result_in_blob : std::string_view(payload); }
};

class Session : public std::enable_shared_from_this<Session> {
public:
    static std::shared_ptr<Session> connect(const std::string& socket_path, const std::string& client_name,
                                            int timeout_ms);
    ~Session();

    // Registers a job and writes it to the submit ring. Throws JobError (bad_request,
    // overloaded, shutting_down) if it cannot be submitted.
    std::shared_ptr<JobSlot> submit(std::string_view function, std::uint32_t flags, std::uint64_t fingerprint,
                                    std::string_view payload, const CallOptions& options);
    // A finished slot's payload buffer, for a later reply to reuse (kept only if large enough).
    void give_back_payload(std::string&& buffer);
    // As submit, for a payload of `bytes` bytes that `write` puts straight into its blob (so a
    // large argument is encoded once, into memory that is reused from call to call).
    using PayloadWriter = std::function<void(std::byte* out)>;
    std::shared_ptr<JobSlot> submit_in_place(std::string_view function, std::uint32_t flags,
                                             std::uint64_t fingerprint, std::size_t bytes,
                                             const PayloadWriter& write, const CallOptions& options);
    // Waits for the slot's reply until deadline_ns (monotonic; -1: no limit). True if done.
    bool wait(JobSlot& slot, std::int64_t deadline_ns);
    void cancel(JobSlot& slot, bool force);

    // The completion queue: the id of each watched slot is queued once it is done, so one
    // thread can learn which of many jobs finished without polling them. watch() queues a slot
    // that is done already at once; unwatch() is true if the slot was watched and not yet done
    // (then its id will never be queued).
    void watch(JobSlot& slot);
    bool unwatch(JobSlot& slot);
    // Moves the queued ids into `out`, waiting (and draining replies meanwhile) until there is
    // at least one, wake_completions() was called, or deadline_ns passes. Returns how many.
    std::size_t wait_completions(std::vector<std::uint64_t>& out, std::int64_t deadline_ns);
    void wake_completions();

    const protocol::Welcome& welcome() const { return welcome_; }

private:
    Session() = default;

    JobRecord make_record(std::uint64_t id, std::string_view function, std::uint32_t flags,
                          std::uint64_t fingerprint, const CallOptions& options) const;
    // Registers the slot and writes its record (and payload) to the submit ring.
    std::shared_ptr<JobSlot> publish_job(std::shared_ptr<JobSlot> slot, JobRecord& record,
                                         std::string_view payload, const CallOptions& options);
    void release_argument(std::uint64_t object);
    bool post_to_lane(const JobRecord& record, std::string_view payload);
    bool worker_watching() const;
    // The one way a thread drains: takes the turn if `role` may have it at now_ns (mu_, held by
    // `lock`), runs `drain` without mu_, then ends the turn and wakes the blocked waiters, one of
    // whom may take it over. False, and `drain` not run, if the turn was not this thread's.
    template <class Drain>
    bool drain_in_turn(std::unique_lock<std::mutex>& lock, DrainerTurns::Role role, std::int64_t now_ns,
                       Drain&& drain);
    // Waits until `flag` is set or deadline_ns passes, draining replies while nobody else does.
    // A `yields` waiter (the completion queue's) steps aside as drainer as soon as a thread
    // waits for a job of its own, which then collects its reply itself with no hand-over.
    bool wait_flag(const std::atomic<bool>& flag, std::int64_t deadline_ns, bool yields = false);
    // The drainer's loop: deliver replies until `target` is set or the deadline passes (or,
    // when `yields`, another thread wants to drain).
    void drain_until(const std::atomic<bool>* target, std::int64_t deadline_ns, bool yields = false);
    void complete(JobSlot& slot);  // marks it done and queues a watched one; under mu_
    // Consumes every reply available now; returns how many were delivered.
    std::size_t deliver_available();
    void deliver(const ReplyRecord& reply, std::span<const std::byte> payload);
    bool replies_pending();
    // False (and every pending job failed) if the daemon has gone away.
    bool check_alive();
    void fail_all(const std::string& why);
    void background_loop();

    protocol::Welcome welcome_;
    UniqueFd control_;
    UniqueFd doorbell_;
    SharedSegment segment_;
    SessionHeader* header_ = nullptr;
    // Argument blobs we made, reused from call to call (any submitting thread; blob_mu_).
    std::mutex blob_mu_;
    BlobPool arguments_;

    std::mutex submit_mu_;  // the submit ring's and the lane's single producer
    std::mutex socket_mu_;  // one writer on the control socket at a time
    RingProducer submit_;
    Lane* lane_ = nullptr;
    std::uint64_t lane_ticket_ = 0;
    SharedSegment board_segment_;  // the pool's lane board, read-only
    const LaneBoard* board_ = nullptr;
    std::uint32_t board_words_ = 0;

    // Used only by the drainer.
    std::vector<RingConsumer> replies_;  // [0] control ring, then one per worker slot
    ResultBlobs results_;                // workers' result blobs, kept mapped for their reuse

    std::mutex mu_;
    std::condition_variable cv_;
    std::unordered_map<std::uint64_t, std::shared_ptr<JobSlot>> jobs_;
    std::vector<std::string> spare_payloads_;  // see give_back_payload()
    std::vector<std::uint64_t> completions_;  // ids of watched slots that are done
    std::atomic<bool> completions_ready_{false};  // completions_ non-empty, or a wake-up
    DrainerTurns turns_;  // whose turn it is to drain (try_take/end under mu_)
    unsigned waiters_ = 0;  // threads blocked in wait() on cv_
    bool background_parked_ = false;  // the background thread waits for jobs without a timeout
    bool lost_ = false;
    // Set under mu_; atomic because a drainer about to sleep on the futex reads it without mu_.
    std::atomic<bool> stopping_{false};
    std::string lost_reason_;
    std::atomic<std::uint64_t> next_id_{1};
    AdaptiveSpin reply_spin_;  // whether drain_until() spins before it sleeps (any thread)
    std::thread background_;
};

}  // namespace warmpool::detail
