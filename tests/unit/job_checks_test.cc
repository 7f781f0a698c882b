// Tests for the job checks (job_checks.hpp): what the supervisor refuses of a submission, what a
// lane may carry, and the batch counts, each at the edges of what it accepts.
#include "warmpool/common/job_checks.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace warmpool {
namespace {

constexpr std::uint32_t kInlineMax = 1024;
constexpr JobLimits kLimits{kInlineMax};

JobRecord record_for(std::string_view function, std::uint32_t flags, std::size_t payload_bytes) {
    JobRecord record{};
    EXPECT_TRUE(set_function_name(record, function));
    record.flags = flags;
    record.payload_bytes = static_cast<std::uint32_t>(payload_bytes);
    return record;
}

std::span<const std::byte> bytes_of(const std::vector<std::byte>& bytes) { return bytes; }

// Batch arguments: a header saying `count`, then `items` empty items (4 zero bytes each), then
// `extra` bytes.
std::vector<std::byte> batch(std::uint32_t count, std::size_t items, std::size_t extra = 0) {
    std::vector<std::byte> bytes(sizeof(BatchHeader) + items * sizeof(std::uint32_t) + extra);
    const BatchHeader header{count, 0};
    std::memcpy(bytes.data(), &header, sizeof header);
    return bytes;
}

std::vector<std::byte> blob_ref(std::uint64_t bytes) {
    const BlobRef ref{bytes, 7, 42};
    std::vector<std::byte> out(sizeof ref);
    std::memcpy(out.data(), &ref, sizeof ref);
    return out;
}

std::string refusal(const JobRecord& record, const std::vector<std::byte>& payload,
                    const JobLimits& limits = kLimits) {
    return job_refusal(record, bytes_of(payload), limits).value_or("");
}

// ---- batch_count_fits ----------------------------------------------------------------------

TEST(BatchCountFits, NeedsAtLeastOneItem) {
    EXPECT_FALSE(batch_count_fits(0, sizeof(BatchHeader)));
    EXPECT_FALSE(batch_count_fits(0, 1 << 20));
}

TEST(BatchCountFits, NeedsFourBytesPerItemAfterTheHeader) {
    EXPECT_FALSE(batch_count_fits(1, sizeof(BatchHeader)));
    EXPECT_FALSE(batch_count_fits(1, sizeof(BatchHeader) + 3));
    EXPECT_TRUE(batch_count_fits(1, sizeof(BatchHeader) + 4));
    EXPECT_TRUE(batch_count_fits(3, sizeof(BatchHeader) + 12));
    EXPECT_FALSE(batch_count_fits(4, sizeof(BatchHeader) + 12));
    EXPECT_FALSE(batch_count_fits(4, sizeof(BatchHeader) + 15));
    EXPECT_TRUE(batch_count_fits(4, sizeof(BatchHeader) + 16));
}

TEST(BatchCountFits, NeverMoreThanTheMostItems) {
    const std::size_t room = sizeof(BatchHeader) + (std::size_t{kMaxBatchItems} + 1) * 4;
    EXPECT_TRUE(batch_count_fits(kMaxBatchItems, room));
    EXPECT_FALSE(batch_count_fits(kMaxBatchItems + 1, room));
    EXPECT_FALSE(batch_count_fits(std::numeric_limits<std::uint32_t>::max(), std::numeric_limits<std::size_t>::max()));
}

// ---- batch_count and batch_item_count ------------------------------------------------------------

TEST(BatchCount, ReadsTheHeaderOnlyWhenItsCountFits) {
    EXPECT_EQ(batch_count({}), std::nullopt);
    const std::vector<std::byte> short_header(sizeof(BatchHeader) - 1);
    EXPECT_EQ(batch_count(short_header), std::nullopt);
    EXPECT_EQ(batch_count(bytes_of(batch(0, 0))), std::nullopt);
    EXPECT_EQ(batch_count(bytes_of(batch(1, 0))), std::nullopt);
    EXPECT_EQ(batch_count(bytes_of(batch(1, 1))), 1u);
    EXPECT_EQ(batch_count(bytes_of(batch(3, 3))), 3u);
    EXPECT_EQ(batch_count(bytes_of(batch(3, 2, 3))), std::nullopt);  // 11 bytes after the header
    EXPECT_EQ(batch_count(bytes_of(batch(2, 3))), 2u);  // the items' own lengths are the runner's to check
}

TEST(BatchItemCount, AnInlineBatchCountsItsItemsEverythingElseOne) {
    const auto items = batch(5, 5);
    EXPECT_EQ(batch_item_count(record_for("f", kJobBatch, items.size()), bytes_of(items)), 5u);
    EXPECT_EQ(batch_item_count(record_for("f", kJobBatch | kJobJson, items.size()), bytes_of(items)), 5u);
    // A single call whose payload happens to look like a batch.
    EXPECT_EQ(batch_item_count(record_for("f", kJobJson, items.size()), bytes_of(items)), 1u);
    // A batch in a blob: only its worker reads the count.
    const auto ref = blob_ref(100);
    EXPECT_EQ(batch_item_count(record_for("f", kJobBatch | kJobBlob, ref.size()), bytes_of(ref)), 1u);
    // A batch whose header is missing or lies counts as the one job that is refused.
    const auto lying = batch(1000, 2);
    EXPECT_EQ(batch_item_count(record_for("f", kJobBatch, lying.size()), bytes_of(lying)), 1u);
    EXPECT_EQ(batch_item_count(record_for("f", kJobBatch, 0), {}), 1u);
}

// ---- job_refusal -------------------------------------------------------------------------

TEST(JobRefusal, AcceptsWellFormedJobs) {
    const std::vector<std::byte> args(10);
    EXPECT_EQ(job_refusal(record_for("gcd", kJobJson, args.size()), bytes_of(args), kLimits), std::nullopt);
    EXPECT_EQ(job_refusal(record_for("gcd", 0, 0), {}, kLimits), std::nullopt);
    EXPECT_EQ(job_refusal(record_for("gcd", kJobPickle, args.size()), bytes_of(args), kLimits), std::nullopt);
    const auto items = batch(2, 2);
    EXPECT_EQ(job_refusal(record_for("gcd", kJobBatch | kJobJson, items.size()), bytes_of(items), kLimits),
              std::nullopt);
    const auto ref = blob_ref(kMaxArgumentBlobBytes);
    EXPECT_EQ(job_refusal(record_for("gcd", kJobBlob | kJobBatch, ref.size()), bytes_of(ref), kLimits), std::nullopt);
    const std::string longest(kFunctionNameMax, 'n');
    EXPECT_EQ(job_refusal(record_for(longest, 0, 0), {}, kLimits), std::nullopt);
}

TEST(JobRefusal, AFunctionNameMustBeThereAndEndInsideItsField) {
    JobRecord record = record_for("gcd", 0, 0);
    std::memset(record.function, 0, sizeof record.function);
    EXPECT_EQ(refusal(record, {}), "the function name is missing or longer than 47 bytes");
    std::memset(record.function, 'x', sizeof record.function);  // no NUL anywhere
    EXPECT_EQ(refusal(record, {}), "the function name is missing or longer than 47 bytes");
}

TEST(JobRefusal, FlagsAreKnownAndNameOneEncoding) {
    EXPECT_EQ(refusal(record_for("f", 1u << 4, 0), {}), "unknown job flags");
    EXPECT_EQ(refusal(record_for("f", 1u << 31, 0), {}), "unknown job flags");
    EXPECT_EQ(refusal(record_for("f", kJobJson | kJobPickle, 0), {}), "a job is JSON or pickle, not both");
}

TEST(JobRefusal, ThePayloadIsAsLongAsTheRecordSays) {
    const std::vector<std::byte> args(10);
    EXPECT_EQ(refusal(record_for("f", 0, 9), args), "payload length does not match the record");
    EXPECT_EQ(refusal(record_for("f", 0, 11), args), "payload length does not match the record");
}

TEST(JobRefusal, InlineArgumentsStayWithinInlineMaxBeyondABatchHeader) {
    const std::vector<std::byte> at_limit(kInlineMax + sizeof(BatchHeader));
    EXPECT_EQ(refusal(record_for("f", 0, at_limit.size()), at_limit), "");
    const std::vector<std::byte> over(kInlineMax + sizeof(BatchHeader) + 1);
    EXPECT_EQ(refusal(record_for("f", 0, over.size()), over), "inline payload larger than 1024 bytes");
}

TEST(JobRefusal, ABlobReferenceIsOneWellFormedReferenceInRange) {
    const std::vector<std::byte> short_ref(sizeof(BlobRef) - 1);
    EXPECT_EQ(refusal(record_for("f", kJobBlob, short_ref.size()), short_ref), "malformed blob reference");
    const std::vector<std::byte> long_ref(sizeof(BlobRef) + 1);
    EXPECT_EQ(refusal(record_for("f", kJobBlob, long_ref.size()), long_ref), "malformed blob reference");
    const auto too_big = blob_ref(kMaxArgumentBlobBytes + 1);
    EXPECT_EQ(refusal(record_for("f", kJobBlob, too_big.size()), too_big), "blob reference out of range");
    const auto small = blob_ref(100);
    EXPECT_EQ(refusal(record_for("f", kJobBlob, small.size()), small, JobLimits{kInlineMax, 99}),
              "blob reference out of range");
}

TEST(JobRefusal, AnInlineBatchHoldsAHeaderAndACountThatFits) {
    const std::vector<std::byte> short_header(sizeof(BatchHeader) - 1);
    EXPECT_EQ(refusal(record_for("f", kJobBatch, short_header.size()), short_header), "malformed batch");
    const auto empty = batch(0, 0);
    EXPECT_EQ(refusal(record_for("f", kJobBatch, empty.size()), empty), "batch item count out of range");
    const auto lying = batch(3, 2);
    EXPECT_EQ(refusal(record_for("f", kJobBatch, lying.size()), lying), "batch item count out of range");
}

// ---- lane_may_carry ------------------------------------------------------------------------

TEST(JobRefusal, APriorityIsInItsRange) {
    JobRecord record = record_for("gcd", 0, 0);
    for (const int priority : {kPriorityMin, -1, 0, 1, kPriorityMax}) {
        record.priority = priority;
        EXPECT_EQ(job_refusal(record, {}, kLimits), std::nullopt) << priority;
    }
    record.priority = kPriorityMax + 1;
    EXPECT_EQ(refusal(record, {}), "priority 8 is outside -8..7");
    record.priority = kPriorityMin - 1;
    EXPECT_EQ(refusal(record, {}), "priority -9 is outside -8..7");
    record.priority = INT32_MIN;
    EXPECT_TRUE(job_refusal(record, {}, kLimits).has_value());
}

TEST(LaneYields, ToAQueuedJobOfHigherPriorityOnly) {
    EXPECT_FALSE(lane_yields(kPriorityMin, 0));  // nothing queued
    const auto above = [](int priority) { return priority_level(priority) + 1; };
    EXPECT_FALSE(lane_yields(0, above(0)));       // the same priority queued
    EXPECT_FALSE(lane_yields(3, above(0)));       // a lower one
    EXPECT_TRUE(lane_yields(0, above(1)));        // a higher one
    EXPECT_TRUE(lane_yields(kPriorityMin, above(kPriorityMax)));
    EXPECT_FALSE(lane_yields(kPriorityMax, above(kPriorityMax)));
    // A hostile record's priority is clamped, never an index out of range.
    EXPECT_TRUE(lane_yields(INT32_MIN, above(0)));
    EXPECT_FALSE(lane_yields(INT32_MAX, above(kPriorityMax)));
}

TEST(LaneMayCarry, OneInlineCallOfAtMostTheLanesBytesWithNoTimeLimit) {
    EXPECT_TRUE(lane_may_carry(record_for("f", 0, 0), 0));
    EXPECT_TRUE(lane_may_carry(record_for("f", kJobJson, 100), 100));
    EXPECT_TRUE(lane_may_carry(record_for("f", kJobPickle, kLanePayloadMax), kLanePayloadMax));
    EXPECT_FALSE(lane_may_carry(record_for("f", 0, kLanePayloadMax + 1), kLanePayloadMax + 1));
    // The record must count exactly what the lane holds.
    EXPECT_FALSE(lane_may_carry(record_for("f", 0, 101), 100));
    EXPECT_FALSE(lane_may_carry(record_for("f", 0, kLanePayloadMax + 1), kLanePayloadMax));
    EXPECT_FALSE(lane_may_carry(record_for("f", kJobBatch, 100), 100));
    EXPECT_FALSE(lane_may_carry(record_for("f", kJobBlob, sizeof(BlobRef)), sizeof(BlobRef)));
    EXPECT_FALSE(lane_may_carry(record_for("f", 1u << 4, 0), 0));
    JobRecord limited = record_for("f", 0, 0);
    limited.timeout_ns = 1;
    EXPECT_FALSE(lane_may_carry(limited, 0));
}

TEST(LaneMayCarry, LeavesTheRestOfTheRecordToJobRefusal) {
    // Both encodings: a lane may carry the bytes, but no job is both.
    const JobRecord both = record_for("f", kJobJson | kJobPickle, 0);
    EXPECT_TRUE(lane_may_carry(both, 0));
    EXPECT_EQ(refusal(both, {}), "a job is JSON or pickle, not both");
}

}  // namespace
}  // namespace warmpool
