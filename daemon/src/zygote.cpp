// The zygote: the supervisor's side (Zygote) and the zygote process's own loop (zygote.hpp).
#include "warmpool/daemon/zygote.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>

#include "warmpool/common/clock.hpp"
#include "warmpool/daemon/job_library.hpp"
#include "warmpool/daemon/logging.hpp"
#include "warmpool/daemon/python_host.hpp"
#include "warmpool/daemon/worker_lives.hpp"

namespace warmpool {

namespace {

constexpr int kZygoteDoorbellFd = 3;
constexpr int kZygoteSocketFd = 4;

// Supervisor → zygote, with the worker's end of its channel (SCM_RIGHTS).
struct ForkRequest {
    std::uint32_t slot = 0;
    std::int32_t cpu = -1;
};

// Zygote → supervisor.
struct ZygoteMessage {
    enum Kind : std::uint32_t { ready = 1, forked = 2 };
    std::uint32_t kind = 0;
    std::int32_t pid = 0;  // forked: the worker's pid, or -errno
    std::int64_t preload_ns = 0;  // ready
};

ssize_t send_with_fd(int socket, const void* bytes, std::size_t size, int fd) {
    iovec iov{const_cast<void*>(bytes), size};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(cmsg), &fd, sizeof fd);
    return ::sendmsg(socket, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
}

// One request, its descriptor in `fd` (-1 if none came). 0 at EOF.
ssize_t receive_request(int socket, ForkRequest& request, int& fd) {
    iovec iov{&request, sizeof request};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    fd = -1;
    ssize_t n;
    do {
        n = ::recvmsg(socket, &msg, MSG_CMSG_CLOEXEC);
    } while (n < 0 && errno == EINTR);
    for (cmsghdr* cmsg = CMSG_FIRSTHDR(&msg); cmsg != nullptr; cmsg = CMSG_NXTHDR(&msg, cmsg)) {
        if (cmsg->cmsg_level == SOL_SOCKET && cmsg->cmsg_type == SCM_RIGHTS) std::memcpy(&fd, CMSG_DATA(cmsg), sizeof fd);
    }
    return n;
}

// In the worker, forked by the intermediate child `middle` of the zygote.
[[noreturn]] void become_worker(WorkerSetup setup, const ForkRequest& request, int channel, pid_t supervisor,
                                pid_t middle) {
    // Until `middle` has exited we are its child, and a parent-death signal would be about it.
    for (;;) {
        const pid_t parent = ::getppid();
        if (parent == supervisor) break;
        if (parent != middle) ::_exit(1);  // reparented elsewhere: the supervisor is gone
        const timespec pause{0, 20'000};
        ::nanosleep(&pause, nullptr);
    }
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != supervisor) ::_exit(1);  // it died before the signal was set
    PythonHost::after_fork_in_child();
    // The channel replaces the zygote's socket, which the worker must not hold.
    if (::dup2(channel, kZygoteSocketFd) < 0) ::_exit(1);
    if (channel != kZygoteSocketFd) ::close(channel);
    setup.slot = request.slot;
    setup.cpu = request.cpu;
    setup.supervisor_eventfd = kZygoteDoorbellFd;
    setup.supervisor_channel = kZygoteSocketFd;
    setup.preloaded = true;
    run_worker(setup);
}

// What the intermediate child needs; it shares the zygote's memory (CLONE_VM) while the zygote waits.
struct Intermediate {
    const WorkerSetup* setup;
    const ForkRequest* request;
    int channel;
    pid_t supervisor;
    int reader;
    int writer;
};

// The intermediate child: runs on a stack of its own in the zygote's memory, so it has no page
// tables to copy or tear down; it forks the worker (a copy of the zygote), writes its pid and exits.
int intermediate_main(void* arg) {
    const auto& in = *static_cast<const Intermediate*>(arg);
    const pid_t self = static_cast<pid_t>(::syscall(SYS_getpid));
    const pid_t worker = ::fork();
    if (worker == 0) {
        ::close(in.reader);
        ::close(in.writer);
        become_worker(*in.setup, *in.request, in.channel, in.supervisor, self);
    }
    const pid_t answer = worker > 0 ? worker : -errno;
    [[maybe_unused]] ssize_t n = ::write(in.writer, &answer, sizeof answer);
    ::_exit(0);
}

// The stack the intermediate runs on, and so the worker's (a copy of it): made once per zygote.
constexpr std::size_t kWorkerStackBytes = 8u << 20;
void* worker_stack_top() {
    static void* top = [] {
        void* base = ::mmap(nullptr, kWorkerStackBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK,
                            -1, 0);
        if (base == MAP_FAILED) return static_cast<void*>(nullptr);
        ::mprotect(base, 4096, PROT_NONE);  // a guard page below it
        return static_cast<void*>(static_cast<char*>(base) + kWorkerStackBytes);
    }();
    return top;
}

// Forks the worker through a short-lived intermediate child (clone with CLONE_VM | CLONE_VFORK:
// the zygote waits until it exited, and only the worker's fork copies the zygote's page tables);
// returns the worker's pid, or -errno.
pid_t double_fork(const WorkerSetup& setup, const ForkRequest& request, int channel, pid_t supervisor) {
    void* stack = worker_stack_top();
    if (stack == nullptr) return -ENOMEM;
    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return -errno;
    UniqueFd reader(pipe_fds[0]);
    UniqueFd writer(pipe_fds[1]);
    Intermediate in{&setup, &request, channel, supervisor, reader.get(), writer.get()};
    PythonHost::before_fork();
    const pid_t middle = ::clone(intermediate_main, stack, CLONE_VM | CLONE_VFORK | SIGCHLD, &in);
    const int clone_errno = errno;
    PythonHost::after_fork_in_parent();
    if (middle < 0) return -clone_errno;
    writer.reset();
    pid_t worker = -EIO;
    ssize_t n;
    do {
        n = ::read(reader.get(), &worker, sizeof worker);
    } while (n < 0 && errno == EINTR);
    if (n != static_cast<ssize_t>(sizeof worker)) worker = -EIO;
    while (::waitpid(middle, nullptr, 0) < 0 && errno == EINTR) {
    }
    return worker;
}

// The zygote process: preload, then fork workers on request until the supervisor closes the socket.
[[noreturn]] void run_zygote(const WorkerSetup& setup) {
    init_logging(setup.pool_name, "zygote", setup.log_level);
    ::prctl(PR_SET_NAME, "warmpool-zygote");
    const pid_t supervisor = ::getppid();
    const std::int64_t started = monotonic_ns();
    auto library = LoadedJobLibrary::open(setup.jobs_library);  // kept loaded for every worker
    if (!library) {
        spdlog::error("zygote: {}", library.error().message());
        ::_exit(kWorkerExitInitFailed);
    }
    if (auto st = library->run_preload(); !st) {
        spdlog::error("zygote: {}", st.error().message());
        ::_exit(kWorkerExitInitFailed);
    }
    if (setup.python.enabled) {
        if (auto st = PythonHost::preload(setup.python); !st) {
            spdlog::error("zygote: Python preload failed: {}", st.error().message());
            ::_exit(kWorkerExitInitFailed);
        }
    }
    ZygoteMessage ready;
    ready.kind = ZygoteMessage::ready;
    ready.preload_ns = monotonic_ns() - started;
    if (::send(kZygoteSocketFd, &ready, sizeof ready, MSG_NOSIGNAL) != static_cast<ssize_t>(sizeof ready)) ::_exit(0);
    const std::uint64_t one = 1;
    [[maybe_unused]] ssize_t rung = ::write(kZygoteDoorbellFd, &one, sizeof one);
    spdlog::info("zygote ready: preload took {:.3f} s", static_cast<double>(ready.preload_ns) / 1e9);
    for (;;) {
        ForkRequest request;
        int channel = -1;
        const ssize_t n = receive_request(kZygoteSocketFd, request, channel);
        if (n <= 0) ::_exit(0);  // the supervisor let go of us
        UniqueFd owned(channel);
        ZygoteMessage answer;
        answer.kind = ZygoteMessage::forked;
        const std::int64_t started_fork = monotonic_ns();
        answer.pid = n != static_cast<ssize_t>(sizeof request) || channel < 0
                         ? -EINVAL
                         : double_fork(setup, request, channel, supervisor);
        spdlog::debug("zygote forked worker {} in {:.3f} ms", answer.pid, static_cast<double>(monotonic_ns() - started_fork) / 1e6);
        if (::send(kZygoteSocketFd, &answer, sizeof answer, MSG_NOSIGNAL) < 0) ::_exit(0);
    }
}

}  // namespace

bool same_worker_image(const WorkerSetup& built, const WorkerSetup& wanted) {
    return built.pool_name == wanted.pool_name && built.jobs_library == wanted.jobs_library &&
           built.log_level == wanted.log_level && built.inline_max == wanted.inline_max &&
           built.python.enabled == wanted.python.enabled && built.python.modules == wanted.python.modules &&
           built.python.path == wanted.python.path && built.configured_functions == wanted.configured_functions &&
           built.pool_base == wanted.pool_base && built.lane_board == wanted.lane_board;
}

Zygote::~Zygote() { kill_now(); }

void Zygote::kill_now() {
    socket_.reset();
    if (pid_ > 0) {
        ::kill(pid_, SIGKILL);
        while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
        }
    }
    pid_ = 0;
}

