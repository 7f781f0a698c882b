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

// (Blob objects are sealed against shrinking now, so neither side can shrink an object under the
// other: shared_segment_test.cc shows the seals. The guard stays as a second line of defence.)

}  // namespace
}  // namespace warmpool
