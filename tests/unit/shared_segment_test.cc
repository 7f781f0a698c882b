// SharedSegment (unnamed, sealed memfds handed over as descriptors) and the blob pool and
// mappings built on it, within one process and across fork.
#include "warmpool/common/shared_segment.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "warmpool/common/blob_mappings.hpp"
#include "warmpool/common/blob_pool.hpp"
#include "warmpool/common/shm_layout.hpp"

namespace warmpool {
namespace {

UniqueFd dup_of(int fd) { return UniqueFd(::fcntl(fd, F_DUPFD_CLOEXEC, 0)); }

TEST(SharedSegment, CreatesAZeroedSealedObjectWithEveryPageReserved) {
    auto created = SharedSegment::create("warmpool.test.seg", 1u << 20);
    ASSERT_TRUE(created.ok()) << created.error().message();
    SharedSegment& segment = created.value();
    EXPECT_TRUE(segment.valid());
    EXPECT_EQ(segment.size(), 1u << 20);
    for (std::size_t i = 0; i < segment.size(); i += 4096) ASSERT_EQ(segment.data()[i], std::byte{0}) << i;
    ASSERT_GE(segment.fd(), 0);
    struct stat st{};
    ASSERT_EQ(::fstat(segment.fd(), &st), 0);
    EXPECT_GE(static_cast<std::size_t>(st.st_blocks) * 512, segment.size()) << "pages reserved at creation";
    const int seals = ::fcntl(segment.fd(), F_GET_SEALS);
    EXPECT_EQ(seals & (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL), F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
    EXPECT_NE(::ftruncate(segment.fd(), 4096), 0) << "nobody can shrink it";
    EXPECT_EQ(errno, EPERM);
    char link[128] = {};
    const std::string path = "/proc/self/fd/" + std::to_string(segment.fd());
    ASSERT_GT(::readlink(path.c_str(), link, sizeof link - 1), 0);
    EXPECT_EQ(std::string(link).rfind("/memfd:warmpool.test.seg", 0), 0u) << link << ": a label, never a name";
    segment.close_fd();
    EXPECT_LT(segment.fd(), 0);
    EXPECT_FALSE(segment.share(SharedSegment::Access::read_write).ok()) << "nothing left to share";
}

TEST(SharedSegment, SharedCopiesMapTheSameMemory) {
    auto created = SharedSegment::create("warmpool.test.share", 8192);
    ASSERT_TRUE(created.ok());
    std::memcpy(created->data() + 100, "hello", 5);
    auto rw = created->share(SharedSegment::Access::read_write);
    ASSERT_TRUE(rw.ok()) << rw.error().message();
    auto adopted = SharedSegment::adopt(std::move(rw.value()), 8192, SharedSegment::Access::read_write, "copy");
    ASSERT_TRUE(adopted.ok()) << adopted.error().message();
    EXPECT_NE(adopted->data(), created->data());
    EXPECT_EQ(std::memcmp(adopted->data() + 100, "hello", 5), 0);
    std::memcpy(adopted->data() + 200, "world", 5);
    EXPECT_EQ(std::memcmp(created->data() + 200, "world", 5), 0);
    EXPECT_LT(adopted->fd(), 0) << "an adopter keeps no descriptor";
}

TEST(SharedSegment, AReadOnlyCopyCannotBeWrittenNorResealed) {
    auto created = SharedSegment::create("warmpool.test.ro", 4096);
    ASSERT_TRUE(created.ok());
    auto ro = created->share(SharedSegment::Access::read_only);
    ASSERT_TRUE(ro.ok()) << ro.error().message();
    EXPECT_EQ(::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, ro->get(), 0), MAP_FAILED);
    EXPECT_EQ(errno, EACCES);
    EXPECT_NE(::fcntl(ro->get(), F_ADD_SEALS, F_SEAL_WRITE), 0);
    auto adopted = SharedSegment::adopt(std::move(ro.value()), 4096, SharedSegment::Access::read_only, "ro");
    ASSERT_TRUE(adopted.ok()) << adopted.error().message();
    created->data()[7] = std::byte{42};
    EXPECT_EQ(adopted->data()[7], std::byte{42});
}

TEST(SharedSegment, AdoptRefusesWhatCouldShrinkOrIsNotWhatItMustBe) {
    // An unsealed memfd: its sender could shrink it under our mapping.
    UniqueFd unsealed(::memfd_create("unsealed", MFD_CLOEXEC));
    ASSERT_TRUE(unsealed);
    ASSERT_EQ(::ftruncate(unsealed.get(), 4096), 0);
    auto refused = SharedSegment::adopt(std::move(unsealed), 0, SharedSegment::Access::read_write, "x");
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.error().code, SysError::Code::protocol);

