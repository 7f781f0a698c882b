// warmpool-bench-warmstart: the whole life of a short-lived client, timed from outside as one
// process by scripts/bench.sh ("warm start"): start, connect to a running pool whose workers
// finished their initialisation long ago, run --jobs echo calls, check them, exit.
// Deliberately minimal (no option library, no output on success) so the process costs what
// any small warmpool client costs.
//
//   warmpool-bench-warmstart POOL RUNTIME_DIR [JOBS]     exit 0 ok, 1 wrong result, 2 no pool
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>

#include "warmpool/client.hpp"

int main(int argc, char** argv) {
    if (argc < 3 || argc > 4) {
        std::fprintf(stderr, "usage: %s POOL RUNTIME_DIR [JOBS]\n", argv[0]);
        return 64;
    }
    const std::int64_t jobs = argc == 4 ? std::atoll(argv[3]) : 10;
    try {
        auto pool =
            warmpool::Client::connect(argv[1], warmpool::ClientOptions{argv[2], "warmstart", 5000});
        for (std::int64_t i = 0; i < jobs; ++i) {
            if (pool.call<std::int64_t>("echo", i) != i) {
                std::fprintf(stderr, "warmstart: echo(%lld) returned something else\n",
                             static_cast<long long>(i));
                return 1;
            }
        }
    } catch (const warmpool::ConnectError& e) {
        std::fprintf(stderr, "warmstart: %s\n", e.what());
        return 2;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "warmstart: %s\n", e.what());
        return 1;
    }
    return 0;
}
