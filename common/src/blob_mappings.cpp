#include "warmpool/common/blob_mappings.hpp"

#include <algorithm>
#include <cstring>

#include "warmpool/common/blob_fault_guard.hpp"

namespace warmpool {

Result<BlobMappings::Mapped> BlobMappings::check(const std::shared_ptr<SharedSegment>& segment, const BlobRef& ref) {
    const std::size_t size = segment->size();
    if (size < kBlobDataOffset || ref.bytes > size - kBlobDataOffset) {
        return make_error(SysError::Code::protocol, "blob " + segment->label() + " of " + std::to_string(size) +
                                                        " bytes cannot hold " + std::to_string(ref.bytes));
    }
    auto* header = reinterpret_cast<BlobHeader*>(segment->data());
    // Copied out: the other side may be writing it (only its own payload can suffer from that).
    std::uint64_t magic = 0, serial = 0;
    {
        // `size` is the object's size when it was mapped: a kept mapping may outlive it.
        BlobFaultGuard guard(segment->data(), size);
        std::memcpy(&magic, &header->magic, sizeof magic);
        std::memcpy(&serial, &header->serial, sizeof serial);
        if (guard.shrank()) {
            return make_error(SysError::Code::protocol, "blob " + segment->label() + " shrank under its mapping");
        }
    }
    if (magic != kBlobMagic || serial != ref.serial) {
        return make_error(SysError::Code::protocol, "blob " + segment->label() + " is not the one referenced");
    }
    return Mapped{segment, header,
                  std::string_view(reinterpret_cast<const char*>(segment->data() + kBlobDataOffset), ref.bytes)};
}

Result<BlobMappings::Mapped> BlobMappings::map(const std::string& name, const BlobRef& ref, const Fetch& fetch,
                                               SharedSegment::Access access) {
    auto it = std::find_if(entries_.begin(), entries_.end(), [&](const Entry& e) { return e.name == name; });
    if (it != entries_.end()) {
        if (auto mapped = check(it->segment, ref)) {
            it->last_used = ++clock_;
            return mapped;
        }
        entries_.erase(it);  // stale: the name now belongs to another object, never did, or shrank
    }
    auto fd = fetch();
    if (!fd) return fd.error();
    auto opened = SharedSegment::adopt(std::move(fd.value()), 0, access, name);
    if (!opened) return opened.error();
    auto segment = std::make_shared<SharedSegment>(std::move(opened.value()));
    auto mapped = check(segment, ref);
    if (!mapped) return mapped;
    if (entries_.size() >= max_entries_ && max_entries_ > 0) {
        entries_.erase(std::min_element(entries_.begin(), entries_.end(),
                                        [](const Entry& a, const Entry& b) { return a.last_used < b.last_used; }));
    }
    if (max_entries_ > 0) entries_.push_back(Entry{name, segment, ++clock_});
    return mapped;
}

void BlobMappings::drop(std::string_view name) {
    std::erase_if(entries_, [&](const Entry& e) { return e.name == name; });
}

void BlobMappings::forget(std::string_view prefix) {
    std::erase_if(entries_, [&](const Entry& e) { return std::string_view(e.name).substr(0, prefix.size()) == prefix; });
}

}  // namespace warmpool
