// JobOutput: where a raw job writes its encoded result, in place.
//
//   void echo(warmpool::Encoding, std::string_view args, warmpool::JobOutput& out) {
//       out.append(args);
//   }
//   WARMPOOL_EXPORT_RAW("echo", echo);
//
// The worker decides where the bytes go: a large result is written straight into the shared
// memory its client reads it from (no intermediate copy, no fresh pages); a small one into a
// buffer the worker keeps. A job that knows its result's size asks for it in one extend(), so the
// worker picks the right place at once; growing later costs a copy of what was written.
//
// Owned by the worker and valid for one call only; used by the one thread running the job.
#pragma once

#include <cstddef>
#include <cstring>
#include <string>
#include <string_view>

namespace warmpool {

class JobOutput {
public:
    virtual ~JobOutput() = default;

    // Makes room for `n` more bytes at the end and returns where they go. Pointers returned
    // earlier, and data(), are invalid afterwards. Throws std::bad_alloc if there is no room.
    virtual char* extend(std::size_t n) = 0;
    // Drops bytes from the end (to undo a too generous extend()).
    virtual void shrink(std::size_t new_size) = 0;
    virtual std::size_t size() const = 0;
    virtual const char* data() const = 0;

    void append(std::string_view bytes) {
        if (!bytes.empty()) std::memcpy(extend(bytes.size()), bytes.data(), bytes.size());
    }
};

// A JobOutput appending to a std::string: for callers (tests, batches) that want the bytes in one.
class StringJobOutput final : public JobOutput {
public:
    explicit StringJobOutput(std::string& out) : out_(out) {}
    char* extend(std::size_t n) override {
        const std::size_t at = out_.size();
        out_.resize(at + n);
        return out_.data() + at;
    }
    void shrink(std::size_t new_size) override {
        if (new_size < out_.size()) out_.resize(new_size);
    }
    std::size_t size() const override { return out_.size(); }
    const char* data() const override { return out_.data(); }

private:
    std::string& out_;
};

}  // namespace warmpool
