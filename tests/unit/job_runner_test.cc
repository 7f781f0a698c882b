// Tests for JobRunner (job_runner.hpp): real jobs of the bundled example library, loaded as a
// worker loads it, run in this process without fork: calls in each encoding, batches, failures
// of every kind the runner decides, lane jobs, and results and arguments that live in blobs.
#include "warmpool/daemon/job_runner.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "test_pool.hpp"
#include "warmpool/common/shm_layout.hpp"
#include "warmpool/serialization.hpp"

namespace warmpool {
namespace {

using Pair = std::pair<std::int64_t, std::int64_t>;

constexpr std::uint32_t kInlineMax = 64 * 1024;

// Loaded and instantiated once, as a worker does, and never unloaded: tests share it.
LoadedJobLibrary& example_library(WorkerContext& context) {
    static LoadedJobLibrary* library = [&] {
        auto opened = LoadedJobLibrary::open(testing::example_jobs_path());
        if (!opened) throw std::runtime_error(opened.error().message());
        auto* loaded = new LoadedJobLibrary(std::move(opened.value()));
        if (auto st = loaded->instantiate(context); !st) throw std::runtime_error(st.error().message());
        return loaded;
    }();
    return *library;
}

WorkerContext& worker_context() {
    static WorkerContext context{"job_runner_test", 0, ::getpid()};
    return context;
}

std::span<const std::byte> bytes_of(std::string_view text) {
    return std::as_bytes(std::span(text.data(), text.size()));
}

class JobRunnerTest : public ::testing::Test {
protected:
    JobRunnerTest()
        : runner_(example_library(worker_context()), worker_context(), kInlineMax, false,
                  JobRunner::Hooks{[this](const JobRecord& job, std::uint64_t object) -> Result<UniqueFd> {
                                       ++blob_fetches_;
                                       EXPECT_EQ(job.session_slot, 3u);
                                       auto it = offered_.find(object);
                                       if (it == offered_.end()) {
                                           return make_error(SysError::Code::not_found, "no such blob");
                                       }
                                       return UniqueFd(::dup(it->second.get()));
                                   },
                                   [](const JobRecord&) { return false; }}) {
        const BlobPool::Broker broker{[](std::uint64_t, int) { return Status{}; }, [](std::uint64_t) {}};
        session_.results = BlobPool("job_runner_test.results", broker, BlobPool::Limits{});
    }

    static JobRecord job(std::string_view function, std::uint32_t flags, std::size_t payload_bytes) {
        JobRecord record{};
        EXPECT_TRUE(set_function_name(record, function));
        record.job_id = 11;
        record.flags = flags;
        record.payload_bytes = static_cast<std::uint32_t>(payload_bytes);
        record.session_slot = 3;
        record.attempt = 1;
        return record;
    }

    // Runs and seals a job whose arguments are `args`.
    JobResult run(const JobRecord& record, std::string_view args, JobOrigin origin = JobOrigin::inbox) {
        JobResult result = runner_.execute(record, bytes_of(args), session_, origin);
        runner_.seal(record, result, session_);
        return result;
    }
    JobResult run_json(std::string_view function, std::string_view args, JobOrigin origin = JobOrigin::inbox) {
        return run(job(function, kJobJson, args.size()), args, origin);
    }

    // A blob of this test's own "client", holding `bytes`, offered as the supervisor would hold it.
    BlobRef argument_blob(std::string_view bytes) {
        auto blob = arguments_.acquire(bytes.size());
        EXPECT_TRUE(blob) << blob.error().message();
        std::memcpy(blob->data, bytes.data(), bytes.size());
        blob->publish();
        BlobRef ref = blob->ref;
        ref.bytes = bytes.size();
        return ref;
    }

