// The shared-memory layout of a pool: every byte that crosses a process boundary through shared
// memory is defined here, and nowhere else. docs/ARCHITECTURE.md draws the same picture.
//
// Every segment is an unnamed memfd (shared_segment.hpp); its label, segment_label(), shows in
// /proc/PID/maps only. Two kinds of segment:
//
//   pool segment "warmpool.<pool>.pool"              supervisor + workers only
//     PoolHeader | WorkerRecord[worker_slots] | JobOutcome[worker_slots][kOutcomeEntries]
//     | LaneOutcome[worker_slots] | active-session bitmap | SessionEntry[session_slots]
//     | ReplyTail[worker_slots][session_slots] | WorkerTimings[worker_slots]
//     | inbox ring[worker_slots]
//
//   session segment "warmpool.<pool>.session.<slot>"   one per connected client
//     SessionHeader | Lane | submit ring | control ring | reply ring[worker_slots]
//
//   lane board "warmpool.<pool>.lanes"   written by supervisor and workers, read by clients
//     LaneBoard
//
// Rings are ByteRings (SPSC: the producer alone writes `tail`, the consumer alone `head`).
// Producers and consumers:
//   submit ring   client -> supervisor   JobRecord + payload
//   inbox ring    supervisor -> worker    JobRecord + payload (session fields filled in)
//   reply ring w  worker w -> client      ReplyRecord + payload
//   control ring  supervisor -> client    ReplyRecord (errors the supervisor decides)
//
// And one job at a time straight from a client to an idle worker, the lane (Lane, below).
//
// And blobs, one object per large payload, reused (BlobHeader, below):
//   "warmpool.<pool>.arguments.<client pid>"   the client's arguments
//   "warmpool.<pool>.results.<worker pid>"     a worker's results
//
// Every record is fixed-size and trivially copyable, addressed by offsets computed from trusted
// configuration (never from offsets stored in memory a client can write). Whatever a client
// wrote is copied out and validated before use.
//
// Every shared field names its writer below. Most have one writer at a time; where two processes
// write one field, the comment says how they are arbitrated (a compare-and-swap, or a flag that
// one side sets and the other takes with an exchange). "Set up by the supervisor" means written
// once by the supervisor while no other process can see the record (when it creates the segment,
// or before it forks the worker that uses it), and after that only read.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>

#include "warmpool/common/byte_ring.hpp"
#include "warmpool/common/latency_buckets.hpp"
#include "warmpool/common/wake_flag.hpp"
#include "warmpool/encoding.hpp"
#include "warmpool/priority.hpp"

