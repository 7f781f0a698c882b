// Tests for the classic workloads (pure functions) and for the bundled job library, loaded with
// dlopen() the way a worker loads it. WARMPOOL_EXAMPLE_JOBS_PATH is the built module's path.

#include <dlfcn.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include "jobs/classic_workloads.hpp"
#include "jobs/md5.hpp"
#include "warmpool/job_abi.hpp"

#ifndef WARMPOOL_EXAMPLE_JOBS_PATH
#error "WARMPOOL_EXAMPLE_JOBS_PATH must name the built warmpool_example_jobs module"
#endif

namespace warmpool::examples {
namespace {

std::string md5_hex(std::string_view text) {
    Md5 md5;
    md5.update(text);
    return md5.hexdigest();
}

TEST(BruteForceGcd, MatchesTheArticlesPairs) {
    struct Case {
        std::int64_t a, b, gcd;
    };
    const Case cases[] = {
        {1963309, 2265973, 1},  {2030677, 3814172, 1},  {1551645, 2229620, 5},
        {2039045, 2020802, 1},  {1823712, 1924928, 32}, {2293129, 1020491, 1},
        {1281238, 2273782, 14}, {3823812, 4237281, 9},  {3812741, 4729139, 1},
        {1292391, 2123811, 9},
    };
    for (const Case& c : cases) {
        EXPECT_EQ(brute_force_gcd(c.a, c.b), c.gcd) << c.a << ", " << c.b;
    }
}

TEST(BruteForceGcd, SmallValues) {
    EXPECT_EQ(brute_force_gcd(1, 1), 1);
    EXPECT_EQ(brute_force_gcd(12, 18), 6);
    EXPECT_EQ(brute_force_gcd(7, 7), 7);
    EXPECT_EQ(brute_force_gcd(5, 1), 1);
}

TEST(BruteForceGcd, RejectsNonPositive) {
    EXPECT_THROW(brute_force_gcd(0, 5), std::invalid_argument);
    EXPECT_THROW(brute_force_gcd(5, 0), std::invalid_argument);
    EXPECT_THROW(brute_force_gcd(-4, 6), std::invalid_argument);
    EXPECT_THROW(brute_force_gcd(4, -6), std::invalid_argument);
}

TEST(Md5, Rfc1321TestVectors) {
    EXPECT_EQ(md5_hex(""), "d41d8cd98f00b204e9800998ecf8427e");
    EXPECT_EQ(md5_hex("a"), "0cc175b9c0f1b6a831c399e269772661");
    EXPECT_EQ(md5_hex("abc"), "900150983cd24fb0d6963f7d28e17f72");
    EXPECT_EQ(md5_hex("message digest"), "f96b697d7cb7938d525a2f31aaf161d0");
    EXPECT_EQ(md5_hex("abcdefghijklmnopqrstuvwxyz"), "c3fcd3d76192e4007dfb496cca67e13b");
    EXPECT_EQ(md5_hex("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"),
              "d174ab98d277d9f5a5611c2c9f419d9f");
    EXPECT_EQ(md5_hex("1234567890123456789012345678901234567890"
                      "1234567890123456789012345678901234567890"),
              "57edf4a22be3c955ac49da2e2107b67a");
}

TEST(Md5, PiecewiseUpdatesMatchOneShot) {
    std::string text;
    for (int i = 0; i < 300; ++i) text += static_cast<char>('a' + i % 26);
    for (std::size_t split : {0u, 1u, 55u, 56u, 63u, 64u, 65u, 128u, 299u, 300u}) {
        Md5 md5;
        md5.update(std::string_view(text).substr(0, split));
        md5.update(std::string_view(text).substr(split));
        EXPECT_EQ(md5.hexdigest(), md5_hex(text)) << "split at " << split;
    }
}

TEST(Md5, DigestLeavesTheRunningStateUntouched) {
    Md5 md5;
    md5.update("Hello ");
    EXPECT_EQ(md5.hexdigest(), md5_hex("Hello "));
    md5.update("World");
    EXPECT_EQ(md5.hexdigest(), md5_hex("Hello World"));
    EXPECT_EQ(md5.hexdigest(), "b10a8db164e0754105b7a99be72e3fe5");
}

TEST(Md5Chain, MatchesThePythonReference) {
    EXPECT_EQ(md5_chain("Hello World", 1000000), "1e4110cf294414bc2ac346ad274a7af3");
}

TEST(Md5Chain, OneRoundIsTheMd5OfTheMessage) {
    EXPECT_EQ(md5_chain("Hello World", 1), md5_hex("Hello World"));
}

TEST(Md5Chain, RoundsShareOneRunningState) {
    const std::string first = md5_hex("Hello World");
    EXPECT_EQ(md5_chain("Hello World", 2), md5_hex("Hello World" + first));
}

TEST(Md5Chain, ZeroRoundsReturnsTheMessageAndNegativeIsRejected) {
    EXPECT_EQ(md5_chain("Hello World", 0), "Hello World");
    EXPECT_THROW(md5_chain("Hello World", -1), std::invalid_argument);
}

TEST(Md5Args, JsonMissingFieldsTakeTheDefaults) {
    const Md5Args defaults;
    EXPECT_EQ(defaults.msg, "Hello World");
    EXPECT_EQ(defaults.rounds, 1000000);
    EXPECT_EQ(from_json_text<Md5Args>("{}"), defaults);
    EXPECT_EQ(from_json_text<Md5Args>(R"({"msg":"Hello World","rounds":1000000})"), defaults);
    EXPECT_EQ(from_json_text<Md5Args>(R"({"rounds":5})"), (Md5Args{"Hello World", 5}));
    EXPECT_EQ(from_json_text<Md5Args>(R"({"msg":"x"})"), (Md5Args{"x", 1000000}));
    EXPECT_THROW(from_json_text<Md5Args>(R"({"rounds":"many"})"), DecodeError);
    EXPECT_THROW(from_json_text<Md5Args>("[1, 2]"), DecodeError);
}

TEST(Md5Args, RoundTripsThroughBothEncodings) {
    const Md5Args args{"abc", 7};
    EXPECT_EQ(from_binary<Md5Args>(to_binary(args)), args);
    EXPECT_EQ(from_json_text<Md5Args>(to_json_text(args)), args);
}

TEST(TripleProduct, SmallCases) {
    // n = 3: (1*1*1)(1*1*2)...(2*2*2) = 2^12.
    const TripleProduct three = triple_product(3);
    EXPECT_EQ(three.digits, 4);
    EXPECT_EQ(three.leading, "4096");
    EXPECT_EQ(three.fnv1a64_hex, "437cf5d8938c2e92");

    const TripleProduct one = triple_product(1);  // the empty product
    EXPECT_EQ(one.digits, 1);
    EXPECT_EQ(one.leading, "1");
    EXPECT_EQ(one.fnv1a64_hex, "af63ac4c86019afc");
    EXPECT_EQ(triple_product(2), one);
}

// Expected values computed with the same triple loop in Python.
TEST(TripleProduct, MatchesThePythonReference) {
    EXPECT_EQ(triple_product(5), (TripleProduct{67, "3baef4306d48dbda", "17788511224504308898"}));
    EXPECT_EQ(triple_product(10),
              (TripleProduct{1352, "350bf060755b5918", "10529724030107413482"}));
    EXPECT_EQ(triple_product(20),
              (TripleProduct{18504, "5c9d57e039f3de4d", "14370595808758742749"}));
}

TEST(TripleProduct, RejectsOutOfRangeN) {
    EXPECT_THROW(triple_product(0), std::invalid_argument);
    EXPECT_THROW(triple_product(-3), std::invalid_argument);
    EXPECT_THROW(triple_product(2001), std::invalid_argument);
}

TEST(TripleProduct, JsonFieldsAndRoundTrips) {
    const TripleProduct product = triple_product(3);
    const nlohmann::json j = nlohmann::json::parse(to_json_text(product));
    EXPECT_EQ(
        j, (nlohmann::json{{"digits", 4}, {"fnv1a64", "437cf5d8938c2e92"}, {"leading", "4096"}}));
    EXPECT_EQ(from_json_text<TripleProduct>(j.dump()), product);
    EXPECT_EQ(from_binary<TripleProduct>(to_binary(product)), product);
}

// --- The job library, as a worker sees it ---------------------------------------------------

// Loaded once and never closed: the JobFunction objects live inside the module.
JobLibrary& example_library() {
    static JobLibrary* library = [] {
        void* handle = ::dlopen(WARMPOOL_EXAMPLE_JOBS_PATH, RTLD_NOW | RTLD_LOCAL);
        if (handle == nullptr) throw std::runtime_error(std::string("dlopen: ") + ::dlerror());
        void* symbol = ::dlsym(handle, kJobLibrarySymbol);
        if (symbol == nullptr) throw std::runtime_error(std::string("dlsym: ") + ::dlerror());
        return reinterpret_cast<JobLibraryEntry>(symbol)();
    }();
    return *library;
}

const JobFunction& function_named(std::string_view name) {
    for (const auto& function : example_library().functions) {
        if (function->name() == name) return *function;
    }
    throw std::runtime_error("no function " + std::string(name));
}

std::unique_ptr<JobInstance> instantiate(std::string_view name) {
    WorkerContext context;
    context.pool_name = "example_jobs_test";
    context.pid = ::getpid();
    return function_named(name).instantiate(context);
}

std::string invoke(JobInstance& instance, Encoding encoding, std::string_view args) {
    std::string out;
    instance.invoke(encoding, args, out);
    return out;
}

// Sets an environment variable for one scope.
class ScopedEnv {
  public:
    ScopedEnv(const char* name, const std::string& value) : name_(name) {
        ::setenv(name, value.c_str(), 1);
    }
    ~ScopedEnv() { ::unsetenv(name_); }
    ScopedEnv(const ScopedEnv&) = delete;
    ScopedEnv& operator=(const ScopedEnv&) = delete;

