#include "redis_session.hpp"

#include <chrono>
#include <cstring>
#include <utility>

#include "redis_job_entry.hpp"
#include "warmpool/common/clock.hpp"
#include "warmpool/job_error.hpp"

namespace warmpool::detail {

namespace {

// How long a submit or cancel keeps trying to reach a Redis that went away before it fails.
constexpr std::int64_t kSendRetryNs = 30'000'000'000;

// A Redis error answered to a job's XADD, as the JobError the caller sees.
JobError refused_job(std::string_view text) {
    const std::string why = "Redis refused the job: " + std::string(text);
    if (text.starts_with("OOM")) return JobError(ErrorKind::overloaded, why);
    if (text.starts_with("NOPERM")) return JobError(ErrorKind::permission, why);
    return JobError(ErrorKind::bad_request, why);
}

// The heartbeats of the gateways that are alive now, for the cluster's worker slots.
std::vector<std::string> live_heartbeats(RedisConnection& c, const redis_layout::Keys& keys) {
    std::vector<std::string> out;
    auto names = c.command({"SMEMBERS", keys.gateways()});
    if (!names || !names->value().is_array()) return out;
    for (std::size_t i = 0; i < names->value().size(); ++i) {
        auto heartbeat = c.command({"GET", keys.gateway(names->value()[i].text())});
        if (heartbeat && heartbeat->value().is_string()) out.emplace_back(heartbeat->text());
    }
    return out;
}

}  // namespace

std::shared_ptr<RedisSession> RedisSession::connect(std::string_view text, const ClientOptions& options) {
    auto endpoint = parse_redis_endpoint(text);
    if (!endpoint) throw ConnectError("invalid Redis endpoint '" + std::string(text) + "': " + endpoint.error().message());
    auto credentials = resolve_redis_credentials(*endpoint, options.redis_password_file);
    if (!credentials) {
        throw ConnectError("cannot read the credentials for " + endpoint->text() + ": " +
                           credentials.error().message());
    }
    const int timeout_ms = options.connect_timeout_ms;
    auto open = [&]() {
        auto c = RedisConnection::connect(*endpoint, *credentials, timeout_ms);
        if (!c) throw ConnectError(c.error().message());
        return std::move(c.value());
    };
    RedisConnection submit_connection = open();
    RedisConnection read_connection = open();
    const redis_layout::Keys keys(endpoint->cluster);
    const unsigned slots = cluster_worker_slots(live_heartbeats(submit_connection, keys));
    // A reply read may take as long as its BLOCK, and then as long as a submit's answer.
    RedisLink submit_link(*endpoint, *credentials, timeout_ms, timeout_ms, std::move(submit_connection));
    RedisLink read_link(*endpoint, *credentials, timeout_ms, RedisReplyReader::kBlockMs + timeout_ms,
                        std::move(read_connection));
    std::shared_ptr<RedisSession> session(
        new RedisSession(*endpoint, new_client_id(), slots, std::move(submit_link), std::move(read_link)));
    return session;
}

RedisSession::RedisSession(const RedisEndpoint& endpoint, std::string client_id, unsigned worker_slots,
                           RedisLink submit_link, RedisLink read_link)
    : info_{endpoint.cluster, 0, worker_slots, kRedisInlineBudget},
      keys_(endpoint.cluster),
      endpoint_text_(endpoint.text()),
      client_id_(std::move(client_id)),
      cap_(in_flight_cap(worker_slots)),
      link_(std::move(submit_link)),
      reader_(std::move(read_link), keys_.reply(client_id_), redis_layout::kDefaultReplyTtlS,
              [this](std::vector<ReplyEntry>& replies) { deliver(replies); }) {
    reader_.start();
}

RedisSession::~RedisSession() {
    {
        std::lock_guard lock(mu_);
        closing_ = true;
    }
    cv_.notify_all();
    const std::string reply_key = keys_.reply(client_id_);
    {
        std::lock_guard link_lock(link_mu_);
        // An entry that is no reply wakes the reader's blocked XREAD, so it sees it should stop.
        reader_.stop([&] {
            [[maybe_unused]] auto woken = link_.run_once(
                [&](RedisConnection& c) { return c.command({"XADD", reply_key, "*", "wake", "1"}); });
        });
        // Replies still to come have no one to read them.
        [[maybe_unused]] auto gone = link_.run_once([&](RedisConnection& c) { return c.command({"DEL", reply_key}); });
    }
    std::lock_guard lock(mu_);
    for (auto& [seq, pending] : jobs_) {
        JobSlot& slot = *pending.slot;
        slot.status = static_cast<std::uint16_t>(ErrorKind::shutting_down);
        slot.payload = "the client closed its session";
        completions_.complete(slot);
    }
    jobs_.clear();
}

std::shared_ptr<JobSlot> RedisSession::reserve(const CallOptions& options) {
    std::unique_lock lock(mu_);
    const auto started = std::chrono::steady_clock::now();
    while (jobs_.size() >= cap_ && !closing_) {
        if (!options.wait_if_full) throw JobError(ErrorKind::overloaded, "the client's jobs in flight are at their cap");
        if (options.max_wait.count() >= 0) {
            if (cv_.wait_until(lock, started + options.max_wait) == std::cv_status::timeout && jobs_.size() >= cap_) {
                throw JobError(ErrorKind::overloaded, "no room for the job within its max_wait");
            }
        } else {
            cv_.wait(lock);
        }
    }
    if (closing_) throw JobError(ErrorKind::shutting_down, "the client is closing its session");
    auto slot = std::make_shared<JobSlot>();
    slot->id = ++next_seq_;
    jobs_.emplace(slot->id, Pending{slot, {}});
    return slot;
}

void RedisSession::forget(std::uint64_t seq) {
    {
        std::lock_guard lock(mu_);
        jobs_.erase(seq);
    }
    cv_.notify_all();
}

Result<RedisReply> RedisSession::send(const RedisLink::Work& work) {
    const std::int64_t give_up = monotonic_ns() + kSendRetryNs;
    return link_.run(work, [&] { return monotonic_ns() < give_up; });
}

std::shared_ptr<JobSlot> RedisSession::submit(std::string_view function, std::uint32_t flags,
                                              std::uint64_t fingerprint, std::string_view payload,
                                              const CallOptions& options) {
    std::optional<std::int64_t> deadline_ms;
    if (options.deadline) {
        deadline_ms = deadline_unix_ms(*options.deadline, std::chrono::steady_clock::now(),
                                       std::chrono::system_clock::now());
    }
    // Checked (and thrown) before a seq is taken: nothing is sent for a job no gateway would take.
    std::vector<std::string> fields =
        job_entry_fields(client_id_, 0, function, flags, fingerprint, payload, options, deadline_ms);
    std::shared_ptr<JobSlot> slot = reserve(options);
    fields[1] = job_id(client_id_, slot->id);

    std::vector<std::string_view> command{"XADD"};
    const std::string jobs_key = keys_.jobs();
    command.push_back(jobs_key);
    command.push_back("*");
    for (const auto& f : fields) command.push_back(f);
    Result<RedisReply> added = make_error(SysError::Code::io, "not sent");
    {
        std::lock_guard link_lock(link_mu_);
        added = send([&](RedisConnection& c) { return c.command(command); });
    }
    if (!added || added->is_error()) {
        forget(slot->id);
        if (!added) {
            throw JobError(ErrorKind::shutting_down, "cannot send the job to " + endpoint_text_ + ": " +
                                                         added.error().message());
        }
        throw refused_job(added->text());
    }
    std::lock_guard lock(mu_);
    if (auto it = jobs_.find(slot->id); it != jobs_.end()) it->second.entry_id = std::string(added->text());
    return slot;
}

std::shared_ptr<JobSlot> RedisSession::submit_in_place(std::string_view function, std::uint32_t flags,
                                                       std::uint64_t fingerprint, std::size_t bytes,
                                                       const PayloadWriter& write, const CallOptions& options) {
    if (bytes > kRedisPayloadMax) {
        throw JobError(ErrorKind::bad_request, "the arguments take " + std::to_string(bytes) +
                                                   " bytes; a job sent through Redis may carry at most " +
                                                   std::to_string(kRedisPayloadMax) + " bytes");
    }
    std::string payload(bytes, '\0');
    write(reinterpret_cast<std::byte*>(payload.data()));
    return submit(function, flags, fingerprint, payload, options);
}

void RedisSession::deliver(std::vector<ReplyEntry>& replies) {
    {
        std::lock_guard lock(mu_);
        for (ReplyEntry& reply : replies) {
            auto it = jobs_.find(reply.seq);
            if (it == jobs_.end()) continue;  // not ours any more (or never: a stray entry)
            JobSlot& slot = *it->second.slot;
            slot.status = reply.status;
            slot.flags = reply.flags;
            slot.payload = std::move(reply.body);
            completions_.complete(slot);
            jobs_.erase(it);
        }
    }
    cv_.notify_all();
}

bool RedisSession::wait(JobSlot& slot, std::int64_t deadline_ns) {
    if (slot.done.load(std::memory_order_acquire)) return true;
    std::unique_lock lock(mu_);
    while (!slot.done.load(std::memory_order_acquire)) {
        if (deadline_ns < 0) {
            cv_.wait(lock);
            continue;
        }
        const std::int64_t left = deadline_ns - monotonic_ns();
        if (left <= 0) return false;
        cv_.wait_for(lock, std::chrono::nanoseconds(left));
    }
    return true;
}

void RedisSession::cancel(JobSlot& slot, bool force) {
    std::string entry_id;
    {
        std::lock_guard lock(mu_);
        auto it = jobs_.find(slot.id);
        if (slot.done.load(std::memory_order_acquire) || it == jobs_.end()) return;
        slot.cancel_requested = true;
        entry_id = it->second.entry_id;
    }
    // The cancel is the job's outcome if it comes first: the finish script, run as the client,
    // delivers it through our reply stream like any other, and deletes the entry so that no
    // gateway takes it later. Gateways running the job learn of it from the cancels stream.
    const std::string job = job_id(client_id_, slot.id);
    const std::string seq = std::to_string(slot.id);
    const std::string status = std::to_string(static_cast<unsigned>(ErrorKind::cancelled));
    const std::string done_ttl = std::to_string(redis_layout::kDefaultDoneTtlMs);
    const std::string reply_cap = std::to_string(redis_layout::kDefaultReplyCap);
    const std::string reply_ttl = std::to_string(redis_layout::kDefaultReplyTtlS);
    const std::string done_key = keys_.done(job), reply_key = keys_.reply(client_id_), jobs_key = keys_.jobs(),
                      stats_key = keys_.stats(), cancels_key = keys_.cancels();
    const std::string cancel_cap = std::to_string(redis_layout::kCancelStreamCap);
    const RedisScript finish{redis_layout::kFinishScript};
    std::lock_guard link_lock(link_mu_);
    [[maybe_unused]] auto finished = send([&](RedisConnection& c) {
        return c.run(finish, {done_key, reply_key, jobs_key, stats_key},
                     {redis_layout::kGroup, entry_id, done_ttl, reply_cap, reply_ttl, seq, status, "0",
                      "cancelled by the client", redis_layout::kClientFinisher});
    });
    [[maybe_unused]] auto told = send([&](RedisConnection& c) {
        return c.command({"XADD", cancels_key, "MAXLEN", "~", cancel_cap, "*", "job", job, "force", force ? "1" : "0"});
    });
}

void RedisSession::watch(JobSlot& slot) {
    bool queued = false;
    {
        std::lock_guard lock(mu_);
        queued = completions_.watch(slot);
    }
    if (queued) cv_.notify_all();
}

bool RedisSession::unwatch(JobSlot& slot) {
    std::lock_guard lock(mu_);
    return completions_.unwatch(slot);
}

std::size_t RedisSession::wait_completions(std::vector<std::uint64_t>& out, std::int64_t deadline_ns) {
    std::unique_lock lock(mu_);
    while (!completions_.ready().load(std::memory_order_acquire)) {
        if (deadline_ns < 0) {
            cv_.wait(lock);
            continue;
        }
        const std::int64_t left = deadline_ns - monotonic_ns();
        if (left <= 0) break;
        cv_.wait_for(lock, std::chrono::nanoseconds(left));
    }
    return completions_.take(out);
}

void RedisSession::wake_completions() {
    {
        std::lock_guard lock(mu_);
        completions_.wake();
    }
    cv_.notify_all();
}

}  // namespace warmpool::detail
