// JobRunner: one job in a worker, from its record and payload to a result ready for its reply.
//
// It checks what only a worker can (the deadline, the function, its encoding and type
// fingerprint, the peer's right to send pickle) and, for a lane job, what a supervisor checks
// of a submission (job_checks.hpp); decodes the arguments, inline or from the client's argument
// blob; calls the function, once or for each item of a batch; and seals the result: inline, or
// in a result blob of the job's session. Every failure is a JobResult carrying an ErrorKind:
// nothing it runs can throw out of it.
//
// Owned by the worker (worker_process.cpp), which calls it from its one serving thread for the
// jobs of its inbox and of the lanes alike, and publishes what it returns. It runs in-process and
// needs no fork, so unit tests drive it with a loaded job library. It writes no field of the pool
// segment; in a session it writes only the result blobs it produces (their payload and
// BlobHeader::state, through BlobPool), each under a BlobFaultGuard, since the client maps them
// too and may shrink them.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>

#include "warmpool/common/blob_mappings.hpp"
#include "warmpool/common/blob_pool.hpp"
#include "warmpool/common/shm_layout.hpp"
#include "warmpool/common/sys_result.hpp"
#include "warmpool/common/unique_fd.hpp"
#include "warmpool/daemon/job_library.hpp"
#include "warmpool/error_kind.hpp"

namespace warmpool {

// What one job came to, for its reply and its counters.
struct JobResult {
    std::uint16_t status = 0;  // 0 ok, else ErrorKind
    std::uint32_t flags = 0;   // kJobJson | kJobPickle | kJobBatch: what `payload` is
    std::string payload;       // the result's bytes, or the error message
    std::optional<BlobPool::Blob> blob;  // once sealed, a result too large to go inline is here
    // Its calls by outcome (JobOutcome::counts: index 0 ok, else the ErrorKind).
    std::array<std::uint32_t, kOutcomeSlots> counts{};

    // The outcome slot of a single call's status.
    std::size_t outcome_slot() const { return status < kOutcomeDropped ? status : 0; }
};

// What a worker keeps per client session for the runner: the result blobs it made for that
// session (reused from job to job) and the client's argument blobs it has mapped.
struct SessionBlobs {
    BlobPool results;
    BlobMappings arguments;
};

// Where a job came from. A lane job went from a client straight to the worker: no supervisor
// checked its record, so the runner does first.
enum class JobOrigin { inbox, lane };

class JobRunner {
public:
    // What the runner asks of the worker about a job's session.
    struct Hooks {
        // A descriptor of the job's client's argument blob `object` (the supervisor holds them).
        std::function<Result<UniqueFd>(const JobRecord& job, std::uint64_t object)> argument_blob;
        // Whether the job's session may send pickle (SessionEntry::trust).
        std::function<bool(const JobRecord& job)> may_unpickle;
    };

    // `library` holds the worker's functions, C++ and Python (`hosts_python` says whether it
    // may hold Python ones, for the messages). `context` is what job objects see of the worker:
    // the runner sets its job_id and attempt before each job. Both outlive the runner.
    JobRunner(LoadedJobLibrary& library, WorkerContext& context, std::uint32_t inline_max, bool hosts_python,
              Hooks hooks);

    // Runs `job` on `payload` (the bytes that followed its record: the arguments, or a BlobRef to
    // them). A large result may already be in a result blob of `session`, taken from its pool.
    // The result still needs seal().
    JobResult execute(const JobRecord& job, std::span<const std::byte> payload, SessionBlobs& session,
                      JobOrigin origin);

    // Readies a result for its reply: a payload too large to go inline (reply_inline_max) is
    // copied into a result blob, and a result blob is marked published. A blob the client shrank
    // meanwhile turns the result into bad_request (and leaves the pool); so does a blob that
    // cannot be had, into handler_error. An error's message is cut to what goes inline.
    void seal(const JobRecord& job, JobResult& result, SessionBlobs& session) const;

    // Takes back what a sealed result held once its reply was published (`delivered`) or could
    // not be: an undelivered result blob goes back to the pool, and the payload's buffer is kept
    // for the next job (its pages stay warm) unless a huge result grew it.
    void finish(JobResult& result, bool delivered, SessionBlobs& session);

    // A result that is one failed call.
    static JobResult failure(ErrorKind kind, std::string message);

private:
    JobResult run(const JobRecord& job, LoadedJobLibrary::Entry& entry, Encoding encoding, std::string_view args,
                  SessionBlobs& session);
    static JobResult run_batch(LoadedJobLibrary::Entry& entry, Encoding encoding, std::string_view args);
    JobResult run_from_blob(const JobRecord& job, LoadedJobLibrary::Entry& entry, Encoding encoding,
                            std::span<const std::byte> payload, SessionBlobs& session);
    std::optional<JobResult> refuse_encoding(const JobRecord& job, const LoadedJobLibrary::Entry& entry,
                                             Encoding encoding) const;
    void fail_sealed(JobResult& result, std::uint32_t inline_max, ErrorKind kind, std::string message) const;

    LoadedJobLibrary& library_;
    WorkerContext& context_;
    std::uint32_t inline_max_;
    bool hosts_python_;
    Hooks hooks_;
    std::string scratch_;  // the result buffer, handed from job to job
};

}  // namespace warmpool