  private:
    const char* name_;
};

TEST(ExampleJobLibrary, ExportsTheExpectedFunctions) {
    const JobLibrary& library = example_library();
    EXPECT_EQ(library.abi_version, kJobAbiVersion);
    std::multiset<std::string> names;
    for (const auto& function : library.functions) names.insert(function->name());
    EXPECT_EQ(names,
              (std::multiset<std::string>{"gcd", "md5_chain", "triple_product", "sleep_report",
                                          "echo", "fail", "crash", "hang", "worker_info",
                                          "crash_until_attempt", "leak"}));
}

TEST(ExampleJobLibrary, FingerprintsMatchWhatAClientComputes) {
    using Pair = std::pair<std::int64_t, std::int64_t>;
    EXPECT_EQ(function_named("gcd").fingerprint(), (type_fingerprint<std::int64_t, Pair>()));
    EXPECT_EQ(function_named("md5_chain").fingerprint(),
              (type_fingerprint<std::string, Md5Args>()));
    EXPECT_EQ(function_named("triple_product").fingerprint(),
              (type_fingerprint<TripleProduct, std::int64_t>()));
    EXPECT_EQ(function_named("echo").fingerprint(), 0u);
}

TEST(ExampleJobLibrary, GcdInBothEncodings) {
    auto gcd = instantiate("gcd");
    EXPECT_EQ(invoke(*gcd, Encoding::json, "[12, 18]"), "6");
    const std::string binary =
        invoke(*gcd, Encoding::binary, to_binary(std::pair<std::int64_t, std::int64_t>{12, 18}));
    EXPECT_EQ(from_binary<std::int64_t>(binary), 6);
}

TEST(ExampleJobLibrary, MalformedArgumentsAreABadRequest) {
    auto gcd = instantiate("gcd");
    for (std::string_view args : {"[1,", "[1]", "\"twelve\""}) {
        try {
            invoke(*gcd, Encoding::json, args);
            ADD_FAILURE() << "no exception for " << args;
        } catch (const JobFailure& failure) {
            EXPECT_EQ(failure.kind(), ErrorKind::bad_request) << args;
        }
    }
    try {
        invoke(*gcd, Encoding::binary, "\x01\x02");
        ADD_FAILURE() << "no exception for truncated binary";
    } catch (const JobFailure& failure) {
        EXPECT_EQ(failure.kind(), ErrorKind::bad_request);
    }
}

// The library decodes with the job API it was built against: what does not fit exactly never
// reaches the function.
TEST(ExampleJobLibrary, JsonArgumentsThatDoNotFitAreABadRequestNamingTheProblem) {
    struct Case {
        const char* function;
        const char* args;
        const char* message;
    };
    const Case cases[] = {
        {"gcd", "[123456789012345678901234567890, 5]",
         "argument 0: 123456789012345678901234567890 does not fit int64"},
        {"gcd", "[3, 1.5]", "argument 1: 1.5 is not an integer"},
        {"gcd", "[1, 2, 3]", "expected an array of 2 elements, got 3"},
        {"gcd", "[1]", "expected an array of 2 elements, got 1"},
        {"gcd", R"(["12", 18])", "argument 0: expected int64, got a string"},
        {"gcd", "[12, false]", "argument 1: expected int64, got false"},
        {"gcd", "null", "expected an array of 2 elements, got null"},
        {"triple_product", "3.5", "3.5 is not an integer"},
        {"md5_chain", R"({"rounds": 9223372036854775808})",
         R"(argument "rounds": 9223372036854775808 does not fit its type (it would be -9223372036854775808))"},
        {"md5_chain", R"({"msg": "a", "rounds": 2.5})",
         R"(argument "rounds": 2.5 is not an integer)"},
        {"md5_chain", R"({"msg": "a", "round": 5})", R"(unknown key "round")"},
    };
    for (const Case& c : cases) {
        try {
            invoke(*instantiate(c.function), Encoding::json, c.args);
            ADD_FAILURE() << c.function << " " << c.args << " was accepted";
        } catch (const JobFailure& failure) {
            EXPECT_EQ(failure.kind(), ErrorKind::bad_request) << c.function << " " << c.args;
            EXPECT_EQ(std::string(failure.what()), c.message) << c.function << " " << c.args;
        } catch (const std::exception& e) {
            ADD_FAILURE() << c.function << " " << c.args << " ran the function: " << e.what();
        }
    }
    EXPECT_EQ(invoke(*instantiate("gcd"), Encoding::json, "[12, 18]"), "6");
    // An integer is a fine double.
    EXPECT_GE(nlohmann::json::parse(invoke(*instantiate("sleep_report"), Encoding::json, "0"))
                  .at("slept")
                  .get<double>(),
              0.0);
}

TEST(ExampleJobLibrary, InvalidValuesThrowInvalidArgument) {
    EXPECT_THROW(invoke(*instantiate("gcd"), Encoding::json, "[0, 5]"), std::invalid_argument);
    EXPECT_THROW(invoke(*instantiate("sleep_report"), Encoding::json, "-1"), std::invalid_argument);
    EXPECT_THROW(invoke(*instantiate("sleep_report"), Encoding::json, "3600.5"),
                 std::invalid_argument);
    EXPECT_THROW(invoke(*instantiate("triple_product"), Encoding::json, "0"),
                 std::invalid_argument);
}

TEST(ExampleJobLibrary, Md5ChainTakesDefaultsAndReturnsHex) {
    auto md5 = instantiate("md5_chain");
    EXPECT_EQ(invoke(*md5, Encoding::json, R"({"rounds": 2})"),
              "\"" + md5_chain("Hello World", 2) + "\"");
    EXPECT_EQ(
        from_binary<std::string>(invoke(*md5, Encoding::binary, to_binary(Md5Args{"abc", 1}))),
        md5_hex("abc"));
}

TEST(ExampleJobLibrary, TripleProductAsJson) {
    EXPECT_EQ(
        nlohmann::json::parse(invoke(*instantiate("triple_product"), Encoding::json, "3")),
        (nlohmann::json{{"digits", 4}, {"fnv1a64", "437cf5d8938c2e92"}, {"leading", "4096"}}));
}

TEST(ExampleJobLibrary, SleepReportSleepsAndNamesTheProcess) {
    const auto start = std::chrono::steady_clock::now();
    const nlohmann::json report =
        nlohmann::json::parse(invoke(*instantiate("sleep_report"), Encoding::json, "0.05"));
    EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(50));
    EXPECT_EQ(report.at("pid").get<std::int64_t>(), ::getpid());
    EXPECT_GE(report.at("slept").get<double>(), 0.05);
    EXPECT_GT(report.at("time_ns").get<std::int64_t>(), 0);
}

TEST(ExampleJobLibrary, EchoReturnsAnyPayloadUnchanged) {
    auto echo = instantiate("echo");
    const std::string payload("\0\x01\xff binary \0 bytes", 18);
    EXPECT_EQ(invoke(*echo, Encoding::binary, payload), payload);
    EXPECT_EQ(invoke(*echo, Encoding::json, "{\"any\": [1, 2]}"), "{\"any\": [1, 2]}");
    const std::string big(1 << 20, 'x');
    EXPECT_EQ(invoke(*echo, Encoding::binary, big), big);
}

TEST(ExampleJobLibrary, FailThrowsTheMessage) {
    auto fail = instantiate("fail");
    try {
        invoke(*fail, Encoding::json, "\"boom\"");
        ADD_FAILURE() << "fail did not throw";
    } catch (const JobFailure&) {
        ADD_FAILURE() << "fail must throw a plain exception (handler_error), not JobFailure";
    } catch (const std::runtime_error& error) {
        EXPECT_STREQ(error.what(), "boom");
    }
}

TEST(ExampleJobLibraryDeathTest, CrashAborts) {
    auto crash = instantiate("crash");
    EXPECT_EXIT(invoke(*crash, Encoding::json, "0"), ::testing::KilledBySignal(SIGABRT), "");
}

TEST(ExampleJobLibrary, WorkerInfoCountsInitsAndJobs) {
    auto first = instantiate("worker_info");
    const auto info = from_json_text<nlohmann::json>(invoke(*first, Encoding::json, "0"));
    EXPECT_EQ(info.at("pid").get<std::int64_t>(), ::getpid());
    EXPECT_EQ(info.at("jobs").get<std::int64_t>(), 1);
    const std::int64_t inits = info.at("inits").get<std::int64_t>();
    EXPECT_GE(inits, 1);
    EXPECT_EQ(from_json_text<nlohmann::json>(invoke(*first, Encoding::json, "0")).at("jobs"), 2);

    // Other functions carry no init, so only another worker_info instance moves the counter.
    instantiate("gcd");
    instantiate("md5_chain");
    auto second = instantiate("worker_info");
    const auto again = from_json_text<nlohmann::json>(invoke(*second, Encoding::json, "0"));
    EXPECT_EQ(again.at("inits").get<std::int64_t>(), inits + 1);
    EXPECT_EQ(again.at("jobs").get<std::int64_t>(), 1);
}

TEST(ExampleJobLibrary, InitAppendsOnePidLinePerInit) {
    const std::string log =
        ::testing::TempDir() + "example_jobs_test_init_" + std::to_string(::getpid()) + ".log";
    std::remove(log.c_str());
    {
        ScopedEnv env("WARMPOOL_EXAMPLE_INIT_LOG", log);
        for (const auto& function : example_library().functions) {
            function->instantiate(WorkerContext{});
        }
    }
    std::ifstream in(log);
    std::string line;
    int lines = 0;
    while (std::getline(in, line)) {
        ++lines;
        EXPECT_EQ(line, std::to_string(::getpid()));
    }
    EXPECT_EQ(lines, 1);
    std::remove(log.c_str());
}

TEST(ExampleJobLibrary, InitSleepsWhenAsked) {
    ScopedEnv env("WARMPOOL_EXAMPLE_INIT_SECONDS", "0.1");
    const auto start = std::chrono::steady_clock::now();
    instantiate("worker_info");
    EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(100));
}

TEST(ExampleJobLibrary, MalformedInitSecondsFailsInit) {
    for (const char* bad : {"abc", "-1", "0.5s", "nan", "7200"}) {
        ScopedEnv env("WARMPOOL_EXAMPLE_INIT_SECONDS", bad);
        EXPECT_THROW(instantiate("worker_info"), std::invalid_argument) << bad;
    }
}

TEST(ExampleJobLibrary, InitFailsOnRequest) {
    ScopedEnv env("WARMPOOL_EXAMPLE_INIT_FAIL", "1");
    try {
        instantiate("worker_info");
        ADD_FAILURE() << "init did not fail";
    } catch (const std::runtime_error& error) {
        EXPECT_STREQ(error.what(), "example init failure requested");
    }
    // Functions without init are unaffected.
    EXPECT_NO_THROW(instantiate("gcd"));
}

}  // namespace
}  // namespace warmpool::examples
