// Tests for CompletionQueue (client/src/completion_queue.hpp): a watched slot's id is queued once,
// when it is done (at once if it is done already); an unwatched one never; unwatch() before the
// end stops it being queued; take() empties the queue and clears ready(); wake() sets ready()
// with nothing queued.

#include "../../client/src/completion_queue.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace warmpool::detail {
namespace {

TEST(CompletionQueueTest, WatchedSlotIsQueuedOnceItIsDone) {
    CompletionQueue queue;
    JobSlot slot;
    slot.id = 7;
    EXPECT_FALSE(queue.watch(slot));
    EXPECT_FALSE(queue.ready().load());
    queue.complete(slot);
    EXPECT_TRUE(slot.done.load());
    EXPECT_FALSE(slot.watched);
    EXPECT_TRUE(queue.ready().load());
    std::vector<std::uint64_t> out;
    EXPECT_EQ(queue.take(out), 1u);
    EXPECT_EQ(out, std::vector<std::uint64_t>{7});
    EXPECT_FALSE(queue.ready().load());
    EXPECT_EQ(queue.take(out), 0u);
}

TEST(CompletionQueueTest, UnwatchedSlotIsNeverQueued) {
    CompletionQueue queue;
    JobSlot slot;
    slot.id = 1;
    queue.complete(slot);
    EXPECT_TRUE(slot.done.load());
    EXPECT_FALSE(queue.ready().load());
    std::vector<std::uint64_t> out;
    EXPECT_EQ(queue.take(out), 0u);
}

TEST(CompletionQueueTest, WatchingADoneSlotQueuesItAtOnce) {
    CompletionQueue queue;
    JobSlot slot;
    slot.id = 3;
    queue.complete(slot);
    EXPECT_TRUE(queue.watch(slot));
    EXPECT_FALSE(slot.watched);
    EXPECT_TRUE(queue.ready().load());
    std::vector<std::uint64_t> out;
    EXPECT_EQ(queue.take(out), 1u);
    EXPECT_EQ(out.front(), 3u);
}

TEST(CompletionQueueTest, UnwatchBeforeTheEndKeepsTheSlotOut) {
    CompletionQueue queue;
    JobSlot slot;
    slot.id = 4;
    queue.watch(slot);
    EXPECT_TRUE(queue.unwatch(slot));
    EXPECT_FALSE(queue.unwatch(slot)) << "watched once, unwatched once";
    queue.complete(slot);
    EXPECT_FALSE(queue.ready().load());

    JobSlot done;
    done.id = 5;
    queue.watch(done);
    queue.complete(done);
    EXPECT_FALSE(queue.unwatch(done)) << "already queued";
}

TEST(CompletionQueueTest, WakeSetsReadyWithNothingQueued) {
    CompletionQueue queue;
    queue.wake();
    EXPECT_TRUE(queue.ready().load());
    std::vector<std::uint64_t> out;
    EXPECT_EQ(queue.take(out), 0u);
    EXPECT_TRUE(out.empty());
    EXPECT_FALSE(queue.ready().load());
}

TEST(CompletionQueueTest, TakeAppendsInTheOrderTheSlotsWereDone) {
    CompletionQueue queue;
    JobSlot slots[3];
    for (std::uint64_t i = 0; i < 3; ++i) {
        slots[i].id = 10 + i;
        queue.watch(slots[i]);
    }
    queue.complete(slots[2]);
    queue.complete(slots[0]);
    queue.complete(slots[1]);
    std::vector<std::uint64_t> out{99};
    EXPECT_EQ(queue.take(out), 3u);
    EXPECT_EQ(out, (std::vector<std::uint64_t>{99, 12, 10, 11}));
}

}  // namespace
}  // namespace warmpool::detail
