// Tests for BlobFaultGuard (blob_fault_guard.hpp) against real shared memory shrunk under its
// mapping: a guarded read past the new end reads zeros and is noted, anything else still dies of
// SIGBUS (or goes to the handler that was there before), BlobMappings does not read past a
// kept mapping whose object shrank, and BlobPool drops an object that shrank instead of reusing it.
//
// Faults that must kill are made in forked children. The handler is installed in this process
// too, as a worker installs it: the guarded reads here would kill the test without it.

#include "warmpool/common/blob_fault_guard.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "warmpool/common/blob_mappings.hpp"
#include "warmpool/common/blob_pool.hpp"
#include "warmpool/common/shared_segment.hpp"
#include "warmpool/common/shm_layout.hpp"

namespace warmpool {
namespace {

const std::size_t kPage = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));

char read_at(const void* address) { return *static_cast<const volatile char*>(address); }

// An anonymous shared-memory file of `pages` pages filled with 'x', mapped shared (as a blob
// is); unmapped and closed on destruction.
class ShrinkableMapping {
public:
    explicit ShrinkableMapping(std::size_t pages) : bytes_(pages * kPage) {
        fd_ = ::memfd_create("blob-fault-guard-test", MFD_CLOEXEC);
        if (fd_ < 0 || ::ftruncate(fd_, static_cast<off_t>(bytes_)) != 0)
            throw std::runtime_error("memfd");
        void* at = ::mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
        if (at == MAP_FAILED) throw std::runtime_error("mmap");
        data_ = static_cast<char*>(at);
        std::memset(data_, 'x', bytes_);
    }
    ~ShrinkableMapping() {
        ::munmap(data_, bytes_);
        ::close(fd_);
    }
    ShrinkableMapping(const ShrinkableMapping&) = delete;
    ShrinkableMapping& operator=(const ShrinkableMapping&) = delete;

    // As a client would, behind its reader's back.
    void resize_to(std::size_t bytes) {
        if (::ftruncate(fd_, static_cast<off_t>(bytes)) != 0) throw std::runtime_error("ftruncate");
    }
    char* data() const { return data_; }
    std::size_t size() const { return bytes_; }

private:
    int fd_ = -1;
    char* data_ = nullptr;
    std::size_t bytes_ = 0;
};

// Runs `body` in a forked child; returns its wait status.
template <class Body>
int in_child(Body&& body) {
    const pid_t child = ::fork();
    if (child == 0) {
        body();
        ::_exit(0);
    }
    int status = 0;
    ::waitpid(child, &status, 0);
    return status;
}

bool died_of_sigbus(int status) { return WIFSIGNALED(status) && WTERMSIG(status) == SIGBUS; }

TEST(BlobFaultGuard, AReadPastAShrunkObjectReadsZerosAndIsNoted) {
    ASSERT_TRUE(install_blob_fault_handler().ok());
    ShrinkableMapping blob(4);
    const BlobFaultGuard guard(blob.data(), blob.size());
    ASSERT_TRUE(guard.armed());
    blob.resize_to(kPage + 10);  // the second page still holds 10 of the object's bytes
    EXPECT_EQ(read_at(blob.data()), 'x');
    EXPECT_EQ(read_at(blob.data() + kPage + 9), 'x');
    EXPECT_FALSE(guard.shrank()) << "nothing read past the end yet";
    EXPECT_EQ(read_at(blob.data() + 3 * kPage + 5), '\0');
    EXPECT_TRUE(guard.shrank());
    // Pages before the fault were left alone: the third still faults, and reads zeros too.
    EXPECT_EQ(read_at(blob.data() + 2 * kPage), '\0');
    blob.data()[3 * kPage] = 'y';  // the zero pages are private and writable
    EXPECT_EQ(read_at(blob.data() + 3 * kPage), 'y');
}

TEST(BlobFaultGuard, AShrinkNobodyReadPastIsNotReported) {
    ASSERT_TRUE(install_blob_fault_handler().ok());
    ShrinkableMapping blob(2);
    const BlobFaultGuard guard(blob.data(), blob.size());
    blob.resize_to(kPage);
    EXPECT_EQ(read_at(blob.data() + kPage - 1), 'x');
    EXPECT_FALSE(guard.shrank());
}

