// same_worker_image() (zygote.hpp): whether a zygote built for one worker set-up may fork a
// worker for another. Only the slot and the CPU may differ.
#include <gtest/gtest.h>

#include <vector>

#include "warmpool/daemon/zygote.hpp"

namespace warmpool {
namespace {

WorkerSetup setup() {
    WorkerSetup s;
    s.pool_name = "p";
    s.jobs_library = "/lib/jobs.so";
    s.log_level = "info";
    s.inline_max = 65536;
    s.python.enabled = true;
    s.python.modules = {"a", "b"};
    s.python.path = {"/srv"};
    s.configured_functions = {"f"};
    return s;
}

TEST(SameWorkerImage, SlotAndCpuMayDiffer) {
    WorkerSetup wanted = setup();
    wanted.slot = 5;
    wanted.cpu = 1;
    EXPECT_TRUE(same_worker_image(setup(), wanted));
}

TEST(SameWorkerImage, AnythingTheWorkerLoadsOrIsToldMustMatch) {
    const std::vector<void (*)(WorkerSetup&)> changes = {
        [](WorkerSetup& s) { s.jobs_library = "/lib/other.so"; },
        [](WorkerSetup& s) { s.log_level = "debug"; },
        [](WorkerSetup& s) { s.inline_max = 4096; },
        [](WorkerSetup& s) { s.python.enabled = false; },
        [](WorkerSetup& s) { s.python.modules = {"b", "a"}; },
        [](WorkerSetup& s) { s.python.path.clear(); },
        [](WorkerSetup& s) { s.configured_functions.push_back("g"); },
        [](WorkerSetup& s) { s.pool_name = "q"; },
    };
    for (std::size_t i = 0; i < changes.size(); ++i) {
        WorkerSetup wanted = setup();
        changes[i](wanted);
        EXPECT_FALSE(same_worker_image(setup(), wanted)) << "change " << i;
    }
}

TEST(SameWorkerImage, ANewZygoteServesNothingUntilReady) {
    Zygote zygote;
    EXPECT_EQ(zygote.state(), Zygote::State::none);
    EXPECT_FALSE(zygote.serves(setup()));
    EXPECT_FALSE(zygote.awaited());
    EXPECT_FALSE(zygote.fork_worker(0, -1).ok());
    EXPECT_FALSE(zygote.on_exit(12345, 0, 0));  // not its pid
}

}  // namespace
}  // namespace warmpool
