// The progress line of `warmpool map` on stderr: items done and, once known, the total, the
// rate and the time left, redrawn in place with "\r" at most ten times a second and cleared at
// the end. Shown when stderr is a terminal; --progress and --no-progress force it on or off.
//
// The decisions (whether to show it, when to redraw, the rate, the time left, the text) are the
// pure functions below. ProgressMeter draws; map_json_lines() runs a map and feeds it. The meter
// belongs to the thread that runs the map: the client library hands each item's outcome to
// that thread, batch by batch (Client::map_encoded), so no lock is taken and a meter that is
// off costs one test of a flag an item.
#pragma once

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "warmpool/client.hpp"

namespace warmpool::cli {

enum class ProgressMode { automatic, on, off };

// Shown if forced on, or if automatic and stderr is a terminal.
bool progress_wanted(ProgressMode mode, bool stderr_is_terminal);

// At most ten redraws a second.
constexpr std::int64_t kRedrawIntervalNs = 100'000'000;
bool redraw_due(std::int64_t now_ns, std::int64_t last_draw_ns);

struct ProgressFigures {
    std::uint64_t done = 0;
    std::optional<std::uint64_t> total;  // known once the input has been read to its end
    double elapsed_seconds = 0;
};

// Items a second since the start; 0 before any time has passed.
double items_per_second(const ProgressFigures& figures);
// Seconds left at the rate so far; nullopt without a total or a rate.
std::optional<double> seconds_left(const ProgressFigures& figures);
// "7s", "3m05s", "2h03m".
std::string duration_text(double seconds);
// "map: 1234/5000 (24%)  812/s  ETA 5s", or "map: 1234 done  812/s" without a total.
std::string progress_line(const ProgressFigures& figures);

class ProgressMeter {
public:
    ProgressMeter(std::FILE* out, bool enabled);
    ProgressMeter(const ProgressMeter&) = delete;
    ProgressMeter& operator=(const ProgressMeter&) = delete;
    ~ProgressMeter() { hide(); }

    bool enabled() const { return enabled_; }
    std::uint64_t done() const { return done_; }
    void set_total(std::uint64_t total) { total_ = total; }

    // One more item done: redraws if a redraw is due.
    void item_done() {
        if (!enabled_) return;
        ++done_;
        redraw_if_due();
    }
    // Draws now (the first line, before anything is done).
    void show();
    // Clears the line, if one is drawn (before other output, and at the end).
    void hide();

private:
    void redraw_if_due();
    void draw(std::int64_t now_ns);

    std::FILE* out_;
    bool enabled_;
    std::uint64_t done_ = 0;
    std::optional<std::uint64_t> total_;
    std::int64_t started_ns_;
    std::int64_t last_draw_ns_ = 0;
    std::size_t drawn_width_ = 0;  // of the line on screen; 0: none
};

// Client::map_json, feeding `meter` as the items finish.
std::vector<ItemResult> map_json_lines(Client& client, std::string_view function, const std::vector<std::string>& lines,
                                       const MapOptions& options, ProgressMeter& meter);

}  // namespace warmpool::cli