Status Zygote::build(const WorkerSetup& setup, int doorbell_fd, bool awaited, std::int64_t now) {
    kill_now();
    state_ = State::down;
    // Its workers are reparented to us when its intermediate children exit: we reap them.
    if (::prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) return errno_error("prctl(PR_SET_CHILD_SUBREAPER)");
    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) return errno_error("socketpair");
    UniqueFd ours(pair[0]);
    UniqueFd theirs(pair[1]);
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) return errno_error("fork");
    if (pid == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent) ::_exit(1);
        const int socket = ::fcntl(theirs.get(), F_DUPFD, kZygoteSocketFd + 1);
        if (socket < 0 || ::dup2(doorbell_fd, kZygoteDoorbellFd) < 0 || ::dup2(socket, kZygoteSocketFd) < 0) ::_exit(1);
        ::syscall(SYS_close_range, static_cast<unsigned>(kZygoteSocketFd + 1), ~0U, 0U);
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        ::signal(SIGPIPE, SIG_DFL);
        run_zygote(setup);
    }
    socket_ = std::move(ours);
    pid_ = pid;
    built_for_ = setup;
    awaited_ = awaited;
    started_ns_ = now;
    state_ = State::preloading;
    ++builds_;
    spdlog::info("zygote started: pid {}, preloading {}{}", pid, setup.jobs_library,
                 awaited ? "; workers start once it is ready" : "");
    return {};
}

