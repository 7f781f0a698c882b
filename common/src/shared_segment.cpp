#include "warmpool/common/shared_segment.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <utility>

namespace warmpool {

namespace {

constexpr int kSizeSeals = F_SEAL_SHRINK | F_SEAL_GROW;

}  // namespace

SharedSegment::SharedSegment(SharedSegment&& other) noexcept
    : label_(std::move(other.label_)),
      data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      fd_(std::move(other.fd_)) {}

SharedSegment& SharedSegment::operator=(SharedSegment&& other) noexcept {
    if (this != &other) {
        if (data_ != nullptr) ::munmap(data_, size_);
        label_ = std::move(other.label_);
        data_ = std::exchange(other.data_, nullptr);
        size_ = std::exchange(other.size_, 0);
        fd_ = std::move(other.fd_);
    }
    return *this;
}

SharedSegment::~SharedSegment() {
    if (data_ != nullptr) ::munmap(data_, size_);
}

Result<SharedSegment> SharedSegment::map(UniqueFd fd, std::size_t bytes, Access access, std::string_view label,
                                         bool keep_fd) {
    const int prot = access == Access::read_write ? PROT_READ | PROT_WRITE : PROT_READ;
    void* address = ::mmap(nullptr, bytes, prot, MAP_SHARED, fd.get(), 0);
    if (address == MAP_FAILED) return errno_error("map shared memory " + std::string(label));
    SharedSegment segment;
    segment.label_ = label;
    segment.data_ = static_cast<std::byte*>(address);
    segment.size_ = bytes;
    if (keep_fd) segment.fd_ = std::move(fd);
    return segment;
}

Result<SharedSegment> SharedSegment::create(std::string_view label, std::size_t bytes) {
    const std::string name(label);
    if (bytes == 0) return make_error(SysError::Code::invalid, "empty shared memory " + name);
    UniqueFd fd(::memfd_create(name.c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING));
    if (!fd) return errno_error("create shared memory " + name);
    if (::ftruncate(fd.get(), static_cast<off_t>(bytes)) != 0) return errno_error("size shared memory " + name);
    // Pages reserved now: a first touch later can then never fault for want of memory.
    if (int err = ::posix_fallocate(fd.get(), 0, static_cast<off_t>(bytes)); err != 0) {
        return errno_error("reserve " + std::to_string(bytes) + " bytes of shared memory for " + name, err);
    }
    if (::fcntl(fd.get(), F_ADD_SEALS, kSizeSeals | F_SEAL_SEAL) != 0) return errno_error("seal shared memory " + name);
    return map(std::move(fd), bytes, Access::read_write, label, true);
}

Result<SharedSegment> SharedSegment::adopt(UniqueFd fd, std::size_t expected_bytes, Access access,
                                           std::string_view label) {
    const std::string name(label);
    if (!fd) return make_error(SysError::Code::protocol, "no descriptor for shared memory " + name);
    struct stat st{};
    if (::fstat(fd.get(), &st) != 0) return errno_error("stat shared memory " + name);
    if (!S_ISREG(st.st_mode)) return make_error(SysError::Code::protocol, name + " is not shared memory");
    const int seals = ::fcntl(fd.get(), F_GET_SEALS);
    if (seals < 0 || (seals & F_SEAL_SHRINK) == 0) {
        return make_error(SysError::Code::protocol, name + " is not sealed against shrinking");
    }
    const auto size = static_cast<std::size_t>(st.st_size);
    if (size == 0) return make_error(SysError::Code::protocol, "empty shared memory " + name);
    if (expected_bytes != 0 && size != expected_bytes) {
        return make_error(SysError::Code::protocol, "shared memory " + name + " has size " + std::to_string(size) +
                                                        ", expected " + std::to_string(expected_bytes));
    }
    return map(std::move(fd), size, access, label, false);
}

Status SharedSegment::keep_out_of_children() const {
    if (data_ == nullptr) return make_error(SysError::Code::invalid, "shared memory " + label_ + " is not mapped");
    if (::madvise(data_, size_, MADV_DONTFORK) != 0) {
        return errno_error("keep shared memory " + label_ + " out of children");
    }
    return {};
}

Result<UniqueFd> SharedSegment::share(Access access) const {
    if (!fd_) return make_error(SysError::Code::invalid, "shared memory " + label_ + " is no longer shared");
    if (access == Access::read_write) {
        UniqueFd copy(::fcntl(fd_.get(), F_DUPFD_CLOEXEC, 0));
        if (!copy) return errno_error("dup shared memory " + label_);
        return copy;
    }
    // A new open file description, read-only: mmap(PROT_WRITE) and F_ADD_SEALS fail through it.
    const std::string path = "/proc/self/fd/" + std::to_string(fd_.get());
    UniqueFd copy(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!copy) return errno_error("reopen shared memory " + label_ + " read-only");
    return copy;
}

}  // namespace warmpool
