// ArgumentBlobs: the blobs a client session writes large arguments into, reused from call to
// call. Private to libwarmpool.
//
// Owns the session's argument BlobPool. Any thread may call it (its own mutex): a submitting
// thread acquires a blob, writes and publishes it; the drainer releases it when the job's
// terminal reply arrives (no worker reads it any more). Each new blob's memfd is offered to the
// supervisor over the control socket before a job names it (the worker that runs the job gets it
// from there); a retired one is let go of the same way. Of the shared memory it writes only the
// headers of its own blobs (BlobPool).
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>

#include "control_socket.hpp"
#include "warmpool/common/blob_pool.hpp"

namespace warmpool::detail {

class ArgumentBlobs {
public:
    // The blobs are named after the pool and this process; `control` must outlive this object
    // (it hears of every blob retired, the last ones from the destructor).
    ArgumentBlobs(const std::string& pool_name, ControlSocket& control);

    // A blob with room for `bytes`, marked writing; fails if a new one cannot be made or offered.
    Result<BlobPool::Blob> acquire(std::size_t bytes);
    // Frees a blob acquired here, for reuse (or retirement beyond the pool's limits).
    void release(std::uint64_t object);

private:
    std::mutex mu_;
    BlobPool pool_;
};

}  // namespace warmpool::detail
