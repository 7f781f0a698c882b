#include "warmpool/daemon/job_library.hpp"

#include <dlfcn.h>

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

LoadedJobLibrary::Entry* LoadedJobLibrary::find(std::string_view name) {
    auto it = entries_.find(name);
    return it == entries_.end() ? nullptr : &it->second;
}

}  // namespace warmpool
