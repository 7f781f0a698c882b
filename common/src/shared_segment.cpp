#include "warmpool/common/shared_segment.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <boost/interprocess/exceptions.hpp>
#include <cstring>

namespace warmpool {

namespace bip = boost::interprocess;

namespace {

int errno_of(const bip::interprocess_exception& e) {
    int native = e.get_native_error();
    if (native != 0) return native;
    switch (e.get_error_code()) {
        case bip::already_exists_error: return EEXIST;
        case bip::not_found_error: return ENOENT;
        case bip::security_error: return EACCES;
        case bip::out_of_space_error: return ENOSPC;
        default: return EIO;
    }
}

}  // namespace

SharedSegment::SharedSegment(SharedSegment&& other) noexcept
    : name_(std::move(other.name_)),
      region_(std::move(other.region_)),
      owner_(std::exchange(other.owner_, false)) {}

SharedSegment& SharedSegment::operator=(SharedSegment&& other) noexcept {
    if (this != &other) {
        if (owner_) remove(name_);
        name_ = std::move(other.name_);
        region_ = std::move(other.region_);
        owner_ = std::exchange(other.owner_, false);
    }
    return *this;
}

SharedSegment::~SharedSegment() {
    region_.reset();
    if (owner_) remove(name_);
}

Result<SharedSegment> SharedSegment::create(const std::string& name, std::size_t bytes,
                                            const SegmentAccess& access) {
    if ((access.mode & 0002) != 0 || (access.mode & ~0777u) != 0) {
        return make_error(SysError::Code::invalid, "refusing world-writable or odd mode for " + name);
    }
    try {
        bip::permissions perm(static_cast<int>(access.mode));
        bip::shared_memory_object object(bip::create_only, name.c_str(), bip::read_write, perm);
        SharedSegment segment;
        segment.name_ = name;
        segment.owner_ = true;  // from here on, failure unlinks the name
        int fd = object.get_mapping_handle().handle;
        if (access.group != static_cast<gid_t>(-1) && access.group != getegid()) {
            if (::fchown(fd, static_cast<uid_t>(-1), access.group) != 0) {
                return errno_error("chown of shared memory " + name);
            }
        }
        object.truncate(static_cast<bip::offset_t>(bytes));
        segment.region_ = std::make_unique<bip::mapped_region>(object, bip::read_write, 0, bytes);
        return segment;
    } catch (const bip::interprocess_exception& e) {
        return errno_error("create shared memory " + name, errno_of(e));
    }
}

Result<SharedSegment> SharedSegment::open(const std::string& name, std::size_t expected_bytes) {
    return open_mode(name, expected_bytes, true);
}

Result<SharedSegment> SharedSegment::open_read_only(const std::string& name, std::size_t expected_bytes) {
    return open_mode(name, expected_bytes, false);
}

Result<SharedSegment> SharedSegment::open_mode(const std::string& name, std::size_t expected_bytes, bool writable) {
    const bip::mode_t mode = writable ? bip::read_write : bip::read_only;
    try {
        bip::shared_memory_object object(bip::open_only, name.c_str(), mode);
        bip::offset_t size = 0;
        if (!object.get_size(size)) return errno_error("size of shared memory " + name);
        if (expected_bytes != 0 && static_cast<std::size_t>(size) != expected_bytes) {
            return make_error(SysError::Code::protocol,
                              "shared memory " + name + " has size " + std::to_string(size) +
                                  ", expected " + std::to_string(expected_bytes));
        }
        if (size == 0) return make_error(SysError::Code::protocol, "empty shared memory " + name);
        SharedSegment segment;
        segment.name_ = name;
        segment.region_ = std::make_unique<bip::mapped_region>(object, mode);
        return segment;
    } catch (const bip::interprocess_exception& e) {
        return errno_error("open shared memory " + name, errno_of(e));
    }
}

bool SharedSegment::remove(const std::string& name) {
    return bip::shared_memory_object::remove(name.c_str());
}

}  // namespace warmpool
