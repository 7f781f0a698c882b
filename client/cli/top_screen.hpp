// `warmpool top`'s loop: asks for the status once a second and shows its frame: render_top()'s
// (top_view.hpp) for a local pool, render_cluster_top()'s (cluster_view.hpp) for a cluster. On a terminal it redraws the screen in place (ANSI: home, clear, cursor
// hidden) and puts the terminal in non-canonical mode without echo to read single keys; it
// stops on q (or Q), Ctrl-C, SIGTERM or SIGHUP, and gives the terminal back as it found it on
// every way out. Without a terminal (a pipe, a file) it writes frame after frame.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace warmpool {

struct TopOptions {
    bool once = false;        // one frame, then exit
    unsigned frames = 0;      // this many frames, then exit (0: until stopped)
    double interval_s = 1.0;  // between frames
};

// What top shows: `fetch` returns one status answer (JSON text), or nothing with the reason in
// `error`; `render` makes it a frame `width` columns wide (0: no limit). `what` names the source
// in messages: "pool" or "cluster".
struct TopSource {
    std::string what;
    std::function<std::optional<std::string>(std::string& error)> fetch;
    std::function<std::string(const nlohmann::json& status, unsigned width)> render;
};

// Returns the process's exit code: 0, or 2 when the status cannot be read (the reason on stderr).
int run_top(const TopOptions& options, const TopSource& source);

// A local pool's top: render_top() over `fetch`'s answers.
int run_top(const TopOptions& options,
            const std::function<std::optional<std::string>(std::string& error)>& fetch);

}  // namespace warmpool
