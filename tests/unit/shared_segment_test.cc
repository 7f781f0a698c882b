// Tests for SharedSegment (shared_segment.hpp) and blobs (blob.hpp) against real POSIX shared
// memory: who unlinks a name, exclusive creation, size checks on open, the mode of created
// objects whatever the umask, and the blob life cycle (a producer's BlobPool reusing objects, a
// consumer's BlobMappings checking and caching them, the supervisor's sweep).

#include "warmpool/common/shared_segment.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "warmpool/common/blob.hpp"
#include "warmpool/common/blob_mappings.hpp"
#include "warmpool/common/blob_pool.hpp"
#include "warmpool/common/shm_layout.hpp"

namespace warmpool {
namespace {

// A unique shared-memory name for this test process, unlinked on destruction whatever happened.
class ShmName {
public:
    explicit ShmName(const std::string& what) {
        static int counter = 0;
        name_ = "warmpool-ut." + std::to_string(::getpid()) + "." + what + "." +
                std::to_string(counter++);
    }
    explicit ShmName(std::string exact, bool) : name_(std::move(exact)) {}
    ~ShmName() { SharedSegment::remove(name_); }
    ShmName(const ShmName&) = delete;
    ShmName& operator=(const ShmName&) = delete;
    const std::string& str() const { return name_; }
    operator const std::string&() const { return name_; }

private:
    std::string name_;
};

bool exists(const std::string& name) {
    struct stat st {};
    return ::stat(("/dev/shm/" + name).c_str(), &st) == 0;
}

unsigned mode_of(const std::string& name) {
    struct stat st {};
    if (::stat(("/dev/shm/" + name).c_str(), &st) != 0) return 0xffffffffu;
    return st.st_mode & 07777;
}

// Sets the umask for one scope.
class UmaskScope {
public:
    explicit UmaskScope(mode_t mask) : old_(::umask(mask)) {}
    ~UmaskScope() { ::umask(old_); }

private:
    mode_t old_;
};

TEST(SharedSegment, CreateOpenAndRemove) {
    ShmName name("seg");
    auto created = SharedSegment::create(name, 8192, SegmentAccess{0600});
    ASSERT_TRUE(created.ok()) << created.error().message();
    SharedSegment& segment = created.value();
    EXPECT_TRUE(segment.valid());
    EXPECT_TRUE(segment.owner());
    EXPECT_EQ(segment.name(), name.str());
    EXPECT_EQ(segment.size(), 8192u);
    EXPECT_TRUE(exists(name));
    // Created zeroed.
    for (std::size_t i = 0; i < segment.size(); ++i)
        ASSERT_EQ(segment.data()[i], std::byte{0}) << i;

    std::memcpy(segment.data() + 100, "hello", 5);
    {
        auto opened = SharedSegment::open(name, 8192);
        ASSERT_TRUE(opened.ok()) << opened.error().message();
        EXPECT_FALSE(opened->owner());
        EXPECT_EQ(opened->size(), 8192u);
        EXPECT_NE(opened->data(), segment.data()) << "a second, separate mapping";
        EXPECT_EQ(std::memcmp(opened->data() + 100, "hello", 5), 0);
        std::memcpy(opened->data() + 200, "world", 5);
        auto any_size = SharedSegment::open(name);
        ASSERT_TRUE(any_size.ok());
        EXPECT_EQ(any_size->size(), 8192u);
    }
    EXPECT_TRUE(exists(name)) << "an opener never unlinks";
    EXPECT_EQ(std::memcmp(segment.data() + 200, "world", 5), 0) << "both mappings share the memory";

    EXPECT_TRUE(SharedSegment::remove(name));
    EXPECT_FALSE(exists(name));
    EXPECT_FALSE(SharedSegment::remove(name)) << "nothing left to remove";
    EXPECT_EQ(std::memcmp(segment.data() + 100, "hello", 5), 0) << "the mapping outlives the name";
}

TEST(SharedSegment, OwnerUnlinksOnDestructionAndAfterMoves) {
    ShmName name("owner");
    {
        auto created = SharedSegment::create(name, 4096, SegmentAccess{0600});
        ASSERT_TRUE(created.ok()) << created.error().message();
        SharedSegment moved = std::move(created.value());
        EXPECT_TRUE(moved.owner());
        EXPECT_FALSE(created->owner()) << "the moved-from segment gave up the name";
        SharedSegment assigned;
        assigned = std::move(moved);
        EXPECT_TRUE(assigned.owner());
        EXPECT_TRUE(exists(name));
    }
    EXPECT_FALSE(exists(name)) << "the one owner unlinked it exactly once";

    // Move-assigning over an owner unlinks the name it owned.
    ShmName first("first"), second("second");
    auto a = SharedSegment::create(first, 4096, SegmentAccess{0600});
    auto b = SharedSegment::create(second, 4096, SegmentAccess{0600});
    ASSERT_TRUE(a.ok() && b.ok());
    a.value() = std::move(b.value());
    EXPECT_FALSE(exists(first));
    EXPECT_TRUE(exists(second));
}

TEST(SharedSegment, DisownedSegmentLeavesTheName) {
    ShmName name("disown");
    {
        auto created = SharedSegment::create(name, 4096, SegmentAccess{0600});
        ASSERT_TRUE(created.ok());
        created->disown();
        EXPECT_FALSE(created->owner());
    }
    EXPECT_TRUE(exists(name));
}

TEST(SharedSegment, CreateRefusesAnExistingName) {
    ShmName name("excl");
    auto first = SharedSegment::create(name, 4096, SegmentAccess{0600});
    ASSERT_TRUE(first.ok());
    std::memcpy(first->data(), "mine", 4);
    auto second = SharedSegment::create(name, 8192, SegmentAccess{0600});
    ASSERT_FALSE(second.ok());
    EXPECT_EQ(second.error().code, SysError::Code::exists);
    EXPECT_EQ(second.error().errno_value, EEXIST);
    // The failed attempt neither removed nor resized the existing segment.
    EXPECT_TRUE(exists(name));
    auto opened = SharedSegment::open(name, 4096);
    ASSERT_TRUE(opened.ok()) << opened.error().message();
    EXPECT_EQ(std::memcmp(opened->data(), "mine", 4), 0);
}

TEST(SharedSegment, OpenChecksExistenceAndSize) {
    ShmName missing("missing");
    auto none = SharedSegment::open(missing);
    ASSERT_FALSE(none.ok());
    EXPECT_EQ(none.error().code, SysError::Code::not_found);

    ShmName name("size");
    auto created = SharedSegment::create(name, 8192, SegmentAccess{0600});
    ASSERT_TRUE(created.ok());
    for (std::size_t wrong : {std::size_t{4096}, std::size_t{8193}, std::size_t{1} << 30}) {
        auto opened = SharedSegment::open(name, wrong);
        ASSERT_FALSE(opened.ok()) << wrong;
        EXPECT_EQ(opened.error().code, SysError::Code::protocol) << wrong;
    }

    // An object someone created but never sized is refused, not mapped as zero bytes.
    ShmName empty("empty");
    {
        auto object = SharedSegment::create(empty, 4096, SegmentAccess{0600});
        ASSERT_TRUE(object.ok());
        object->disown();
    }
    ASSERT_EQ(::truncate(("/dev/shm/" + empty.str()).c_str(), 0), 0);
    auto zero = SharedSegment::open(empty);
    EXPECT_FALSE(zero.ok());
}

TEST(SharedSegment, WorldWritableOrOddModesAreRefusedAndNothingIsCreated) {
    for (unsigned mode : {0666u, 0662u, 0602u, 0777u, 01600u, 04600u, 02660u, 010600u}) {
        ShmName name("mode");
        auto created = SharedSegment::create(name, 4096, SegmentAccess{mode});
        ASSERT_FALSE(created.ok()) << std::oct << mode;
        EXPECT_EQ(created.error().code, SysError::Code::invalid);
        EXPECT_FALSE(exists(name)) << std::oct << mode;
    }
}

TEST(SharedSegment, CreatedModeIsExactlyAsRequestedDespiteTheUmask) {
    UmaskScope umask(077);
    for (unsigned mode : {0600u, 0640u, 0660u, 0644u, 0400u, 0664u}) {
        ShmName name("exactmode");
        auto created = SharedSegment::create(name, 4096, SegmentAccess{mode});
        ASSERT_TRUE(created.ok()) << std::oct << mode << ": " << created.error().message();
        EXPECT_EQ(mode_of(name), mode) << "requested " << std::oct << mode;
    }
}

TEST(SharedSegment, ChildOpenerSeesWritesAndDoesNotUnlink) {
    ShmName name("child");
    auto created = SharedSegment::create(name, 4096, SegmentAccess{0600});
    ASSERT_TRUE(created.ok());
    const std::string shm = name;
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        created->disown();  // the parent owns the name
        int rc = 0;
        {
            auto opened = SharedSegment::open(shm, 4096);
            if (!opened.ok()) ::_exit(2);
            std::memcpy(opened->data(), "from child", 10);
        }  // the opener is destroyed: the name must survive
        ::_exit(rc);
    }
    ASSERT_GT(pid, 0);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    EXPECT_TRUE(exists(name));
    EXPECT_EQ(std::memcmp(created->data(), "from child", 10), 0);
}

// ---------------------------------------------------------------------------------------------
// Blobs

std::string test_pool() { return "ut-" + std::to_string(::getpid()); }

// A producer's pool for test session `gen`, with the names it made recorded for clean-up.
struct TestPool {
    explicit TestPool(std::uint64_t gen, BlobPool::Limits limits = {}, unsigned mode = 0640)
        : pool([this, gen](std::uint64_t object) {
                   names.push_back(std::make_unique<ShmName>(blob_name(::getuid(), test_pool(), gen, 'a', object), true));
                   return names.back()->str();
               },
               SegmentAccess{mode}, limits) {}
    std::vector<std::unique_ptr<ShmName>> names;  // declared first: destroyed after the pool
    BlobPool pool;
};

BlobState state_of(const BlobPool::Blob& blob) {
    return static_cast<BlobState>(blob.header->state.load());
}

TEST(Blob, CapacityClassesRoundUpByAQuarter) {
    EXPECT_EQ(blob_capacity_for(0), 1u << 20);
    EXPECT_EQ(blob_capacity_for(1u << 20), 1u << 20);
    EXPECT_EQ(blob_capacity_for((1u << 20) + 1), (1u << 20) + (1u << 18));
    EXPECT_EQ(blob_capacity_for(64u << 20), 64u << 20);
    EXPECT_EQ(blob_capacity_for((64u << 20) + 8), 80u << 20) << "a 64 MiB string and its size tag";
    for (std::size_t n : {1u << 20, 3u << 20, 5'000'001u, 100u << 20}) EXPECT_GE(blob_capacity_for(n), n);
}

TEST(Blob, AProducerReusesAFreedBlobAndTheConsumerItsMapping) {
    TestPool producer(0x51);
    std::string payload(3u << 20, '\0');
    for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>(i * 7);

    auto first = producer.pool.acquire(payload.size());
    ASSERT_TRUE(first.ok()) << first.error().message();
    EXPECT_EQ(state_of(*first), BlobState::writing);
    EXPECT_EQ(mode_of(producer.names[0]->str()), 0640u);
    std::memcpy(first->data, payload.data(), payload.size());
    first->ref.bytes = payload.size();
    first->publish();

    BlobMappings consumer(2);
    auto mapped = consumer.map(producer.names[0]->str(), first->ref);
    ASSERT_TRUE(mapped.ok()) << mapped.error().message();
    EXPECT_EQ(mapped->bytes, payload);

    auto second = producer.pool.acquire(100);
    ASSERT_TRUE(second.ok());
    EXPECT_NE(second->ref.object, first->ref.object) << "the first is still in use";
    producer.pool.release(first->ref.object);
    auto third = producer.pool.acquire(payload.size() - 5);
    ASSERT_TRUE(third.ok());
    EXPECT_EQ(third->ref.object, first->ref.object) << "a free blob that fits is reused";
    EXPECT_EQ(producer.pool.objects(), 2u);

    std::memset(third->data, 'x', 10);
    third->ref.bytes = 10;
    auto again = consumer.map(producer.names[0]->str(), third->ref);
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again->segment, mapped->segment) << "a reused blob is not mapped again";
    EXPECT_EQ(again->bytes, std::string(10, 'x'));
}

