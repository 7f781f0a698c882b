// detail::RedisSession: a session with a scale-out cluster through Redis streams (the design:
// redis_layout.hpp and docs/ARCHITECTURE.md, "Scale-out"). Private to libwarmpool.
//
// Owns the client's id (random, 16 hex digits, naming its reply stream), the connection jobs and
// cancels are sent on (a RedisLink, used by one submitting thread at a time under link_mu_), the
// jobs awaiting their reply (seq -> slot and the job's stream entry id), the completion queue,
// and the RedisReplyReader whose thread delivers every reply. A job's future is resolved only by
// its one reply entry, so it is resolved exactly once whoever finished the job (a gateway, or
// this client's own cancel run through the finish script).
//
// Each job in flight keeps its entry's fields until its reply: if Redis loses data (the server's
// run_id changes on a reconnection of either link), the reader's thread checks every job in
// flight (redis_reconcile.hpp) and adds the lost ones again. If Redis cannot be reached for
// ClientOptions::redis_unreachable_ms, every job in flight fails with shutting_down and submits
// fail the same way until the reader reaches Redis again.
//
// mu_ guards the job table, the completion queue, closing_ and the recovery state (the server's
// run_id, whether a check is wanted); cv_ wakes the threads waiting for a reply, for the
// completion queue or for room under the in-flight cap. Lock order: link_mu_ before mu_, never
// the other way round.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "completion_queue.hpp"
#include "redis_job_entry.hpp"
#include "redis_link.hpp"
#include "redis_reply_reader.hpp"
#include "session.hpp"
#include "warmpool/client.hpp"
#include "warmpool/redis/redis_layout.hpp"

namespace warmpool::detail {

class RedisSession final : public Session {
public:
    // Connects to the cluster an endpoint ("redis://[USER@]HOST[:PORT]/CLUSTER") names. Throws
    // ConnectError for a malformed endpoint, credentials that cannot be read, or a Redis that
    // cannot be reached or refuses them.
    static std::shared_ptr<RedisSession> connect(std::string_view endpoint, const ClientOptions& options);
    ~RedisSession() override;

    std::shared_ptr<JobSlot> submit(std::string_view function, std::uint32_t flags, std::uint64_t fingerprint,
                                    std::string_view payload, const CallOptions& options) override;
    std::shared_ptr<JobSlot> submit_in_place(std::string_view function, std::uint32_t flags,
                                             std::uint64_t fingerprint, std::size_t bytes,
                                             const PayloadWriter& write, const CallOptions& options) override;
    void give_back_payload(std::string&&) override {}
    bool wait(JobSlot& slot, std::int64_t deadline_ns) override;
    void cancel(JobSlot& slot, bool force) override;
    void watch(JobSlot& slot) override;
    bool unwatch(JobSlot& slot) override;
    std::size_t wait_completions(std::vector<std::uint64_t>& out, std::int64_t deadline_ns) override;
    void wake_completions() override;
    const SessionInfo& info() const override { return info_; }

private:
    RedisSession(const RedisEndpoint& endpoint, std::string client_id, unsigned worker_slots, ReplySettings settings,
                 std::int64_t unreachable_ms, RedisLink submit_link, RedisLink read_link);

    struct Pending {
        std::shared_ptr<JobSlot> slot;
        std::string entry_id;             // in the job stream, once XADD answered
        std::vector<std::string> fields;  // the entry's, once XADD answered: to add it again
        std::uint64_t checks_at_send = 0;  // checks_ when it was sent
    };
    // Takes a seq and a place in the table, waiting for room as `options` allow.
    std::shared_ptr<JobSlot> reserve(const CallOptions& options);
    void forget(std::uint64_t seq);
    // The reader's delivery: resolves each reply's slot.
    void deliver(std::vector<ReplyEntry>& replies);
    // Runs `work` on the submit connection, retrying over reconnects for up to unreachable_ms_.
    Result<RedisReply> send(const RedisLink::Work& work);
    // A link reached the server `run_id`: if it is another than before, the jobs in flight are checked.
    void server_seen(const std::string& run_id);
    // On the reader's thread, when a check is wanted: the jobs lost with Redis's data are sent again.
    void check_jobs(RedisLink& link);
    // On the reader's thread: Redis has not answered for `ns`.
    void unreachable_for(std::int64_t ns);
    // Every job in flight ends with shutting_down and `why`; the caller holds mu_.
    void fail_all_locked(const std::string& why);

    SessionInfo info_;
    redis_layout::Keys keys_;
    std::string endpoint_text_;
    std::string client_id_;
    std::size_t cap_;
    ReplySettings settings_;
    std::int64_t unreachable_ms_;
    std::atomic<bool> outage_{false};  // Redis unreachable past unreachable_ms_ (the reader says)

    std::mutex link_mu_;
    RedisLink link_;
    std::uint64_t link_reconnects_ = 0;  // under link_mu_: the submit link's, last seen

    std::mutex mu_;
    std::condition_variable cv_;
    std::unordered_map<std::uint64_t, Pending> jobs_;
    CompletionQueue completions_;
    std::uint64_t next_seq_ = 0;
    bool closing_ = false;
    std::string server_run_id_;
    std::atomic<bool> check_wanted_{false};  // written under mu_; read without it by the reader's loop
    std::uint64_t checks_ = 0;  // checks started

    RedisReplyReader reader_;  // last: its thread calls deliver(), so it stops first
};

}  // namespace warmpool::detail
