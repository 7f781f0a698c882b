#include "scale_out_hosts.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "redis_server.hpp"

namespace warmpool::testing {

std::string gateway_path() { return WARMPOOL_GATEWAY_PATH; }

GatewaySettings gateway_settings(const RedisServer& redis, unsigned capacity, std::vector<std::string> extra_args) {
    GatewaySettings settings;
    settings.endpoint = redis.endpoint("t");
    settings.capacity = capacity;
    settings.extra_args = std::move(extra_args);
    return settings;
}

namespace {

int decode(int status) { return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status); }

}  // namespace

ScaleOutHost::ScaleOutHost(const GatewaySettings& settings, unsigned workers, std::string log_path,
                           TestPool::Options pool_options)
    : settings_(settings), log_path_(std::move(log_path)) {
    pool_options.workers = workers;
    pool_ = std::make_unique<TestPool>(pool_options);
    start_gateway();
}

ScaleOutHost::~ScaleOutHost() {
    if (gateway_pid_ > 0) {
        ::kill(gateway_pid_, SIGCONT);
        kill9_gateway();
    }
    if (pool_ && pool_->running()) pool_->signal(SIGCONT);
}

void ScaleOutHost::start_gateway() {
    if (gateway_pid_ > 0) throw std::logic_error("the gateway runs already");
    std::vector<std::string> args = {gateway_path(),
                                     "--pool", pool_->name(),
                                     "--runtime-dir", pool_->runtime_dir(),
                                     "--endpoint", settings_.endpoint,
                                     "--lease-ms", std::to_string(settings_.lease_ms),
                                     "--poison-after", std::to_string(settings_.poison_after),
                                     "--capacity", std::to_string(settings_.capacity),
                                     "--log-level", "debug"};
    args.insert(args.end(), settings_.extra_args.begin(), settings_.extra_args.end());
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent) ::_exit(97);
        const int fd = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd >= 0) {
            ::dup2(fd, STDOUT_FILENO);
            ::dup2(fd, STDERR_FILENO);
        }
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        ::execv(argv[0], argv.data());
        ::_exit(127);
    }
    gateway_pid_ = pid;
}

void ScaleOutHost::kill9_gateway() {
    if (gateway_pid_ <= 0) return;
    ::kill(gateway_pid_, SIGKILL);
    ::waitpid(gateway_pid_, nullptr, 0);
    gateway_pid_ = -1;
}

void ScaleOutHost::stop_gateway() {
    if (gateway_pid_ > 0) ::kill(gateway_pid_, SIGSTOP);
}

void ScaleOutHost::continue_gateway() {
    if (gateway_pid_ > 0) ::kill(gateway_pid_, SIGCONT);
}

int ScaleOutHost::wait_gateway_exit(std::chrono::milliseconds timeout) {
    if (gateway_pid_ <= 0) return -1;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        int status = 0;
        if (::waitpid(gateway_pid_, &status, WNOHANG) == gateway_pid_) {
            gateway_pid_ = -1;
            return decode(status);
        }
        if (std::chrono::steady_clock::now() >= deadline) return -1;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
}

int ScaleOutHost::terminate_gateway(std::chrono::milliseconds timeout) {
    if (gateway_pid_ <= 0) return -1;
    ::kill(gateway_pid_, SIGTERM);
    const int rc = wait_gateway_exit(timeout);
    if (rc < 0) kill9_gateway();
    return rc;
}

void ScaleOutHost::kill9() {
    kill9_gateway();
    if (pool_->running()) {
        pool_->signal(SIGKILL);
        pool_->wait_exit(std::chrono::seconds(10));
    }
}

void ScaleOutHost::stop() {
    stop_gateway();
    pool_->signal(SIGSTOP);
}

void ScaleOutHost::resume() {
    pool_->signal(SIGCONT);
    continue_gateway();
}

std::string ScaleOutHost::gateway_log() const {
    std::ifstream in(log_path_);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

ScaleOutHosts::ScaleOutHosts(const GatewaySettings& settings, unsigned hosts, unsigned workers_per_host,
                             TestPool::Options pool_options)
    : settings_(settings), workers_(workers_per_host), pool_options_(std::move(pool_options)), dir_("warmpool-hosts") {
    for (unsigned i = 0; i < hosts; ++i) add();
}

ScaleOutHost& ScaleOutHosts::add() {
    const std::string log = dir_.path("gateway-" + std::to_string(hosts_.size()) + ".log");
    hosts_.push_back(std::make_unique<ScaleOutHost>(settings_, workers_, log, pool_options_));
    return *hosts_.back();
}

std::string ScaleOutHosts::logs() const {
    std::string text;
    for (std::size_t i = 0; i < hosts_.size(); ++i) {
        text += "---- host " + std::to_string(i) + " gateway (" + hosts_[i]->log_path() + ")\n" + hosts_[i]->gateway_log();
        text += "---- host " + std::to_string(i) + " pool\n" + hosts_[i]->pool().log();
    }
    return text;
}

ScaleOutHosts::~ScaleOutHosts() {
    if (::testing::Test::HasFailure()) std::cerr << logs();
    for (const auto& host : hosts_) {
        const std::string text = host->gateway_log();
        for (const char* marker : {"AddressSanitizer", "LeakSanitizer", "runtime error:"}) {
            if (text.find(marker) != std::string::npos) {
                ADD_FAILURE() << "sanitizer report in a gateway's log:\n" << text;
                break;
            }
        }
    }
}

}  // namespace warmpool::testing
