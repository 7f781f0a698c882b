// warmpool::Client: a connection to one pool, for submitting jobs and collecting results.
//
//   auto pool = warmpool::Client::connect("default");
//   auto f = pool.submit<std::int64_t>("gcd", std::pair<std::int64_t, std::int64_t>{12, 18});
//   std::int64_t g = f.get();                                // 6
//   auto all = pool.map<std::int64_t>("gcd", pairs);         // batched, results in input order
//
// Jobs travel through shared memory; the socket only sets the session up. A Client is safe to
// share between threads; moving it is not safe while other threads use it. The session lasts
// while the Client or any of its futures does: pending futures stay valid after the Client is
// destroyed, and the session ends when the last of them goes.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "warmpool/bytes.hpp"
#include "warmpool/call_options.hpp"
#include "warmpool/future.hpp"
#include "warmpool/huge_page_advice.hpp"
#include "warmpool/job_error.hpp"
#include "warmpool/serialization.hpp"

namespace warmpool {

// One item of a map whose items may fail individually.
struct ItemResult {
    bool ok = false;
    ErrorKind error{};      // when !ok
    std::string value;      // the encoded result, or the error message when !ok
};

// How long a cluster client waits out an unreachable Redis by default (ClientOptions).
inline constexpr int kDefaultRedisUnreachableMs = 30'000;

struct ClientOptions {
    std::string runtime_dir;  // empty: $WARMPOOL_RUNTIME_DIR, $XDG_RUNTIME_DIR/warmpool, /tmp/warmpool-$UID
    std::string client_name;  // shown in the pool's status; empty: this program's name
    int connect_timeout_ms = 5000;
    // For a cluster endpoint (redis://...): the file holding the Redis password. Empty:
    // $WARMPOOL_REDIS_PASSWORD_FILE, else $WARMPOOL_REDIS_PASSWORD, else no password.
    std::string redis_password_file;
    // For a cluster endpoint: how long Redis may be unreachable before every job in flight fails
    // with shutting_down (its outcome unknown) and submits fail the same way until Redis is back;
    // also how long a submit or cancel keeps trying to reach it. 0 or less: the default.
    int redis_unreachable_ms = kDefaultRedisUnreachableMs;
};

class Client {
public:
    using Options = ClientOptions;

    // Connects to the pool named `pool` (empty: $WARMPOOL_POOL, else "default"), or to a
    // scale-out cluster when `pool` is an endpoint "redis://[USER@]HOST[:PORT]/CLUSTER" (jobs
    // then go through Redis to the cluster's gateways; docs/ARCHITECTURE.md, "Scale-out").
    // Throws ConnectError if there is no such pool, Redis cannot be reached, or either refuses us.
    static Client connect(std::string_view pool = {}, const Options& options = {});
    // Connects through an explicit control-socket path.
    static Client connect_socket(const std::string& socket_path, const Options& options = {});

    Client(Client&&) noexcept;
    Client& operator=(Client&&) noexcept;
    ~Client();

    // A large argument is encoded straight into shared memory reused from call to call.
    template <class R, class A>
    Future<R> submit(std::string_view function, const A& args, const CallOptions& options = {}) {
        const std::size_t bytes = binary_size(args);
        if (bytes <= inline_max()) {
            return Future<R>(submit_encoded(function, Encoding::binary, type_fingerprint<R, A>(),
                                            to_binary(args), options));
        }
        return Future<R>(submit_in_place(
            function, type_fingerprint<R, A>(), bytes,
            [&](std::byte* out) { write_binary(args, out, bytes); }, options));
    }
    // As submit, but fails with `overloaded` at once instead of waiting when the pool is full.
    template <class R, class A>
    Future<R> try_submit(std::string_view function, const A& args, CallOptions options = {}) {
        options.wait_if_full = false;
        return submit<R>(function, args, options);
    }
    template <class R, class A>
    R call(std::string_view function, const A& args, const CallOptions& options = {}) {
        return submit<R>(function, args, options).get();
    }

    // Calls `function` on every input, in batches; results come back in input order. The first
    // failed item's error is thrown (after every batch has finished).
    template <class R, class A>
    std::vector<R> map(std::string_view function, const std::vector<A>& inputs, const MapOptions& options = {}) {
        std::vector<R> results = make_large_vector<R>(inputs.size());
        std::optional<JobError> first_error;
        map_encoded(
            function, Encoding::binary, type_fingerprint<R, A>(), inputs.size(),
            [&](std::size_t i, std::string& out) { append_binary(inputs[i], out); },
            [&](std::size_t i, std::uint16_t status, std::string_view bytes) {
                if (first_error) return;
                if (status != 0) {
                    first_error.emplace(error_kind_from_code(status).value_or(ErrorKind::bad_request),
                                        std::string(bytes));
                    return;
                }
                try {
                    results[i] = from_binary<R>(bytes);
                } catch (const DecodeError& e) {
                    first_error.emplace(ErrorKind::type_mismatch, std::string("cannot decode a result: ") + e.what());
                }
            },
            options);
        if (first_error) throw *first_error;
        return results;
    }

