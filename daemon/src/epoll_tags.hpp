// What each source in the supervisor's epoll set is: the high 32 bits of epoll_event.data.u64
// say the kind, the low 32 bits which one (a descriptor, or a worker slot). Private to the
// supervisor's source files.
#pragma once

#include <cstdint>

namespace warmpool::epoll_tag {

enum Tag : std::uint64_t {
    kControlListen = 1,
    kStatusListen,
    kSignal,
    kTimer,
    kDoorbell,         // the workers' doorbell
    kConnection,       // low bits: the connection's descriptor
    kSessionDoorbell,  // low bits: the eventfd's descriptor
    kWorkerChannel,    // low bits: the worker slot
};

inline std::uint64_t tagged(Tag tag, std::uint32_t low = 0) { return (std::uint64_t{tag} << 32) | low; }

}  // namespace warmpool::epoll_tag