TEST(BlobFaultGuard, AFaultOutsideEveryGuardStillKills) {
    // Unguarded memory, memory next to a guarded range, and a guarded range after its guard went.
    const int unguarded = in_child([] {
        ::signal(SIGBUS, SIG_DFL);
        if (!install_blob_fault_handler().ok()) ::_exit(3);
        ShrinkableMapping blob(2);
        blob.resize_to(0);
        (void)read_at(blob.data());
    });
    EXPECT_TRUE(died_of_sigbus(unguarded)) << "wait status " << unguarded;

    const int beside = in_child([] {
        ::signal(SIGBUS, SIG_DFL);
        if (!install_blob_fault_handler().ok()) ::_exit(3);
        ShrinkableMapping blob(2);
        const BlobFaultGuard guard(blob.data(), kPage);  // the first page only
        blob.resize_to(0);
        (void)read_at(blob.data() + kPage);
    });
    EXPECT_TRUE(died_of_sigbus(beside)) << "wait status " << beside;

    const int after = in_child([] {
        ::signal(SIGBUS, SIG_DFL);
        if (!install_blob_fault_handler().ok()) ::_exit(3);
        ShrinkableMapping blob(2);
        { const BlobFaultGuard guard(blob.data(), blob.size()); }
        blob.resize_to(0);
        (void)read_at(blob.data());
    });
    EXPECT_TRUE(died_of_sigbus(after)) << "wait status " << after;
}

// The handler the guard's handler replaced, in a child: exits 42 if it saw the real fault.
void* expected_fault_address = nullptr;
void exit_on_fault(int, siginfo_t* info, void*) {
    ::_exit(info->si_code == BUS_ADRERR && info->si_addr == expected_fault_address ? 42 : 43);
}

TEST(BlobFaultGuard, AFaultNotOursGoesToTheHandlerItReplacedWithItsRealAddress) {
    const int status = in_child([] {
        struct sigaction before {};
        before.sa_sigaction = exit_on_fault;
        before.sa_flags = SA_SIGINFO;
        sigemptyset(&before.sa_mask);
        if (::sigaction(SIGBUS, &before, nullptr) != 0) ::_exit(3);
        if (!install_blob_fault_handler().ok()) ::_exit(3);
        ShrinkableMapping guarded(1);
        const BlobFaultGuard guard(guarded.data(), guarded.size());
        ShrinkableMapping blob(2);
        blob.resize_to(0);
        expected_fault_address = blob.data() + 100;
        (void)read_at(blob.data() + 100);
    });
    ASSERT_TRUE(WIFEXITED(status)) << "wait status " << status;
    EXPECT_EQ(WEXITSTATUS(status), 42);
}

TEST(BlobFaultGuard, ASigbusSentByAProcessIsNotTakenForAFault) {
    const int status = in_child([] {
        ::signal(SIGBUS, SIG_DFL);
        if (!install_blob_fault_handler().ok()) ::_exit(3);
        ShrinkableMapping blob(1);
        const BlobFaultGuard guard(blob.data(), blob.size());
        ::kill(::getpid(), SIGBUS);
        ::_exit(guard.shrank() ? 4 : 5);
    });
    EXPECT_TRUE(died_of_sigbus(status)) << "wait status " << status;
}

TEST(BlobFaultGuard, SlotsAreFewAndComeBackWhenAGuardGoes) {
    ShrinkableMapping blob(1);
    std::vector<std::unique_ptr<BlobFaultGuard>> guards;
    for (std::size_t i = 0; i < kMaxBlobFaultGuards; ++i) {
        guards.push_back(std::make_unique<BlobFaultGuard>(blob.data(), blob.size()));
        EXPECT_TRUE(guards.back()->armed()) << i;
    }
    const BlobFaultGuard one_too_many(blob.data(), blob.size());
    EXPECT_FALSE(one_too_many.armed());
    EXPECT_FALSE(one_too_many.shrank());
    guards.pop_back();
    const BlobFaultGuard again(blob.data(), blob.size());
    EXPECT_TRUE(again.armed());
    EXPECT_FALSE(BlobFaultGuard(nullptr, 10).armed());
    EXPECT_FALSE(BlobFaultGuard(blob.data(), 0).armed());
}

