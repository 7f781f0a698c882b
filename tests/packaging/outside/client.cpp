// A program outside the warmpool tree, built against an installed warmpool (find_package or
// pkg-config): connects to POOL in RUNTIME_DIR, calls FUNCTION with [12, 18] and prints the
// result, which is 6 for gcd.
//   outside_client POOL RUNTIME_DIR FUNCTION
#include <warmpool/client.hpp>

#include <cstdint>
#include <cstdio>
#include <utility>

int main(int argc, char** argv) {
    if (argc != 4) {
        std::fprintf(stderr, "usage: outside_client POOL RUNTIME_DIR FUNCTION\n");
        return 64;
    }
    warmpool::Client::Options options;
    options.runtime_dir = argv[2];
    auto pool = warmpool::Client::connect(argv[1], options);
    const auto result = pool.call<std::int64_t>(argv[3], std::pair<std::int64_t, std::int64_t>{12, 18});
    std::printf("%lld\n", static_cast<long long>(result));
    return 0;
}