namespace warmpool {

inline constexpr std::uint64_t kPoolMagic = 0x4c4f4f504d524157ULL;     // "WARMPOOL"
inline constexpr std::uint64_t kSessionMagic = 0x4e4f53534553504dULL;  // "MPSESSON"
inline constexpr std::uint64_t kBlobMagic = 0x424f4c424d524157ULL;     // "WARMBLOB"
inline constexpr std::uint32_t kLayoutVersion = 8;
inline constexpr std::size_t kFunctionNameMax = 47;  // plus the terminating NUL

constexpr std::size_t align_up(std::size_t n, std::size_t a) { return (n + a - 1) / a * a; }

// ---------------------------------------------------------------------------------------------
// Pool segment

// WorkerRecord::state. The supervisor stores starting (before the fork), exiting (at any time
// while the worker lives) and empty (once it is reaped); the worker's one write is the
// compare-and-swap starting -> ready, which fails if the supervisor stored exiting first: the
// worker then exits instead of serving (announce_ready()).
enum class WorkerState : std::uint32_t {
    empty = 0,     // slot unused
    starting = 1,  // forked, running its initialisation
    ready = 2,     // initialised, taking jobs from its inbox
    exiting = 3,   // told to stop; finishes what its inbox holds, then exits
};

struct alignas(64) PoolHeader {
    // Set up by the supervisor.
    std::uint64_t magic;
    std::uint32_t layout_version;
    std::uint32_t worker_slots;
    std::uint64_t generation;  // random per supervisor start; names session segments
    std::uint64_t inbox_ring_bytes;
    std::int32_t supervisor_pid;
    std::uint32_t reserved;
    // Workers -> supervisor: "I finished a job / became ready". Workers notify; the supervisor
    // sleeps in epoll (wake_flag.hpp: its own protocol between the two sides).
    alignas(64) WakeFlag supervisor_wake;
    // Set to 1 by a worker that saw a post on a lane it could not take; the supervisor takes it
    // back to 0 with an exchange, then queues every post on a lane. A worker that sets it again
    // meanwhile rings the supervisor, which looks again.
    std::atomic<std::uint32_t> lane_posts_left;
};

// Outcome counters per worker: index 0 counts results, index k counts ErrorKind k.
inline constexpr std::size_t kOutcomeSlots = 16;
// The last outcome slot counts jobs a worker took but did not run because their client had left.
inline constexpr std::size_t kOutcomeDropped = 15;

// One per worker slot, read by the supervisor. The supervisor sets up the whole record before it
// forks the worker and resets it once the worker is reaped, having read the last values it left.
// In between, each field has the one writer its comment names ("worker": the worker in that slot).
struct alignas(64) WorkerRecord {
    std::atomic<std::int32_t> pid;     // supervisor, after the fork
    std::atomic<std::uint32_t> state;  // WorkerState: supervisor, and the worker's one CAS (above)
    std::atomic<std::uint64_t> jobs_done;  // worker
    // Inbox records fully handled: the reply is published (or deliberately dropped). Worker.
    std::atomic<std::uint64_t> inbox_done;
    // The job being run: running_seq says which (running_word_of_inbox_seq(), kLaneRunningSeq or
    // kNoRunningJob, below), and running_reply_tail the tail its reply ring had before the reply.
    // Together they tell a supervisor whether a dead worker published that reply. Worker.
    std::atomic<std::uint64_t> running_seq;
    std::atomic<std::uint64_t> running_reply_tail;  // worker: reply ring tail when the job started
    std::atomic<std::int64_t> running_since_ns;     // worker: CLOCK_MONOTONIC
    std::atomic<std::int64_t> init_ns;              // worker: how long initialisation took
    std::atomic<std::int64_t> last_run_ns;          // worker: run time of the last job (dispatch policy)
    // Supervisor -> worker: the supervisor notifies, the worker sleeps (wake_flag.hpp).
    alignas(64) WakeFlag inbox_wake;
    std::atomic<std::uint64_t> rss_bytes;           // worker: measured between jobs (recycling, status)
    // The lane job this worker is taking or running (Lane, below): what a supervisor needs to
    // settle it if the worker dies. lane_progress is lane jobs taken << 2 | LaneStage, one word
    // so that taking a job counts it and says so in one store. All five: worker.
    std::atomic<std::uint64_t> lane_progress;
    std::atomic<std::uint32_t> lane_session_slot;
    std::atomic<std::uint64_t> lane_generation;  // of the session
    std::atomic<std::uint64_t> lane_ticket;      // of the post (Lane::word)
    std::atomic<std::uint64_t> lane_job_id;      // valid from LaneStage::taken on
    // Supervisor: the worker watches the lanes only while jobs_done is below it, so that a worker
    // due for recycling (max_jobs) or being replaced takes jobs only from its inbox.
    std::atomic<std::uint64_t> lanes_until_jobs;
};

// The worker's move out of WorkerState::starting once initialised: ready, unless the supervisor
// stored exiting meanwhile (false: the worker must then exit as a worker told to stop does).
inline bool announce_ready(WorkerRecord& record) {
    auto expected = static_cast<std::uint32_t>(WorkerState::starting);
    return record.state.compare_exchange_strong(expected, static_cast<std::uint32_t>(WorkerState::ready),
                                                std::memory_order_acq_rel);
}

// WorkerRecord::running_seq: nothing running, the inbox job of sequence number `seq` (stored as
// seq + 1, so that 0 stays "none"; no inbox counts to 2^64 - 2 jobs, where it would meet the
// lane's word), or a lane job (which has no inbox sequence number).
inline constexpr std::uint64_t kNoRunningJob = 0;
inline constexpr std::uint64_t kLaneRunningSeq = ~std::uint64_t{0};
constexpr std::uint64_t running_word_of_inbox_seq(std::uint64_t seq) { return seq + 1; }
// Whether `word` names an inbox job (then inbox_seq_of_running_word() is its sequence number).
constexpr bool runs_inbox_job(std::uint64_t word) {
    return word != kNoRunningJob && word != kLaneRunningSeq;
}
constexpr std::uint64_t inbox_seq_of_running_word(std::uint64_t word) { return word - 1; }

enum class LaneStage : std::uint64_t {
    none = 0,
    claiming = 1,  // about to claim the post lane_ticket; the lane's word says whether it did
    taken = 2,     // claimed, copied out and counted as taken; running or replying
};
constexpr std::uint64_t lane_progress(std::uint64_t taken, LaneStage stage) {
    return taken << 2 | static_cast<std::uint64_t>(stage);
}
constexpr LaneStage lane_progress_stage(std::uint64_t progress) { return static_cast<LaneStage>(progress & 3); }
constexpr std::uint64_t lane_progress_taken(std::uint64_t progress) { return progress >> 2; }

static_assert(std::is_standard_layout_v<PoolHeader>);
static_assert(std::is_standard_layout_v<WorkerRecord>);
static_assert(sizeof(WorkerRecord) == 128);

// What one job came to: its calls by outcome (index 0 ok, an ErrorKind, or kOutcomeDropped).
// Written only by the worker, before the job's reply is published and the job is marked done; the
// supervisor adds it to the pool's counters once it sees either, so every job is counted exactly
// once, even when its worker dies between publishing and marking.
struct JobOutcome {
    std::uint32_t counts[kOutcomeSlots];
};
static_assert(std::is_trivially_copyable_v<JobOutcome>);

// What a worker's lane jobs came to, counted by the worker after each reply is out: one count per
// job (lane jobs are single calls), so the sum of `counts` is the number of lane jobs counted, and
// comparing it with the jobs taken (WorkerRecord::lane_progress) tells a supervisor whether the
// last one was counted before a death. Written only by the worker; set up by the supervisor
// before each fork.
struct alignas(64) LaneOutcome {
    std::atomic<std::uint64_t> counts[kOutcomeSlots];  // as JobOutcome::counts, cumulative
    std::atomic<std::uint32_t> last_status;  // outcome slot of the last lane job, before its reply
};
// Entries per worker, indexed by inbox sequence number: more than the jobs a worker can hold
// (prefetch is at most 1024), so an entry is never reused before the supervisor read it.
inline constexpr std::uint32_t kOutcomeEntries = 2048;

// The session table: which session, if any, each session slot holds now, so that idle workers
// can watch the sessions' lanes. Written only by the supervisor, as is the active bitmap: the
// generation first, then the slot's bit in the active bitmap; the bit is cleared when the session
// starts closing.
// `trust` (SessionTrust bits) is stored before the generation: a worker that reads the session's
// generation reads what the supervisor decided about its peer.
enum SessionTrust : std::uint32_t {
    kSessionMayUnpickle = 1u << 0,  // the peer may send pickle (python.pickle decides)
};
struct SessionEntry {
    std::atomic<std::uint64_t> generation;
    std::atomic<std::uint32_t> trust;
    std::uint32_t reserved;
};

// How far the worker in one slot has published into its reply ring of one session: the
// producer's own count, in memory no client can write, so the supervisor never has to believe
// the ring's `tail` (which lives in the client's segment). Written only by the worker of that
// slot, after each reply it publishes: `generation` 0, then `tail`, then the session's
// generation when it starts writing for a new session of the slot; then only `tail`.
// `replies` and `lane_jobs` count, likewise, the replies that worker published into that ring
// (every job of the session it finished) and how many of them were lane jobs: the session's
// figures in the status. Worker; reset with `tail` for a new session of the slot.
struct ReplyTail {
    std::atomic<std::uint64_t> generation;
    std::atomic<std::uint64_t> tail;
    std::atomic<std::uint64_t> replies;
    std::atomic<std::uint64_t> lane_jobs;
};

// What the jobs run in one worker slot took, by function: counted by the worker after each job
// it ran (inbox and lane jobs alike), cumulative over every worker the slot has had (a new worker
// carries on from what its predecessor left), so that the supervisor reads differences and
// never needs to reset anything. Buckets as latency_buckets.hpp. All fields: the worker in the
// slot (one at a time); set up by the supervisor when it creates the segment.
struct TimingHistogram {
    std::atomic<std::uint64_t> buckets[kLatencyBuckets];
    std::atomic<std::uint64_t> sum_ns;
};
// Functions a worker slot times by name; the jobs of any function beyond them are counted in
// the entry after them, named "".
inline constexpr std::size_t kTimedFunctions = 32;
struct FunctionTimings {
    char name[kFunctionNameMax + 1];  // a function the worker's library serves; never changes once named
    TimingHistogram queue_wait;  // from the supervisor's enqueue stamp (a lane job: its take) to the start
    TimingHistogram run_time;    // the handler's run, as ReplyRecord::run_ns
};
struct alignas(64) WorkerTimings {
    std::atomic<std::uint64_t> busy_ns;       // run time of every job this slot's workers finished
    std::atomic<std::uint64_t> life_busy_ns;  // the same, of the worker now in the slot only
    // Entries [0, named) carry their name: each is written before this count is raised (release).
    std::atomic<std::uint32_t> named;
    FunctionTimings functions[kTimedFunctions + 1];
};

struct PoolLayout {
    std::uint32_t worker_slots;
    std::uint64_t inbox_ring_bytes;  // power of two
    std::uint32_t session_slots;

