// LoadedJobLibrary: a job library dlopen'ed into a worker, and its functions instantiated; and
// beside them the worker's Python jobs, if it hosts any (python_host.hpp): one function table.
//
// Loading and instantiating is a worker's expensive initialisation: it happens once per
// worker lifetime, after fork. Owned by one worker thread; not shared.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "warmpool/common/protocol.hpp"
#include "warmpool/common/sys_result.hpp"
#include "warmpool/job_abi.hpp"

namespace warmpool {

class LoadedJobLibrary {
public:
    struct Entry {
        const JobFunction* function = nullptr;
        std::unique_ptr<JobInstance> instance;
        bool python = false;  // a Python job (PythonHost), not one of the job library's
    };

    LoadedJobLibrary() = default;
    LoadedJobLibrary(LoadedJobLibrary&&) noexcept;
    LoadedJobLibrary& operator=(LoadedJobLibrary&&) = delete;
    ~LoadedJobLibrary();

    // dlopen()s `path` and checks its entry point and ABI version. Constructs nothing yet.
    static Result<LoadedJobLibrary> open(const std::string& path);
    // Runs the library's preload hook (WARMPOOL_PRELOAD, job_abi.hpp), if it has one: once per
    // process image, before instantiate(); in the zygote, or in a worker not forked from one.
    Status run_preload();
    // Constructs every function's per-worker state. An exception from a constructor is
    // returned as an error naming the function.
    Status instantiate(const WorkerContext& context);
    // Adds the worker's Python jobs and instantiates them. A name the job library has too is an
    // error: a call would be ambiguous.
    Status add_python(std::vector<std::unique_ptr<JobFunction>> functions, const WorkerContext& context);

    Entry* find(std::string_view name);
    // The names of every function, the library's and the Python jobs'.
    std::vector<std::string> names() const;
    // Every function with its signature, in name order, as many as fit one protocol frame.
    protocol::FunctionList function_list() const;
    // The timeouts and retries the job library's functions declare (FunctionOptions given to the
    // export macros), as the worker passes them to the supervisor; functions that declare
    // neither are left out.
    std::vector<protocol::FunctionSetting> declared_settings() const;
    const JobLibrary& library() const { return *library_; }

private:
    // Transparent hashing: looking a job's function up by string_view allocates nothing.
    struct NameHash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };

    void* handle_ = nullptr;
    JobLibrary* library_ = nullptr;
    std::unordered_map<std::string, Entry, NameHash, std::equal_to<>> entries_;
    std::vector<std::unique_ptr<JobFunction>> python_functions_;  // entries_ points into them
};

// Whether `path` loads as a job library (LoadedJobLibrary::open succeeds), found out in a
// short-lived child process so that the caller never has the library loaded. The supervisor
// must not: every worker it forks would inherit that copy (dlopen() of a path already loaded
// returns the loaded object, even after the file there was replaced), so a reload would go on
// running the old code, and the library's static constructors would run in the supervisor.
// Blocks until the child has tried: for start-up, not for the loop.
Status check_job_library(const std::string& path);

}  // namespace warmpool
