// Tests for ReplyDrainer (client/src/reply_drainer.hpp) over a real session segment, with the
// workers' and the supervisor's replies written into its rings by hand, a socket pair standing
// for the control socket and an eventfd for the supervisor's doorbell: replies delivered to
// their jobs from every ring, watched jobs queued, a job cancelled while running, spare buffers,
// argument blobs freed, a corrupt ring, the supervisor told of room it asked for, the daemon
// gone, a waiter collecting a reply that comes later, and the background thread.

#include "../../client/src/reply_drainer.hpp"

#include <gtest/gtest.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "unit_memory.hpp"
#include "warmpool/common/clock.hpp"
#include "warmpool/error_kind.hpp"

namespace warmpool::detail {
namespace {

using warmpool::testing::UnitSessionMemory;

constexpr std::uint32_t kWorkers = 2;
constexpr SessionLayout kLayout{kWorkers, 1u << 12, 1u << 12, 1u << 14};
constexpr std::uint32_t kControlRing = kWorkers;  // producers_[kControlRing]: the supervisor's

UniqueFd socket_pair_end(UniqueFd& other) {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) throw std::runtime_error("socketpair");
    other = UniqueFd(fds[1]);
    return UniqueFd(fds[0]);
}

struct ReplyDrainerTest : ::testing::Test {
    ReplyDrainerTest()
        : session(kLayout, 0, 5),
          doorbell(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)),
          control(socket_pair_end(supervisor)),
          arguments("unit", control),
          waits(session.memory.header().client_wake),
          drainer(session.memory, doorbell.get(), control, "unit",
                  ReplyDrainer::Peers{waits, jobs, completions, arguments}) {
        for (std::uint32_t w = 0; w < kWorkers; ++w) producers.emplace_back(session.memory.reply(w));
        producers.emplace_back(session.memory.control());
    }

    std::shared_ptr<JobSlot> add_job(std::uint64_t id) {
        auto slot = std::make_shared<JobSlot>();
        slot->id = id;
        auto lock = waits.lock();
        jobs.add(slot);
        return slot;
    }
    // A reply in ring `ring` (a worker slot, or kControlRing), as its producer writes it;
    // `claimed` bytes of payload in the record (a lie if it differs from payload's size).
    void reply(std::uint32_t ring, std::uint64_t id, ErrorKind status, std::string_view payload,
               std::int64_t claimed = -1) {
        ReplyRecord record{};
        record.job_id = id;
        record.status = static_cast<std::uint16_t>(status);
        record.payload_bytes = static_cast<std::uint32_t>(claimed >= 0 ? claimed : payload.size());
        record.worker_pid = ring == kControlRing ? 0 : 1000 + static_cast<std::int32_t>(ring);
        const auto size = static_cast<std::uint32_t>(sizeof record + payload.size());
        std::byte* out = producers[ring].try_reserve(size);
        ASSERT_NE(out, nullptr);
        std::memcpy(out, &record, sizeof record);
        std::memcpy(out + sizeof record, payload.data(), payload.size());
        producers[ring].commit(size);
        producers[ring].publish();
    }
    bool doorbell_rung() const {
        std::uint64_t count = 0;
        return ::read(doorbell.get(), &count, sizeof count) == static_cast<ssize_t>(sizeof count);
    }

    UnitSessionMemory session;
    UniqueFd doorbell;
    UniqueFd supervisor;
    ControlSocket control;
    ArgumentBlobs arguments;
    ReplyWaits waits;
    JobTable jobs;
    CompletionQueue completions;
    ReplyDrainer drainer;
    std::vector<RingProducer> producers;
};

TEST_F(ReplyDrainerTest, DeliversEachReplyToItsJobFromEveryRing) {
    auto a = add_job(1);
    auto b = add_job(2);
    auto c = add_job(3);
    reply(1, 2, ErrorKind{}, "two");
    reply(0, 1, ErrorKind{}, "one");
    reply(kControlRing, 3, ErrorKind::bad_request, "no such function");
    EXPECT_TRUE(drainer.replies_pending());
    EXPECT_EQ(drainer.deliver_available(), 3u);
    EXPECT_FALSE(drainer.replies_pending());
    for (const auto& slot : {a, b, c}) EXPECT_TRUE(slot->done.load());
    EXPECT_EQ(a->status, 0);
    EXPECT_EQ(a->result(), "one");
    EXPECT_EQ(b->result(), "two");
    EXPECT_EQ(c->status, static_cast<std::uint16_t>(ErrorKind::bad_request));
    EXPECT_EQ(c->result(), "no such function");
    auto lock = waits.lock();
    EXPECT_TRUE(jobs.empty());
}

TEST_F(ReplyDrainerTest, AReplyToNoJobIsDropped) {
    auto a = add_job(1);
    reply(0, 99, ErrorKind{}, "stray");
    EXPECT_EQ(drainer.deliver_available(), 1u);
    EXPECT_FALSE(a->done.load());
    auto lock = waits.lock();
    EXPECT_TRUE(jobs.holds(1));
}

TEST_F(ReplyDrainerTest, WatchedJobsAreQueuedAndACancelledOneDropsItsResult) {
    auto watched = add_job(1);
    auto cancelled = add_job(2);
    auto failed = add_job(3);
    {
        auto lock = waits.lock();
        completions.watch(*watched);
        cancelled->cancel_requested = true;
        failed->cancel_requested = true;
    }
    reply(0, 1, ErrorKind{}, "r");
    reply(0, 2, ErrorKind{}, "result");
    reply(0, 3, ErrorKind::handler_error, "it threw");
    EXPECT_EQ(drainer.deliver_available(), 3u);
    EXPECT_EQ(cancelled->status, static_cast<std::uint16_t>(ErrorKind::cancelled));
    EXPECT_EQ(cancelled->result(), "cancelled while running; its result was dropped");
    EXPECT_EQ(failed->status, static_cast<std::uint16_t>(ErrorKind::handler_error)) << "its own error stays";
    auto lock = waits.lock();
    std::vector<std::uint64_t> done;
    EXPECT_EQ(completions.take(done), 1u);
    EXPECT_EQ(done.front(), 1u);
}