TEST(Blob, TheConsumerChecksSizeAndSerialNotTheHeader) {
    TestPool producer(0x52);
    auto blob = producer.pool.acquire(1000);
    ASSERT_TRUE(blob.ok());
    const std::string& name = producer.names[0]->str();
    BlobMappings consumer;

    BlobRef too_big = blob->ref;
    too_big.bytes = blob->capacity + 1;
    auto refused = consumer.map(name, too_big);
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.error().code, SysError::Code::protocol);

    BlobRef huge = blob->ref;
    huge.bytes = ~std::uint64_t{0};
    EXPECT_FALSE(consumer.map(name, huge).ok()) << "no overflow past the object's real size";

    BlobRef other = blob->ref;
    other.serial ^= 1;
    EXPECT_FALSE(consumer.map(name, other).ok()) << "another object's serial";

    // A scribbled header lies about the capacity; only the object's real size counts.
    blob->header->capacity = ~std::uint64_t{0};
    BlobRef fits = blob->ref;
    fits.bytes = blob->capacity;
    EXPECT_TRUE(consumer.map(name, fits).ok());
    blob->header->magic = 0;
    EXPECT_FALSE(consumer.map(name, fits).ok()) << "not a blob any more";
    EXPECT_FALSE(consumer.map(name + "x", fits).ok()) << "no such object";
}

