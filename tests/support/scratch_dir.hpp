// ScratchDir: a private temporary directory for a test's files and sockets, removed with
// everything in it when the test ends, pass or fail.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace warmpool::testing {

class ScratchDir {
public:
    // `prefix` names the directory under /tmp: "/tmp/<prefix>-XXXXXX".
    explicit ScratchDir(const std::string& prefix = "warmpool-test") {
        std::string pattern = "/tmp/" + prefix + "-XXXXXX";
        if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
        dir_ = pattern;
    }
    ~ScratchDir() {
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }
    ScratchDir(const ScratchDir&) = delete;
    ScratchDir& operator=(const ScratchDir&) = delete;

    const std::string& dir() const { return dir_; }
    std::string path(const std::string& name) const { return dir_ + "/" + name; }
    // Writes `text` aside and renames it into place, so a reader never sees half a file.
    std::string write(const std::string& name, const std::string& text) const {
        const std::string target = path(name);
        std::ofstream(target + ".tmp", std::ios::trunc | std::ios::binary) << text;
        std::filesystem::rename(target + ".tmp", target);
        return target;
    }
    std::vector<std::string> lines(const std::string& name) const {
        std::ifstream in(path(name));
        std::vector<std::string> out;
        for (std::string line; std::getline(in, line);) out.push_back(line);
        return out;
    }

private:
    std::string dir_;
};

}  // namespace warmpool::testing
