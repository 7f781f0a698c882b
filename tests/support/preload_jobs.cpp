// A job library with a preload hook (WARMPOOL_PRELOAD), for integration/zygote_test. The hook
// appends "preload <pid>" to the file $WARMPOOL_TEST_PRELOAD_LOG (so a test sees in which
// processes it ran, and how often) and builds a table; `probe` returns the pid of the worker
// that runs it, the table's address and its checksum. Each worker's job object appends
// "worker <pid>" when it is constructed.
//
// With $WARMPOOL_TEST_PRELOAD_GATE set, a zygote's preload (the process named "warmpool-zygote")
// waits until that file exists: a test holds a rebuilt zygote in its preload that way.
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "warmpool/job.hpp"

namespace {

std::vector<std::uint64_t>* table = nullptr;

void note(const std::string& line) {
    const char* path = std::getenv("WARMPOOL_TEST_PRELOAD_LOG");
    if (path == nullptr) return;
    std::ofstream(path, std::ios::app) << line << " " << ::getpid() << "\n";
}

bool in_zygote() {
    std::ifstream comm("/proc/self/comm");
    std::string name;
    std::getline(comm, name);
    return name == "warmpool-zygote";
}

void build_table() {
    if (const char* gate = std::getenv("WARMPOOL_TEST_PRELOAD_GATE"); gate != nullptr && in_zygote()) {
        while (!std::filesystem::exists(gate)) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    if (std::getenv("WARMPOOL_TEST_PRELOAD_FAIL") != nullptr) throw std::runtime_error("the tables are missing");
    note("preload");
    table = new std::vector<std::uint64_t>(1 << 16);
    std::iota(table->begin(), table->end(), std::uint64_t{1});
}

class Probe {
public:
    explicit Probe(const warmpool::WorkerContext&) { note("worker"); }
    std::vector<std::uint64_t> operator()(std::int64_t) const {
        if (table == nullptr) throw std::runtime_error("the preload did not run in this process");
        const std::uint64_t sum = std::accumulate(table->begin(), table->end(), std::uint64_t{0});
        return {static_cast<std::uint64_t>(::getpid()), reinterpret_cast<std::uintptr_t>(table->data()), sum};
    }
};

}  // namespace

WARMPOOL_PRELOAD(build_table);
WARMPOOL_EXPORT_JOB("probe", Probe);
