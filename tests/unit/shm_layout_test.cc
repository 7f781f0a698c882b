// Tests for the shared-memory layout (shm_layout.hpp): pool names, segment and blob names, the
// offsets of pool and session segments, function names in untrusted records, and the mapping
// of untrusted status codes back to ErrorKind; what a worker record's running_seq holds, and the
// worker's one write of its state.

#include "warmpool/common/shm_layout.hpp"

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "warmpool/error_kind.hpp"

namespace warmpool {
namespace {

TEST(ShmLayout, ValidPoolNames) {
    for (const std::string& name :
         {std::string("a"), std::string("Z"), std::string("0"), std::string("my_pool-2"),
          std::string("-"), std::string("_"), std::string(64, 'x'), std::string("AZaz09_-")}) {
        EXPECT_TRUE(valid_pool_name(name)) << name;
    }
    for (const std::string& name :
         {std::string(), std::string(65, 'x'), std::string("."), std::string(".."),
          std::string("a.b"), std::string("a/b"), std::string("/a"), std::string("a b"),
          std::string("a\tb"), std::string("a\nb"), std::string("a\0b", 3), std::string("\0", 1),
          std::string("caf\xc3\xa9"), std::string("a*"), std::string("a:b"), std::string("a\\b"),
          std::string("\x7f"), std::string("\xff")}) {
        EXPECT_FALSE(valid_pool_name(name)) << "'" << name << "'";
    }
}

TEST(ShmLayout, SegmentLabels) {
    EXPECT_EQ(segment_label("web", "session"), "warmpool.web.session");
    EXPECT_EQ(segment_label("a", "pool"), "warmpool.a.pool");
}

void expect_pool_layout_sound(const PoolLayout& layout) {
    SCOPED_TRACE("slots " + std::to_string(layout.worker_slots) + ", inbox " +
                 std::to_string(layout.inbox_ring_bytes));
    EXPECT_EQ(layout.worker_table_offset() % 4096, 0u);
    EXPECT_GE(layout.worker_table_offset(), sizeof(PoolHeader));
    const std::size_t table_end =
        layout.worker_table_offset() + layout.worker_slots * sizeof(WorkerRecord);
    // Outcome entries, lane outcomes, the active-session bitmap and the session table follow in
    // that order, each after the end of the one before.
    const std::size_t outcomes_end = layout.outcome_offset(layout.worker_slots);
    EXPECT_GE(layout.outcome_offset(0), table_end);
    EXPECT_GE(layout.lane_outcome_offset(0), outcomes_end);
    EXPECT_EQ(layout.lane_outcome_offset(0) % 64, 0u);
    EXPECT_GE(layout.active_sessions_offset(), layout.lane_outcome_offset(layout.worker_slots));
    EXPECT_GE(layout.active_words() * 64u, layout.session_slots);
    EXPECT_GE(layout.session_table_offset(),
              layout.active_sessions_offset() + layout.active_words() * sizeof(std::uint64_t));
    EXPECT_EQ(layout.session_table_offset() % 8, 0u);
    std::size_t previous_end = layout.session_table_offset() + layout.session_slots * sizeof(SessionEntry);
    for (std::uint32_t slot = 0; slot < layout.worker_slots; ++slot) {
        const std::size_t at = layout.inbox_offset(slot);
        EXPECT_EQ(at % 4096, 0u) << "inbox " << slot;
        EXPECT_GE(at, previous_end) << "inbox " << slot << " overlaps what precedes it";
        previous_end = at + ring_bytes_needed(layout.inbox_ring_bytes);
    }
    EXPECT_GE(layout.total_bytes(), previous_end) << "total_bytes covers the last inbox";
    EXPECT_EQ(layout.total_bytes() % 4096, 0u);
}

void expect_session_layout_sound(const SessionLayout& layout) {
    SCOPED_TRACE("slots " + std::to_string(layout.worker_slots));
    struct Span {
        std::size_t begin, end;
        std::string what;
    };
    std::vector<Span> spans = {{0, sizeof(SessionHeader), "header"}};
    spans.push_back({layout.lane_offset(), layout.lane_offset() + sizeof(Lane), "lane"});
    spans.push_back({layout.submit_offset(),
                     layout.submit_offset() + ring_bytes_needed(layout.submit_ring_bytes),
                     "submit"});
    spans.push_back({layout.control_offset(),
                     layout.control_offset() + ring_bytes_needed(layout.control_ring_bytes),
                     "control"});
    for (std::uint32_t slot = 0; slot < layout.worker_slots; ++slot) {
        spans.push_back({layout.reply_offset(slot),
                         layout.reply_offset(slot) + ring_bytes_needed(layout.reply_ring_bytes),
                         "reply " + std::to_string(slot)});
    }
    for (std::size_t i = 0; i < spans.size(); ++i) {
        EXPECT_EQ(spans[i].begin % 4096, 0u) << spans[i].what;
        EXPECT_LE(spans[i].end, layout.total_bytes()) << spans[i].what << " beyond total_bytes";
        if (i > 0) {
            EXPECT_GE(spans[i].begin, spans[i - 1].end) << spans[i].what << " overlaps";
        }
    }
    EXPECT_EQ(layout.total_bytes() % 4096, 0u);
}

TEST(ShmLayout, PoolLayoutOffsetsAreAlignedDisjointAndCovered) {
    for (std::uint32_t slots : {1u, 2u, 3u, 16u, 17u, 64u, 2048u}) {
        for (std::uint64_t ring :
             {std::uint64_t{4096}, std::uint64_t{1} << 16, std::uint64_t{1} << 20}) {
            for (std::uint32_t sessions : {1u, 64u, 65u, 4096u}) {
                expect_pool_layout_sound(PoolLayout{slots, ring, sessions});
            }
        }
    }
    // The lane's word and its record share no cache line with each other or with the header.
    EXPECT_EQ(offsetof(Lane, record) % 64, 0u);
    EXPECT_EQ(sizeof(LaneOutcome) % 64, 0u);
    // Worker records share no cache line, so one worker's writes never slow another's.
    EXPECT_EQ(sizeof(WorkerRecord) % 64, 0u);
    EXPECT_EQ(alignof(WorkerRecord), 64u);
}

TEST(ShmLayout, SessionLayoutOffsetsAreAlignedDisjointAndCovered) {
    for (std::uint32_t slots : {1u, 2u, 5u, 32u, 256u}) {
        expect_session_layout_sound(SessionLayout{slots, 1u << 20, 64u << 10, 1u << 20});
        expect_session_layout_sound(SessionLayout{slots, 4096, 4096, 4096});
        expect_session_layout_sound(SessionLayout{slots, 1u << 16, 1u << 20, 8192});
    }
}

TEST(ShmLayout, FunctionNamesInRecords) {
    JobRecord record;
    std::memset(&record, 'x', sizeof record);
    EXPECT_EQ(function_name(record), "") << "no NUL in the field: no name";

    EXPECT_TRUE(set_function_name(record, "md5_chain"));
    EXPECT_EQ(function_name(record), "md5_chain");
    const std::string longest(kFunctionNameMax, 'f');
    EXPECT_TRUE(set_function_name(record, longest));
    EXPECT_EQ(function_name(record), longest);
    EXPECT_FALSE(set_function_name(record, longest + "g"));
    EXPECT_FALSE(set_function_name(record, ""));
    EXPECT_EQ(function_name(record), longest) << "a refused name leaves the field alone";

    // Set over a longer name: the rest is cleared, so no stale tail remains.
    EXPECT_TRUE(set_function_name(record, "ab"));
    EXPECT_EQ(function_name(record), "ab");
    for (std::size_t i = 2; i < sizeof record.function; ++i) EXPECT_EQ(record.function[i], '\0');

    // A NUL early in the field ends the name.
    record.function[1] = '\0';
    EXPECT_EQ(function_name(record), "a");
    record.function[0] = '\0';
    EXPECT_EQ(function_name(record), "");
    // The last byte is the only NUL: a full-length name.
    std::memset(record.function, 'q', sizeof record.function);
    record.function[kFunctionNameMax] = '\0';
    EXPECT_EQ(function_name(record).size(), kFunctionNameMax);
}

TEST(ShmLayout, RunningSeqNamesAnInboxJobALaneJobOrNothing) {
    for (const std::uint64_t seq : {std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{2047}, ~std::uint64_t{0} - 2}) {
        const std::uint64_t word = running_word_of_inbox_seq(seq);
        EXPECT_TRUE(runs_inbox_job(word)) << seq;
        EXPECT_NE(word, kNoRunningJob) << seq;
        EXPECT_NE(word, kLaneRunningSeq) << seq;
        EXPECT_EQ(inbox_seq_of_running_word(word), seq);
    }
    EXPECT_FALSE(runs_inbox_job(kNoRunningJob));
    EXPECT_FALSE(runs_inbox_job(kLaneRunningSeq));
}

TEST(ShmLayout, AWorkerAnnouncesReadyOnlyFromStarting) {
    WorkerRecord record{};
    record.state.store(static_cast<std::uint32_t>(WorkerState::starting));
    EXPECT_TRUE(announce_ready(record));
    EXPECT_EQ(record.state.load(), static_cast<std::uint32_t>(WorkerState::ready));
    EXPECT_FALSE(announce_ready(record));  // once
    // Told to stop while it initialised: the supervisor's exiting stays.
    record.state.store(static_cast<std::uint32_t>(WorkerState::exiting));
    EXPECT_FALSE(announce_ready(record));
    EXPECT_EQ(record.state.load(), static_cast<std::uint32_t>(WorkerState::exiting));
}

TEST(ShmLayout, ErrorKindFromCodeMapsEveryKindAndNothingElse) {
    std::set<std::string_view> names;
    for (ErrorKind kind : kAllErrorKinds) {
        const auto code = static_cast<std::uint32_t>(kind);
        const auto mapped = error_kind_from_code(code);
        ASSERT_TRUE(mapped.has_value()) << code;
        EXPECT_EQ(*mapped, kind);
        EXPECT_LT(code, kOutcomeSlots) << "outcome counters have a slot per kind";
        names.insert(to_string(kind));
    }
    EXPECT_EQ(names.size(), std::size(kAllErrorKinds)) << "every kind has its own name";
    EXPECT_EQ(names.count("unknown_error"), 0u);
    for (std::uint32_t code = 1; code <= 12; ++code)
        EXPECT_TRUE(error_kind_from_code(code)) << code;
    for (std::uint32_t code : {0u, 13u, 16u, 999u, 65535u, 65536u + 1u, 0xffffffffu}) {
        EXPECT_FALSE(error_kind_from_code(code).has_value()) << code;
    }
    // The wire values never change.
    EXPECT_EQ(static_cast<int>(ErrorKind::handler_error), 1);
    EXPECT_EQ(static_cast<int>(ErrorKind::type_mismatch), 10);
    EXPECT_EQ(static_cast<int>(ErrorKind::permission), 11);
}

}  // namespace
}  // namespace warmpool
