// warmpoold: parses options, builds the supervisor, runs it. Everything else is in the library.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <filesystem>

#include "warmpool/daemon/logging.hpp"
#include "warmpool/daemon/supervisor.hpp"

namespace {

// The bundled example jobs, found relative to this executable so that the build tree and an
// installed tree both work without configuration.
std::string default_jobs_library() {
    std::error_code ec;
    auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (ec) return WARMPOOL_INSTALLED_JOBS_PATH;
    auto candidate = exe.parent_path() / WARMPOOL_RELATIVE_JOBS_PATH;
    if (std::filesystem::exists(candidate, ec)) return std::filesystem::weakly_canonical(candidate).string();
    return WARMPOOL_INSTALLED_JOBS_PATH;
}

}  // namespace

int main(int argc, char** argv) {
    warmpool::PoolConfig config;
    CLI::App app{"warmpoold: a pool of pre-initialised worker processes"};
    app.add_option("-n,--name", config.name, "Pool name")->capture_default_str();
    app.add_option("-w,--workers", config.workers, "Worker processes (default: number of cores)");
    app.add_option("-j,--jobs", config.jobs_library, "Job library (.so) the workers load");
    app.add_option("--runtime-dir", config.runtime_dir,
                   "Directory for the sockets (default: $WARMPOOL_RUNTIME_DIR, $XDG_RUNTIME_DIR/warmpool or /tmp/warmpool-$UID)");
    app.add_option("-l,--log-level", config.log_level, "trace, debug, info, warn, error, off")->capture_default_str();
    app.add_option("--max-sessions", config.max_sessions, "Clients connected at once")->capture_default_str();
    app.add_option("--queue-capacity", config.queue_capacity, "Jobs the dispatcher holds")->capture_default_str();
    app.add_option("--prefetch", config.prefetch, "Short jobs queued per worker")->capture_default_str();
    app.add_option("--inline-max", config.inline_max, "Largest payload carried inside a ring (bytes)")->capture_default_str();
    app.add_option("--socket-mode", config.socket_mode, "Mode of sockets and client shared memory (octal, e.g. 0660)")
        ->transform([](std::string text) { return std::to_string(std::stoul(text, nullptr, 8)); });
    app.add_option("--group", config.group, "Group owning the sockets and client shared memory");
    app.add_option("--allow-user", config.allow_users, "Another user allowed to connect (repeatable)");
    app.add_option("--allow-group", config.allow_groups, "A group whose members may connect (repeatable)");
    app.add_option("--grace-period", config.grace_period_s, "Seconds running jobs get to finish on stop")->capture_default_str();
    CLI11_PARSE(app, argc, argv);

    if (config.jobs_library.empty()) config.jobs_library = default_jobs_library();
    if (auto st = config.finalise(); !st) {
        std::fprintf(stderr, "warmpoold: %s\n", st.error().message().c_str());
        return 64;
    }
    warmpool::init_logging(config.name, "supervisor", config.log_level);
    warmpool::Supervisor supervisor(config);
    if (auto st = supervisor.start(); !st) {
        spdlog::critical("cannot start: {}", st.error().message());
        return 1;
    }
    return supervisor.run();
}
