// Text a peer chooses, on its way into the status report: a client's name (its Hello), the name
// of a function it calls (its JobRecord, in the submit ring or on its lane), and an error message.
// Each passes through the sanitising the supervisor applies (utf8.hpp) before it reaches
// nlohmann::json, and the report is dumped with the strict error handler, which throws on
// anything that is not valid UTF-8: it must never throw. (The supervisor itself dumps with
// replacement as a second guard; this checks that the first guard holds alone.)
//
// Input: three strings as FuzzedDataProvider cuts them (a backslash followed by anything but a
// backslash ends one), then a byte limit for the cut checks.
//
// Besides, it checks that is_valid_utf8 agrees with nlohmann::json on every text, and that
// valid_utf8 returns valid text, leaves valid text alone, and cuts at a character boundary
// without losing more than the character that did not fit.
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "warmpool/common/shm_layout.hpp"
#include "warmpool/common/utf8.hpp"

namespace warmpool {
namespace {

using nlohmann::json;

constexpr std::size_t kMaxClientNameBytes = 64;  // as the supervisor cuts a Hello's name

// Whether nlohmann::json takes `text` as a string: its strict handler would throw exactly where
// dropping and replacing what is ill-formed give different results (asked this way because an
// exception per input slows the fuzzer down more than two dumps do).
bool json_accepts(const std::string& text) {
    const json value(text);
    return value.dump(-1, ' ', false, json::error_handler_t::ignore) ==
           value.dump(-1, ' ', false, json::error_handler_t::replace);
}

void check_sanitising(const std::string& text, std::size_t limit) {
    const bool valid = is_valid_utf8(text);
    FUZZ_CHECK(valid == json_accepts(text));

    const std::string whole = valid_utf8(text);
    FUZZ_CHECK(is_valid_utf8(whole));
    if (valid) FUZZ_CHECK(whole == text);

    for (const std::size_t max : {std::size_t{0}, std::size_t{3}, kMaxClientNameBytes, limit}) {
        const std::string cut = valid_utf8(text, max);
        FUZZ_CHECK(cut.size() <= max);
        FUZZ_CHECK(std::string_view(whole).starts_with(cut));
        // Only the piece that did not fit is left out: a character, or U+FFFD, is at most 4 bytes.
        FUZZ_CHECK(cut == whole || cut.size() + 4 > max);
    }
}

// A JobRecord's function field as the client wrote it: the bytes, and zeros after them.
JobRecord record_naming(const std::string& bytes) {
    JobRecord record{};
    std::memcpy(record.function, bytes.data(), std::min(bytes.size(), sizeof record.function));
    return record;
}

// The rows of the supervisor's status_json() that carry peer-chosen text, made as it makes them,
// and an error message made valid as any peer-chosen text must be before it reaches JSON (the
// report carries none today; a job's error message is whatever its handler threw).
json status_of(const std::string& client, const std::string& function, const std::string& message) {
    const JobRecord submitted = record_naming(function);
    const JobRecord on_lane = record_naming(function);

    json rows = json::array();
    json busy;
    busy["slot"] = 0;
    busy["state"] = "busy";
    busy["current_function"] = valid_utf8(function_name(submitted));
    rows.push_back(busy);
    json lane;
    lane["slot"] = 1;
    lane["state"] = "busy";
    lane["current_function"] = valid_utf8(function_name(on_lane));
    lane["by_lane"] = true;
    rows.push_back(lane);

    json sessions = json::array();
    sessions.push_back(
        {{"slot", 0}, {"client", valid_utf8(client, kMaxClientNameBytes)}, {"state", "active"}});

    json status;
    status["pool"] = "fuzz";
    status["workers"] = {{"rows", rows}};
    status["sessions"] = {{"rows", sessions}};
    status["last_error"] = {{"error", "handler_error"}, {"message", valid_utf8(message)}};
    return status;
}

}  // namespace
}  // namespace warmpool

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace warmpool;
    FuzzedDataProvider input(data, size);
    const std::string client = input.ConsumeRandomLengthString();
    const std::string function = input.ConsumeRandomLengthString();
    const std::string message = input.ConsumeRandomLengthString();
    const std::size_t limit = input.ConsumeIntegralInRange<std::size_t>(0, 256);

    for (const std::string* text : {&client, &function, &message}) check_sanitising(*text, limit);

    const json status = status_of(client, function, message);
    try {
        (void)status.dump();  // the strict handler: invalid UTF-8 throws
    } catch (const json::exception& e) {
        std::fprintf(stderr, "status_fuzz: the report does not dump: %s\n", e.what());
        std::abort();
    }
    return 0;
}
