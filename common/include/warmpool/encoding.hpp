// Encoding: how one job's arguments and result are written.
//
// binary: Cereal, with a type fingerprint (C++ callers); json: JSON text (the command line and
// other languages); pickle: a pickle envelope (Python callers and Python jobs; docs/PROTOCOL.md).
// The value travels only as JobFlags bits (shm_layout.hpp: encoding_of).
#pragma once

#include <cstdint>

namespace warmpool {

enum class Encoding : std::uint8_t { binary = 0, json = 1, pickle = 2 };

}  // namespace warmpool
