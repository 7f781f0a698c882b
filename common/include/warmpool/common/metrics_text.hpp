// The Prometheus text format (0.0.4) and OpenMetrics 1.0 as warmpool writes them: the escaping of
// texts and MetricsTextWriter, which writes metric families. Shared by the pool's metrics
// (daemon/src/status_report.cpp) and a cluster's (client/cli/cluster_view.cpp), so that both
// speak the formats alike. Pure: no I/O, no state beyond the text being written.
#pragma once

#include <charconv>
#include <cmath>
#include <initializer_list>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace warmpool {

// Backslash and newline are escaped in every text; a double quote in label values (and, in
// OpenMetrics, in HELP too): `quotes` says whether this text is one of those.
inline std::string metrics_escaped(std::string_view text, bool quotes) {
    std::string out;
    out.reserve(text.size());
    for (char c : text) {
        if (c == '\\') {
            out += "\\\\";
        } else if (c == '\n') {
            out += "\\n";
        } else if (c == '"' && quotes) {
            out += "\\\"";
        } else {
            out += c;
        }
    }
    return out;
}

// Writes metric families in one of the two formats, every sample labelled first with one label
// that names the source (the pool's `pool`, the cluster's `cluster`). The formats differ in three
// places: a counter's HELP and TYPE lines name it with "_total" in the Prometheus format and
// without it in OpenMetrics (its samples carry "_total" in both); OpenMetrics has UNIT lines and
// escapes quotes in HELP; it ends with "# EOF". Call family(), then sample() for each of its
// samples, and finish() once at the end.
class MetricsTextWriter {
public:
    using Label = std::pair<std::string_view, std::string_view>;
    // Whether a family with no samples still gets its HELP and TYPE lines.
    enum class EmptyFamilies { written, left_out };

    MetricsTextWriter(bool openmetrics, Label source, EmptyFamilies empty_families = EmptyFamilies::written)
        : openmetrics_(openmetrics),
          empty_families_(empty_families),
          source_label_(std::string(source.first) + "=\"" + metrics_escaped(source.second, true) + "\"") {}

    // Starts the family `name` (as OpenMetrics names it); `unit` is the name's last word
    // ("seconds", "bytes") or empty.
    void family(std::string_view name, std::string_view type, std::string_view help, std::string_view unit = {}) {
        sample_name_ = std::string(name) + (type == "counter" ? "_total" : "");
        const std::string described = openmetrics_ ? std::string(name) : sample_name_;
        pending_head_ = "# HELP " + described + " " + metrics_escaped(help, openmetrics_) + "\n";
        pending_head_ += "# TYPE " + described + " " + std::string(type) + "\n";
        if (openmetrics_ && !unit.empty()) pending_head_ += "# UNIT " + described + " " + std::string(unit) + "\n";
        if (empty_families_ == EmptyFamilies::written) write_head();
    }

    // One sample of the family last started: an integer as it is, a floating-point number as number() writes it.
    template <typename Number>
        requires std::is_arithmetic_v<Number>
    void sample(Number value, std::initializer_list<Label> labels = {}) {
        if constexpr (std::is_floating_point_v<Number>) {
            line(labels, number(value));
        } else {
            line(labels, std::to_string(value));
        }
    }
    // A histogram's samples: the family's name with `suffix` ("_bucket", "_sum", "_count").
    void sample(std::string_view suffix, const std::string& value, std::initializer_list<Label> labels) {
        line(labels, value, suffix);
    }

    // The shortest text that reads back as exactly `value`; NaN and the infinities as both formats spell them.
    static std::string number(double value) {
        if (std::isnan(value)) return "NaN";
        if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
        char buf[32];
        const auto end = std::to_chars(buf, buf + sizeof buf, value).ptr;
        return std::string(buf, end);
    }

    std::string finish() && {
        if (openmetrics_) out_ += "# EOF\n";
        return std::move(out_);
    }

private:
    void write_head() {
        out_ += pending_head_;
        pending_head_.clear();
    }

    void line(std::initializer_list<Label> labels, const std::string& value, std::string_view suffix = {}) {
        write_head();
        out_ += sample_name_;
        out_ += suffix;
        out_ += "{" + source_label_;
        for (const auto& [name, label_value] : labels) {
            out_ += ",";
            out_ += name;
            out_ += "=\"" + metrics_escaped(label_value, true) + "\"";
        }
        out_ += "} " + value + "\n";
    }

    bool openmetrics_;
    EmptyFamilies empty_families_;
    std::string source_label_;  // name="value", escaped
    std::string sample_name_;
    std::string pending_head_;  // the family's HELP, TYPE (and UNIT) lines until they are written
    std::string out_;
};

}  // namespace warmpool
