#include "top_screen.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "top_view.hpp"

namespace warmpool {

namespace {

volatile sig_atomic_t g_stop = 0;  // set by the signal handler only
void on_signal(int) { g_stop = 1; }

// The terminal in non-canonical mode without echo, and the cursor hidden, while it lives.
class RawTerminal {
public:
    RawTerminal() {
        if (::tcgetattr(STDIN_FILENO, &saved_) != 0) return;
        termios raw = saved_;
        raw.c_lflag &= static_cast<tcflag_t>(~(ICANON | ECHO));
        raw.c_cc[VMIN] = 0;
        raw.c_cc[VTIME] = 0;
        active_ = ::tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
    }
    ~RawTerminal() {
        if (active_) ::tcsetattr(STDIN_FILENO, TCSANOW, &saved_);
    }
    RawTerminal(const RawTerminal&) = delete;
    RawTerminal& operator=(const RawTerminal&) = delete;
    bool active() const { return active_; }

private:
    termios saved_{};
    bool active_ = false;
};

class HiddenCursor {
public:
    HiddenCursor() { std::fputs("\x1b[?25l", stdout); }
    ~HiddenCursor() {
        std::fputs("\x1b[?25h\n", stdout);
        std::fflush(stdout);
    }
    HiddenCursor(const HiddenCursor&) = delete;
    HiddenCursor& operator=(const HiddenCursor&) = delete;
};

// Signal handlers that set g_stop while this lives (without SA_RESTART, so poll() returns).
class StopSignals {
public:
    StopSignals() {
        struct sigaction action {};
        action.sa_handler = on_signal;
        sigemptyset(&action.sa_mask);
        for (std::size_t i = 0; i < std::size(kSignals); ++i)
            ::sigaction(kSignals[i], &action, &saved_[i]);
    }
    ~StopSignals() {
        for (std::size_t i = 0; i < std::size(kSignals); ++i)
            ::sigaction(kSignals[i], &saved_[i], nullptr);
    }
    StopSignals(const StopSignals&) = delete;
    StopSignals& operator=(const StopSignals&) = delete;

private:
    static constexpr int kSignals[] = {SIGINT, SIGTERM, SIGHUP};
    struct sigaction saved_[std::size(kSignals)]{};
};

unsigned terminal_width() {
    winsize size{};
    if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 0) return size.ws_col;
    return 0;
}

// Waits up to `ms` for a key; true if it was q (or the wait was ended by a signal).
bool quit_pressed(int ms, bool read_keys) {
    pollfd pfd{STDIN_FILENO, POLLIN, 0};
    const int ready = ::poll(&pfd, read_keys ? 1 : 0, ms);
    if (ready < 0) return errno == EINTR && g_stop != 0;
    if (ready == 0 || !read_keys) return false;
    char keys[16];
    const ssize_t n = ::read(STDIN_FILENO, keys, sizeof keys);
    if (n == 0) return false;  // end of input: keep showing
    for (ssize_t i = 0; i < n; ++i) {
        if (keys[i] == 'q' || keys[i] == 'Q') return true;
    }
    return false;
}

}  // namespace

int run_top(const TopOptions& options,
            const std::function<std::optional<std::string>(std::string& error)>& fetch) {
    return run_top(options, TopSource{"pool", fetch, [](const nlohmann::json& status, unsigned width) {
                                          return render_top(status, width);
                                      }});
}

int run_top(const TopOptions& options, const TopSource& source) {
    auto frame = [&](unsigned width, std::string& text) {
        std::string error;
        const std::optional<std::string> answer = source.fetch(error);
        if (!answer) {
            std::fprintf(stderr, "warmpool top: cannot read the %s's status: %s\n", source.what.c_str(),
                         error.c_str());
            return false;
        }
        const auto status = nlohmann::json::parse(*answer, nullptr, false);
        if (status.is_discarded() || !status.is_object()) {
            std::fprintf(stderr, "warmpool top: the %s's status is not a JSON object\n", source.what.c_str());
            return false;
        }
        text = source.render(status, width);
        return true;
    };
    std::string text;
    if (options.once) {
        if (!frame(0, text)) return 2;
        std::fputs(text.c_str(), stdout);
        return 0;
    }
    const bool tty = ::isatty(STDOUT_FILENO) == 1;
    g_stop = 0;
    StopSignals signals;
    RawTerminal keys;
    std::optional<HiddenCursor> cursor;
    if (tty) cursor.emplace();
    const int interval_ms = static_cast<int>(options.interval_s * 1000);
    unsigned shown = 0;
    while (g_stop == 0) {
        if (!frame(tty ? terminal_width() : 0, text)) return 2;
        if (tty) {
            std::fputs("\x1b[H\x1b[2J", stdout);
            text += "\n(q to quit)";
        } else {
            text += "\n";
        }
        std::fputs(text.c_str(), stdout);
        std::fflush(stdout);
        if (options.frames != 0 && ++shown == options.frames) return 0;
        const auto until =
            std::chrono::steady_clock::now() + std::chrono::milliseconds(interval_ms);
        for (;;) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                until - std::chrono::steady_clock::now());
            if (left.count() <= 0 || g_stop != 0) break;
            if (quit_pressed(static_cast<int>(left.count()), keys.active())) return 0;
        }
    }
    return 0;
}

}  // namespace warmpool
