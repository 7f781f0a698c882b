// Tests for pick_cpu (cpu_placement.hpp): one worker per CPU while there are enough, the least
// used CPU after that, and a replacement on the CPU its predecessor left.

#include "warmpool/daemon/cpu_placement.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace warmpool {
namespace {

// Places `workers` workers one after another, as the supervisor starts them.
std::vector<int> place(const std::vector<int>& allowed, unsigned workers) {
    std::vector<int> cpus;
    for (unsigned i = 0; i < workers; ++i) cpus.push_back(pick_cpu(allowed, cpus));
    return cpus;
}

TEST(CpuPlacementTest, OneWorkerPerCpuInTheAllowedOrder) {
    EXPECT_EQ(place({0, 1}, 2), (std::vector<int>{0, 1}));
    EXPECT_EQ(place({2, 5, 7}, 3), (std::vector<int>{2, 5, 7}));
}

TEST(CpuPlacementTest, MoreWorkersThanCpusShareThemEvenly) {
    EXPECT_EQ(place({0, 1}, 5), (std::vector<int>{0, 1, 0, 1, 0}));
}

TEST(CpuPlacementTest, AReplacementTakesTheCpuItsPredecessorLeft) {
    // Workers on 0, 1, 2; the one on 1 died (or is being replaced and no longer a member).
    EXPECT_EQ(pick_cpu(std::vector<int>{0, 1, 2}, std::vector<int>{0, 2}), 1);
    EXPECT_EQ(pick_cpu(std::vector<int>{0, 1, 2}, std::vector<int>{2, 0, 0, 2, 1}), 1);
}

TEST(CpuPlacementTest, NoAllowedCpuMeansNoPinning) {
    EXPECT_EQ(pick_cpu(std::vector<int>{}, std::vector<int>{0}), -1);
}

TEST(CpuPlacementTest, AllowedCpusAreThoseOfThisProcess) {
    const std::vector<int> cpus = allowed_cpus();
    ASSERT_FALSE(cpus.empty());
    cpu_set_t set;
    CPU_ZERO(&set);
    ASSERT_EQ(::sched_getaffinity(0, sizeof set, &set), 0);
    EXPECT_EQ(cpus.size(), static_cast<std::size_t>(CPU_COUNT(&set)));
    for (const int cpu : cpus) EXPECT_TRUE(CPU_ISSET(cpu, &set)) << cpu;
}

}  // namespace
}  // namespace warmpool
