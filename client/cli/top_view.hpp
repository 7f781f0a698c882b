// `warmpool top`'s frame: the pool's status JSON (status_report.hpp, as the status socket answers
// it) rendered as text for a terminal: the pool line, workers (state, function, busy for, busy
// share, RSS), functions (rate and queue-wait and run-time percentiles over the last minute),
// queue and sessions. Pure: no I/O, no clock; the same JSON always gives the same frame, so it is
// unit-tested from JSON made by hand. A field the status lacks shows as "-", never an error.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace warmpool {

// `status`: one parsed status answer. `width`: the terminal's columns (long names are cut to
// fit; 0: no limit).
std::string render_top(const nlohmann::json& status, unsigned width = 0);

// Each line of `frame` cut to `width` columns (a cut line ends in "~"; 0: no limit), so that a
// frame never wraps on the terminal.
std::string clip_lines(const std::string& frame, unsigned width);

// A duration in seconds as a short text: "850 ns", "12 µs", "3.4 ms", "1.2 s", "5m03s"; "-" for
// none (negative).
std::string short_duration(double seconds);

// A size in bytes as a short text: "512 B", "3.4 MiB"; "-" for none (negative).
std::string bytes_text(double bytes);

}  // namespace warmpool
