#include "redis_reconcile.hpp"

#include <algorithm>
#include <cstdio>

namespace warmpool::detail {

std::string run_id_from_info(std::string_view info) {
    constexpr std::string_view kField = "run_id:";
    std::size_t at = 0;
    while (at < info.size()) {
        const std::size_t end = std::min(info.find('\n', at), info.size());
        std::string_view line = info.substr(at, end - at);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.starts_with(kField)) return std::string(line.substr(kField.size()));
        at = end + 1;
    }
    return {};
}

bool server_changed(std::string_view known, std::string_view seen) { return known.empty() || seen.empty() || known != seen; }

Decision reconcile_decision(std::string_view entry_id, const EntryFacts& facts) {
    if (facts.done || facts.entry_present) return {Verdict::keep, std::string(entry_id)};
    if (facts.requeued_to && !facts.requeued_to->empty() && *facts.requeued_to != entry_id) {
        return {Verdict::follow, *facts.requeued_to};
    }
    return {Verdict::resend, {}};
}

std::string unreachable_message(std::string_view endpoint, std::int64_t limit_ms) {
    char seconds[32];
    if (limit_ms % 1000 == 0) {
        std::snprintf(seconds, sizeof seconds, "%lld", static_cast<long long>(limit_ms / 1000));
    } else {
        std::snprintf(seconds, sizeof seconds, "%.1f", static_cast<double>(limit_ms) / 1000.0);
    }
    return "Redis at " + std::string(endpoint) + " was unreachable for " + seconds + " s; the job's outcome is unknown";
}

Status check_in_flight(RedisConnection& redis, const redis_layout::Keys& keys, std::vector<InFlightEntry>& jobs,
                       std::size_t chunk) {
    const std::string jobs_key = keys.jobs();
    std::vector<std::size_t> open(jobs.size());
    for (std::size_t i = 0; i < jobs.size(); ++i) open[i] = i;
    std::vector<int> follows(jobs.size(), 0);
    std::vector<std::string> names;  // the keys a pipeline's commands point into
    while (!open.empty()) {
        std::vector<std::size_t> again;
        for (std::size_t from = 0; from < open.size(); from += chunk) {
            const std::size_t to = std::min(open.size(), from + chunk);
            names.clear();
            names.reserve(2 * (to - from));
            for (std::size_t k = from; k < to; ++k) {
                const InFlightEntry& job = jobs[open[k]];
                names.push_back(keys.requeued(job.job));
                names.push_back(keys.done(job.job));
                redis.append({"GET", names[names.size() - 2]});
                redis.append({"XRANGE", jobs_key, job.entry_id, job.entry_id});
                // The fence last: a job finished while it is checked is then seen done.
                redis.append({"EXISTS", names.back()});
            }
            for (std::size_t k = from; k < to; ++k) {
                InFlightEntry& job = jobs[open[k]];
                auto requeued = redis.read_reply();
                auto entry = redis.read_reply();
                auto done = redis.read_reply();
                if (!requeued || !entry || !done) {
                    return make_error(SysError::Code::io, "lost Redis while checking the jobs in flight: " +
                                                              redis.error_text());
                }
                EntryFacts facts;
                facts.done = done->value().is_integer() && done->value().integer() == 1;
                facts.entry_present = entry->value().is_array() && entry->value().size() > 0;
                if (requeued->value().is_string() && !requeued->is_error()) {
                    facts.requeued_to = std::string(requeued->text());
                }
                Decision decision = reconcile_decision(job.entry_id, facts);
                if (decision.verdict == Verdict::resend) {
                    job.lost = true;
                } else if (decision.verdict == Verdict::follow && ++follows[open[k]] <= kMaxFollows) {
                    job.entry_id = std::move(decision.entry_id);
                    again.push_back(open[k]);
                } else if (decision.verdict == Verdict::keep) {
                    job.entry_id = std::move(decision.entry_id);
                }
            }
        }
        open = std::move(again);
    }
    return {};
}

Result<std::vector<std::string>> resend_entries(RedisConnection& redis, const redis_layout::Keys& keys,
                                                const std::vector<const std::vector<std::string>*>& fields) {
    std::vector<std::string> ids;
    if (fields.empty()) return ids;
    const std::string jobs_key = keys.jobs();
    std::vector<std::string_view> command;
    for (const auto* entry : fields) {
        command.assign({"XADD", jobs_key, "*"});
        for (const auto& f : *entry) command.push_back(f);
        redis.append(command);
    }
    const std::string count = std::to_string(fields.size());
    const std::string stats_key = keys.stats();
    redis.append({"HINCRBY", stats_key, redis_layout::stat::resent, count});
    for (std::size_t i = 0; i <= fields.size(); ++i) {
        auto reply = redis.read_reply();
        if (!reply) return make_error(SysError::Code::io, "lost Redis while sending jobs again: " + redis.error_text());
        if (i < fields.size()) ids.emplace_back(reply->value().is_string() && !reply->is_error() ? reply->text() : "");
    }
    return ids;
}

}  // namespace warmpool::detail