TEST(Blob, ThePoolKeepsItsLimitsButNeverDropsABlobInUse) {
    TestPool producer(0x53, BlobPool::Limits{2, 64u << 20});
    std::vector<BlobPool::Blob> blobs;
    for (int i = 0; i < 4; ++i) {
        auto blob = producer.pool.acquire(1u << 20);
        ASSERT_TRUE(blob.ok());
        blob->publish();
        blobs.push_back(blob.value());
    }
    EXPECT_EQ(producer.pool.objects(), 4u) << "published blobs stay, whatever the limits";
    for (const auto& name : producer.names) EXPECT_TRUE(exists(name->str()));
    for (const auto& blob : blobs) producer.pool.release(blob.ref.object);
    EXPECT_EQ(producer.pool.objects(), 2u) << "freed ones beyond the limit are dropped";
    EXPECT_FALSE(exists(producer.names[0]->str())) << "least recently used first, unlinked";
    EXPECT_TRUE(exists(producer.names[3]->str()));

    // Taken by a consumer: dropped only when asked to, and the consumer's mapping stays good.
    auto a = producer.pool.acquire(1u << 20);
    auto b = producer.pool.acquire(1u << 20);
    auto c = producer.pool.acquire(1u << 20);
    ASSERT_TRUE(a.ok() && b.ok() && c.ok());
    std::memset(c->data, 'c', 4);
    c->ref.bytes = 4;
    BlobMappings consumer;
    auto mapped = consumer.map(producer.names.back()->str(), c->ref);
    ASSERT_TRUE(mapped.ok()) << mapped.error().message();
    for (const auto* blob : {&a.value(), &b.value(), &c.value()}) {
        blob->header->state.store(static_cast<std::uint32_t>(BlobState::taken));
    }
    producer.pool.trim(false);
    EXPECT_EQ(producer.pool.objects(), 3u);
    producer.pool.trim(true);
    EXPECT_EQ(producer.pool.objects(), 2u);
    EXPECT_EQ(mapped->bytes, "cccc");
}

