// OomKillCounter: tells whether the kernel's OOM killer struck in our cgroup since last asked,
// so a worker that died of SIGKILL can be reported as "out of memory" rather than a mystery.
//
// It reads the `oom_kill` count of memory.events in our cgroup (cgroup v2). Where that file is
// not readable (cgroup v1, no memory controller) it never reports a kill.
#pragma once

#include <cstdint>
#include <fstream>
#include <string>

namespace warmpool {

class OomKillCounter {
public:
    OomKillCounter() : path_(events_path()), last_(read()) {}

    // True if the count grew since the previous call (or construction).
    bool changed() {
        const std::uint64_t now = read();
        const bool grew = now > last_;
        last_ = now;
        return grew;
    }

private:
    static std::string events_path() {
        std::ifstream cgroup("/proc/self/cgroup");
        std::string line;
        while (std::getline(cgroup, line)) {
            if (line.rfind("0::", 0) == 0) return "/sys/fs/cgroup" + line.substr(3) + "/memory.events";
        }
        return {};
    }

    std::uint64_t read() const {
        if (path_.empty()) return 0;
        std::ifstream events(path_);
        std::string key;
        std::uint64_t value = 0;
        while (events >> key >> value) {
            if (key == "oom_kill") return value;
        }
        return 0;
    }

    std::string path_;
    std::uint64_t last_ = 0;
};

}  // namespace warmpool
