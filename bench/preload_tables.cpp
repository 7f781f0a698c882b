// A job library with an expensive shared set-up, for the preload benchmark (preload_bench.py):
// its preload hook takes 2 s and builds 256 MiB of read-only tables (the kind of thing a model,
// a dictionary or a routing table is). With `preload` the zygote builds them once and every
// worker shares their pages; without it each worker builds its own copy.
//
// Jobs: "lookup" (an index: the table's word there, and the worker's pid), "ping" (the pid).
// $WARMPOOL_BENCH_TABLE_MIB and $WARMPOOL_BENCH_PRELOAD_MS change the size and the time;
// $WARMPOOL_BENCH_HUGE_PAGES=1 asks for transparent huge pages for the tables (MADV_HUGEPAGE),
// which makes forking a process that maps them (a worker from the zygote) far cheaper.
#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>

#include "warmpool/job.hpp"

namespace {

const std::uint64_t* table = nullptr;
std::size_t words = 0;

std::size_t env_or(const char* name, std::size_t fallback) {
    const char* text = std::getenv(name);
    return text != nullptr ? std::stoull(text) : fallback;
}

void build_tables() {
    const auto started = std::chrono::steady_clock::now();
    const std::size_t bytes = env_or("WARMPOOL_BENCH_TABLE_MIB", 256) << 20;
    void* memory = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (memory == MAP_FAILED) throw std::runtime_error("cannot map the tables");
    if (env_or("WARMPOOL_BENCH_HUGE_PAGES", 0) != 0) ::madvise(memory, bytes, MADV_HUGEPAGE);
    auto* words_out = static_cast<std::uint64_t*>(memory);
    words = bytes / sizeof(std::uint64_t);
    std::uint64_t x = 0x9e3779b97f4a7c15ULL;
    for (std::size_t i = 0; i < words; ++i) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        words_out[i] = x;
    }
    ::mprotect(memory, bytes, PROT_READ);  // read-only from here on: shared for good
    table = words_out;
    const auto budget = std::chrono::milliseconds(env_or("WARMPOOL_BENCH_PRELOAD_MS", 2000));
    std::this_thread::sleep_until(started + budget);  // the rest of a 2 s set-up
}

std::pair<std::uint64_t, std::int64_t> lookup(std::uint64_t index) {
    if (table == nullptr) throw std::runtime_error("no tables");
    return {table[index % words], static_cast<std::int64_t>(::getpid())};
}

std::int64_t ping(std::int64_t) { return ::getpid(); }

}  // namespace

WARMPOOL_PRELOAD(build_tables);
WARMPOOL_EXPORT_FN("lookup", lookup);
WARMPOOL_EXPORT_FN("ping", ping);