    // JSON in, JSON out: what the command line and other languages use.
    RawFuture submit_json(std::string_view function, std::string_view json_args, const CallOptions& options = {});
    std::vector<ItemResult> map_json(std::string_view function, const std::vector<std::string>& json_args,
                                     const MapOptions& options = {});

    // Low level: an already-encoded argument. fingerprint 0 skips the type check.
    RawFuture submit_encoded(std::string_view function, Encoding encoding, std::uint64_t fingerprint,
                             std::string payload, const CallOptions& options = {});
    // Lowest level: forwards a job record as received (warmpool-gateway): `flags` are its JobFlags
    // (encoding, kJobBatch) and `payload` its bytes, passed on unchanged; the pool checks them.
    RawFuture submit_record(std::string_view function, std::uint32_t flags, std::uint64_t fingerprint,
                            std::string payload, const CallOptions& options = {});
    // Low level: a binary argument of `bytes` bytes that `write` encodes into `out` (which has
    // exactly that room: shared memory the job reads it from), before this returns.
    using PayloadWriter = std::function<void(std::byte* out)>;
    RawFuture submit_in_place(std::string_view function, std::uint64_t fingerprint, std::size_t bytes,
                              const PayloadWriter& write, const CallOptions& options = {});
    // As above, for an argument in another encoding (JSON text or a pickle envelope).
    RawFuture submit_in_place(std::string_view function, Encoding encoding, std::size_t bytes,
                              const PayloadWriter& write, const CallOptions& options = {});
    // Low level map: write_item appends item i's encoded argument; read_item receives item i's
    // outcome (status 0 and the encoded result, or an ErrorKind code and the message), batch by
    // batch in input order. Only a bounded window of batches is in flight at once, so memory
    // stays flat however many items there are.
    using ItemWriter = std::function<void(std::size_t index, std::string& out)>;
    using ItemReader = std::function<void(std::size_t index, std::uint16_t status, std::string_view bytes)>;
    void map_encoded(std::string_view function, Encoding encoding, std::uint64_t fingerprint, std::size_t count,
                     const ItemWriter& write_item, const ItemReader& read_item, const MapOptions& options);
    // Lowest level map, for callers that keep their own window of batches: one batch record of
    // already-encoded items (JSON or pickle; binary ones are not type-checked). read_batch()
    // hands each item's outcome of the finished batch to read_item, as map_encoded does; false
    // if the reply is not a well-formed batch of `count` results.
    RawFuture submit_batch(std::string_view function, Encoding encoding, const std::vector<std::string_view>& items,
                           const CallOptions& options = {});
    static bool read_batch(std::string_view reply, std::size_t count, const ItemReader& read_item);

    // Completion notices, for a thread that follows many futures at once (an executor): once
    // watched, a future's id is queued when it finishes (at once if it has), exactly once.
    void watch(const RawFuture& future);
    // Stops watching: true if the future was watched and had not finished, so its id will never
    // be queued (its waiter takes over); false if it was not watched or is queued already.
    bool unwatch(const RawFuture& future);
    // Moves the queued ids into `out`, waiting until there is at least one, wake_completions()
    // is called or `timeout` passes (negative: no limit). While it waits, this thread collects
    // the replies of the whole session. Returns how many ids it added.
    std::size_t wait_completions(std::vector<std::uint64_t>& out, std::chrono::nanoseconds timeout);
    // Makes a wait_completions() in another thread return now (with whatever is queued).
    void wake_completions();

    const std::string& pool_name() const;
    pid_t supervisor_pid() const;
    // Worker slots of the pool (the most workers it can have at once).
    unsigned worker_slots() const;
    // Payloads larger than this travel in shared memory of their own rather than in a ring.
    std::size_t inline_max() const;

private:
    explicit Client(std::shared_ptr<detail::Session> session);
    std::shared_ptr<detail::Session> session_;
};

// The pool's status as its status socket's JSON text (docs/PROTOCOL.md); for a scale-out
// cluster's endpoint (redis://...), cluster_status()'s JSON. Throws ConnectError if the pool
// cannot be reached or sends nothing.
std::string pool_status(std::string_view pool = {}, const std::string& runtime_dir = {}, int timeout_ms = 5000);

// Sends an admin command ("stop") over a fresh connection; returns the pool's answer.
// Throws ConnectError if the pool cannot be reached, JobError(bad_request) if it refuses.
std::string admin_command(std::string_view pool, const std::string& runtime_dir, const std::string& command);

// Sets the pool's target worker count (`warmpool scale N`): in static mode the count, in dynamic
// and ondemand modes the fewest workers kept. Admin only, as admin_command; throws as it does.
std::string scale_pool(std::string_view pool, const std::string& runtime_dir, unsigned workers);

}  // namespace warmpool
