// gearman-bench-warmstart: the Gearman counterpart of warmpool-bench-warmstart. A whole
// short-lived client process, timed from outside: connect to a running gearmand whose workers
// are initialised, run JOBS echo calls, check them, exit.
//
//   gearman-bench-warmstart HOST PORT [JOBS]     exit 0 ok, 1 failure
#include <libgearman/gearman.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

int main(int argc, char** argv) {
    if (argc < 3 || argc > 4) {
        std::fprintf(stderr, "usage: %s HOST PORT [JOBS]\n", argv[0]);
        return 64;
    }
    const std::int64_t jobs = argc == 4 ? std::atoll(argv[3]) : 10;
    std::unique_ptr<gearman_client_st, void (*)(gearman_client_st*)> client(
        gearman_client_create(nullptr), gearman_client_free);
    if (!client ||
        gearman_client_add_server(client.get(), argv[1],
                                  static_cast<in_port_t>(std::atoi(argv[2]))) != GEARMAN_SUCCESS) {
        std::fprintf(stderr, "warmstart: cannot set up a gearman client\n");
        return 1;
    }
    gearman_client_set_timeout(client.get(), 30'000);
    for (std::int64_t i = 0; i < jobs; ++i) {
        std::size_t size = 0;
        gearman_return_t ret = GEARMAN_SUCCESS;
        std::unique_ptr<void, void (*)(void*)> result(
            gearman_client_do(client.get(), "echo", nullptr, &i, sizeof i, &size, &ret), std::free);
        std::int64_t back = -1;
        if (ret != GEARMAN_SUCCESS || size != sizeof back || !result) {
            std::fprintf(stderr, "warmstart: echo failed: %s\n",
                         gearman_client_error(client.get()));
            return 1;
        }
        std::memcpy(&back, result.get(), sizeof back);
        if (back != i) {
            std::fprintf(stderr, "warmstart: echo(%lld) returned %lld\n", static_cast<long long>(i),
                         static_cast<long long>(back));
            return 1;
        }
    }
    return 0;
}
