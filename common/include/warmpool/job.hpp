// The job-author API: include this in a job library and export functions with the macros.
//
//   std::int64_t gcd(std::pair<std::int64_t, std::int64_t> ab);
//   WARMPOOL_EXPORT_FN("gcd", gcd);
//
//   struct Md5Chain {                                  // one object per worker
//       explicit Md5Chain(const warmpool::WorkerContext&);  // the expensive initialisation
//       std::string operator()(const Md5Args& args);   // one job
//   };
//   WARMPOOL_EXPORT_JOB("md5_chain", Md5Chain);
//
//   std::string echo(warmpool::Encoding, std::string_view payload);  // any type, unchanged
//   WARMPOOL_EXPORT_RAW("echo", echo);
//   // or, writing a large result in place (job_output.hpp):
//   void echo(warmpool::Encoding, std::string_view payload, warmpool::JobOutput& out);
//
//   void build_tables();                 // shared, read-only state: run once per process image
//   WARMPOOL_PRELOAD(build_tables);      // at most one per library
//
// With `preload` (docs/CONFIG.md) the hook runs once, in the pool's zygote, and every worker is
// forked from it and shares what it built copy-on-write; each worker then constructs its job
// objects as usual. Without it each worker runs the hook itself, before its job objects. State
// the hook builds must not depend on the process it runs in (no threads, no pid, no per-worker
// descriptors): it is copied into every worker. An exception fails the initialisation.
//
// Argument and result types need Cereal and nlohmann::json support (see serialization.hpp).
// A function takes exactly one argument; use std::pair, std::tuple or a struct for several.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>

#include "warmpool/job_abi.hpp"

namespace warmpool::detail {

// Each job library has its own registry: hidden visibility keeps it private to the library.
__attribute__((visibility("hidden"))) inline JobLibrary& library() {
    static JobLibrary instance;
    return instance;
}

// Runs a preload hook, turning an exception into the text the loader reports.
inline const char* run_preload(void (*hook)()) {
    static std::string failure;
    try {
        hook();
        return nullptr;
    } catch (const std::exception& e) {
        failure = e.what();
    } catch (...) {
        failure = "the preload hook threw a non-exception";
    }
    return failure.c_str();
}

inline bool add_function(std::unique_ptr<JobFunction> function, FunctionOptions options = {}) {
    function->options = options;
    library().functions.push_back(std::move(function));
    return true;
}

template <class Args>
Args decode_args(Encoding encoding, std::string_view bytes) {
    try {
        return encoding == Encoding::json ? from_json_text<Args>(bytes) : from_binary<Args>(bytes);
    } catch (const DecodeError& e) {
        throw JobFailure(ErrorKind::bad_request, e.what());
    }
}

template <class R>
void encode_result(Encoding encoding, const R& result, std::string& out) {
    if (encoding == Encoding::json) {
        out += to_json_text(result);
    } else {
        append_binary(result, out);
    }
}

template <class T> struct CallTraits;
template <class R, class A>
struct CallTraits<R (*)(A)> {
    using Result = std::decay_t<R>;
    using Args = std::decay_t<A>;
};
template <class C, class R, class A>
struct CallTraits<R (C::*)(A)> {
    using Result = std::decay_t<R>;
    using Args = std::decay_t<A>;
};
template <class C, class R, class A>
struct CallTraits<R (C::*)(A) const> {
    using Result = std::decay_t<R>;
    using Args = std::decay_t<A>;
};
template <class R, class A>
struct CallTraits<R (*)(A) noexcept> : CallTraits<R (*)(A)> {};
template <class C, class R, class A>
struct CallTraits<R (C::*)(A) noexcept> : CallTraits<R (C::*)(A)> {};
template <class C, class R, class A>
struct CallTraits<R (C::*)(A) const noexcept> : CallTraits<R (C::*)(A) const> {};

// A job class: constructed once per worker; operator() runs one job.
template <class Job>
class JobClassFunction final : public JobFunction {
    using Traits = CallTraits<decltype(&Job::operator())>;

    struct Instance final : JobInstance {
        explicit Instance(const WorkerContext& context) : job(context) {}
        void invoke(Encoding encoding, std::string_view args, std::string& out) override {
            encode_result(encoding, job(decode_args<typename Traits::Args>(encoding, args)), out);
        }
        Job job;
    };

public:
    explicit JobClassFunction(std::string name)
        : JobFunction(std::move(name),
                      type_fingerprint<typename Traits::Result, typename Traits::Args>(),
                      typeid(typename Traits::Args).name()) {}
    std::unique_ptr<JobInstance> instantiate(const WorkerContext& context) const override {
        return std::make_unique<Instance>(context);
    }
};

// A plain function: no per-worker state.
template <class Fn>
class FreeFunction final : public JobFunction {
    using Traits = CallTraits<Fn>;