TEST(Blob, SweepRemovesExactlyTheNamesWithThePrefix) {
    const uid_t uid = ::getuid();
    const std::string pool = test_pool();
    const std::string prefix = blob_prefix(uid, pool, 0x77);
    std::vector<std::unique_ptr<ShmName>> swept, kept;
    for (int id = 0; id < 5; ++id) {
        swept.push_back(
            std::make_unique<ShmName>(blob_name(uid, pool, 0x77, id % 2 ? 'a' : 'r', id), true));
    }
    kept.push_back(
        std::make_unique<ShmName>(blob_name(uid, pool, 0x78, 'a', 0), true));  // other session
    kept.push_back(
        std::make_unique<ShmName>(blob_name(uid, pool, 0x770, 'a', 0), true));  // prefix-like
    kept.push_back(
        std::make_unique<ShmName>(blob_name(uid, pool + "x", 0x77, 'a', 0), true));  // other pool
    kept.push_back(std::make_unique<ShmName>(session_segment_name(uid, pool, 0, 0x77), true));
    kept.push_back(std::make_unique<ShmName>(pool_segment_name(uid, pool), true));
    for (const auto* list : {&swept, &kept}) {
        for (const auto& name : *list) {
            auto blob = SharedSegment::create(name->str(), 64, SegmentAccess{0600});
            ASSERT_TRUE(blob.ok()) << name->str() << ": " << blob.error().message();
            blob->disown();
        }
    }
    EXPECT_EQ(sweep_blobs(""), 0) << "an empty prefix would match every object";
    EXPECT_EQ(sweep_blobs("warmpool."), 0) << "nor may it match every pool";
    EXPECT_EQ(sweep_blobs("/"), 0);
    EXPECT_EQ(sweep_blobs(prefix), 5);
    for (const auto& name : swept) EXPECT_FALSE(exists(name->str())) << name->str();
    for (const auto& name : kept) EXPECT_TRUE(exists(name->str())) << name->str();
    EXPECT_EQ(sweep_blobs(prefix), 0) << "nothing left the second time";
}