TEST_F(ReplyDrainerTest, ALargeInlineResultIsReadIntoASpareBuffer) {
    std::string spare;
    spare.reserve(3 * JobTable::kReusedPayloadMin);
    {
        auto lock = waits.lock();
        jobs.keep_spare(std::move(spare));
    }
    auto small = add_job(1);
    auto large = add_job(2);
    const std::string result(JobTable::kReusedPayloadMin + 10, 'r');
    reply(0, 1, ErrorKind{}, "small");
    reply(0, 2, ErrorKind{}, result);
    EXPECT_EQ(drainer.deliver_available(), 2u);
    EXPECT_LT(small->payload.capacity(), JobTable::kReusedPayloadMin) << "small results take no spare";
    EXPECT_GE(large->payload.capacity(), 3 * JobTable::kReusedPayloadMin);
    EXPECT_EQ(large->result(), result);
}

TEST_F(ReplyDrainerTest, TheReplyFreesTheJobsArgumentBlob) {
    auto blob = arguments.acquire(100'000);
    ASSERT_TRUE(blob);
    auto slot = add_job(1);
    slot->argument_blob = blob->ref.object;
    reply(0, 1, ErrorKind{}, "ok");
    EXPECT_EQ(drainer.deliver_available(), 1u);
    EXPECT_EQ(slot->argument_blob, 0u);
    auto again = arguments.acquire(100'000);
    ASSERT_TRUE(again);
    EXPECT_EQ(again->ref.object, blob->ref.object) << "released, so reused";
}

TEST_F(ReplyDrainerTest, ACorruptRingFailsEveryJob) {
    auto delivered = add_job(1);
    auto pending = add_job(2);
    reply(0, 1, ErrorKind{}, "fine");
    reply(0, 2, ErrorKind{}, "abc", 10);  // claims more than it carries
    drainer.deliver_available();
    EXPECT_EQ(delivered->status, 0);
    EXPECT_TRUE(pending->done.load());
    EXPECT_EQ(pending->status, static_cast<std::uint16_t>(ErrorKind::shutting_down));
    EXPECT_EQ(pending->result(), "a reply ring of this session is corrupt");
    auto lock = waits.lock();
    EXPECT_TRUE(jobs.lost());
}

TEST_F(ReplyDrainerTest, TellsTheSupervisorOfTheRoomItAskedFor) {
    SessionHeader& header = session.memory.header();
    add_job(1);
    add_job(2);
    reply(0, 1, ErrorKind{}, "x");
    drainer.deliver_available();
    EXPECT_FALSE(doorbell_rung()) << "nobody asked";

    header.reply_room_wanted.store(1);
    header.supervisor_wake.prepare_sleep();  // the supervisor sleeps
    reply(0, 2, ErrorKind{}, "y");
    drainer.deliver_available();
    EXPECT_EQ(header.reply_room_wanted.load(), 0u);
    EXPECT_TRUE(doorbell_rung());
}

TEST_F(ReplyDrainerTest, TheDaemonGoneFailsEveryJob) {
    auto slot = add_job(1);
    EXPECT_TRUE(drainer.daemon_alive());
    EXPECT_FALSE(slot->done.load());
    supervisor.reset();
    EXPECT_FALSE(drainer.daemon_alive());
    EXPECT_TRUE(slot->done.load());
    EXPECT_EQ(slot->status, static_cast<std::uint16_t>(ErrorKind::shutting_down));
    EXPECT_EQ(slot->result(), "connection to pool 'unit' lost: the daemon stopped or dropped this session");
    // A waiter for a job of a lost session returns at once.
    std::atomic<bool> never{false};
    EXPECT_FALSE(drainer.wait_for(never, monotonic_ns() + 10'000'000));
}

TEST_F(ReplyDrainerTest, AWaiterCollectsAReplyThatComesLater) {
    auto slot = add_job(1);
    std::thread worker([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
        reply(1, 1, ErrorKind{}, "later");
        session.memory.header().client_wake.notify_futex();
    });
    EXPECT_TRUE(drainer.wait_for(slot->done, -1));
    worker.join();
    EXPECT_EQ(slot->result(), "later");
}

TEST_F(ReplyDrainerTest, AWaitEndsAtItsDeadlineWithNoReply) {
    auto slot = add_job(1);
    EXPECT_FALSE(drainer.wait_for(slot->done, monotonic_ns() + 1'000'000));
    EXPECT_FALSE(slot->done.load());
}

TEST_F(ReplyDrainerTest, TheBackgroundThreadDeliversForJobsNobodyWaitsFor) {
    std::thread background([&] { drainer.run_background(); });
    auto slot = add_job(1);
    {
        auto lock = waits.lock();
        if (waits.parked()) waits.wake_all();  // as Session::publish_job does
    }
    reply(0, 1, ErrorKind{}, "in the background");
    session.memory.header().client_wake.notify_futex();
    const std::int64_t give_up = monotonic_ns() + 60'000'000'000;
    while (!slot->done.load() && monotonic_ns() < give_up) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    EXPECT_TRUE(slot->done.load());
    EXPECT_EQ(slot->result(), "in the background");
    waits.stop();
    background.join();
}

}  // namespace
}  // namespace warmpool::detail
