// Arguments of the example job functions (examples/jobs) as any client may send them: arbitrary
// bytes as JSON text and as Cereal binary, decoded the way a worker decodes them before it calls
// the function (job.hpp: detail::decode_args, over from_json_text and from_binary of
// serialization.hpp). A decoding error is an answer (bad_request); a crash, a leak, undefined
// behaviour or an allocation the bytes do not justify is a bug.
//
// Input: one byte, whose low bit picks the encoding (1: JSON) and whose other bits pick the
// function in the library's order; then the arguments.
//
// Only the decoding runs, never the function: the examples sleep, hang, crash and leak on
// purpose. Every function the library registers is fuzzed: the fuzzer refuses to start if one
// takes an argument type it has no decoder for. Raw functions (echo) decode nothing.
//
// Besides, it checks that what decodes encodes again (as the result of a function of that type
// would be), and that the encoding decodes back to a value that encodes the same.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <typeinfo>
#include <utility>
#include <vector>

#include "fuzz_check.hpp"
#include "jobs/classic_workloads.hpp"
#include "warmpool/job.hpp"

namespace warmpool {
namespace {

using Decode = void (*)(Encoding, std::string_view);

template <class Args>
void decode_and_encode(Encoding encoding, std::string_view bytes) {
    Args args;
    try {
        args = detail::decode_args<Args>(encoding, bytes);
    } catch (const JobFailure& e) {
        FUZZ_CHECK(e.kind() == ErrorKind::bad_request);
        return;
    }
    std::string once;
    detail::encode_result(encoding, args, once);
    const Args again = detail::decode_args<Args>(encoding, once);
    std::string twice;
    detail::encode_result(encoding, again, twice);
    FUZZ_CHECK(once == twice);
}

struct Decoder {
    const char* signature;  // JobFunction::signature() of functions taking Args
    Decode decode;
};

template <class Args>
Decoder decoder() {
    return Decoder{typeid(Args).name(), &decode_and_encode<Args>};
}

// One per argument type of the example functions.
const Decoder kDecoders[] = {
    decoder<std::int64_t>(),                           // triple_product, worker_info, leak, ...
    decoder<double>(),                                 // sleep_report
    decoder<std::string>(),                            // fail
    decoder<std::pair<std::int64_t, std::int64_t>>(),  // gcd
    decoder<examples::Md5Args>(),                      // md5_chain
};

struct Function {
    std::string name;
    Decode decode = nullptr;  // null: a raw function, whose bytes are its own
};

std::vector<Function> functions;

}  // namespace
}  // namespace warmpool

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    using namespace warmpool;
    for (const auto& function : warmpool_job_library_v1()->functions) {
        Function entry{function->name()};
        if (function->signature() != "raw") {
            for (const Decoder& d : kDecoders) {
                if (function->signature() == d.signature) entry.decode = d.decode;
            }
            if (entry.decode == nullptr) {
                std::fprintf(
                    stderr,
                    "job_args_fuzz: function '%s' takes a type (%s) with no decoder here: add it\n",
                    function->name().c_str(), function->signature().c_str());
                std::abort();
            }
        }
        functions.push_back(std::move(entry));
    }
    FUZZ_CHECK(!functions.empty());
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace warmpool;
    fuzz::ByteReader input(data, size);
    const auto pick = input.take<std::uint8_t>();
    const Encoding encoding = (pick & 1) != 0 ? Encoding::json : Encoding::binary;
    const Function& function = functions[(pick >> 1) % functions.size()];
    if (function.decode != nullptr) function.decode(encoding, input.rest());
    return 0;
}
