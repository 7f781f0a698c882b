#include "machine_floor.hpp"

#include <fcntl.h>
#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <string>
#include <system_error>

#include "bench_support.hpp"
#include "warmpool/common/unique_fd.hpp"

namespace warmpool::bench {

namespace {

constexpr std::uint32_t kStop = 0xffffffffu;

// One hop of the ring: the value, and whether its reader sleeps on it. Each on its own cache
// line so hops do not share one.
struct alignas(64) Channel {
    std::atomic<std::uint32_t> value{0};
    std::atomic<std::uint32_t> sleeping{0};
};
constexpr int kMaxRing = 4;
struct Ring {
    Channel hop[kMaxRing];  // hop[i] is read by process i of the ring (0: the measuring parent)
};
static_assert(std::atomic<std::uint32_t>::is_always_lock_free);

long futex(std::atomic<std::uint32_t>& word, int op, std::uint32_t value, const timespec* timeout) {
    // Not FUTEX_PRIVATE_FLAG: the word is shared with another process.
    return ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), op, value, timeout,
                     nullptr, 0);
}

std::int64_t now_ns() {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

void send(Channel& c, std::uint32_t value) {
    c.value.store(value, std::memory_order_seq_cst);
    if (c.sleeping.load(std::memory_order_seq_cst) != 0) futex(c.value, FUTEX_WAKE, 1, nullptr);
}

// Waits until c.value differs from `old`; returns the new value, or `old` if `give_up_ns`
// (a CLOCK_MONOTONIC time; 0: never) passed first.
std::uint32_t receive(Channel& c, std::uint32_t old, std::int64_t spin_ns, bool yield,
                      std::int64_t give_up_ns) {
    std::uint32_t v = c.value.load(std::memory_order_acquire);
    if (v != old) return v;
    if (spin_ns > 0) {
        const std::int64_t spin_until = now_ns() + spin_ns;
        while ((v = c.value.load(std::memory_order_acquire)) == old) {
            for (int i = 0; i < 16; ++i) __builtin_ia32_pause();
            if (yield) ::sched_yield();
            if (now_ns() >= spin_until) break;
        }
        if (v != old) return v;
    }
    const timespec slice{0, 100'000'000};
    for (;;) {
        // Announce the sleep before the last look (a Dekker pair with send()).
        c.sleeping.store(1, std::memory_order_seq_cst);
        v = c.value.load(std::memory_order_seq_cst);
        if (v == old) futex(c.value, FUTEX_WAIT, old, &slice);
        c.sleeping.store(0, std::memory_order_relaxed);
        v = c.value.load(std::memory_order_acquire);
        if (v != old) return v;
        if (give_up_ns != 0 && now_ns() >= give_up_ns) return old;
    }
}

// Child `index` of the ring: pass every value on to the next process until told to stop.
// Only atomics and system calls.
[[noreturn]] void relay_loop(Ring* ring, int index, int processes, pid_t parent, std::int64_t spin_ns,
                             bool yield) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(1);
    std::uint32_t last = 0;
    for (;;) {
        last = receive(ring->hop[index], last, spin_ns, yield, 0);
        send(ring->hop[(index + 1) % processes], last);
        if (last == kStop) ::_exit(0);
    }
}

struct Mapping {
    void* data = MAP_FAILED;
    std::size_t bytes = 0;
    Mapping(void* d, std::size_t b) : data(d), bytes(b) {}
    Mapping(const Mapping&) = delete;
    Mapping& operator=(const Mapping&) = delete;
    ~Mapping() {
        if (data != MAP_FAILED) ::munmap(data, bytes);
    }
};

Mapping map_anonymous(std::size_t bytes, int flags) {
    void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, flags | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::system_error(errno, std::generic_category(), "mmap");
    return Mapping(p, bytes);
}

// A CPU-bound loop that the compiler cannot remove or vectorise away.
std::uint64_t spin_work(std::uint64_t iterations) {
    std::uint64_t x = 88172645463325252ull;
    for (std::uint64_t i = 0; i < iterations; ++i) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    return x;
}