TEST(Blob, ADeadWorkersSweepSparesResultsItsClientHasNotMapped) {
    const uid_t uid = ::getuid();
    const std::string pool = test_pool();
    const std::string prefix = result_blob_prefix(uid, pool, 0x79, 4242);
    ShmName published(result_blob_name(uid, pool, 0x79, 4242, 1), true);
    ShmName taken(result_blob_name(uid, pool, 0x79, 4242, 2), true);
    ShmName other_worker(result_blob_name(uid, pool, 0x79, 42421, 1), true);
    for (const auto* name : {&published, &taken, &other_worker}) {
        auto blob = SharedSegment::create(name->str(), 4096, SegmentAccess{0600});
        ASSERT_TRUE(blob.ok());
        auto* header = reinterpret_cast<BlobHeader*>(blob->data());
        header->state.store(static_cast<std::uint32_t>(name == &taken ? BlobState::taken : BlobState::published));
        blob->disown();
    }
    EXPECT_EQ(sweep_blobs(prefix, true), 1);
    EXPECT_TRUE(exists(published));
    EXPECT_FALSE(exists(taken));
    EXPECT_TRUE(exists(other_worker)) << "pid 42421 is not pid 4242";
    EXPECT_EQ(sweep_blobs(prefix), 1);
    EXPECT_FALSE(exists(published));
}

}  // namespace
}  // namespace warmpool
