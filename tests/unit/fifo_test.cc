// Tests for Fifo (fifo.hpp), the supervisor's job queue: order at both ends, erase from the
// middle, growth across the wrap-around point, shrinking, moves, and that every element pushed is
// destroyed exactly once.

#include "warmpool/daemon/fifo.hpp"

#include <gtest/gtest.h>

#include <deque>
#include <random>
#include <string>
#include <vector>

namespace warmpool {
namespace {

std::vector<int> contents(const Fifo<int>& f) { return std::vector<int>(f.begin(), f.end()); }

TEST(Fifo, StartsEmpty) {
    Fifo<int> f;
    EXPECT_TRUE(f.empty());
    EXPECT_EQ(f.size(), 0u);
    EXPECT_TRUE(f.begin() == f.end());
}

TEST(Fifo, FirstInFirstOut) {
    Fifo<int> f;
    for (int i = 0; i < 100; ++i) f.push_back(int{i});
    for (int i = 0; i < 100; ++i) {
        ASSERT_EQ(f.front(), i);
        f.pop_front();
    }
    EXPECT_TRUE(f.empty());
}

TEST(Fifo, PushFrontGoesBeforeEverything) {
    Fifo<int> f;
    f.push_back(2);
    f.push_back(3);
    f.push_front(1);
    f.push_front(0);
    EXPECT_EQ(contents(f), (std::vector<int>{0, 1, 2, 3}));
    EXPECT_EQ(f.back(), 3);
    EXPECT_EQ(f[1], 1);
}

TEST(Fifo, EraseKeepsTheOrderOfTheRest) {
    Fifo<int> f;
    for (int i = 0; i < 10; ++i) f.push_back(int{i});
    auto it = f.begin();
    ++it;
    ++it;
    it = f.erase(it);
    EXPECT_EQ(*it, 3);
    EXPECT_EQ(contents(f), (std::vector<int>{0, 1, 3, 4, 5, 6, 7, 8, 9}));
    // Erasing while iterating, as the deadline sweep does.
    for (auto i = f.begin(); i != f.end();) i = *i % 2 == 0 ? f.erase(i) : ++i;
    EXPECT_EQ(contents(f), (std::vector<int>{1, 3, 5, 7, 9}));
}

TEST(Fifo, MatchesStdDequeUnderRandomUse) {
    std::mt19937 random(7);
    Fifo<std::string> f;
    std::deque<std::string> model;
    for (int step = 0; step < 200'000; ++step) {
        const unsigned op = random() % 10;
        // Long strings, so that a lost or doubled element shows up under ASan as well.
        std::string value = std::to_string(step) + std::string(random() % 40, 'x');
        if (op < 4) {
            model.push_back(value);
            f.push_back(std::move(value));
        } else if (op == 4) {
            model.push_front(value);
            f.push_front(std::move(value));
        } else if (op < 9 && !model.empty()) {
            ASSERT_EQ(f.front(), model.front());
            model.pop_front();
            f.pop_front();
        } else if (op == 9 && !model.empty()) {
            const std::size_t at = random() % model.size();
            model.erase(model.begin() + static_cast<std::ptrdiff_t>(at));
            auto it = f.begin();
            for (std::size_t i = 0; i < at; ++i) ++it;
            f.erase(it);
        }
        ASSERT_EQ(f.size(), model.size());
        if (step % 1000 == 0) {
            ASSERT_TRUE(std::equal(f.begin(), f.end(), model.begin(), model.end())) << "step " << step;
        }
    }
}

TEST(Fifo, GivesMemoryBackOnceMostlyEmpty) {
    Fifo<int> f;
    for (int i = 0; i < 100'000; ++i) f.push_back(int{i});
    const std::size_t grown = f.capacity();
    EXPECT_GE(grown, 100'000u);
    while (f.size() > 10) f.pop_front();
    EXPECT_LE(f.capacity(), 1024u);
    EXPECT_LT(f.capacity(), grown);
    EXPECT_EQ(f.front(), 100'000 - 10);
}

TEST(Fifo, ASteadyStreamDoesNotGrow) {
    Fifo<int> f;
    for (int i = 0; i < 8; ++i) f.push_back(int{i});
    const std::size_t capacity = f.capacity();
    for (int i = 8; i < 100'000; ++i) {
        f.pop_front();
        f.push_back(int{i});
    }
    EXPECT_EQ(f.capacity(), capacity);
    EXPECT_EQ(f.front(), 100'000 - 8);
}

struct Counted {
    static inline int alive = 0;
    int value = 0;
    explicit Counted(int v) : value(v) { ++alive; }
    Counted(Counted&& o) noexcept : value(o.value) { ++alive; }
    Counted& operator=(Counted&& o) noexcept {
        value = o.value;
        return *this;
    }
    ~Counted() { --alive; }
};

TEST(Fifo, EveryElementIsDestroyedExactlyOnce) {
    {
        Fifo<Counted> f;
        for (int i = 0; i < 5000; ++i) f.emplace_back(i);
        for (int i = 0; i < 4990; ++i) f.pop_front();  // shrinks on the way
        f.push_front(Counted(-1));
        f.erase(f.begin());
        EXPECT_EQ(Counted::alive, 10);
        Fifo<Counted> moved(std::move(f));
        EXPECT_EQ(moved.size(), 10u);
        EXPECT_TRUE(f.empty());  // NOLINT(bugprone-use-after-move): moved-from is empty
        Fifo<Counted> assigned;
        assigned.emplace_back(1);
        assigned = std::move(moved);
        EXPECT_EQ(Counted::alive, 10);
        assigned.clear();
        EXPECT_EQ(Counted::alive, 0);
        for (int i = 0; i < 3; ++i) assigned.emplace_back(i);
    }
    EXPECT_EQ(Counted::alive, 0);
}

}  // namespace
}  // namespace warmpool
