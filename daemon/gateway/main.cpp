// warmpool-gateway: serves a scale-out cluster's Redis job stream with the local pool.
//
// main parses the options, connects to the local pool, starts the three threads (intake,
// finisher, housekeeper: each owns its own Redis connection) and waits for SIGTERM/SIGINT or the
// loss of the local pool. Then it drains: intake stops reading, running jobs get up to
// --drain-ms to finish, the rest are cancelled locally and requeued for other hosts, the
// finisher writes every outcome, and the housekeeper deletes our heartbeat. Exit 0 after a
// signal, 1 when the local pool was lost (systemd restarts us with it), 64 on a usage error.
#include <signal.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <climits>
#include <thread>

#include "finisher.hpp"
#include "gateway_context.hpp"
#include "housekeeper.hpp"
#include "intake.hpp"
#include "warmpool/job_error.hpp"

namespace {

using namespace warmpool;

constexpr int kFailure = 1;

std::string host_name() {
    char buffer[HOST_NAME_MAX + 1] = {};
    if (::gethostname(buffer, sizeof buffer - 1) != 0) return "localhost";
    return buffer;
}

void init_logging(const std::string& level) {
    auto logger = spdlog::stderr_color_mt("warmpool-gateway");
    spdlog::set_default_logger(logger);
    spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%e [%l] warmpool-gateway[%P]: %v");
    spdlog::set_level(spdlog::level::from_str(level));
}

// Waits for SIGTERM/SIGINT (blocked in every thread) or the local pool's loss.
void wait_for_stop(const sigset_t& signals, const GatewayContext& ctx) {
    const timespec tick{0, 100'000'000};
    while (!ctx.pool_lost.load()) {
        const int sig = ::sigtimedwait(&signals, nullptr, &tick);
        if (sig > 0) {
            spdlog::info("{}: draining", ::strsignal(sig));
            return;
        }
    }
    spdlog::error("the local pool is gone: requeueing our jobs and stopping");
}

void drain(GatewayContext& ctx) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ctx.options.drain_ms);
    while (!ctx.pool_lost.load() && ctx.state.busy() > 0 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    const std::vector<RunningJob> left = ctx.state.take_all_running();
    if (!left.empty()) spdlog::warn("requeueing {} jobs that did not finish in time", left.size());
    for (const RunningJob& job : left) {
        try {
            job.future.cancel(true);
        } catch (const std::exception&) {
            // the pool is gone: nothing runs it any more
        }
        // Not the job's fault: its deliveries stay as they were.
        ctx.state.push(RequeueOp{job.entry.entry_id, job.entry.job, job.deliveries - 1, job.entry.last_failure});
    }
}

}  // namespace

int main(int argc, char** argv) {
    auto parsed = parse_gateway_options(argc, argv);
    if (const int* rc = std::get_if<int>(&parsed)) return *rc;
    GatewayOptions options = std::move(std::get<GatewayOptions>(parsed));
    init_logging(options.log_level);

    auto credentials = resolve_redis_credentials(options.endpoint, options.password_file);
    if (!credentials) {
        spdlog::error("{}", credentials.error().message());
        return kFailure;
    }

    // Signals are taken by sigtimedwait in main only; threads started below inherit the mask.
    sigset_t signals;
    ::sigemptyset(&signals);
    ::sigaddset(&signals, SIGTERM);
    ::sigaddset(&signals, SIGINT);
    ::pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    ::signal(SIGPIPE, SIG_IGN);

    std::optional<GatewayContext> made;
    try {
        ClientOptions client_options;
        client_options.runtime_dir = options.runtime_dir;
        client_options.client_name = "warmpool-gateway";
        made.emplace(options, Client::connect(options.pool, client_options));
    } catch (const std::exception& e) {
        spdlog::error("cannot connect to the local pool '{}': {}", options.pool, e.what());
        return kFailure;
    }
    GatewayContext& ctx = *made;
    ctx.credentials = std::move(credentials.value());
    ctx.host = host_name();
    ctx.started_ms = unix_ms();
    ctx.name = ctx.host + ":" + ctx.client.pool_name() + ":" + std::to_string(::getpid()) + ":" +
               std::to_string(ctx.started_ms);
    ctx.capacity = options.capacity > 0 ? options.capacity : ctx.client.worker_slots();

    // Refused credentials will not get better by retrying; an unreachable Redis may.
    auto first = RedisConnection::connect(ctx.options.endpoint, ctx.credentials, 2000);
    if (!first && first.error().code == SysError::Code::permission) {
        spdlog::error("{}", first.error().message());
        return kFailure;
    }
    if (first) ensure_group(*first, ctx.keys);
    spdlog::info("serving {} as consumer {} with pool '{}' ({} jobs at once, lease {} ms)",
                 ctx.options.endpoint.text(), ctx.name, ctx.client.pool_name(), ctx.capacity, ctx.options.lease_ms);

    std::thread finisher([&] { run_finisher(ctx); });
    std::thread housekeeper([&] { run_housekeeper(ctx); });
    std::thread intake([&] { run_intake(ctx); });

    wait_for_stop(signals, ctx);
    ctx.stop_reading.store(true);
    intake.join();
    drain(ctx);
    ctx.stop.store(true);
    finisher.join();
    ctx.stop_housekeeper.store(true);
    housekeeper.join();
    spdlog::info("stopped");
    return ctx.pool_lost.load() ? kFailure : 0;
}
