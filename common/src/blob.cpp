#include "warmpool/common/blob.hpp"

#include <dirent.h>

#include <string_view>
#include <vector>

#include "warmpool/common/shared_segment.hpp"
#include "warmpool/common/shm_layout.hpp"

namespace warmpool {

namespace {

bool published(const std::string& name) {
    auto segment = SharedSegment::open(name);
    if (!segment || segment->size() < sizeof(BlobHeader)) return false;
    const auto* header = reinterpret_cast<const BlobHeader*>(segment->data());
    return header->state.load(std::memory_order_acquire) == static_cast<std::uint32_t>(BlobState::published);
}

}  // namespace

int sweep_blobs(const std::string& prefix, bool keep_published) {
    // Only ever our own names: an empty or foreign prefix would sweep other programs' objects.
    if (prefix.rfind("warmpool.", 0) != 0 || prefix.size() <= std::string_view("warmpool.").size()) {
        return 0;
    }
    // POSIX shared memory objects are the files of /dev/shm on Linux.
    std::vector<std::string> names;
    if (DIR* dir = ::opendir("/dev/shm"); dir != nullptr) {
        while (dirent* entry = ::readdir(dir)) {
            std::string_view name(entry->d_name);
            if (name.substr(0, prefix.size()) == prefix) names.emplace_back(name);
        }
        ::closedir(dir);
    }
    int removed = 0;
    for (const auto& name : names) {
        if (keep_published && published(name)) continue;
        removed += SharedSegment::remove(name) ? 1 : 0;
    }
    return removed;
}

}  // namespace warmpool
