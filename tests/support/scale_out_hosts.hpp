// ScaleOutHosts: N scale-out "hosts" on this machine, each a real warmpoold (TestPool) and a real
// warmpool-gateway process serving one Redis cluster with it, for the gateway tests.
//
// Each gateway runs in its host's runtime directory, is started by fork+exec and killed by pid
// (never by name), dies with the test process (PR_SET_PDEATHSIG), and logs to a file in a
// scratch directory; every log (gateways' and pools') is printed when the test has failed. Hosts
// can be killed (-9) or stopped (SIGSTOP) and continued, gateway alone or whole host.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "scratch_dir.hpp"
#include "test_pool.hpp"

namespace warmpool::testing {

class RedisServer;

// The lease the gateway tests give their gateways unless a test says otherwise.
constexpr int kGatewayLeaseMs = 1000;

struct GatewaySettings {
    std::string endpoint;  // redis://127.0.0.1:PORT/CLUSTER
    int lease_ms = kGatewayLeaseMs;
    unsigned poison_after = 3;
    unsigned capacity = 0;  // 0: the pool's worker slots
    std::vector<std::string> extra_args;
};

// Gateways serving the cluster "t" of `redis`, with the default lease; `capacity` 0 is the pool's
// worker slots, `extra_args` are added to warmpool-gateway's options.
GatewaySettings gateway_settings(const RedisServer& redis, unsigned capacity = 0,
                                 std::vector<std::string> extra_args = {});

class ScaleOutHost {
public:
    ScaleOutHost(const GatewaySettings& settings, unsigned workers, std::string log_path,
                 TestPool::Options pool_options = {});
    ~ScaleOutHost();
    ScaleOutHost(const ScaleOutHost&) = delete;
    ScaleOutHost& operator=(const ScaleOutHost&) = delete;

    TestPool& pool() { return *pool_; }
    pid_t gateway_pid() const { return gateway_pid_; }
    bool gateway_running() const { return gateway_pid_ > 0; }

    void start_gateway();
    void kill9_gateway();
    void stop_gateway();      // SIGSTOP
    void continue_gateway();  // SIGCONT
    // SIGTERM; the gateway's exit code (128 + signal if killed), or -1 if it was still running
    // after `timeout` (it is then killed).
    int terminate_gateway(std::chrono::milliseconds timeout = std::chrono::seconds(20));
    // The gateway's exit code once it exits within `timeout`, else -1.
    int wait_gateway_exit(std::chrono::milliseconds timeout);

    // The whole host: its gateway and its pool's supervisor (whose workers die with it).
    void kill9();
    void stop();
    void resume();

    std::string gateway_log() const;
    const std::string& log_path() const { return log_path_; }

private:
    GatewaySettings settings_;
    std::string log_path_;
    std::unique_ptr<TestPool> pool_;
    pid_t gateway_pid_ = -1;
};

class ScaleOutHosts {
public:
    ScaleOutHosts(const GatewaySettings& settings, unsigned hosts, unsigned workers_per_host = 2,
                  TestPool::Options pool_options = {});
    // Prints every log if the current test has failed.
    ~ScaleOutHosts();

    std::size_t size() const { return hosts_.size(); }
    ScaleOutHost& operator[](std::size_t i) { return *hosts_.at(i); }
    // Adds one more host (started).
    ScaleOutHost& add();
    std::string logs() const;

private:
    GatewaySettings settings_;
    unsigned workers_;
    TestPool::Options pool_options_;
    ScratchDir dir_;
    std::vector<std::unique_ptr<ScaleOutHost>> hosts_;
};

std::string gateway_path();

}  // namespace warmpool::testing