    // A pipe, a directory: not shared memory.
    int pipe_fds[2];
    ASSERT_EQ(::pipe2(pipe_fds, O_CLOEXEC), 0);
    UniqueFd write_end(pipe_fds[1]);
    EXPECT_FALSE(SharedSegment::adopt(UniqueFd(pipe_fds[0]), 0, SharedSegment::Access::read_only, "pipe").ok());
    EXPECT_FALSE(SharedSegment::adopt(UniqueFd(::open("/", O_RDONLY | O_CLOEXEC)), 0,
                                      SharedSegment::Access::read_only, "dir")
                     .ok());
    EXPECT_FALSE(SharedSegment::adopt(UniqueFd(), 0, SharedSegment::Access::read_only, "none").ok());

    // The wrong size.
    auto created = SharedSegment::create("warmpool.test.size", 8192);
    ASSERT_TRUE(created.ok());
    auto copy = created->share(SharedSegment::Access::read_write);
    ASSERT_TRUE(copy.ok());
    auto wrong = SharedSegment::adopt(std::move(copy.value()), 4096, SharedSegment::Access::read_write, "size");
    ASSERT_FALSE(wrong.ok());
    EXPECT_EQ(wrong.error().code, SysError::Code::protocol);
}

TEST(SharedSegment, AForkedChildSharesTheMappingAndItsMemoryOutlivesTheCreator) {
    auto created = SharedSegment::create("warmpool.test.fork", 4096);
    ASSERT_TRUE(created.ok());
    auto copy = created->share(SharedSegment::Access::read_write);
    ASSERT_TRUE(copy.ok());
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        std::memcpy(created->data(), "child", 5);
        ::_exit(0);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_EQ(std::memcmp(created->data(), "child", 5), 0);
    created.value() = SharedSegment{};  // the creator lets go: the copy still reaches the memory
    auto adopted = SharedSegment::adopt(std::move(copy.value()), 4096, SharedSegment::Access::read_only, "late");
    ASSERT_TRUE(adopted.ok());
    EXPECT_EQ(std::memcmp(adopted->data(), "child", 5), 0);
}

// Whether /proc/self/maps has a mapping starting at `start` ("7f0123456000-"), read without
// allocating: it runs in a forked child.
bool mapped_at(const char* start) {
    const int fd = ::open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0) ::_exit(100);
    static char maps[1 << 20];
    std::size_t used = 0;
    for (ssize_t n; (n = ::read(fd, maps + used, sizeof maps - 1 - used)) > 0;) used += static_cast<std::size_t>(n);
    ::close(fd);
    maps[used] = '\0';
    const std::size_t length = std::strlen(start);
    for (const char* line = maps; *line != '\0';) {
        if (std::strncmp(line, start, length) == 0) return true;
        const char* next = std::strchr(line, '\n');
        if (next == nullptr) break;
        line = next + 1;
    }
    return false;
}

std::string start_of(const SharedSegment& segment) {
    char text[32];
    std::snprintf(text, sizeof text, "%lx-", reinterpret_cast<unsigned long>(segment.data()));
    return text;
}

TEST(SharedSegment, AChildForkedAfterKeepOutOfChildrenHasNothingThere) {
    auto kept_out = SharedSegment::create("warmpool.test.kept_out", 3 * 4096);
    auto inherited = SharedSegment::create("warmpool.test.inherited", 4096);
    ASSERT_TRUE(kept_out.ok() && inherited.ok());
    const Status st = kept_out->keep_out_of_children();
    ASSERT_TRUE(st.ok()) << st.error().message();
    std::memcpy(kept_out->data() + 2 * 4096, "still ours", 10);  // unchanged here
    const std::string kept_out_start = start_of(*kept_out);
    const std::string inherited_start = start_of(*inherited);

    const pid_t looker = ::fork();
    ASSERT_GE(looker, 0);
    if (looker == 0) {
        int result = 0;
        if (mapped_at(kept_out_start.c_str())) result |= 1;
        if (!mapped_at(inherited_start.c_str())) result |= 2;
        ::_exit(result);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(looker, &status, 0), looker);
    ASSERT_TRUE(WIFEXITED(status)) << status;
    EXPECT_EQ(WEXITSTATUS(status) & 1, 0) << "the child's maps show the kept-out mapping at " << kept_out_start;
    EXPECT_EQ(WEXITSTATUS(status) & 2, 0) << "the child's maps lack the other mapping at " << inherited_start;
    EXPECT_NE(WEXITSTATUS(status), 100) << "the child could not read its maps";

    const pid_t toucher = ::fork();
    ASSERT_GE(toucher, 0);
    if (toucher == 0) {
        const volatile std::byte* at = kept_out->data() + 2 * 4096;
        if (*at == std::byte{'s'}) ::_exit(0);
        ::_exit(1);
    }
    ASSERT_EQ(::waitpid(toucher, &status, 0), toucher);
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV)
        << "touching the kept-out addresses in a child must fault; status " << status;
    EXPECT_EQ(std::memcmp(kept_out->data() + 2 * 4096, "still ours", 10), 0);

    EXPECT_FALSE(SharedSegment{}.keep_out_of_children().ok()) << "nothing mapped";
}

