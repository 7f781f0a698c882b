// The contract between a job library (a shared object) and the worker that loads it.
//
// A job library exports `warmpool_job_library_v1`, returning its JobLibrary: a list of named
// functions. A worker, once after fork, instantiates every function (this is the expensive
// initialisation: a job class's constructor) and then calls invoke() for each job, from one
// thread. Job authors do not implement these classes by hand: they use the macros of job.hpp.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "warmpool/error_kind.hpp"
#include "warmpool/job_output.hpp"
#include "warmpool/serialization.hpp"

namespace warmpool {

inline constexpr std::uint32_t kJobAbiVersion = 2;
inline constexpr const char* kJobLibrarySymbol = "warmpool_job_library_v1";

// What a job object learns about the worker it lives in. A job class may keep a reference to
// it: the worker updates `job_id` and `attempt` before each call.
struct WorkerContext {
    std::string pool_name;
    int worker_slot = 0;
    pid_t pid = 0;
    // The call being run, by the id its client gave it: unique within that client's session (each
    // connection numbers its calls from 1), not across the pool.
    std::uint64_t job_id = 0;
    std::uint32_t attempt = 0;  // 1 on the first run; more when a crash made the pool retry it
};

// Thrown inside invoke() to end a job with a specific kind. Any other exception becomes
// handler_error carrying its what().
class JobFailure : public std::runtime_error {
public:
    JobFailure(ErrorKind kind, const std::string& message)
        : std::runtime_error(message), kind_(kind) {}
    ErrorKind kind() const { return kind_; }

private:
    ErrorKind kind_;
};

// One function's state inside one worker.
class JobInstance {
public:
    virtual ~JobInstance() = default;
    // Decodes `args` (in `encoding`), runs the job, and appends the encoded result to `out`.
    virtual void invoke(Encoding encoding, std::string_view args, std::string& out) = 0;
    // True if invoke_into() writes the result in place; the worker then gives large results
    // their shared memory directly instead of copying them out of a string.
    virtual bool writes_in_place() const { return false; }
    virtual void invoke_into(Encoding encoding, std::string_view args, JobOutput& out) {
        std::string bytes;
        invoke(encoding, args, bytes);
        out.append(bytes);
    }
};

// Per-function settings a job library declares, given to the WARMPOOL_EXPORT_* macros. The
// pool's own settings for the function (--function, [functions.NAME]) win over them, and they
// over the pool's defaults (docs/CONFIG.md).
struct FunctionOptions {
    std::uint32_t retries = 0;     // extra attempts on another worker after a crash
    std::uint32_t timeout_ms = 0;  // run-time limit of one call; 0: none declared (the pool's default)
};

class JobFunction {
public:
    JobFunction(std::string name, std::uint64_t fingerprint, std::string signature)
        : name_(std::move(name)), fingerprint_(fingerprint), signature_(std::move(signature)) {}
    virtual ~JobFunction() = default;

    const std::string& name() const { return name_; }
    // 0 for raw functions, which accept any binary payload.
    std::uint64_t fingerprint() const { return fingerprint_; }
    const std::string& signature() const { return signature_; }
    FunctionOptions options;

    // Builds this function's per-worker state (runs a job class's constructor).
    virtual std::unique_ptr<JobInstance> instantiate(const WorkerContext& context) const = 0;

private:
    std::string name_;
    std::uint64_t fingerprint_;
    std::string signature_;
};

struct JobLibrary {
    std::uint32_t abi_version = kJobAbiVersion;
    std::vector<std::unique_ptr<JobFunction>> functions;
};

using JobLibraryEntry = JobLibrary* (*)();

// A job library may also export `warmpool_preload_v1` (WARMPOOL_PRELOAD in job.hpp): its shared
// set-up, run once per process image before any function is instantiated. With `preload` on it
// runs once in the zygote (zygote.hpp) and every worker forked from it inherits the result
// copy-on-write; otherwise each worker runs it first. Returns nullptr, or what failed.
inline constexpr const char* kJobPreloadSymbol = "warmpool_preload_v1";
using JobPreloadEntry = const char* (*)();

}  // namespace warmpool