// Helper processes forked from this one: each dies with this process (PR_SET_PDEATHSIG), and
// those not yet waited for are killed and reaped on destruction, so no error path leaves one.
class Children {
public:
    Children() = default;
    Children(const Children&) = delete;
    Children& operator=(const Children&) = delete;
    ~Children() {
        for (const pid_t c : pids_) ::kill(c, SIGKILL);
        wait_all();
    }

    // Forks a child that runs `body` and exits 0 (or whatever `body` exits with).
    template <class Body>
    void spawn(Body&& body) {
        const pid_t child = ::fork();
        if (child < 0) throw std::system_error(errno, std::generic_category(), "fork");
        if (child == 0) {
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            body();
            ::_exit(0);
        }
        pids_.push_back(child);
    }

    // Waits for every child; true if each exited with status 0.
    bool wait_all() {
        bool ok = true;
        for (const pid_t c : pids_) {
            int status = 0;
            while (::waitpid(c, &status, 0) < 0 && errno == EINTR) {
            }
            ok = ok && WIFEXITED(status) && WEXITSTATUS(status) == 0;
        }
        pids_.clear();
        return ok;
    }

private:
    std::vector<pid_t> pids_;
};

}  // namespace

std::vector<double> futex_ring_us(int processes, std::int64_t count, std::int64_t warmup,
                                  std::int64_t spin_ns, bool yield) {
    if (processes < 2 || processes > kMaxRing) throw Failure("futex ring: 2 to 4 processes");
    Mapping region = map_anonymous(sizeof(Ring), MAP_SHARED);
    auto* ring = new (region.data) Ring();
    const pid_t parent = ::getpid();
    Children children;
    for (int i = 1; i < processes; ++i) {
        children.spawn([&] { relay_loop(ring, i, processes, parent, spin_ns, yield); });
    }

    std::vector<double> us;
    us.reserve(static_cast<std::size_t>(count));
    std::string failure;
    for (std::int64_t i = 1; i <= warmup + count; ++i) {
        const auto value = static_cast<std::uint32_t>(i);
        const auto start = Clock::now();
        send(ring->hop[1], value);
        const std::uint32_t got = receive(ring->hop[0], value - 1, spin_ns, yield, now_ns() + 5'000'000'000);
        const auto elapsed = Clock::now() - start;
        if (got != value) {
            failure = "futex ring: value " + std::to_string(i) + " did not come round within 5 s";
            break;
        }
        if (i > warmup) us.push_back(std::chrono::duration<double, std::micro>(elapsed).count());
    }
    if (!failure.empty()) throw Failure(failure);  // ~Children kills the ring
    send(ring->hop[1], kStop);  // passed round the ring; each child exits after passing it on
    if (!children.wait_all()) throw Failure("futex ring: a child ended abnormally");
    return us;
}

std::vector<double> memcpy_gbps(std::size_t bytes, int reps, bool fresh_destination) {
    Mapping source = map_anonymous(bytes, MAP_PRIVATE);
    std::memset(source.data, 0x5a, bytes);
    Mapping touched = map_anonymous(fresh_destination ? 1 : bytes, MAP_PRIVATE);
    if (!fresh_destination) std::memset(touched.data, 0, bytes);

    std::vector<double> gbps;
    for (int rep = -1; rep < reps; ++rep) {  // the first one is untimed
        const auto start = Clock::now();
        if (fresh_destination) {
            // As a writer of a new shared-memory blob does: create, size, map, fill, unmap.
            UniqueFd fd(static_cast<int>(::syscall(SYS_memfd_create, "warmpool-bench-floor", 1u)));
            if (!fd) throw std::system_error(errno, std::generic_category(), "memfd_create");
            if (::ftruncate(fd.get(), static_cast<off_t>(bytes)) != 0)
                throw std::system_error(errno, std::generic_category(), "ftruncate");
            void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
            if (p == MAP_FAILED) throw std::system_error(errno, std::generic_category(), "mmap");
            Mapping destination(p, bytes);
            std::memcpy(destination.data, source.data, bytes);
            asm volatile("" : : "r"(destination.data) : "memory");
        } else {
            std::memcpy(touched.data, source.data, bytes);
            asm volatile("" : : "r"(touched.data) : "memory");
        }
        const double seconds = seconds_since(start);
        if (rep >= 0) gbps.push_back(static_cast<double>(bytes) / seconds / 1e9);
    }
    return gbps;
}

double parallel_speedup(int processes, double unit_seconds) {
    // Calibrate: grow the loop until it takes a measurable time, then scale to the unit.
    std::uint64_t iterations = 1 << 20;
    double took = 0;
    for (;;) {
        const auto start = Clock::now();
        volatile std::uint64_t sink = spin_work(iterations);
        (void)sink;
        took = seconds_since(start);
        if (took > 0.02) break;
        iterations *= 2;
    }
    iterations = static_cast<std::uint64_t>(static_cast<double>(iterations) * unit_seconds / took);

    auto start = Clock::now();
    for (int i = 0; i < processes; ++i) {
        volatile std::uint64_t sink = spin_work(iterations);
        (void)sink;
    }
    const double serial = seconds_since(start);

    start = Clock::now();
    Children children;
    for (int i = 0; i < processes; ++i) {
        children.spawn([&] {
            volatile std::uint64_t sink = spin_work(iterations);
            (void)sink;
        });
    }
    const bool ok = children.wait_all();
    const double parallel = seconds_since(start);
    if (!ok) throw Failure("parallel speed-up: a child process failed");
    return serial / parallel;
}

ClassicTiming ideal_pool_timing(int processes, std::size_t jobs,
                                const std::function<void(std::size_t)>& run_job) {
    auto start = Clock::now();
    for (std::size_t i = 0; i < jobs; ++i) run_job(i);
    const double serial = seconds_since(start);

    Mapping region = map_anonymous(sizeof(std::atomic<std::uint64_t>), MAP_SHARED);
    auto* next_job = new (region.data) std::atomic<std::uint64_t>(0);
    int go[2], reports[2];
    if (::pipe2(go, O_CLOEXEC) != 0) throw std::system_error(errno, std::generic_category(), "pipe");
    UniqueFd go_read(go[0]), go_write(go[1]);
    if (::pipe2(reports, O_CLOEXEC) != 0) throw std::system_error(errno, std::generic_category(), "pipe");
    UniqueFd report_read(reports[0]), report_write(reports[1]);

    // A child runs rounds: it sleeps until released (one byte on `go`), takes jobs until none is
    // left, reporting 'j' for each, then reports 'w' (waiting for the next round).
    Children children;
    for (int i = 0; i < processes; ++i) {
        children.spawn([&] {
            go_write.reset();
            report_read.reset();
            char byte = 0;
            while (::read(go_read.get(), &byte, 1) == 1) {  // end of file: no more rounds
                for (std::uint64_t job; (job = next_job->fetch_add(1)) < jobs;) {
                    run_job(static_cast<std::size_t>(job));
                    if (::write(report_write.get(), "j", 1) != 1) ::_exit(1);
                }
                if (::write(report_write.get(), "w", 1) != 1) ::_exit(1);
            }
        });
    }
    report_write.reset();  // so a read sees end of file if every child died

    // One round: release the children, then read every job's report and every child's 'w'.
    // Returns the seconds until the last job's report.
    auto round = [&]() -> double {
        next_job->store(0);
        const auto round_start = Clock::now();
        const std::string release(static_cast<std::size_t>(processes), 'g');
        if (::write(go_write.get(), release.data(), release.size()) != static_cast<ssize_t>(release.size())) {
            return -1;
        }
        double last_job = -1;
        std::size_t reported = 0, waiting = 0;
        while (reported < jobs || waiting < static_cast<std::size_t>(processes)) {
            char byte = 0;
            const ssize_t n = ::read(report_read.get(), &byte, 1);
            if (n == 1 && byte == 'j' && ++reported == jobs) last_job = seconds_since(round_start);
            if (n == 1 && byte == 'w') ++waiting;
            if (n == 0 || (n < 0 && errno != EINTR)) return -1;
        }
        return last_job;
    };
    // The first round is untimed: warm workers, as a pool's are after their first jobs.
    const double warm = round();
    const double pooled = warm < 0 ? warm : round();
    go_write.reset();
    const bool ok = children.wait_all() && pooled > 0;
    if (!ok) throw Failure("ideal pool: a child process failed");
    return {serial, pooled};
}

}  // namespace warmpool::bench
