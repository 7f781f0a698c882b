#include "top_view.hpp"

#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <string_view>

namespace warmpool {

namespace {

using nlohmann::json;

// The value at `path` if it is a number, else `none`.
double number_at(const json& j, std::initializer_list<std::string_view> path, double none = -1) {
    const json* at = &j;
    for (std::string_view key : path) {
        if (!at->is_object()) return none;
        auto it = at->find(std::string(key));
        if (it == at->end()) return none;
        at = &*it;
    }
    return at->is_number() ? at->get<double>() : none;
}

std::string text_at(const json& j, std::string_view key, std::string none = "-") {
    if (!j.is_object()) return none;
    auto it = j.find(std::string(key));
    return it != j.end() && it->is_string() ? it->get<std::string>() : none;
}

std::string count_text(double n) {
    if (n < 0) return "-";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.0f", n);
    return buf;
}


std::string percent_text(double share) {
    if (share < 0) return "-";
    char buf[16];
    std::snprintf(buf, sizeof buf, "%.0f%%", share * 100);
    return buf;
}

// `text` cut to `width` display columns (bytes here: names are mostly ASCII; a cut never splits
// a UTF-8 sequence).
std::string fit(std::string text, std::size_t width) {
    if (width == 0 || text.size() <= width) return text;
    std::size_t cut = width > 1 ? width - 1 : 0;
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
    return text.substr(0, cut) + "~";
}

std::string row(const char* format, ...) __attribute__((format(printf, 1, 2)));
std::string row(const char* format, ...) {
    char buf[512];
    va_list args;
    va_start(args, format);
    std::vsnprintf(buf, sizeof buf, format, args);
    va_end(args);
    return std::string(buf) + "\n";
}

}  // namespace

std::string clip_lines(const std::string& frame, unsigned width) {
    if (width == 0) return frame;
    std::string out;
    std::size_t start = 0;
    while (start < frame.size()) {
        std::size_t end = frame.find('\n', start);
        if (end == std::string::npos) end = frame.size();
        out += fit(frame.substr(start, end - start), width) + "\n";
        start = end + 1;
    }
    return out;
}

std::string bytes_text(double bytes) {
    if (bytes < 0) return "-";
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (bytes >= 1024 && u < 4) bytes /= 1024, ++u;
    char buf[32];
    std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", bytes, units[u]);
    return buf;
}

std::string short_duration(double seconds) {
    if (seconds < 0 || std::isnan(seconds)) return "-";
    char buf[32];
    if (seconds < 1e-6) {
        std::snprintf(buf, sizeof buf, "%.0f ns", seconds * 1e9);
    } else if (seconds < 1e-3) {
        std::snprintf(buf, sizeof buf, seconds < 1e-5 ? "%.1f µs" : "%.0f µs", seconds * 1e6);
    } else if (seconds < 1) {
        std::snprintf(buf, sizeof buf, seconds < 1e-2 ? "%.1f ms" : "%.0f ms", seconds * 1e3);
    } else if (seconds < 60) {
        std::snprintf(buf, sizeof buf, "%.1f s", seconds);
    } else {
        std::snprintf(buf, sizeof buf, "%.0fm%02.0fs", std::floor(seconds / 60),
                      std::fmod(std::floor(seconds), 60));
    }
    return buf;
}

std::string render_top(const json& s, unsigned width) {
    std::string out;
    const double uptime = number_at(s, {"uptime_seconds"});
    out += row("warmpool top - pool %s (%s), pid %s, up %s", text_at(s, "pool").c_str(),
               text_at(s, "state").c_str(), count_text(number_at(s, {"pid"})).c_str(),
               short_duration(uptime).c_str());
    out +=
        row("jobs: %s submitted, %s completed, %s failed, %s direct   queue: %s waiting (max %s, "
            "capacity %s)",
            count_text(number_at(s, {"jobs", "submitted"})).c_str(),
            count_text(number_at(s, {"jobs", "completed"})).c_str(),
            count_text(number_at(s, {"jobs", "failed"})).c_str(),
            count_text(number_at(s, {"jobs", "direct"})).c_str(),
            count_text(number_at(s, {"queue", "depth"})).c_str(),
            count_text(number_at(s, {"queue", "max"})).c_str(),
            count_text(number_at(s, {"queue", "capacity"})).c_str());

    const json workers = s.is_object() ? s.value("workers", json::object()) : json::object();
    out += row("\nWORKERS %s live of %s, %s busy", count_text(number_at(workers, {"live"})).c_str(),
               count_text(number_at(workers, {"configured"})).c_str(),
               count_text(number_at(workers, {"busy"})).c_str());
    out += row("%-4s %-8s %-9s %-20s %-9s %-8s %-8s %-10s %s", "SLOT", "PID", "STATE", "FUNCTION",
               "BUSY FOR", "BUSY 1m", "BUSY", "RSS", "JOBS");
    for (const json& w : workers.value("rows", json::array())) {
        std::string function = text_at(w, "current_function");
        if (w.is_object() && w.value("by_lane", false)) function += " (lane)";
        out +=
            row("%-4s %-8s %-9s %-20s %-9s %-8s %-8s %-10s %s",
                count_text(number_at(w, {"slot"})).c_str(),
                count_text(number_at(w, {"pid"})).c_str(), text_at(w, "state").c_str(),
                fit(function, 20).c_str(), short_duration(number_at(w, {"busy_seconds"})).c_str(),
                percent_text(number_at(w, {"busy_fraction", "last_minute"})).c_str(),
                percent_text(number_at(w, {"busy_fraction", "since_start"})).c_str(),
                bytes_text(number_at(w, {"rss_bytes"})).c_str(),
                count_text(number_at(w, {"jobs_done"})).c_str());
    }

    const double window = number_at(s, {"latency", "window_seconds"}, 60);
    // The rate over the last minute, or over the uptime while that is shorter.
    const double span = uptime > 0 && uptime < window ? uptime : window;
    out += row("\nFUNCTIONS (last %.0f s)", window);
    out += row("%-24s %9s %9s %9s %9s %9s %9s", "FUNCTION", "RATE/s", "WAIT p50", "WAIT p99",
               "RUN p50", "RUN p99", "RUN max");
    const json latency = s.is_object() ? s.value("latency", json::object()) : json::object();
    for (const json& f :
         latency.is_object() ? latency.value("functions", json::array()) : json::array()) {
        const double count = number_at(f, {"run_time", "last_minute", "count"});
        char rate[32] = "-";
        if (count >= 0 && span > 0) std::snprintf(rate, sizeof rate, "%.1f", count / span);
        auto figure = [&](const char* which, const char* p) {
            // Percentiles of an empty minute are 0: nothing ran.
            return count > 0 ? short_duration(number_at(f, {which, "last_minute", p}))
                             : std::string("-");
        };
        out += row("%-24s %9s %9s %9s %9s %9s %9s", fit(text_at(f, "function"), 24).c_str(), rate,
                   figure("queue_wait", "p50").c_str(), figure("queue_wait", "p99").c_str(),
                   figure("run_time", "p50").c_str(), figure("run_time", "p99").c_str(),
                   figure("run_time", "max").c_str());
    }

    const json sessions = s.is_object() ? s.value("sessions", json::object()) : json::object();
    out += row("\nSESSIONS %s active (max %s)", count_text(number_at(sessions, {"active"})).c_str(),
               count_text(number_at(sessions, {"max"})).c_str());
    out += row("%-4s %-8s %-20s %-8s %10s %10s %8s %9s", "SLOT", "PID", "CLIENT", "STATE",
               "SUBMITTED", "COMPLETED", "QUEUED", "IN FLIGHT");
    for (const json& c : sessions.value("rows", json::array())) {
        out += row("%-4s %-8s %-20s %-8s %10s %10s %8s %9s",
                   count_text(number_at(c, {"slot"})).c_str(),
                   count_text(number_at(c, {"pid"})).c_str(), fit(text_at(c, "client"), 20).c_str(),
                   text_at(c, "state").c_str(), count_text(number_at(c, {"submitted"})).c_str(),
                   count_text(number_at(c, {"completed"})).c_str(),
                   count_text(number_at(c, {"queued"})).c_str(),
                   count_text(number_at(c, {"in_flight"})).c_str());
    }
    return clip_lines(out, width);
}

}  // namespace warmpool