    struct Instance final : JobInstance {
        explicit Instance(Fn f) : fn(f) {}
        void invoke(Encoding encoding, std::string_view args, std::string& out) override {
            encode_result(encoding, fn(decode_args<typename Traits::Args>(encoding, args)), out);
        }
        Fn fn;
    };

public:
    FreeFunction(std::string name, Fn fn)
        : JobFunction(std::move(name),
                      type_fingerprint<typename Traits::Result, typename Traits::Args>(),
                      typeid(typename Traits::Args).name()),
          fn_(fn) {}
    std::unique_ptr<JobInstance> instantiate(const WorkerContext&) const override {
        return std::make_unique<Instance>(fn_);
    }

private:
    Fn fn_;
};

// A raw function sees the encoded payload and returns encoded bytes in the same encoding, either
// as a string or written in place into a JobOutput.
using RawFn = std::string (*)(Encoding, std::string_view);
using RawOutputFn = void (*)(Encoding, std::string_view, JobOutput&);

class RawFunction final : public JobFunction {
    struct Instance final : JobInstance {
        Instance(RawFn f, RawOutputFn g) : fn(f), out_fn(g) {}
        void invoke(Encoding encoding, std::string_view args, std::string& out) override {
            if (out_fn != nullptr) {
                StringJobOutput output(out);
                out_fn(encoding, args, output);
            } else {
                out += fn(encoding, args);
            }
        }
        bool writes_in_place() const override { return out_fn != nullptr; }
        void invoke_into(Encoding encoding, std::string_view args, JobOutput& out) override {
            if (out_fn != nullptr) {
                out_fn(encoding, args, out);
            } else {
                out.append(fn(encoding, args));
            }
        }
        RawFn fn;
        RawOutputFn out_fn;
    };

public:
    RawFunction(std::string name, RawFn fn) : JobFunction(std::move(name), 0, "raw"), fn_(fn) {}
    RawFunction(std::string name, RawOutputFn fn) : JobFunction(std::move(name), 0, "raw"), out_fn_(fn) {}
    std::unique_ptr<JobInstance> instantiate(const WorkerContext&) const override {
        return std::make_unique<Instance>(fn_, out_fn_);
    }

private:
    RawFn fn_ = nullptr;
    RawOutputFn out_fn_ = nullptr;
};

}  // namespace warmpool::detail

// The library's entry point. Weak, so that every translation unit of a library may include
// this header; the linker keeps one copy.
extern "C" __attribute__((weak, visibility("default"))) warmpool::JobLibrary*
warmpool_job_library_v1() {
    return &warmpool::detail::library();
}

#define WARMPOOL_CONCAT_INNER(a, b) a##b
#define WARMPOOL_CONCAT(a, b) WARMPOOL_CONCAT_INNER(a, b)

// WARMPOOL_PRELOAD(void (*)()): the library's shared set-up (kJobPreloadSymbol, job_abi.hpp).
#define WARMPOOL_PRELOAD(FN)                                                                   \
    extern "C" __attribute__((visibility("default"))) const char* warmpool_preload_v1() {     \
        return ::warmpool::detail::run_preload(&FN);                                           \
    }

// WARMPOOL_EXPORT_FN(name, function [, FunctionOptions])
#define WARMPOOL_EXPORT_FN(NAME, FN, ...)                                                      \
    [[maybe_unused]] static const bool WARMPOOL_CONCAT(warmpool_export_, __COUNTER__) =        \
        ::warmpool::detail::add_function(                                                      \
            std::make_unique<::warmpool::detail::FreeFunction<decltype(&FN)>>(NAME, &FN)       \
                __VA_OPT__(, ) __VA_ARGS__)

// WARMPOOL_EXPORT_JOB(name, JobClass [, FunctionOptions])
#define WARMPOOL_EXPORT_JOB(NAME, CLASS, ...)                                                 \
    [[maybe_unused]] static const bool WARMPOOL_CONCAT(warmpool_export_, __COUNTER__) =       \
        ::warmpool::detail::add_function(                                                     \
            std::make_unique<::warmpool::detail::JobClassFunction<CLASS>>(NAME)               \
                __VA_OPT__(, ) __VA_ARGS__)

// WARMPOOL_EXPORT_RAW(name, std::string (*)(Encoding, std::string_view) [, FunctionOptions])
// WARMPOOL_EXPORT_RAW(name, void (*)(Encoding, std::string_view, JobOutput&) [, FunctionOptions])
#define WARMPOOL_EXPORT_RAW(NAME, FN, ...)                                                    \
    [[maybe_unused]] static const bool WARMPOOL_CONCAT(warmpool_export_, __COUNTER__) =       \
        ::warmpool::detail::add_function(                                                     \
            std::make_unique<::warmpool::detail::RawFunction>(NAME, &FN) __VA_OPT__(, )      \
                __VA_ARGS__)
