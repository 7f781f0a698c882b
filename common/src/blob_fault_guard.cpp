#include "warmpool/common/blob_fault_guard.hpp"

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>

namespace warmpool {

namespace {

// One guarded range. `begin` is published last and withdrawn first, so the handler sees either
// a whole range or none (0).
struct GuardSlot {
    std::atomic<bool> taken{false};
    std::atomic<std::uintptr_t> begin{0};
    std::atomic<std::uintptr_t> end{0};
    std::atomic<bool> shrank{false};
};
static_assert(std::atomic<bool>::is_always_lock_free);
static_assert(std::atomic<std::uintptr_t>::is_always_lock_free);

// Process-wide because the SIGBUS handler must reach them (see the header). Written by
// install_blob_fault_handler() before the handler can run, then only read.
GuardSlot guard_slots[kMaxBlobFaultGuards];
struct sigaction replaced_action {};
std::uintptr_t page_bytes = 4096;
std::atomic<bool> installed{false};

// The kernel's own faults re-run the instruction when the handler returns: they fault again,
// into whatever disposition is in place by then, with their real siginfo.
bool raised_by_a_fault(const siginfo_t* info) {
    switch (info->si_code) {
        case BUS_ADRALN:
        case BUS_ADRERR:
        case BUS_OBJERR:
        case BUS_MCEERR_AR: return true;
        default: return false;
    }
}

// Replaces the pages of the guarded range holding `address`, from its page to the range's end,
// with private zero pages; false if no armed guard holds `address`. mmap is a plain system call
// here, safe in a signal handler.
bool zero_fill_guarded(std::uintptr_t address) {
    for (GuardSlot& slot : guard_slots) {
        const std::uintptr_t begin = slot.begin.load(std::memory_order_acquire);
        if (begin == 0 || address < begin) continue;
        const std::uintptr_t end = slot.end.load(std::memory_order_acquire);
        if (address >= end) continue;
        const std::uintptr_t from = address & ~(page_bytes - 1);
        const std::uintptr_t to = (end + page_bytes - 1) & ~(page_bytes - 1);
        void* replaced = ::mmap(reinterpret_cast<void*>(from), to - from, PROT_READ | PROT_WRITE,
                                MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (replaced == MAP_FAILED) return false;
        slot.shrank.store(true, std::memory_order_release);
        return true;
    }
    return false;
}

void on_sigbus(int, siginfo_t* info, void*) {
    const int saved_errno = errno;
    // Only a read past an object's end (BUS_ADRERR) is one a guard can answer: alignment or
    // hardware memory errors are real faults wherever they happen.
    if (info->si_code == BUS_ADRERR &&
        zero_fill_guarded(reinterpret_cast<std::uintptr_t>(info->si_addr))) {
        errno = saved_errno;
        return;
    }
    // Not ours: whoever handled SIGBUS before us (the default: die of it) takes over for good.
    ::sigaction(SIGBUS, &replaced_action, nullptr);
    if (!raised_by_a_fault(info)) ::raise(SIGBUS);  // delivered once this handler returns
    errno = saved_errno;
}

}  // namespace

Status install_blob_fault_handler() {
    if (installed.load(std::memory_order_acquire)) return {};
    const long page = ::sysconf(_SC_PAGESIZE);
    if (page > 0) page_bytes = static_cast<std::uintptr_t>(page);
    struct sigaction action {};
    action.sa_sigaction = on_sigbus;
    action.sa_flags = SA_SIGINFO;
    sigemptyset(&action.sa_mask);
    if (::sigaction(SIGBUS, &action, &replaced_action) != 0) {
        return errno_error("install the SIGBUS handler for blobs");
    }
    installed.store(true, std::memory_order_release);
    return {};
}

BlobFaultGuard::BlobFaultGuard(const void* begin, std::size_t bytes) {
    if (begin == nullptr || bytes == 0) return;
    for (std::size_t i = 0; i < kMaxBlobFaultGuards; ++i) {
        GuardSlot& slot = guard_slots[i];
        if (slot.taken.exchange(true, std::memory_order_acq_rel)) continue;
        const auto at = reinterpret_cast<std::uintptr_t>(begin);
        slot.shrank.store(false, std::memory_order_relaxed);
        slot.end.store(at + bytes, std::memory_order_relaxed);
        slot.begin.store(at, std::memory_order_release);
        slot_ = static_cast<int>(i);
        return;
    }
}

BlobFaultGuard::~BlobFaultGuard() {
    if (slot_ < 0) return;
    GuardSlot& slot = guard_slots[slot_];
    slot.begin.store(0, std::memory_order_release);
    slot.taken.store(false, std::memory_order_release);
}

bool BlobFaultGuard::shrank() const {
    return slot_ >= 0 && guard_slots[slot_].shrank.load(std::memory_order_acquire);
}

}  // namespace warmpool