    std::map<std::uint64_t, UniqueFd> offered_;
    int blob_fetches_ = 0;
    BlobPool arguments_{"job_runner_test.arguments",
                        BlobPool::Broker{[this](std::uint64_t object, int fd) {
                                             offered_[object] = UniqueFd(::dup(fd));
                                             return Status{};
                                         },
                                         [this](std::uint64_t object) { offered_.erase(object); }},
                        BlobPool::Limits{}};
    JobRunner runner_;
    SessionBlobs session_;
};

void expect_failure(const JobResult& result, ErrorKind kind, const std::string& message_part) {
    EXPECT_EQ(result.status, static_cast<std::uint16_t>(kind)) << result.payload;
    EXPECT_NE(result.payload.find(message_part), std::string::npos) << result.payload;
    EXPECT_EQ(result.counts[static_cast<std::size_t>(kind)], 1u);
    EXPECT_EQ(result.counts[0], 0u);
    EXPECT_FALSE(result.blob);
}

TEST_F(JobRunnerTest, AJsonCall) {
    const JobResult result = run_json("gcd", "[12, 18]");
    EXPECT_EQ(result.status, 0);
    EXPECT_EQ(result.payload, "6");
    EXPECT_EQ(result.flags, std::uint32_t{kJobJson});
    EXPECT_EQ(result.counts[0], 1u);
    EXPECT_FALSE(result.blob);
}

TEST_F(JobRunnerTest, ABinaryCallWithItsTypeFingerprint) {
    const std::string args = to_binary(Pair{12, 18});
    JobRecord record = job("gcd", 0, args.size());
    record.fingerprint = type_fingerprint<std::int64_t, Pair>();
    const JobResult result = run(record, args);
    ASSERT_EQ(result.status, 0) << result.payload;
    EXPECT_EQ(result.flags, 0u);
    EXPECT_EQ(from_binary<std::int64_t>(result.payload), 6);
}

TEST_F(JobRunnerTest, ABinaryCallWithOtherTypesIsATypeMismatch) {
    const std::string args = to_binary(Pair{12, 18});
    JobRecord record = job("gcd", 0, args.size());
    record.fingerprint = type_fingerprint<std::string, Pair>();
    expect_failure(run(record, args), ErrorKind::type_mismatch, "argument or result types other than its own");
}

TEST_F(JobRunnerTest, ABatchAnswersEachItemWithItsOwnStatus) {
    const std::vector<std::string> items = {"[12, 18]", "[0, 5]", "[7, 21]"};
    std::string args(sizeof(BatchHeader), '\0');
    const BatchHeader header{static_cast<std::uint32_t>(items.size()), 0};
    std::memcpy(args.data(), &header, sizeof header);
    for (const std::string& item : items) {
        const auto len = static_cast<std::uint32_t>(item.size());
        args.append(reinterpret_cast<const char*>(&len), sizeof len);
        args += item;
    }
    const JobResult result = run(job("gcd", kJobJson | kJobBatch, args.size()), args);
    ASSERT_EQ(result.status, 0) << result.payload;
    EXPECT_EQ(result.flags, std::uint32_t{kJobJson | kJobBatch});
    EXPECT_EQ(result.counts[0], 2u);
    EXPECT_EQ(result.counts[static_cast<std::size_t>(ErrorKind::handler_error)], 1u);

    BatchHeader out_header;
    ASSERT_GE(result.payload.size(), sizeof out_header);
    std::memcpy(&out_header, result.payload.data(), sizeof out_header);
    EXPECT_EQ(out_header.count, 3u);
    std::vector<std::pair<std::uint16_t, std::string>> answers;
    std::size_t pos = sizeof out_header;
    while (pos < result.payload.size()) {
        BatchResultItem item;
        ASSERT_LE(pos + sizeof item, result.payload.size());
        std::memcpy(&item, result.payload.data() + pos, sizeof item);
        pos += sizeof item;
        ASSERT_LE(pos + item.bytes, result.payload.size());
        answers.emplace_back(item.status, result.payload.substr(pos, item.bytes));
        pos += item.bytes;
    }
    ASSERT_EQ(answers.size(), 3u);
    EXPECT_EQ(answers[0], (std::pair<std::uint16_t, std::string>{0, "6"}));
    EXPECT_EQ(answers[1].first, static_cast<std::uint16_t>(ErrorKind::handler_error));
    EXPECT_NE(answers[1].second.find("positive"), std::string::npos) << answers[1].second;
    EXPECT_EQ(answers[2], (std::pair<std::uint16_t, std::string>{0, "7"}));
}

TEST_F(JobRunnerTest, AMalformedBatchIsABadRequest) {
    std::string args(sizeof(BatchHeader), '\0');
    const BatchHeader header{2, 0};
    std::memcpy(args.data(), &header, sizeof header);
    const std::uint32_t len = 100;  // longer than what follows
    args.append(reinterpret_cast<const char*>(&len), sizeof len);
    args.append(4, '\0');
    expect_failure(run(job("gcd", kJobJson | kJobBatch, args.size()), args), ErrorKind::bad_request,
                   "malformed batch item");
    const std::string lying(sizeof(BatchHeader), '\x7f');
    expect_failure(run(job("gcd", kJobJson | kJobBatch, lying.size()), lying), ErrorKind::bad_request,
                   "batch item count out of range");
}

TEST_F(JobRunnerTest, AHandlerErrorCarriesTheExceptionsText) {
    expect_failure(run_json("fail", "\"it went wrong\""), ErrorKind::handler_error, "it went wrong");
}

TEST_F(JobRunnerTest, BadArgumentsAreABadRequest) {
    expect_failure(run_json("gcd", "[1,"), ErrorKind::bad_request, "");
    expect_failure(run_json("gcd", "\"twelve\""), ErrorKind::bad_request, "");
    expect_failure(run(job("gcd", 0, 3), "abc"), ErrorKind::bad_request, "");
}

TEST_F(JobRunnerTest, UnknownFunctionsPassedDeadlinesAndPickleForACppJob) {
    expect_failure(run_json("no_such_job", "1"), ErrorKind::unknown_function,
                   "no function 'no_such_job' in the job library");
    JobRecord late = job("gcd", kJobJson, 8);
    late.deadline_ns = 1;
    expect_failure(run(late, "[12, 18]"), ErrorKind::deadline_exceeded, "deadline passed");
    expect_failure(run(job("gcd", kJobPickle, 3), "abc"), ErrorKind::type_mismatch, "is a C++ job");
}

TEST_F(JobRunnerTest, JobObjectsSeeTheJobsIdAndAttempt) {
    JobRecord record = job("crash_until_attempt", kJobJson, 1);
    record.attempt = 3;
    record.job_id = 99;
    const JobResult result = run(record, "1");
    ASSERT_EQ(result.status, 0) << result.payload;
    EXPECT_EQ(result.payload, "3");
    EXPECT_EQ(worker_context().job_id, 99u);
}

TEST_F(JobRunnerTest, ALaneJobIsCheckedAsNoSupervisorDid) {
    EXPECT_EQ(run_json("gcd", "[12, 18]", JobOrigin::lane).payload, "6");
    const std::string args = "[12, 18]";
    expect_failure(run(job("gcd", kJobJson | kJobBatch, args.size()), args, JobOrigin::lane), ErrorKind::bad_request,
                   "a lane carries one call");
    JobRecord limited = job("gcd", kJobJson, args.size());
    limited.timeout_ns = 1'000'000;
    expect_failure(run(limited, args, JobOrigin::lane), ErrorKind::bad_request, "a lane carries one call");
    expect_failure(run(job("gcd", kJobJson, args.size() + 1), args, JobOrigin::lane), ErrorKind::bad_request,
                   "a lane carries one call");
    expect_failure(run(job("gcd", kJobJson | kJobPickle, args.size()), args, JobOrigin::lane), ErrorKind::bad_request,
                   "JSON or pickle, not both");
    JobRecord nameless = job("gcd", kJobJson, args.size());
    std::memset(nameless.function, 'g', sizeof nameless.function);
    expect_failure(run(nameless, args, JobOrigin::lane), ErrorKind::bad_request, "function name is missing");
}

TEST_F(JobRunnerTest, ALargeResultIsWrittenStraightIntoAResultBlob) {
    std::string args(100'000, '\0');
    for (std::size_t i = 0; i < args.size(); ++i) args[i] = static_cast<char>('a' + i % 26);
    JobResult result = run(job("echo", 0, args.size()), args);
    ASSERT_EQ(result.status, 0) << result.payload;
    ASSERT_TRUE(result.blob);
    EXPECT_EQ(result.blob->ref.bytes, args.size());
    EXPECT_EQ(result.blob->header->state.load(), static_cast<std::uint32_t>(BlobState::published));
    EXPECT_EQ(std::string_view(reinterpret_cast<const char*>(result.blob->data), args.size()), args);
    EXPECT_EQ(result.counts[0], 1u);

    // Not delivered: the blob goes back to the pool, to be reused by the next large result.
    BlobHeader* header = result.blob->header;
    const std::uint64_t object = result.blob->ref.object;
    runner_.finish(result, false, session_);
    EXPECT_EQ(header->state.load(), static_cast<std::uint32_t>(BlobState::free));
    JobResult again = run(job("echo", 0, args.size()), args);
    ASSERT_TRUE(again.blob);
    EXPECT_EQ(again.blob->ref.object, object);
    runner_.finish(again, false, session_);
}

TEST_F(JobRunnerTest, ASmallResultStaysInline) {
    const std::string args(100, 'x');
    const JobResult result = run(job("echo", 0, args.size()), args);
    ASSERT_EQ(result.status, 0) << result.payload;
    EXPECT_FALSE(result.blob);
    EXPECT_EQ(result.payload, args);
}

TEST_F(JobRunnerTest, ArgumentsAreReadFromTheClientsBlob) {
    const BlobRef ref = argument_blob("[12, 18]");
    const std::string_view payload(reinterpret_cast<const char*>(&ref), sizeof ref);
    const JobResult result = run(job("gcd", kJobJson | kJobBlob, payload.size()), payload);
    ASSERT_EQ(result.status, 0) << result.payload;
    EXPECT_EQ(result.payload, "6");
    // Mapped once, then kept for the next job naming the same blob.
    EXPECT_EQ(run(job("gcd", kJobJson | kJobBlob, payload.size()), payload).payload, "6");
    EXPECT_EQ(blob_fetches_, 1);
}

TEST_F(JobRunnerTest, ABlobReferenceThatNamesNoBlobIsABadRequest) {
    const BlobRef ref{8, 12345, 1};
    const std::string_view payload(reinterpret_cast<const char*>(&ref), sizeof ref);
    expect_failure(run(job("gcd", kJobJson | kJobBlob, payload.size()), payload), ErrorKind::bad_request,
                   "argument blob");
    expect_failure(run(job("gcd", kJobJson | kJobBlob, 3), "abc"), ErrorKind::bad_request, "malformed blob reference");
}

}  // namespace
}  // namespace warmpool
