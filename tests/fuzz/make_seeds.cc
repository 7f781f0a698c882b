// Writes the seed corpora of the fuzz targets from real encoded messages, ring records, job
// arguments and configurations, made by the project's own encoders, so that each target starts
// from inputs its code accepts:
//
//   fuzz-seeds DIR     writes DIR/<target>/seed-<what> (DIR is tests/fuzz/corpus)
//
// Existing files are overwritten; other files (inputs found by fuzzing) are left alone.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "jobs/classic_workloads.hpp"
#include "ring_input.hpp"
#include "warmpool/common/byte_ring.hpp"
#include "warmpool/common/protocol.hpp"
#include "warmpool/common/shm_layout.hpp"
#include "warmpool/error_kind.hpp"
#include "warmpool/job.hpp"

namespace warmpool {
namespace {

namespace fs = std::filesystem;
using namespace std::string_literals;

class Writer {
public:
    explicit Writer(fs::path root) : root_(std::move(root)) {}

    void write(std::string_view target, std::string_view what, std::string_view bytes) const {
        const fs::path dir = root_ / target;
        fs::create_directories(dir);
        std::ofstream out(dir / ("seed-" + std::string(what)), std::ios::binary | std::ios::trunc);
        out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
        if (!out) throw std::runtime_error("cannot write " + (dir / what).string());
    }

private:
    fs::path root_;
};

template <class T>
std::string bytes_of(const T& value) {
    return std::string(reinterpret_cast<const char*>(&value), sizeof value);
}

// ---- protocol_fuzz: a chunking byte, then a stream of frames ----

void protocol_seeds(const Writer& w) {
    using namespace protocol;
    const auto seed = [&](std::string_view what, std::uint8_t chunks, const std::string& stream) {
        w.write("protocol", what, std::string(1, static_cast<char>(chunks)) + stream);
    };
    seed("hello", 0, encode_frame(Hello{kProtocolVersion, "warmpool-cli"}));
    seed("hello-odd-name", 1, encode_frame(Hello{kProtocolVersion, "na\xffme \xc3\xa9\0x"s}));
    Welcome welcome;
    welcome.session_slot = 3;
    welcome.session_generation = 0x1234567890abcdefULL;
    welcome.pool_name = "default";
    welcome.supervisor_pid = 4242;
    welcome.worker_slots = 4;
    welcome.submit_ring_bytes = 1 << 20;
    welcome.control_ring_bytes = 64 << 10;
    welcome.reply_ring_bytes = 1 << 20;
    welcome.inline_max = 64 << 10;
    seed("welcome", 2, encode_frame(welcome));
    seed("refused", 3, encode_frame(Refused{"overloaded", "too many sessions"}));
    seed("cancel", 4, encode_frame(Cancel{77, true}));
    seed("admin", 5, encode_frame(Admin{"reload", {"a", "", "bc"}}));
    seed("admin-reply", 6, encode_frame(AdminReply{true, "stopping"}));
    seed("goodbye", 7, encode_frame(Goodbye{}));
    seed("blob-offer", 8, encode_frame(BlobOffer{5}));
    seed("blob-retire", 9, encode_frame(BlobRetire{5}));
    seed("blob-want", 10, encode_frame(BlobWant{4242, 6}));
    seed("blob-give", 11, encode_frame(BlobGive{4242, 6, false, "no such blob"}));
    seed("worker-want", 12, encode_frame(WorkerWant{WorkerWantKind::argument_blob, 3, 9, 2}));
    seed("worker-give", 13, encode_frame(WorkerGive{true, ""}));
    seed("result-offer", 14, encode_frame(ResultOffer{3, 9, 1}));
    seed("result-retire", 15, encode_frame(ResultRetire{3, 9, 1}));
    seed("session", 16,
         encode_frame(Hello{kProtocolVersion, "client"}) + encode_frame(BlobOffer{1}) +
             encode_frame(Cancel{1, false}) + encode_frame(BlobWant{99, 1}) +
             encode_frame(BlobRetire{1}) + encode_frame(Goodbye{}));

    // Streams the reader must refuse, or wait on.
    std::string bad_magic = encode_frame(Goodbye{});
    bad_magic[0] = 'X';
    seed("bad-magic", 17, bad_magic);
    std::string bad_version = encode_frame(Cancel{1, false});
    bad_version[4] = 9;
    seed("bad-version", 18, bad_version);
    FrameHeader huge{kFrameMagic, kProtocolVersion, static_cast<std::uint16_t>(MessageType::hello),
                     kMaxFrameBody + 1, 0};
    seed("oversized", 19, bytes_of(huge));
    const std::string truncated = encode_frame(Admin{"stop", {}});
    seed("truncated", 20, truncated.substr(0, truncated.size() - 2));
    std::string bad_bool = encode_frame(Cancel{1, true});
    bad_bool.back() = 2;
    seed("bad-bool", 21, bad_bool);
}

// ---- ring_fuzz: a ring as its producer left it, then steps ----

using fuzz::RingRole;
using fuzz::Step;

std::string step(Step s) { return std::string(1, static_cast<char>(s)); }

// Steps that read and release every record.
std::string drain(int records) {
    std::string steps;
    for (int i = 0; i < records; ++i)
        steps += step(Step::peek) + step(Step::look) + step(Step::pop);
    return steps + step(Step::peek) + step(Step::release) + step(Step::look);
}

// A ring of 64 << log64 bytes whose producer published `records` starting at index `start`:
// the input that stands for it, with `steps` after it.
std::string ring_input(unsigned log64, RingRole role, std::uint64_t start,
                       const std::vector<std::string>& records, const std::string& steps) {
    const std::uint64_t capacity = std::uint64_t{64} << log64;
    RingControl control;
    control.head.store(start);
    control.tail.store(start);
    std::string data(capacity, '\0');
    RingProducer producer(RingView{&control, reinterpret_cast<std::byte*>(data.data()), capacity});
    for (const auto& record : records) {
        std::byte* out = producer.try_reserve(static_cast<std::uint32_t>(record.size()));
        if (out == nullptr)
            throw std::runtime_error("a seed record of " + std::to_string(record.size()) +
                                     " bytes does not fit its ring of " + std::to_string(capacity) +
                                     " from " + std::to_string(start));
        std::memcpy(out, record.data(), record.size());
        producer.commit(static_cast<std::uint32_t>(record.size()));
    }
    producer.publish();
    return std::string(1, static_cast<char>(fuzz::ring_shape(log64, role))) +
           bytes_of(control.head.load()) + bytes_of(control.tail.load()) + data + steps;
}

std::string job(std::string_view function, std::uint32_t flags, const std::string& payload) {
    JobRecord record{};
    record.job_id = 7;
    record.flags = flags;
    record.payload_bytes = static_cast<std::uint32_t>(payload.size());
    set_function_name(record, function);
    return bytes_of(record) + payload;
}

std::string reply(std::uint16_t status, std::uint32_t flags, const std::string& payload,
                  std::int32_t worker) {
    ReplyRecord record{};
    record.job_id = 7;
    record.status = status;
    record.flags = flags;
    record.payload_bytes = static_cast<std::uint32_t>(payload.size());
    record.worker_pid = worker;
    record.queue_ns = 1000;
    record.run_ns = 2000;
    return bytes_of(record) + payload;
}

// A batch of `items`, each with its u32 length (arguments) or status and length (results).
std::string batch(const std::vector<std::string>& items, bool results) {
    std::string out = bytes_of(BatchHeader{static_cast<std::uint32_t>(items.size()), 0});
    for (const auto& item : items) {
        if (results) {
            out += bytes_of(BatchResultItem{0, 0, static_cast<std::uint32_t>(item.size())});
        } else {
            out += bytes_of(static_cast<std::uint32_t>(item.size()));
        }
        out += item;
    }
    return out;
}

void ring_seeds(const Writer& w) {
    const std::uint64_t near_wrap = ~std::uint64_t{0} - 95;  // indices that overflow on the way
    const std::string pair = to_binary(std::pair<std::int64_t, std::int64_t>{12, 18});
    const std::string ref = bytes_of(BlobRef{100, 1, 0x5eed});

    const std::vector<std::string> submits = {
        job("gcd", kJobJson, "[12, 18]"),
        job("gcd", 0, pair),
        job("gcd", kJobJson | kJobBatch, batch({"[1, 2]", "[3, 4]"}, false)),
        job("echo", kJobBlob, ref),
    };
    w.write("ring", "submit", ring_input(4, RingRole::submit, 0, submits, drain(4)));
    w.write("ring", "submit-wrapping", ring_input(4, RingRole::submit, 896, submits, drain(4)));
    w.write("ring", "submit-index-overflow",
            ring_input(4, RingRole::submit, near_wrap, submits, drain(4)));
    std::string unnamed = job("x", kJobJson, "1");
    std::memset(unnamed.data() + offsetof(JobRecord, function), 'f', kFunctionNameMax + 1);
    w.write("ring", "submit-unterminated-name",
            ring_input(2, RingRole::submit, 0, {unnamed}, drain(1)));

    const std::vector<std::string> replies = {
        reply(0, 0, bytes_of(std::int64_t{6}), 4242),
        reply(0, kJobJson, "6", 4242),
        reply(0, kJobJson | kJobBatch, batch({"3", "1"}, true), 4242),
        reply(0, kJobBlob, ref, 4242),
        reply(static_cast<std::uint16_t>(ErrorKind::handler_error), 0,
              "brute_force_gcd needs two positive integers", 4242),
    };
    w.write("ring", "reply", ring_input(4, RingRole::reply, 0, replies, drain(5)));
    w.write("ring", "reply-wrapping", ring_input(4, RingRole::reply, 904, replies, drain(5)));
    const std::vector<std::string> control = {
        reply(static_cast<std::uint16_t>(ErrorKind::bad_request), 0, "unknown job flags", 0),
        reply(static_cast<std::uint16_t>(ErrorKind::cancelled), 0, "cancelled before it started",
              0),
    };
    w.write("ring", "control", ring_input(3, RingRole::control, 0, control, drain(2)));

    const std::uint64_t posted = lane_word(5, 0, LaneWordState::posted);
    const std::vector<std::string> lanes = {
        bytes_of(posted) + job("gcd", kJobJson, "[12, 18]"),
        bytes_of(lane_word(6, 2, LaneWordState::claimed)) + job("gcd", 0, pair),
    };
    w.write("ring", "lane", ring_input(4, RingRole::lane, 0, lanes, drain(2)));

    // The producer's side: records in, the dispatcher's promise checked, read back; then a
    // consumer (a client) that scribbles on the indices.
    std::string producing;
    for (std::uint16_t size : {40, 0, 100, 7, 500, 64}) {
        producing +=
            step(Step::produce) + bytes_of(size) + bytes_of(std::uint16_t{0}) + step(Step::publish);
        producing += step(Step::peek) + step(Step::pop) + step(Step::release);
    }
    producing += step(Step::reply_room) + bytes_of(std::uint16_t{60}) +
                 bytes_of(std::uint16_t{40}) + drain(1);
    w.write("ring", "produce", ring_input(4, RingRole::reply, 0, {}, producing));
    w.write("ring", "produce-wrapping", ring_input(3, RingRole::reply, 488, {}, producing));
    std::string hostile = producing;
    hostile += step(Step::scribble_head) + bytes_of(std::int32_t{-4096}) + step(Step::produce) +
               bytes_of(std::uint16_t{32}) + bytes_of(std::uint16_t{0}) + step(Step::publish);
    hostile += step(Step::scribble_tail) + bytes_of(std::int32_t{3}) + step(Step::new_producer) +
               step(Step::reply_room) + bytes_of(std::uint16_t{8}) + bytes_of(std::uint16_t{8});
    hostile += step(Step::scribble_data) + bytes_of(std::uint16_t{4}) + "\xff" +
               step(Step::new_consumer) + drain(3);
    w.write("ring", "hostile-consumer", ring_input(4, RingRole::reply, 0, {}, hostile));
}

// ---- job_args_fuzz: which function and encoding, then its arguments ----

void job_args_seeds(const Writer& w) {
    const auto& functions = warmpool_job_library_v1()->functions;
    const auto seed = [&](std::string_view function, Encoding encoding, std::string_view what,
                          const std::string& args) {
        for (std::size_t i = 0; i < functions.size(); ++i) {
            if (functions[i]->name() != function) continue;
            const auto pick = static_cast<char>(i << 1 | (encoding == Encoding::json ? 1 : 0));
            w.write("job_args",
                    std::string(function) + (encoding == Encoding::json ? "-json" : "-binary") +
                        (what.empty() ? "" : "-" + std::string(what)),
                    std::string(1, pick) + args);
            return;
        }
        throw std::runtime_error("the example library has no function " + std::string(function));
    };
    using Pair = std::pair<std::int64_t, std::int64_t>;
    seed("gcd", Encoding::json, "", "[12, 18]");
    seed("gcd", Encoding::json, "float", "[12.0, 18]");
    seed("gcd", Encoding::binary, "", to_binary(Pair{12, 18}));
    seed("md5_chain", Encoding::json, "", R"({"msg": "Hello World", "rounds": 3})");
    seed("md5_chain", Encoding::json, "defaults", "{}");
    seed("md5_chain", Encoding::binary, "", to_binary(examples::Md5Args{"Hello \xc3\xa9", 3}));
    seed("triple_product", Encoding::json, "", "20");
    seed("triple_product", Encoding::binary, "", to_binary(std::int64_t{20}));
    seed("sleep_report", Encoding::json, "", "0.25");
    seed("sleep_report", Encoding::binary, "", to_binary(0.25));
    seed("fail", Encoding::json, "", R"("boom \u00e9\n")");
    seed("fail", Encoding::binary, "", to_binary("boom"s));
    seed("worker_info", Encoding::json, "", "0");
    seed("leak", Encoding::binary, "", to_binary(std::int64_t{1}));
    seed("echo", Encoding::binary, "", to_binary("anything"s));
}

// ---- config_fuzz: a TOML document, then NUL and override lines ----

void config_seeds(const Writer& w) {
    std::ifstream example(fs::path(WARMPOOL_SOURCE_DIR) / "examples" / "warmpool.toml",
                          std::ios::binary);
    const std::string text((std::istreambuf_iterator<char>(example)),
                           std::istreambuf_iterator<char>());
    if (text.empty()) throw std::runtime_error("cannot read examples/warmpool.toml");
    w.write("config", "example", text);
    w.write(
        "config", "example-overrides",
        text + '\0' +
            "workers=3\nlimits.prefetch=16\naccess.allow_users=alice\naccess.allow_users=bob\n" +
            "supervision.max_rss=512MiB\necho:timeout=2.5,retries=1\nfunctions.gcd.retries=3");
    w.write("config", "empty", "");
    w.write("config", "functions",
            "[functions.md5_chain]\ntimeout = 30.0\nretries = 2\n\n[functions.\"odd "
            "name\"]\ntimeout = 0\n");
    w.write(
        "config", "inline-tables",
        "name = \"pool-1\"\nlimits = { prefetch = 8, inline_max = \"4KiB\", inbox_ring = 65536 }\n"
        "access.socket_mode = 0o640\nsupervision.max_jobs_jitter = 0.5\n");
    w.write("config", "sizes",
            "[limits]\nsubmit_ring = \"1GiB\"\nreply_ring = \"4KiB\"\ninbox_ring = \"16 KiB\"\n"
            "control_ring = 8192\ninline_max = 64\n");
    w.write("config", "wrong", "workrs = 4\n[limits]\nprefetch = -1\n[functions]\ngcd = 3\n");
    w.write("config", "overrides-only",
            std::string(1, '\0') +
                "name=other\nworkers=2\nsupervision.grace_period=0.5\nlog_level=debug\n");
}

// ---- status_fuzz: three strings cut as FuzzedDataProvider cuts them, then a byte limit ----

void status_seeds(const Writer& w) {
    // A string ends at a backslash followed by anything but a backslash; "\\\\" is one backslash.
    const auto seed = [&](std::string_view what, std::string_view client, std::string_view function,
                          std::string_view message, char limit) {
        w.write("status", what,
                std::string(client) + "\\;" + std::string(function) + "\\;" + std::string(message) +
                    "\\;" + limit);
    };
    seed("plain", "warmpool-cli", "gcd", "brute_force_gcd needs two positive integers", 64);
    seed("accents", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x8d\xb5", "m\xc3\xa9thode",
         "\xe2\x80\x9cquoted\xe2\x80\x9d", 5);
    seed("ill-formed", "na\xffme", "\xc0\xaf",
         "\xed\xa0\x80 surrogate \xf4\x90\x80\x80 too high \xe0\x80", 7);
    seed("truncated", "ab\xe2\x82", "\xf0\x9f", "\xc3", 2);
    seed("long", std::string(100, 'n') + "\xc3\xa9", std::string(48, 'f'), std::string(300, 'm'),
         63);
    seed("controls", std::string("a\0b\x01\x7f", 5), "tab\there", "line\nbreak \"quote\"", 9);
}

}  // namespace
}  // namespace warmpool

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s DIR   (DIR: tests/fuzz/corpus of the source tree)\n",
                     argv[0]);
        return 64;
    }
    try {
        const warmpool::Writer writer(argv[1]);
        warmpool::protocol_seeds(writer);
        warmpool::ring_seeds(writer);
        warmpool::job_args_seeds(writer);
        warmpool::config_seeds(writer);
        warmpool::status_seeds(writer);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "fuzz-seeds: %s\n", e.what());
        return 1;
    }
    return 0;
}
