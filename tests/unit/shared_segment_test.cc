// Tests for SharedSegment (shared_segment.hpp) and blobs (blob.hpp) against real POSIX shared
// memory: who unlinks a name, exclusive creation, size checks on open, the mode of created
// objects whatever the umask, and the blob life cycle (create, take, sweep).

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

TEST(Blob, CreateThenTakeHandsOverTheBytesAndUnlinks) {
    ShmName name(blob_name(::getuid(), test_pool(), 0x51, 'a', 1), true);
    std::vector<std::byte> payload(100'000);
    for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<std::byte>(i * 7);
    {
        auto blob = create_blob(name, payload.size(), SegmentAccess{0640});
        ASSERT_TRUE(blob.ok()) << blob.error().message();
        EXPECT_FALSE(blob->owner()) << "the producer lets go of the name";
        std::memcpy(blob->data(), payload.data(), payload.size());
    }
    EXPECT_TRUE(exists(name)) << "the name waits for the consumer";
    EXPECT_EQ(mode_of(name), 0640u);

    auto taken = take_blob(name, payload.size());
    ASSERT_TRUE(taken.ok()) << taken.error().message();
    EXPECT_FALSE(exists(name)) << "taking a blob unlinks it";
    ASSERT_EQ(taken->size(), payload.size());
    EXPECT_EQ(std::memcmp(taken->data(), payload.data(), payload.size()), 0);
    EXPECT_FALSE(take_blob(name, payload.size()).ok()) << "a blob can be taken once";
}

TEST(Blob, EmptyBlobAndWrongSize) {
    ShmName empty(blob_name(::getuid(), test_pool(), 0x52, 'r', 1), true);
    {
        auto blob = create_blob(empty, 0, SegmentAccess{0600});
        ASSERT_TRUE(blob.ok()) << blob.error().message();
    }
    auto taken = take_blob(empty, 0);
    ASSERT_TRUE(taken.ok()) << taken.error().message();
    EXPECT_FALSE(exists(empty));

    ShmName sized(blob_name(::getuid(), test_pool(), 0x52, 'r', 2), true);
    {
        auto blob = create_blob(sized, 5000, SegmentAccess{0600});
        ASSERT_TRUE(blob.ok());
    }
    auto wrong = take_blob(sized, 4999);
    ASSERT_FALSE(wrong.ok());
    EXPECT_EQ(wrong.error().code, SysError::Code::protocol);
    EXPECT_FALSE(exists(sized)) << "a blob of the wrong size is unlinked too";

    ShmName world(blob_name(::getuid(), test_pool(), 0x52, 'r', 3), true);
    EXPECT_FALSE(create_blob(world, 10, SegmentAccess{0666}).ok());
    EXPECT_FALSE(exists(world));
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
            auto blob = create_blob(name->str(), 64, SegmentAccess{0600});
            ASSERT_TRUE(blob.ok()) << name->str() << ": " << blob.error().message();
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

}  // namespace
}  // namespace warmpool