void Zygote::stop() {
    if (pid_ > 0) spdlog::info("zygote pid {} stopped: preload is off", pid_);
    kill_now();
    state_ = State::none;
}

bool Zygote::look(std::int64_t now) {
    if (state_ != State::preloading || !socket_) return false;
    ZygoteMessage message;
    const ssize_t n = ::recv(socket_.get(), &message, sizeof message, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return false;
    if (n != static_cast<ssize_t>(sizeof message) || message.kind != ZygoteMessage::ready) {
        spdlog::warn("zygote pid {} closed its socket or sent something unexpected while preloading", pid_);
        ::kill(pid_, SIGKILL);  // the reaper takes it down (on_exit)
        socket_.reset();
        return false;
    }
    state_ = State::ready;
    preload_ns_ = message.preload_ns;
    rebuilds_.on_ready();
    spdlog::info("zygote pid {} ready after {:.3f} s (preload {:.3f} s)", pid_,
                 static_cast<double>(now - started_ns_) / 1e9, preload_seconds());
    return true;
}

Result<ForkedWorker> Zygote::fork_worker(unsigned slot, int cpu) {
    auto broken = [this](const std::string& why) {
        spdlog::warn("zygote pid {}: {}; killing it, forking the worker the plain way", pid_, why);
        ::kill(pid_, SIGKILL);  // reaped by on_exit; a worker it forks late finds its channel closed
        socket_.reset();
        state_ = State::down;
        return make_error(SysError::Code::invalid, "zygote: " + why);
    };
    if (state_ != State::ready || !socket_) return make_error(SysError::Code::invalid, "the zygote is not ready");
    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) return errno_error("socketpair");
    UniqueFd ours(pair[0]);
    UniqueFd theirs(pair[1]);
    const ForkRequest request{slot, cpu};
    if (send_with_fd(socket_.get(), &request, sizeof request, theirs.get()) != static_cast<ssize_t>(sizeof request)) {
        return broken(std::string("cannot send a request: ") + std::strerror(errno));
    }
    theirs.reset();
    const std::int64_t deadline = monotonic_ns() + std::int64_t{kForkTimeoutMs} * 1'000'000;
    ZygoteMessage answer;
    for (;;) {
        const std::int64_t left_ms = (deadline - monotonic_ns()) / 1'000'000;
        if (left_ms <= 0) return broken("no answer within " + std::to_string(kForkTimeoutMs) + " ms");
        pollfd p{socket_.get(), POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(left_ms)) <= 0) continue;
        const ssize_t n = ::recv(socket_.get(), &answer, sizeof answer, MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
        if (n != static_cast<ssize_t>(sizeof answer) || answer.kind != ZygoteMessage::forked) {
            return broken("its socket closed or it answered something unexpected");
        }
        break;
    }
    if (answer.pid <= 0) {
        return make_error(SysError::Code::invalid, std::string("the zygote could not fork: ") + std::strerror(-answer.pid));
    }
    ++forks_;
    return ForkedWorker{answer.pid, std::move(ours)};
}

bool Zygote::on_exit(pid_t pid, int wait_status, std::int64_t now) {
    if (pid <= 0 || pid != pid_) return false;
    const bool was_ready = state_ == State::ready;
    pid_ = 0;
    socket_.reset();
    state_ = State::down;
    awaited_ = false;
    const std::int64_t delay = rebuilds_.on_death(was_ready);
    next_build_ns_ = now + delay;
    spdlog::warn("zygote pid {} {}; workers are forked the plain way until it is rebuilt (in {:.1f} s)", pid,
                 describe_wait_status(wait_status), static_cast<double>(delay) / 1e9);
    return true;
}

bool Zygote::serves(const WorkerSetup& wanted) const {
    return state_ == State::ready && same_worker_image(built_for_, wanted);
}

}  // namespace warmpool