// A blob object made by hand, unlinked on destruction whatever happened.
class HandMadeBlob {
public:
    HandMadeBlob(const std::string& name, std::size_t capacity) : name_(name), capacity_(capacity) {
        auto made = SharedSegment::create(name, kBlobDataOffset + capacity, SegmentAccess{0600});
        if (!made) throw std::runtime_error(made.error().message());
        made->disown();
        write();
    }
    // Writes the header and payload, through a mapping of its own: one kept here would fault on
    // the shrunk object just the same.
    void write() const {
        auto segment = SharedSegment::open(name_);
        if (!segment) throw std::runtime_error(segment.error().message());
        auto* header = reinterpret_cast<BlobHeader*>(segment->data());
        header->magic = kBlobMagic;
        header->serial = 7;
        header->capacity = capacity_;
        std::memset(segment->data() + kBlobDataOffset, 'x', capacity_);
    }
    ~HandMadeBlob() { SharedSegment::remove(name_); }
    HandMadeBlob(const HandMadeBlob&) = delete;
    HandMadeBlob& operator=(const HandMadeBlob&) = delete;

    void resize_to(std::size_t bytes) const {
        if (::truncate(("/dev/shm/" + name_).c_str(), static_cast<off_t>(bytes)) != 0) {
            throw std::runtime_error("truncate " + name_);
        }
    }
    const std::string& name() const { return name_; }

private:
    std::string name_;
    std::size_t capacity_;
};

TEST(BlobMappingsUnderAGuard, AKeptMappingWhoseObjectShrankIsReplacedNotReadPast) {
    ASSERT_TRUE(install_blob_fault_handler().ok());
    const std::string name = "warmpool-ut." + std::to_string(::getpid()) + ".shrinking.a1";
    const HandMadeBlob blob(name, 4 * kPage);
    BlobMappings mappings;
    const BlobRef ref{3 * kPage, 1, 7};
    {
        auto mapped = mappings.map(name, ref);
        ASSERT_TRUE(mapped.ok()) << mapped.error().message();
        EXPECT_EQ(mapped->bytes.size(), 3 * kPage);
    }
    ASSERT_EQ(mappings.size(), 1u);

    // The kept mapping still believes the old size; its header page is gone.
    blob.resize_to(0);
    auto gone = mappings.map(name, ref);
    ASSERT_FALSE(gone.ok());
    EXPECT_EQ(gone.error().code, SysError::Code::protocol) << gone.error().message();
    EXPECT_EQ(mappings.size(), 0u) << "the mapping that shrank is not kept";

    // Back to a size that holds the header but not the bytes: refused by the size check.
    blob.resize_to(kPage);
    EXPECT_FALSE(mappings.map(name, ref).ok());
    // Grown and written again, the object is mapped afresh and read in full.
    blob.resize_to(kBlobDataOffset + 4 * kPage);
    blob.write();
    auto again = mappings.map(name, ref);
    ASSERT_TRUE(again.ok()) << again.error().message();
    EXPECT_EQ(again->bytes.size(), 3 * kPage);
}

TEST(BlobMappingsUnderAGuard, DropForgetsExactlyOneName) {
    const std::string prefix = "warmpool-ut." + std::to_string(::getpid()) + ".drop.a";
    const HandMadeBlob one(prefix + "1", kPage);
    const HandMadeBlob twelve(prefix + "12", kPage);
    BlobMappings mappings;
    ASSERT_TRUE(mappings.map(one.name(), BlobRef{10, 1, 7}).ok());
    ASSERT_TRUE(mappings.map(twelve.name(), BlobRef{10, 12, 7}).ok());
    mappings.drop(one.name());
    EXPECT_EQ(mappings.size(), 1u);
    mappings.drop(one.name());
    EXPECT_EQ(mappings.size(), 1u);
    mappings.drop(twelve.name());
    EXPECT_EQ(mappings.size(), 0u);
}

