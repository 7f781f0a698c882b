// gearman-bench-worker: one Gearman worker process for the benchmark peer, serving the same
// functions as warmpool's bundled job library, with the same C++ code behind them:
//
//   echo            the workload bytes, unchanged
//   gcd             "a b"            -> decimal gcd (brute force, examples/jobs)
//   md5_chain       "rounds msg"     -> hex digest
//   triple_product  "n"              -> "digits fnv1a64 leading"
//
// Gearman carries opaque bytes, so arguments and results are short texts; that parsing costs
// nothing next to the workloads, and echo (the only scenario where per-job cost matters) does
// none.
//
//   gearman-bench-worker --port P [--host 127.0.0.1] [--init-seconds S]
//
// It sleeps --init-seconds first (the same stand-in for expensive set-up as warmpool's
// WARMPOOL_EXAMPLE_INIT_SECONDS), then registers its functions and serves jobs until gearmand
// goes away (exit 1) or it is signalled.
#include <libgearman/gearman.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>

#include "bench_support.hpp"
#include "jobs/classic_workloads.hpp"

namespace {

namespace ex = warmpool::examples;

struct WorkerDeleter {
    void operator()(gearman_worker_st* w) const { gearman_worker_free(w); }
};
using WorkerPtr = std::unique_ptr<gearman_worker_st, WorkerDeleter>;

// libgearman frees the returned buffer with free(), so results are copied into malloc()ed memory.
void* reply(const void* data, std::size_t size, std::size_t* result_size, gearman_return_t* ret) {
    void* out = std::malloc(size == 0 ? 1 : size);
    if (out == nullptr) {
        *ret = GEARMAN_MEMORY_ALLOCATION_FAILURE;
        return nullptr;
    }
    if (size != 0) std::memcpy(out, data, size);
    *result_size = size;
    *ret = GEARMAN_SUCCESS;
    return out;
}

void* reply_text(const std::string& text, std::size_t* result_size, gearman_return_t* ret) {
    return reply(text.data(), text.size(), result_size, ret);
}

std::string workload_text(gearman_job_st* job) {
    return std::string(static_cast<const char*>(gearman_job_workload(job)),
                       gearman_job_workload_size(job));
}

// A handler that throws fails the job instead of taking the worker down.
template <class Fn>
void* guarded(gearman_job_st* job, std::size_t* result_size, gearman_return_t* ret, Fn fn) {
    try {
        return reply_text(fn(workload_text(job)), result_size, ret);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "gearman-bench-worker: %s\n", e.what());
        *ret = GEARMAN_WORK_FAIL;
        return nullptr;
    }
}

void* echo(gearman_job_st* job, void*, std::size_t* result_size, gearman_return_t* ret) {
    return reply(gearman_job_workload(job), gearman_job_workload_size(job), result_size, ret);
}

void* gcd(gearman_job_st* job, void*, std::size_t* result_size, gearman_return_t* ret) {
    return guarded(job, result_size, ret, [](const std::string& text) {
        std::int64_t a = 0, b = 0;
        std::istringstream in(text);
        if (!(in >> a >> b)) throw std::invalid_argument("gcd needs 'a b', got '" + text + "'");
        return std::to_string(ex::brute_force_gcd(a, b));
    });
}

void* md5_chain(gearman_job_st* job, void*, std::size_t* result_size, gearman_return_t* ret) {
    return guarded(job, result_size, ret, [](const std::string& text) {
        const auto space = text.find(' ');
        if (space == std::string::npos) {
            throw std::invalid_argument("md5_chain needs 'rounds msg', got '" + text + "'");
        }
        return ex::md5_chain(text.substr(space + 1), std::stoll(text.substr(0, space)));
    });
}

void* triple_product(gearman_job_st* job, void*, std::size_t* result_size, gearman_return_t* ret) {
    return guarded(job, result_size, ret, [](const std::string& text) {
        return warmpool::bench::triple_text(std::stoll(text));
    });
}

}  // namespace

int main(int argc, char** argv) {
    std::string host = "127.0.0.1";
    int port = 0;
    double init_seconds = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string_view name = argv[i];
        if (name == "--port") {
            port = std::atoi(argv[i + 1]);
        } else if (name == "--host") {
            host = argv[i + 1];
        } else if (name == "--init-seconds") {
            init_seconds = std::atof(argv[i + 1]);
        } else {
            std::fprintf(stderr, "gearman-bench-worker: unknown option %s\n", argv[i]);
            return 64;
        }
    }
    if (port <= 0 || port > 65535 || argc % 2 == 0) {
        std::fprintf(stderr,
                     "usage: gearman-bench-worker --port P [--host H] [--init-seconds S]\n");
        return 64;
    }

    std::this_thread::sleep_for(std::chrono::duration<double>(init_seconds));

    WorkerPtr worker(gearman_worker_create(nullptr));
    if (!worker) {
        std::fprintf(stderr, "gearman-bench-worker: gearman_worker_create failed\n");
        return 1;
    }
    if (gearman_worker_add_server(worker.get(), host.c_str(), static_cast<in_port_t>(port)) !=
        GEARMAN_SUCCESS) {
        std::fprintf(stderr, "gearman-bench-worker: %s\n", gearman_worker_error(worker.get()));
        return 1;
    }
    struct Function {
        const char* name;
        gearman_worker_fn* fn;
    };
    for (const Function& f :
         {Function{"echo", echo}, Function{"gcd", gcd}, Function{"md5_chain", md5_chain},
          Function{"triple_product", triple_product}}) {
        if (gearman_worker_add_function(worker.get(), f.name, 0, f.fn, nullptr) !=
            GEARMAN_SUCCESS) {
            std::fprintf(stderr, "gearman-bench-worker: %s\n", gearman_worker_error(worker.get()));
            return 1;
        }
    }
    for (;;) {
        const gearman_return_t ret = gearman_worker_work(worker.get());
        // A failed job (GEARMAN_WORK_FAIL) was already reported to its client; anything else
        // means the connection to gearmand is gone.
        if (ret != GEARMAN_SUCCESS && ret != GEARMAN_WORK_FAIL) {
            std::fprintf(stderr, "gearman-bench-worker: %s\n", gearman_worker_error(worker.get()));
            return 1;
        }
    }
}
