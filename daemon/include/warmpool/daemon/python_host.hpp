// PythonHost: the CPython interpreter inside one worker, and the Python jobs it serves.
//
// Started after fork, in a worker, only when the pool hosts Python jobs (--python, a module or a
// path): the supervisor never loads or initialises Python and stays single-threaded. Python's own
// signal handlers stay off, so the worker's signal handling is unchanged. start() imports
// warmpool._worker (client/python/warmpool/_worker.py), which imports each configured module: its
// module-level code and the constructor of each exported class are the worker's initialisation,
// done before it reports ready. Each exported job becomes a JobFunction beside those of the C++
// job library, and so does "warmpool.by_value" (functions sent by value).
//
// Between jobs the GIL is released, so threads a job started keep running; each call takes it.
// One interpreter per process, used by the worker's one serving thread. Never finalised: the
// worker ends with _exit().
//
// This header includes no Python header: the supervisor includes it through worker_process.hpp.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "warmpool/common/protocol.hpp"
#include "warmpool/common/sys_result.hpp"
#include "warmpool/job_abi.hpp"

namespace warmpool {

struct PythonSetup {
    bool enabled = false;
    std::vector<std::string> modules;  // imported in this order
    std::vector<std::string> path;     // prepended to sys.path, in this order
};

// The function that runs a function sent by value (cloudpickle), for pickle calls only.
inline constexpr std::string_view kPythonByValue = "warmpool.by_value";

// A Python job's failure. `payload()` is the reply's whole payload: for handler_error the
// exception's text and, after a pickle call, the pickled exception, which may hold NUL bytes
// (what() cannot carry them).
class PythonJobFailure : public JobFailure {
public:
    PythonJobFailure(ErrorKind kind, std::string payload)
        : JobFailure(kind, "a Python job failed"), payload_(std::move(payload)) {}
    const std::string& payload() const { return payload_; }

private:
    std::string payload_;
};

class PythonHost {
public:
    // Tunes malloc for large buffers, initialises the interpreter, imports the modules and
    // builds each exported class's instance. Once per process. In a worker forked from a zygote
    // that preloaded (the interpreter is initialised already) it only builds the instances. The error says what failed,
    // with the Python traceback when there is one. Returns with the GIL released.
    static Result<std::unique_ptr<PythonHost>> start(const PythonSetup& setup, const WorkerContext& context);
    PythonHost(const PythonHost&) = delete;
    PythonHost& operator=(const PythonHost&) = delete;
    ~PythonHost();

    // The zygote's part (zygote.hpp): tunes malloc, initialises the interpreter, imports
    // warmpool._worker and each module (their module-level code runs here, once for every
    // worker), then calls gc.freeze(), so that the collector never writes to (and so copies) the
    // pages of those objects in the workers. Keeps the GIL: the zygote's one thread holds it.
    // start() in a worker forked from it then only builds the worker's own instances.
    static Status preload(const PythonSetup& setup);
    // Around each fork of a zygote that preloaded: the interpreter's locks taken before, and its
    // state made valid again after, in the zygote (parent) and in the worker (child).
    static void before_fork();
    static void after_fork_in_parent();
    static void after_fork_in_child();

    // The Python jobs (and kPythonByValue), for the worker's function table; once.
    std::vector<std::unique_ptr<JobFunction>> take_functions() { return std::move(functions_); }
    // The timeouts and retries the jobs declared (@warmpool.job(timeout=, retries=)).
    const protocol::FunctionSettings& declared() const { return declared_; }

    // Runs one batch item of a Python job's instance (a pickle item is a chunk of calls:
    // docs/PROTOCOL.md). Single calls go through JobInstance::invoke_into. Throws
    // PythonJobFailure as invoke_into does.
    static void invoke_batch_item(JobInstance& instance, Encoding encoding, std::string_view args, std::string& out);

private:
    PythonHost() = default;

    std::vector<std::unique_ptr<JobFunction>> functions_;
    protocol::FunctionSettings declared_;
};

}  // namespace warmpool