// A producer's pool of blobs named "warmpool-ut.<pid>.<what>.<object>", as a worker's result blobs
// are, which a consumer may shrink.
BlobPool pool_named(const std::string& what, BlobPool::Limits limits = {}) {
    const std::string prefix = "warmpool-ut." + std::to_string(::getpid()) + "." + what + ".";
    return BlobPool([prefix](std::uint64_t object) { return prefix + std::to_string(object); },
                    SegmentAccess{0600}, limits);
}

bool exists(const std::string& name) { return ::access(("/dev/shm/" + name).c_str(), F_OK) == 0; }

void shrink(const std::string& name, std::size_t bytes) {
    ASSERT_EQ(::truncate(("/dev/shm/" + name).c_str(), static_cast<off_t>(bytes)), 0) << name;
}

TEST(BlobPoolUnderAGuard, AFreeObjectWhoseHeaderIsGoneIsDroppedNotReused) {
    ASSERT_TRUE(install_blob_fault_handler().ok());
    BlobPool pool = pool_named("headerless");
    auto first = pool.acquire(2 * kPage);
    ASSERT_TRUE(first.ok()) << first.error().message();
    const std::string name = first->segment->name();
    const std::uint64_t object = first->ref.object;
    first->publish();
    pool.release(object);  // free: the next acquire would take it
    first = make_error(SysError::Code::protocol, "let go");

    shrink(name, 0);
    auto second = pool.acquire(2 * kPage);
    ASSERT_TRUE(second.ok()) << second.error().message();
    EXPECT_NE(second->ref.object, object);
    EXPECT_EQ(pool.objects(), 1u) << "the object that shrank is not kept";
    EXPECT_FALSE(exists(name)) << "its name is unlinked";
    std::memset(second->data, 'y', 2 * kPage);  // a real object: no fault
}

TEST(BlobPoolUnderAGuard, ABlobThatShrankUnderItsWriterIsDiscardedButStaysMappedWhileHeld) {
    ASSERT_TRUE(install_blob_fault_handler().ok());
    BlobPool pool = pool_named("shrunk-while-written");
    auto blob = pool.acquire(4 * kPage);
    ASSERT_TRUE(blob.ok()) << blob.error().message();
    const std::string name = blob->segment->name();
    shrink(name, kPage);  // the header stays: only a write into the payload finds out
    {
        const BlobFaultGuard guard(blob->segment->data(), blob->segment->size());
        std::memset(blob->data, 'z', 4 * kPage);
        ASSERT_TRUE(guard.shrank());
        pool.discard(blob->ref.object);
        EXPECT_EQ(pool.objects(), 0u);
        EXPECT_FALSE(exists(name));
        // Still mapped, for as long as the writer holds the Blob: late writes go nowhere.
        std::memset(blob->data, 'w', 4 * kPage);
    }
    pool.release(blob->ref.object);  // no longer the pool's: nothing happens
    auto next = pool.acquire(4 * kPage);
    ASSERT_TRUE(next.ok()) << next.error().message();
    EXPECT_NE(next->ref.object, blob->ref.object);
    EXPECT_EQ(pool.objects(), 1u);
}

TEST(BlobPoolUnderAGuard, TrimDropsAPublishedObjectWhoseHeaderIsGone) {
    ASSERT_TRUE(install_blob_fault_handler().ok());
    BlobPool pool = pool_named("trimmed", BlobPool::Limits{1, 1ull << 30});
    auto small = pool.acquire(kPage);
    ASSERT_TRUE(small.ok()) << small.error().message();
    small->publish();
    // Too big for the first object, which acquire() therefore leaves alone.
    auto big = pool.acquire(2 * blob_capacity_for(kPage));
    ASSERT_TRUE(big.ok()) << big.error().message();
    big->publish();
    ASSERT_EQ(pool.objects(), 2u) << "published objects stay, beyond the limits";

    const std::string name = small->segment->name();
    shrink(name, 0);
    pool.trim(false);
    EXPECT_EQ(pool.objects(), 1u) << "a published object whose header is gone is of no use";
    EXPECT_FALSE(exists(name));
}

}  // namespace
}  // namespace warmpool
