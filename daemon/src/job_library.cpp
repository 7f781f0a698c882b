#include "warmpool/daemon/job_library.hpp"

#include <cxxabi.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <memory>

#include "warmpool/common/unique_fd.hpp"
#include "warmpool/common/utf8.hpp"

namespace warmpool {

LoadedJobLibrary::LoadedJobLibrary(LoadedJobLibrary&& other) noexcept
    : handle_(std::exchange(other.handle_, nullptr)),
      library_(std::exchange(other.library_, nullptr)),
      entries_(std::move(other.entries_)),
      python_functions_(std::move(other.python_functions_)) {}

LoadedJobLibrary::~LoadedJobLibrary() {
    entries_.clear();  // job objects die before their code is unmapped
    if (handle_ != nullptr) ::dlclose(handle_);
}

Result<LoadedJobLibrary> LoadedJobLibrary::open(const std::string& path) {
    LoadedJobLibrary loaded;
    loaded.handle_ = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (loaded.handle_ == nullptr) {
        const char* why = ::dlerror();
        return make_error(SysError::Code::not_found,
                          "cannot load job library " + path + ": " + (why ? why : "unknown"));
    }
    auto entry = reinterpret_cast<JobLibraryEntry>(::dlsym(loaded.handle_, kJobLibrarySymbol));
    if (entry == nullptr) {
        return make_error(SysError::Code::invalid, "job library " + path + " does not export " +
                                                       kJobLibrarySymbol);
    }
    loaded.library_ = entry();
    if (loaded.library_ == nullptr || loaded.library_->abi_version != kJobAbiVersion) {
        return make_error(SysError::Code::invalid,
                          "job library " + path + " was built for another warmpool ABI");
    }
    if (loaded.library_->functions.empty()) {
        return make_error(SysError::Code::invalid, "job library " + path + " exports no function");
    }
    return loaded;
}

Status LoadedJobLibrary::run_preload() {
    auto hook = reinterpret_cast<JobPreloadEntry>(::dlsym(handle_, kJobPreloadSymbol));
    if (hook == nullptr) return {};
    if (const char* failed = hook(); failed != nullptr) {
        return make_error(SysError::Code::invalid, std::string("the job library's preload failed: ") + failed);
    }
    return {};
}

Status LoadedJobLibrary::instantiate(const WorkerContext& context) {
    for (const auto& function : library_->functions) {
        try {
            entries_[function->name()] = Entry{function.get(), function->instantiate(context)};
        } catch (const std::exception& e) {
            return make_error(SysError::Code::invalid,
                              "initialisation of '" + function->name() + "' failed: " + e.what());
        } catch (...) {
            return make_error(SysError::Code::invalid,
                              "initialisation of '" + function->name() + "' threw a non-exception");
        }
    }
    return {};
}

std::vector<std::string> LoadedJobLibrary::names() const {
    std::vector<std::string> names;
    names.reserve(entries_.size());
    for (const auto& [name, entry] : entries_) names.push_back(name);
    return names;
}

namespace {

// A C++ function's signature is the mangled name of its argument type (typeid): shown as the
// type as written, std::string for the standard string. Raw functions and Python jobs say what
// they take in words of their own, kept as they are.
std::string readable_signature(const JobFunction& function, bool python) {
    const std::string& mangled = function.signature();
    if (python || function.fingerprint() == 0) return mangled;
    int status = 0;
    std::unique_ptr<char, void (*)(void*)> demangled(abi::__cxa_demangle(mangled.c_str(), nullptr, nullptr, &status),
                                                     std::free);
    if (status != 0 || !demangled) return mangled;
    std::string text = demangled.get();
    static const std::string kLongString = "std::__cxx11::basic_string<char, std::char_traits<char>, std::allocator<char> >";
    for (std::size_t at = text.find(kLongString); at != std::string::npos; at = text.find(kLongString, at)) {
        text.replace(at, kLongString.size(), "std::string");
    }
    return text;
}

}  // namespace

protocol::FunctionList LoadedJobLibrary::function_list() const {
    protocol::FunctionList list;
    std::vector<std::string> sorted = names();
    std::sort(sorted.begin(), sorted.end());
    list.total = static_cast<std::uint32_t>(sorted.size());
    // Room for the frame's own bytes and each entry's length fields: the rest is names and
    // signatures, which stop where the next would not fit.
    std::size_t room = protocol::kMaxFrameBody - 1024;
    for (const auto& name : sorted) {
        const Entry& entry = entries_.at(name);
        std::string signature = readable_signature(*entry.function, entry.python);
        if (signature.size() > protocol::kMaxSignatureBytes) {
            signature = valid_utf8(signature, protocol::kMaxSignatureBytes - 3) + "...";
        }
        const std::size_t cost = name.size() + signature.size() + 32;
        if (cost > room) break;
        room -= cost;
        list.functions.push_back(protocol::FunctionInfo{name, std::move(signature), entry.python});
    }
    return list;
}

std::vector<protocol::FunctionSetting> LoadedJobLibrary::declared_settings() const {
    std::vector<protocol::FunctionSetting> declared;
    for (const auto& function : library_->functions) {
        const FunctionOptions& o = function->options;
        if (o.timeout_ms == 0 && o.retries == 0) continue;
        // A timeout of 0 declares none: the pool's default applies, as for a function without options.
        const double timeout_s = o.timeout_ms > 0 ? static_cast<double>(o.timeout_ms) / 1000.0 : -1.0;
        declared.push_back(protocol::FunctionSetting{function->name(), timeout_s, o.retries});
    }
    return declared;
}

Status LoadedJobLibrary::add_python(std::vector<std::unique_ptr<JobFunction>> functions,
                                    const WorkerContext& context) {
    for (auto& function : functions) {
        if (entries_.contains(function->name())) {
            return make_error(SysError::Code::invalid, "Python job '" + function->name() +
                                                           "' has the name of a job of the job library");
        }
        entries_[function->name()] = Entry{function.get(), function->instantiate(context), true};
        python_functions_.push_back(std::move(function));
    }
    return {};
}

Status check_job_library(const std::string& path) {
    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return errno_error("pipe");
    UniqueFd reader(pipe_fds[0]);
    UniqueFd writer(pipe_fds[1]);
    const pid_t pid = ::fork();
    if (pid < 0) return errno_error("fork");
    if (pid == 0) {
        reader.reset();
        auto loaded = LoadedJobLibrary::open(path);
        if (!loaded) {
            const std::string why = loaded.error().message();
            [[maybe_unused]] ssize_t n = ::write(writer.get(), why.data(), why.size());
        }
        ::_exit(loaded ? 0 : 1);  // no exit handlers: they are the parent's
    }
    writer.reset();
    std::string why;
    char buf[512];
    for (;;) {
        const ssize_t n = ::read(reader.get(), buf, sizeof buf);
        if (n > 0) {
            why.append(buf, static_cast<std::size_t>(n));
        } else if (n == 0 || errno != EINTR) {
            break;
        }
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return {};
    if (why.empty()) {
        why = "loading job library " + path + " " +
              (WIFSIGNALED(status) ? "was killed by signal " + std::to_string(WTERMSIG(status))
                                   : "failed with status " + std::to_string(WEXITSTATUS(status)));
    }
    return make_error(SysError::Code::not_found, why);
}

LoadedJobLibrary::Entry* LoadedJobLibrary::find(std::string_view name) {
    auto it = entries_.find(name);
    return it == entries_.end() ? nullptr : &it->second;
}

}  // namespace warmpool
