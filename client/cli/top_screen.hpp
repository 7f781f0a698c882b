// `warmpool top`'s loop: asks for the status once a second and shows render_top()'s frame
// (top_view.hpp). On a terminal it redraws the screen in place (ANSI: home, clear, cursor
// hidden) and puts the terminal in non-canonical mode without echo to read single keys; it
// stops on q (or Q), Ctrl-C, SIGTERM or SIGHUP, and gives the terminal back as it found it on
// every way out. Without a terminal (a pipe, a file) it writes frame after frame.
#pragma once

#include <functional>
#include <optional>
#include <string>

namespace warmpool {

struct TopOptions {
    bool once = false;        // one frame, then exit
    double interval_s = 1.0;  // between frames
};

// `fetch` returns one status answer (JSON text), or nothing with the reason in `error`.
// Returns the process's exit code: 0, or 2 when the pool cannot be read (the reason on stderr).
int run_top(const TopOptions& options,
            const std::function<std::optional<std::string>(std::string& error)>& fetch);

}  // namespace warmpool