// A broker like the supervisor: keeps a copy of every offered object until it is retired.
struct TestBroker {
    std::map<std::uint64_t, UniqueFd> held;
    std::vector<std::uint64_t> retired;
    BlobPool::Broker broker() {
        return BlobPool::Broker{[this](std::uint64_t object, int fd) -> Status {
                                    held[object] = dup_of(fd);
                                    return {};
                                },
                                [this](std::uint64_t object) {
                                    held.erase(object);
                                    retired.push_back(object);
                                }};
    }
    BlobMappings::Fetch fetch(std::uint64_t object) {
        return [this, object]() -> Result<UniqueFd> {
            auto it = held.find(object);
            if (it == held.end()) return make_error(SysError::Code::not_found, "no blob");
            return dup_of(it->second.get());
        };
    }
};

BlobState state_of(const BlobPool::Blob& blob) { return static_cast<BlobState>(blob.header->state.load()); }

TEST(Blob, CapacityClassesRoundUpByAQuarter) {
    EXPECT_EQ(blob_capacity_for(0), 1u << 20);
    EXPECT_EQ(blob_capacity_for(1u << 20), 1u << 20);
    EXPECT_EQ(blob_capacity_for((1u << 20) + 1), (1u << 20) + (1u << 18));
    EXPECT_EQ(blob_capacity_for(64u << 20), 64u << 20);
    EXPECT_EQ(blob_capacity_for((64u << 20) + 8), 80u << 20) << "a 64 MiB string and its size tag";
    for (std::size_t n : {1u << 20, 3u << 20, 5'000'001u, 100u << 20}) EXPECT_GE(blob_capacity_for(n), n);
}

TEST(Blob, AProducerOffersEachNewBlobAndReusesAFreedOne) {
    TestBroker broker;
    BlobPool pool("warmpool.test.arguments", broker.broker(), BlobPool::Limits{});
    std::string payload(3u << 20, '\0');
    for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>(i * 7);

    auto first = pool.acquire(payload.size());
    ASSERT_TRUE(first.ok()) << first.error().message();
    EXPECT_EQ(state_of(*first), BlobState::writing);
    ASSERT_EQ(broker.held.count(first->ref.object), 1u) << "offered before it is handed out";
    std::memcpy(first->data, payload.data(), payload.size());
    first->ref.bytes = payload.size();
    first->publish();

    BlobMappings consumer(2);
    auto mapped = consumer.map("a1", first->ref, broker.fetch(first->ref.object));
    ASSERT_TRUE(mapped.ok()) << mapped.error().message();
    EXPECT_EQ(mapped->bytes, payload);

    auto second = pool.acquire(100);
    ASSERT_TRUE(second.ok());
    EXPECT_NE(second->ref.object, first->ref.object) << "the first is still in use";
    pool.release(first->ref.object);
    auto third = pool.acquire(payload.size() - 5);
    ASSERT_TRUE(third.ok());
    EXPECT_EQ(third->ref.object, first->ref.object) << "a free blob that fits is reused";
    EXPECT_EQ(broker.held.size(), 2u) << "and not offered again";

    std::memset(third->data, 'x', 10);
    third->ref.bytes = 10;
    auto again = consumer.map("a1", third->ref, [] { return Result<UniqueFd>(make_error(SysError::Code::io, "no")); });
    ASSERT_TRUE(again.ok()) << "a kept mapping needs no descriptor";
    EXPECT_EQ(again->segment, mapped->segment);
    EXPECT_EQ(again->bytes, std::string(10, 'x'));
}

