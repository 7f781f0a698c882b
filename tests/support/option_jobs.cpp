// A job library whose functions declare their own settings through the export macros'
// FunctionOptions, as a library's author does: a run-time limit, retries after a crash.
// Built as a module for the integration tests (integration/job_library_test).
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <thread>

#include "warmpool/job.hpp"

namespace {

using warmpool::FunctionOptions;
using warmpool::WorkerContext;

std::int64_t sleep_ms(std::int64_t ms) {
    if (ms < 0 || ms > 60'000) throw std::invalid_argument("sleep_ms needs 0 <= ms <= 60000");
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    return ms;
}

// Crashes its worker on the first attempt; returns the attempt that survived.
class CrashOnce {
public:
    explicit CrashOnce(const WorkerContext& context) : context_(context) {}
    std::int64_t operator()(std::int64_t) const {
        if (context_.attempt < 2) std::abort();
        return context_.attempt;
    }

private:
    const WorkerContext& context_;
};

}  // namespace

// FunctionOptions{retries, timeout_ms}
WARMPOOL_EXPORT_FN("limited_sleep_ms", sleep_ms, FunctionOptions{0, 300});
WARMPOOL_EXPORT_JOB("crash_once", CrashOnce, FunctionOptions{1, 0});
WARMPOOL_EXPORT_FN("sleep_ms", sleep_ms);
