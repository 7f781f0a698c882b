// The input of ring_fuzz, shared with the seed generator (make_seeds.cc) so that its seeds mean
// what the target reads:
//   byte 0         the ring's shape: capacity 64 << (b % 7) bytes; (b >> 3) % 4 the records' role
//   bytes 1..16    head and tail as the ring starts
//   capacity bytes its data as it starts (zeros where the input ends first)
//   the rest       steps, one byte each (modulo Step::count) and the operand some take
#pragma once

#include <cstdint>

namespace warmpool::fuzz {

enum class RingRole : std::uint8_t { submit, reply, control, lane };

constexpr std::uint64_t ring_capacity(std::uint8_t shape) {
    return std::uint64_t{64} << (shape % 7);
}
constexpr RingRole ring_role(std::uint8_t shape) { return static_cast<RingRole>((shape >> 3) % 4); }
// The shape byte of a ring of 64 << log64 bytes (log64 0..6) whose records have `role`.
constexpr std::uint8_t ring_shape(unsigned log64, RingRole role) {
    return static_cast<std::uint8_t>(log64 | static_cast<unsigned>(role) << 3);
}

enum class Step : std::uint8_t {
    peek,
    pop,
    release,
    look,     // empty_now() and only_peeked_left()
    produce,  // operand: u16 size (modulo half the capacity), u16 bytes left unused at commit
    publish,
    scribble_tail,  // operand: i32 added to the tail
    scribble_head,  // operand: i32 added to the head
    scribble_data,  // operand: u16 offset (modulo the capacity), u8 value
    new_consumer,   // another process takes over as consumer, from the indices in memory
    new_producer,   // likewise as producer; records it had not published are lost
    reply_room,     // operand: u16 body, u16 more for the largest body: the dispatcher's promise
    count
};

}  // namespace warmpool::fuzz