TEST(Blob, TheConsumerChecksSizeSerialAndSealsNotTheHeader) {
    TestBroker broker;
    BlobPool pool("warmpool.test.results", broker.broker(), BlobPool::Limits{});
    auto blob = pool.acquire(1000);
    ASSERT_TRUE(blob.ok());
    const auto fetch = broker.fetch(blob->ref.object);
    BlobMappings consumer;

    BlobRef too_big = blob->ref;
    too_big.bytes = blob->capacity + 1;
    auto refused = consumer.map("k", too_big, fetch);
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.error().code, SysError::Code::protocol);
    BlobRef huge = blob->ref;
    huge.bytes = ~std::uint64_t{0};
    EXPECT_FALSE(consumer.map("k", huge, fetch).ok()) << "no overflow past the object's real size";
    BlobRef other = blob->ref;
    other.serial ^= 1;
    EXPECT_FALSE(consumer.map("k", other, fetch).ok()) << "another object's serial";

    blob->header->capacity = ~std::uint64_t{0};  // a scribbled header: only the real size counts
    BlobRef fits = blob->ref;
    fits.bytes = blob->capacity;
    EXPECT_TRUE(consumer.map("k", fits, fetch).ok());
    blob->header->magic = 0;
    EXPECT_FALSE(consumer.map("k", fits, fetch).ok()) << "not a blob any more";
    EXPECT_FALSE(consumer.map("other", fits, broker.fetch(999)).ok()) << "no such object";

    // An object its producer could shrink is never mapped.
    UniqueFd unsealed(::memfd_create("unsealed", MFD_CLOEXEC));
    ASSERT_EQ(::ftruncate(unsealed.get(), 1u << 20), 0);
    const int raw = unsealed.get();
    EXPECT_FALSE(consumer.map("u", BlobRef{1, 1, 1}, [raw] { return Result<UniqueFd>(dup_of(raw)); }).ok());
}

TEST(Blob, ThePoolKeepsItsLimitsRetiresWhatItDropsAndNeverABlobInUse) {
    TestBroker broker;
    BlobPool pool("warmpool.test.limits", broker.broker(), BlobPool::Limits{2, 64u << 20});
    std::vector<BlobPool::Blob> blobs;
    for (int i = 0; i < 4; ++i) {
        auto blob = pool.acquire(1u << 20);
        ASSERT_TRUE(blob.ok());
        blob->publish();
        blobs.push_back(blob.value());
    }
    EXPECT_EQ(pool.objects(), 4u) << "published blobs stay, whatever the limits";
    EXPECT_TRUE(broker.retired.empty());
    for (const auto& blob : blobs) pool.release(blob.ref.object);
    EXPECT_EQ(pool.objects(), 2u) << "freed ones beyond the limit are dropped";
    EXPECT_EQ(broker.retired, (std::vector<std::uint64_t>{blobs[0].ref.object, blobs[1].ref.object}))
        << "least recently used first, and retired";

    auto a = pool.acquire(1u << 20);
    auto b = pool.acquire(1u << 20);
    auto c = pool.acquire(1u << 20);
    ASSERT_TRUE(a.ok() && b.ok() && c.ok());
    std::memset(c->data, 'c', 4);
    c->ref.bytes = 4;
    BlobMappings consumer;
    auto mapped = consumer.map("c", c->ref, broker.fetch(c->ref.object));
    ASSERT_TRUE(mapped.ok()) << mapped.error().message();
    for (const auto* blob : {&a.value(), &b.value(), &c.value()}) {
        blob->header->state.store(static_cast<std::uint32_t>(BlobState::taken));
    }
    pool.trim(false);
    EXPECT_EQ(pool.objects(), 3u);
    pool.trim(true);
    EXPECT_EQ(pool.objects(), 2u);
    EXPECT_EQ(mapped->bytes, "cccc") << "a consumer's mapping outlives the producer's";
}

TEST(Blob, APoolRetiresEverythingWhenItGoes) {
    TestBroker broker;
    {
        BlobPool pool("warmpool.test.end", broker.broker(), BlobPool::Limits{});
        ASSERT_TRUE(pool.acquire(10).ok());
        ASSERT_TRUE(pool.acquire(10).ok());
        EXPECT_EQ(broker.held.size(), 2u);
    }
    EXPECT_TRUE(broker.held.empty());
}

TEST(Blob, AFailedOfferFailsTheAcquire) {
    BlobPool pool("warmpool.test.fail",
                  BlobPool::Broker{[](std::uint64_t, int) -> Status { return make_error(SysError::Code::io, "gone"); },
                                   [](std::uint64_t) {}},
                  BlobPool::Limits{});
    auto blob = pool.acquire(10);
    EXPECT_FALSE(blob.ok());
    EXPECT_EQ(pool.objects(), 0u);
}

}  // namespace
}  // namespace warmpool
