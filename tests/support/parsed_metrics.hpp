// A metrics text as a real parser reads it: parse_metrics() runs support/parse_metrics.py (the
// parser of python3-prometheus-client made for the format) on the text; sample_value() finds one
// sample in what it made. For the tests that tests/CMakeLists.txt compiles with WARMPOOL_PYTHON
// and WARMPOOL_PARSE_METRICS (the interpreter and the script).
#pragma once

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "test_pool.hpp"

namespace warmpool::testing {

// What the parser for `format` ("prometheus" or "openmetrics") makes of `text`: its families as
// parse_metrics.py prints them. A text the parser refuses fails the test with the parser's words.
inline nlohmann::json parse_metrics(const std::string& format, const std::string& text) {
    CommandResult r = run_command({WARMPOOL_PYTHON, WARMPOOL_PARSE_METRICS, format}, text);
    EXPECT_EQ(r.exit_code, 0) << r.err << "\nthe text:\n" << text;
    return r.exit_code == 0 ? nlohmann::json::parse(r.out) : nlohmann::json::array();
}

// The value of the sample `sample` with `labels` in the parsed families, or -1.
inline double sample_value(const nlohmann::json& families, const std::string& sample, const nlohmann::json& labels) {
    for (const nlohmann::json& f : families) {
        for (const nlohmann::json& s : f["samples"]) {
            if (s["name"] == sample && s["labels"] == labels) return s["value"].get<double>();
        }
    }
    return -1;
}

}  // namespace warmpool::testing
