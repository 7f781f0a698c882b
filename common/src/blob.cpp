#include "warmpool/common/blob.hpp"

#include <dirent.h>

#include <string_view>
#include <vector>

namespace warmpool {

Result<SharedSegment> create_blob(const std::string& name, std::size_t bytes,
                                  const SegmentAccess& access) {
    auto segment = SharedSegment::create(name, bytes == 0 ? 1 : bytes, access);
    if (!segment) return segment.error();
    segment->disown();  // the consumer unlinks it once it has it mapped
    return segment;
}

Result<SharedSegment> take_blob(const std::string& name, std::size_t bytes) {
    auto segment = SharedSegment::open(name, bytes == 0 ? 1 : bytes);
    SharedSegment::remove(name);  // mapped or not, the name has served its purpose
    return segment;
}

int sweep_blobs(const std::string& prefix) {
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
    for (const auto& name : names) removed += SharedSegment::remove(name) ? 1 : 0;
    return removed;
}

}  // namespace warmpool
