// RedisServer: a real redis-server for one test, on a free loopback port, in a scratch directory.
// Started with fork+exec, it dies with the test process (PR_SET_PDEATHSIG) and is killed by pid
// on destruction, so a failing test leaves no server behind; only servers it started are touched.
// kill9()/restart() give Redis-restart tests the same port and data directory back.
#pragma once

#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "scratch_dir.hpp"
#include "warmpool/redis/redis_connection.hpp"

namespace warmpool::testing {

struct RedisServerOptions {
    bool append_only = false;      // appendonly yes, appendfsync always: every write is on disk
    std::string password;          // requirepass (the default user's password)
    std::vector<std::string> acl;  // ACL rules, e.g. "alice on >pw ~warmpool:* +@all" (user directives)
};

class RedisServer {
public:
    explicit RedisServer(RedisServerOptions options = {}) : options_(std::move(options)), dir_("warmpool-redis") {
        for (int attempt = 0; attempt < 5 && pid_ <= 0; ++attempt) {
            port_ = free_port();
            if (!launch()) kill9();
        }
        if (pid_ <= 0) throw std::runtime_error("redis-server did not start (see " + dir_.path("redis.log") + ")");
    }
    RedisServer(const RedisServer&) = delete;
    RedisServer& operator=(const RedisServer&) = delete;
    ~RedisServer() { kill9(); }

    int port() const { return port_; }
    pid_t pid() const { return pid_; }
    const std::string& dir() const { return dir_.dir(); }
    // "redis://127.0.0.1:PORT/CLUSTER"
    std::string endpoint(const std::string& cluster) const {
        return "redis://127.0.0.1:" + std::to_string(port_) + "/" + cluster;
    }
    RedisEndpoint address(const std::string& cluster = "t") const {
        RedisEndpoint endpoint;
        endpoint.host = "127.0.0.1";
        endpoint.port = port_;
        endpoint.cluster = cluster;
        return endpoint;
    }
    // A connection as the default user (with the server's password, if it has one).
    RedisConnection connect() const {
        auto connection = RedisConnection::connect(address(), RedisCredentials{"", options_.password}, 2000);
        if (!connection) throw std::runtime_error(connection.error().message());
        return std::move(connection.value());
    }

    void kill9() {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
            pid_ = -1;
        }
    }
    // Starts it again on the same port and directory (its append-only file, if any, is replayed).
    void restart() {
        kill9();
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (!launch()) {
            kill9();
            if (std::chrono::steady_clock::now() > deadline) throw std::runtime_error("redis-server did not restart");
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
    }

private:
    static int free_port() {
        const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        address.sin_port = 0;
        socklen_t length = sizeof address;
        if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
            ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
            if (fd >= 0) ::close(fd);
            throw std::runtime_error("no free loopback port");
        }
        ::close(fd);
        return ntohs(address.sin_port);
    }

    bool launch() {
        std::vector<std::string> args = {"redis-server", "--port", std::to_string(port_), "--bind", "127.0.0.1",
                                          "--dir", dir_.dir(), "--save", "", "--daemonize", "no",
                                          "--logfile", dir_.path("redis.log"), "--protected-mode", "no"};
        if (options_.append_only) {
            args.insert(args.end(), {"--appendonly", "yes", "--appendfsync", "always"});
        } else {
            args.insert(args.end(), {"--appendonly", "no"});
        }
        if (!options_.password.empty()) args.insert(args.end(), {"--requirepass", options_.password});
        // "--user" then the rule's words, each its own argument: redis-server takes one argument
        // with spaces in it for a user name, and refuses it.
        for (const auto& rule : options_.acl) {
            args.emplace_back("--user");
            std::istringstream words(rule);
            for (std::string word; words >> word;) args.push_back(word);
        }
        const pid_t parent = ::getpid();
        pid_ = ::fork();
        if (pid_ == 0) {
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (::getppid() != parent) ::_exit(97);
            std::vector<char*> argv;
            for (auto& a : args) argv.push_back(a.data());
            argv.push_back(nullptr);
            ::execvp("redis-server", argv.data());
            ::_exit(127);
        }
        if (pid_ < 0) return false;
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (std::chrono::steady_clock::now() < deadline) {
            if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
                pid_ = -1;
                return false;
            }
            auto connection =
                RedisConnection::connect(address(), RedisCredentials{"", options_.password}, 200);
            if (connection) {
                // An append-only server answers PING while it still loads its file: wait for it.
                auto info = connection->command({"INFO", "persistence"});
                if (info && std::string(info->text()).find("loading:0") != std::string::npos) return true;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        return false;
    }

    RedisServerOptions options_;
    ScratchDir dir_;
    int port_ = 0;
    pid_t pid_ = -1;
};

}  // namespace warmpool::testing
