#include "redis_session.hpp"

#include <chrono>
#include <cstring>
#include <utility>

#include "redis_job_entry.hpp"
#include "redis_reconcile.hpp"
#include "warmpool/common/clock.hpp"
#include "warmpool/job_error.hpp"

namespace warmpool::detail {

namespace {

// A Redis error answered to a job's XADD, as the JobError the caller sees.
JobError refused_job(std::string_view text) {
    const std::string why = "Redis refused the job: " + std::string(text);
    if (text.starts_with("OOM")) return JobError(ErrorKind::overloaded, why);
    if (text.starts_with("NOPERM")) return JobError(ErrorKind::permission, why);
    return JobError(ErrorKind::bad_request, why);
}

// The heartbeats of the gateways that are alive now, for the cluster's worker slots and the
// settings they write replies with.
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
    const std::vector<std::string> heartbeats = live_heartbeats(submit_connection, keys);
    const std::int64_t unreachable_ms = options.redis_unreachable_ms > 0 ? options.redis_unreachable_ms : kDefaultRedisUnreachableMs;
    // A reply read may take as long as its BLOCK, and then as long as a submit's answer.
    RedisLink submit_link(*endpoint, *credentials, timeout_ms, timeout_ms, std::move(submit_connection));
    RedisLink read_link(*endpoint, *credentials, timeout_ms, RedisReplyReader::kBlockMs + timeout_ms,
                        std::move(read_connection));
    std::shared_ptr<RedisSession> session(new RedisSession(
        *endpoint, new_client_id(), cluster_worker_slots(heartbeats), cluster_reply_settings(heartbeats),
        unreachable_ms, std::move(submit_link), std::move(read_link)));
    return session;
}

RedisSession::RedisSession(const RedisEndpoint& endpoint, std::string client_id, unsigned worker_slots,
                           ReplySettings settings, std::int64_t unreachable_ms, RedisLink submit_link,
                           RedisLink read_link)
    : info_{endpoint.cluster, 0, worker_slots, kRedisInlineBudget},
      keys_(endpoint.cluster),
      endpoint_text_(endpoint.text()),
      client_id_(std::move(client_id)),
      cap_(in_flight_cap(worker_slots)),
      settings_(settings),
      unreachable_ms_(unreachable_ms),
      link_(std::move(submit_link)),
      server_run_id_(link_.server_id()),
      reader_(std::move(read_link), keys_.reply(client_id_), settings.reply_ttl_s,
              RedisReplyReader::Hooks{
                  [this](std::vector<ReplyEntry>& replies) { deliver(replies); },
                  [this](const std::string& run_id) {
                      outage_.store(false);
                      server_seen(run_id);
                  },
                  [this](RedisLink& link) { check_jobs(link); },
                  [this](std::int64_t ns) { unreachable_for(ns); },
              }) {
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
    fail_all_locked("the client closed its session");
}

void RedisSession::fail_all_locked(const std::string& why) {
    for (auto& [seq, pending] : jobs_) {
        JobSlot& slot = *pending.slot;
        slot.status = static_cast<std::uint16_t>(ErrorKind::shutting_down);
        slot.payload = why;
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
    if (outage_.load()) throw JobError(ErrorKind::shutting_down, unreachable_message(endpoint_text_, unreachable_ms_));
    auto slot = std::make_shared<JobSlot>();
    slot->id = ++next_seq_;
    jobs_.emplace(slot->id, Pending{slot, {}, {}, checks_});
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
    const std::int64_t give_up = monotonic_ns() + unreachable_ms_ * 1'000'000;
    auto result = link_.run(work, [&] { return monotonic_ns() < give_up && !outage_.load(); });
    if (link_.reconnects() != link_reconnects_) {
        link_reconnects_ = link_.reconnects();
        server_seen(link_.server_id());
    }
    return result;
}

void RedisSession::server_seen(const std::string& run_id) {
    std::lock_guard lock(mu_);
    if (server_changed(server_run_id_, run_id)) check_wanted_ = true;
    server_run_id_ = run_id;
}

void RedisSession::check_jobs(RedisLink& link) {
    if (!check_wanted_.load()) return;  // after every read: no lock taken for nothing
    std::vector<InFlightEntry> jobs;
    {
        std::lock_guard lock(mu_);
        if (!check_wanted_ || closing_) return;
        check_wanted_ = false;
        ++checks_;
        jobs.reserve(jobs_.size());
        for (const auto& [seq, pending] : jobs_) {
            // A job whose XADD has not answered yet is checked next time (see submit()).
            if (!pending.entry_id.empty()) jobs.push_back({seq, job_id(client_id_, seq), pending.entry_id});
        }
    }
    const auto again = [&] {
        std::lock_guard lock(mu_);
        check_wanted_ = true;
    };
    if (jobs.empty()) return;
    if (!link.use([&](RedisConnection& c) { return check_in_flight(c, keys_, jobs); })) return again();
    // Copies of the lost entries' fields: the table's may go (a reply, a failure) while they are sent.
    std::vector<std::uint64_t> lost;
    std::vector<std::vector<std::string>> fields;
    {
        std::lock_guard lock(mu_);
        for (const InFlightEntry& job : jobs) {
            auto it = jobs_.find(job.seq);
            if (it == jobs_.end()) continue;
            if (!job.lost) {
                it->second.entry_id = job.entry_id;
            } else {
                lost.push_back(job.seq);
                fields.push_back(it->second.fields);
            }
        }
    }
    if (lost.empty()) return;
    std::vector<const std::vector<std::string>*> entries;
    for (const auto& f : fields) entries.push_back(&f);
    std::vector<std::string> ids;
    const Status sent = link.use([&](RedisConnection& c) -> Status {
        auto added = resend_entries(c, keys_, entries);
        if (!added) return added.error();
        ids = std::move(added.value());
        return {};
    });
    if (!sent) return again();
    std::lock_guard lock(mu_);
    for (std::size_t i = 0; i < lost.size(); ++i) {
        auto it = jobs_.find(lost[i]);
        if (it != jobs_.end() && !ids[i].empty()) it->second.entry_id = ids[i];
    }
}

void RedisSession::unreachable_for(std::int64_t ns) {
    if (ns < unreachable_ms_ * 1'000'000 || outage_.exchange(true)) return;
    {
        std::lock_guard lock(mu_);
        fail_all_locked(unreachable_message(endpoint_text_, unreachable_ms_));
    }
    cv_.notify_all();
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
        if (!added) throw JobError(ErrorKind::shutting_down, unreachable_message(endpoint_text_, unreachable_ms_));
        throw refused_job(added->text());
    }
    std::lock_guard lock(mu_);
    if (auto it = jobs_.find(slot->id); it != jobs_.end()) {
        it->second.entry_id = std::string(added->text());
        it->second.fields = std::move(fields);  // the views of `command` are not used again
        // A check that began while the entry was being added did not see it: check again.
        if (it->second.checks_at_send != checks_) check_wanted_ = true;
    }
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
    const std::string done_ttl = std::to_string(settings_.done_ttl_ms);
    const std::string reply_cap = std::to_string(settings_.reply_cap);
    const std::string reply_ttl = std::to_string(settings_.reply_ttl_s);
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