    std::size_t worker_table_offset() const { return align_up(sizeof(PoolHeader), 4096); }
    std::size_t outcome_offset(std::uint32_t slot) const {
        return align_up(worker_table_offset() + worker_slots * sizeof(WorkerRecord), 4096) +
               slot * std::size_t{kOutcomeEntries} * sizeof(JobOutcome);
    }
    std::size_t lane_outcome_offset(std::uint32_t slot) const {
        return align_up(outcome_offset(worker_slots), 4096) + slot * sizeof(LaneOutcome);
    }
    // std::atomic<std::uint64_t>[active_words()]: bit s set while session slot s is active.
    std::size_t active_sessions_offset() const {
        return align_up(lane_outcome_offset(worker_slots), 4096);
    }
    std::uint32_t active_words() const { return (session_slots + 63) / 64; }
    std::size_t session_table_offset() const {
        return align_up(active_sessions_offset() + active_words() * sizeof(std::uint64_t), 64);
    }
    // ReplyTail[worker_slots][session_slots].
    std::size_t reply_tail_offset(std::uint32_t worker, std::uint32_t session) const {
        return align_up(session_table_offset() + session_slots * sizeof(SessionEntry), 64) +
               (std::size_t{worker} * session_slots + session) * sizeof(ReplyTail);
    }
    std::size_t worker_timings_offset(std::uint32_t slot) const {
        return align_up(reply_tail_offset(worker_slots, 0), 4096) + slot * align_up(sizeof(WorkerTimings), 4096);
    }
    std::size_t inbox_offset(std::uint32_t slot) const {
        return worker_timings_offset(worker_slots) + slot * align_up(ring_bytes_needed(inbox_ring_bytes), 4096);
    }
    std::size_t total_bytes() const { return inbox_offset(worker_slots); }
};

// ---------------------------------------------------------------------------------------------
// Session segment

enum class SessionState : std::uint32_t {
    active = 1,   // the client is connected
    closing = 2,  // the client left (or was dropped): workers drop its replies
};

// The whole session segment is writable by its client, so the supervisor and the workers believe
// nothing in it they did not check; the writers named here are those of a well-behaved client.
struct alignas(64) SessionHeader {
    // Set up by the supervisor.
    std::uint64_t magic;
    std::uint32_t layout_version;
    std::uint32_t slot;
    std::uint64_t generation;
    std::atomic<std::uint32_t> state;  // SessionState: supervisor
    std::uint32_t reserved;
    // Workers and supervisor -> client (futex): they notify, the client sleeps (wake_flag.hpp).
    alignas(64) WakeFlag client_wake;
    alignas(64) WakeFlag supervisor_wake;  // client -> supervisor (eventfd), likewise
    // Set to 1 by the supervisor while it holds this client's jobs back for want of room in a
    // reply ring; the client, having read replies, takes it back to 0 with an exchange and rings
    // the supervisor's doorbell.
    std::atomic<std::uint32_t> reply_room_wanted;
};
static_assert(std::is_standard_layout_v<SessionHeader>);


// ---------------------------------------------------------------------------------------------
// Records carried in rings

enum JobFlags : std::uint32_t {
    kJobJson = 1u << 0,   // payload is JSON text (else Cereal binary)
    kJobBatch = 1u << 1,  // payload is a batch: BatchHeader + items (see below)
    kJobBlob = 1u << 2,   // payload is a BlobRef: the bytes live in their own segment
    kJobPickle = 1u << 3, // payload is a pickle envelope (Python callers; see docs/PROTOCOL.md)
};
inline constexpr std::uint32_t kJobEncodingFlags = kJobJson | kJobPickle;

// The one rule between a record's flags and its payload's encoding. Both encoding bits set is
// not an encoding: encoding_of() says binary, and the supervisor refuses such a record.
constexpr Encoding encoding_of(std::uint32_t flags) {
    switch (flags & kJobEncodingFlags) {
        case kJobJson: return Encoding::json;
        case kJobPickle: return Encoding::pickle;
        default: return Encoding::binary;
    }
}
constexpr std::uint32_t encoding_flags(Encoding encoding) {
    switch (encoding) {
        case Encoding::json: return kJobJson;
        case Encoding::pickle: return kJobPickle;
        case Encoding::binary: break;
    }
    return 0;
}

// One job, as the client submits it and as the supervisor hands it to a worker.
struct JobRecord {
    std::uint64_t job_id;        // chosen by the client, unique within its session
    std::uint64_t fingerprint;   // type fingerprint of (args, result); 0 = none (JSON)
    std::int64_t deadline_ns;    // CLOCK_MONOTONIC; 0 = none
    std::int64_t timeout_ns;     // run-time limit; 0 = the function's default
    std::uint32_t flags;         // JobFlags
    std::uint32_t payload_bytes; // bytes that follow this record in the ring
    std::uint32_t session_slot;  // filled in by the supervisor
    std::uint32_t attempt;       // filled in by the supervisor; 1 on the first run
    std::uint64_t session_generation;  // filled in by the supervisor
    std::int64_t enqueued_ns;    // filled in by the supervisor (queue-wait measurement)
    char function[kFunctionNameMax + 1];  // NUL-terminated
    std::int32_t priority;       // the client's; kPriorityMin..kPriorityMax (priority.hpp), higher first
    std::uint32_t reserved;      // the client's; 0
};
static_assert(std::is_trivially_copyable_v<JobRecord>);
static_assert(sizeof(JobRecord) == 120);

enum class ReplyStatus : std::uint16_t { ok = 0 };  // anything else is an ErrorKind value

// One terminal reply. Payload: the result (status ok) or the UTF-8 error message.
struct ReplyRecord {
    std::uint64_t job_id;
    std::uint16_t status;         // 0 = ok, else ErrorKind
    std::uint16_t reserved;
    std::uint32_t flags;          // kJobJson | kJobBatch | kJobBlob describe the payload
    std::uint32_t payload_bytes;
    std::int32_t worker_pid;      // 0 when the supervisor replied
    std::int64_t queue_ns;        // time spent queued before a worker took it
    std::int64_t run_ns;          // time the handler ran
};
static_assert(std::is_trivially_copyable_v<ReplyRecord>);
static_assert(sizeof(ReplyRecord) == 40);

// A payload too large for a ring record lives in a blob: its own shared-memory object, a
// BlobHeader and then the bytes. Blobs are reused: their producer (the client for arguments, a
// worker for results) keeps the objects it created and writes a later payload that fits into a
// free one; the consumer keeps its mapping, so neither side touches fresh pages in steady state.
//
// `state` says whose turn it is. The producer takes a free blob (free -> writing), writes it,
// and marks it published just before naming it in a ring record; for a result, the client marks
// it taken once mapped and frees it when the last view of the result goes. An argument blob is
// freed by the client itself when the job's terminal reply arrives: by then no worker reads it
// (a retry happens only after the reading worker died). The header is written by both sides,
// so each treats what the other wrote as untrusted: sizes come from the object's real size, and
// `serial` only tells a reused name from a stale mapping.
enum class BlobState : std::uint32_t {
    free = 0,       // the producer may take it
    writing = 1,    // the producer is writing it; no ring record names it yet
    published = 2,  // named in a ring record; the consumer has not taken it yet
    taken = 3,      // the consumer holds a mapping and reads it (results only)
};

struct alignas(64) BlobHeader {
    std::uint64_t magic;
    std::uint64_t serial;    // random per object, repeated in every BlobRef naming it
    std::uint64_t capacity;  // payload bytes after the header, as created
    std::atomic<std::uint32_t> state;  // BlobState
    std::uint32_t reserved;
};
static_assert(std::is_standard_layout_v<BlobHeader>);
static_assert(sizeof(BlobHeader) == 64);
inline constexpr std::size_t kBlobDataOffset = sizeof(BlobHeader);

// Names one blob in a JobRecord (argument) or ReplyRecord (result) whose flags carry kJobBlob.
// The object's name follows from the session, the direction, the producer (a result's
// ReplyRecord::worker_pid) and `object`; see blob_name() and result_blob_name().
struct BlobRef {
    std::uint64_t bytes;   // payload bytes, from kBlobDataOffset on
    std::uint64_t object;  // the producer's object number: never reused by that producer
    std::uint64_t serial;  // must equal BlobHeader::serial
};
static_assert(std::is_trivially_copyable_v<BlobRef>);
static_assert(sizeof(BlobRef) == 24);

// Batch payloads (kJobBatch), used by map(): many small calls of one function in one record.
//   arguments: BatchHeader, then per item {u32 bytes, bytes...}
//   results:   BatchHeader, then per item {u16 status, u16 reserved, u32 bytes, bytes...}
// An item's result status is 0 or an ErrorKind, exactly as ReplyRecord::status.
struct BatchHeader {
    std::uint32_t count;
    std::uint32_t reserved;
};
// Items of one batch: 1 to this many (job_checks.hpp: batch_count_fits()). The supervisor checks
// an inline batch when it is submitted; a batch in a blob is checked by the worker that reads it.
inline constexpr std::uint32_t kMaxBatchItems = 1u << 20;
struct BatchResultItem {
    std::uint16_t status;
    std::uint16_t reserved;
    std::uint32_t bytes;
};
static_assert(sizeof(BatchResultItem) == 8);

// ---------------------------------------------------------------------------------------------
// The lane, its board, and where the session segment keeps it

// The lane: one job at a time straight from a client to an idle worker, so that a caller waiting
// on one call at a time costs two hand-overs between processes instead of three. The client
// posts a job here only when it has nothing else in flight and the lane board shows a worker
// watching; a watching worker claims it with one compare-and-swap, copies it out and frees the
// lane, then runs it like any job and replies through its reply ring. Who claimed what is in
// the worker's record, so the supervisor settles the job if that worker dies.
//
// `word` is ticket << 24 | claimer << 8 | LaneWordState. Only the client moves free -> posted
// (with a new ticket) and posted -> free (taking a post back, by compare-and-swap); only a
// claimer (a worker, or the supervisor) moves posted -> claimed, by compare-and-swap, so the
// client's take-back and the claimers race on one word and exactly one wins; the claimer moves
// claimed -> free, or the supervisor does for a claimer that died. The record and payload are the
// client's to write, and only while the lane is free; a claimer copies them out and fills in the
// session fields of its copy.
enum class LaneWordState : std::uint64_t { free = 0, posted = 1, claimed = 2 };
inline constexpr std::uint64_t kLaneClaimerSupervisor = 0xffff;  // else the worker slot
inline constexpr std::size_t kLanePayloadMax = 4096;
constexpr std::uint64_t lane_word(std::uint64_t ticket, std::uint64_t claimer, LaneWordState state) {
    return ticket << 24 | (claimer & 0xffff) << 8 | static_cast<std::uint64_t>(state);
}
constexpr LaneWordState lane_state(std::uint64_t word) { return static_cast<LaneWordState>(word & 0xff); }
constexpr std::uint64_t lane_ticket(std::uint64_t word) { return word >> 24; }

struct alignas(64) Lane {
    std::atomic<std::uint64_t> word;
    alignas(64) JobRecord record;  // its session fields are left as the client wrote them
    std::byte payload[kLanePayloadMax];
};
static_assert(std::is_standard_layout_v<Lane>);

// The lane board: whether lanes may be used, and which workers watch them now. Clients map it
// read-only; a client posts to its lane only when some worker's bit is set, and re-reads the
// bits after posting (a full fence between), taking the post back if none is: a worker clears
// its bit, then (a full fence between) looks at every lane once more before it stops watching,
// and hands any post it cannot take itself to the supervisor (PoolHeader::lane_posts_left). So a
// post is never left with no one to claim it; the supervisor also takes any post it finds still
// posted at two housekeeping ticks in a row (a watcher stopped by a debugger, say).
inline constexpr std::uint32_t kMaxWorkerSlots = 2048;
// Each worker sets and clears only its own bits (fetch_or, fetch_and: the words are shared, the
// bits are not); the supervisor clears a dead worker's bits before it forks the slot's next one.
struct alignas(64) LaneBoard {
    // Set up by the supervisor.
    std::uint64_t magic;
    std::uint32_t layout_version;
    // Supervisor: 1 while lanes may be used (no run-time limits are configured).
    std::atomic<std::uint32_t> open;
    // Supervisor: the highest priority level (priority.hpp) of a queued job, plus one; 0 while
    // nothing is queued. A lane carries no job of a lower level (job_checks.hpp: lane_yields),
    // so no call overtakes a queued job of higher priority. A line of its own: it changes with
    // the queue, and `open` and the bits are read by every spinning watcher.
    alignas(64) std::atomic<std::uint32_t> queued_above;
    alignas(64) std::atomic<std::uint64_t> watching[kMaxWorkerSlots / 64];  // a bit per worker slot
    // Held by workers only: the worker that is the watcher, including while it runs a lane job it
    // claimed (its `watching` bit is clear then), so that no second idle worker spins beside it.
    alignas(64) std::atomic<std::uint64_t> watcher_role[kMaxWorkerSlots / 64];
};
static_assert(std::is_standard_layout_v<LaneBoard>);
inline constexpr std::uint64_t kLaneBoardMagic = 0x44524f42454e414cULL;  // "LANEBORD"

struct SessionLayout {
    std::uint32_t worker_slots;
    std::uint64_t submit_ring_bytes;   // power of two
    std::uint64_t control_ring_bytes;  // power of two
    std::uint64_t reply_ring_bytes;    // power of two

