// The progress line of `warmpool map`: map_progress.hpp.
#include "map_progress.hpp"

#include <cmath>

#include "warmpool/common/clock.hpp"

namespace warmpool::cli {

bool progress_wanted(ProgressMode mode, bool stderr_is_terminal) {
    switch (mode) {
        case ProgressMode::on: return true;
        case ProgressMode::off: return false;
        case ProgressMode::automatic: break;
    }
    return stderr_is_terminal;
}

bool redraw_due(std::int64_t now_ns, std::int64_t last_draw_ns) { return now_ns - last_draw_ns >= kRedrawIntervalNs; }

double items_per_second(const ProgressFigures& f) {
    return f.elapsed_seconds > 0 ? static_cast<double>(f.done) / f.elapsed_seconds : 0;
}

std::optional<double> seconds_left(const ProgressFigures& f) {
    const double rate = items_per_second(f);
    if (!f.total || rate <= 0) return std::nullopt;
    const std::uint64_t left = *f.total > f.done ? *f.total - f.done : 0;
    return static_cast<double>(left) / rate;
}

std::string duration_text(double seconds) {
    const auto s = static_cast<long long>(std::ceil(std::max(0.0, seconds)));
    char buf[32];
    if (s < 60) {
        std::snprintf(buf, sizeof buf, "%llds", s);
    } else if (s < 3600) {
        std::snprintf(buf, sizeof buf, "%lldm%02llds", s / 60, s % 60);
    } else {
        std::snprintf(buf, sizeof buf, "%lldh%02lldm", s / 3600, s / 60 % 60);
    }
    return buf;
}

std::string progress_line(const ProgressFigures& f) {
    const double rate = items_per_second(f);
    char rate_text[32];
    std::snprintf(rate_text, sizeof rate_text, rate >= 100 ? "%.0f/s" : "%.1f/s", rate);
    std::string line = "map: " + std::to_string(f.done);
    if (f.total) {
        const double percent = *f.total > 0 ? 100.0 * static_cast<double>(f.done) / static_cast<double>(*f.total) : 100;
        char share[16];
        std::snprintf(share, sizeof share, " (%.0f%%)", std::floor(percent));
        line += "/" + std::to_string(*f.total) + share;
    } else {
        line += " done";
    }
    line += "  ";
    line += rate_text;
    if (const auto left = seconds_left(f); left && f.done > 0) line += "  ETA " + duration_text(*left);
    return line;
}

ProgressMeter::ProgressMeter(std::FILE* out, bool enabled)
    : out_(out), enabled_(enabled), started_ns_(monotonic_ns()) {}

void ProgressMeter::show() {
    if (enabled_) draw(monotonic_ns());
}

void ProgressMeter::hide() {
    if (drawn_width_ == 0) return;
    std::fprintf(out_, "\r%*s\r", static_cast<int>(drawn_width_), "");
    std::fflush(out_);
    drawn_width_ = 0;
}

void ProgressMeter::redraw_if_due() {
    const std::int64_t now = monotonic_ns();
    if (redraw_due(now, last_draw_ns_)) draw(now);
}

void ProgressMeter::draw(std::int64_t now_ns) {
    last_draw_ns_ = now_ns;
    const ProgressFigures figures{done_, total_, static_cast<double>(now_ns - started_ns_) / 1e9};
    const std::string line = progress_line(figures);
    // Padded over a longer line drawn before, so none of it is left behind.
    const int pad = drawn_width_ > line.size() ? static_cast<int>(drawn_width_ - line.size()) : 0;
    std::fprintf(out_, "\r%s%*s", line.c_str(), pad, "");
    std::fflush(out_);
    drawn_width_ = std::max(drawn_width_, line.size());
}

std::vector<ItemResult> map_json_lines(Client& client, std::string_view function, const std::vector<std::string>& lines,
                                       const MapOptions& options, ProgressMeter& meter) {
    if (!meter.enabled()) return client.map_json(function, lines, options);
    meter.show();
    std::vector<ItemResult> results(lines.size());
    client.map_encoded(
        function, Encoding::json, 0, lines.size(), [&](std::size_t i, std::string& out) { out += lines[i]; },
        [&](std::size_t i, std::uint16_t status, std::string_view bytes) {
            ItemResult& result = results[i];
            result.ok = status == 0;
            if (!result.ok) result.error = error_kind_from_code(status).value_or(ErrorKind::bad_request);
            result.value.assign(bytes);
            meter.item_done();
        },
        options);
    return results;
}

}  // namespace warmpool::cli