    std::size_t lane_offset() const { return align_up(sizeof(SessionHeader), 4096); }
    std::size_t submit_offset() const { return lane_offset() + align_up(sizeof(Lane), 4096); }
    std::size_t control_offset() const {
        return submit_offset() + align_up(ring_bytes_needed(submit_ring_bytes), 4096);
    }
    std::size_t reply_offset(std::uint32_t worker_slot) const {
        return control_offset() + align_up(ring_bytes_needed(control_ring_bytes), 4096) +
               worker_slot * align_up(ring_bytes_needed(reply_ring_bytes), 4096);
    }
    std::size_t total_bytes() const { return reply_offset(worker_slots); }
};

// ---------------------------------------------------------------------------------------------
// Names

// A pool name is 1..64 of [A-Za-z0-9_-]; it becomes part of file names and segment labels.
bool valid_pool_name(std::string_view name);

// The label of one of the pool's shared-memory objects: "warmpool.<pool>.<what>", what being
// pool, lanes, session.<slot>, arguments.<client pid> or results.<worker pid>. Objects have no names anyone could open
// (shared_segment.hpp); the label only shows in /proc/PID/maps as "/memfd:<label> (deleted)".
std::string segment_label(std::string_view pool, std::string_view what);

// Copies a function name into a record field; false if it does not fit.
inline bool set_function_name(JobRecord& record, std::string_view name) {
    if (name.empty() || name.size() > kFunctionNameMax) return false;
    std::memset(record.function, 0, sizeof record.function);
    std::memcpy(record.function, name.data(), name.size());
    return true;
}
// The name in an untrusted record: empty if it is not NUL-terminated inside the field.
inline std::string_view function_name(const JobRecord& record) {
    const void* nul = std::memchr(record.function, 0, sizeof record.function);
    if (nul == nullptr) return {};
    return std::string_view(record.function, static_cast<const char*>(nul) - record.function);
}

}  // namespace warmpool
