#include "warmpool/daemon/job_runner.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <utility>

#include "warmpool/common/blob_fault_guard.hpp"
#include "warmpool/common/clock.hpp"
#include "warmpool/common/job_checks.hpp"
#include "warmpool/daemon/dispatch_policy.hpp"
#include "warmpool/daemon/python_host.hpp"

namespace warmpool {

namespace {

// The result buffer is kept between jobs (its pages stay warm) unless a job grew it beyond this.
constexpr std::size_t kScratchKeepBytes = 128u << 20;

// What a job whose result blob shrank under us gets: only the session's client can have done it.
constexpr const char* kResultBlobShrank = "a result blob of this session shrank under the worker";

// A result written in place: small results go to the worker's buffer, large ones straight into a
// result blob of the session (taken from its pool, grown by moving to a larger one).
//
// The session's client maps that blob too and may shrink it while the job writes: the blob is
// written under a BlobFaultGuard for as long as the job may write it, and if it shrank the result
// is worthless (shrank() says so) and the blob leaves the pool.
class ResultOutput final : public JobOutput {
public:
    ResultOutput(std::string& small, BlobPool& pool, std::size_t inline_max)
        : small_(small), pool_(pool), inline_max_(inline_max) {}
    ~ResultOutput() override { let_go(); }
    ResultOutput(const ResultOutput&) = delete;
    ResultOutput& operator=(const ResultOutput&) = delete;

    char* extend(std::size_t n) override {
        const std::size_t at = size_;
        const std::size_t need = at + n;
        if (!blob_ && need <= inline_max_) {
            small_.resize(need);
            size_ = need;
            return small_.data() + at;
        }
        if (!blob_ || need > blob_->capacity) {
            auto bigger = pool_.acquire(need);
            if (!bigger) {
                throw std::runtime_error("cannot store a result of " + std::to_string(need) +
                                         " bytes: " + bigger.error().message());
            }
            // Armed before the copy, which writes the new blob (and reads the old one, still guarded).
            auto guard = std::make_unique<BlobFaultGuard>(bigger->segment->data(), bigger->segment->size());
            std::memcpy(bigger->data, data(), at);
            let_go();
            blob_ = bigger.value();
            guard_ = std::move(guard);
        }
        size_ = need;
        return reinterpret_cast<char*>(blob_->data) + at;
    }
    void shrink(std::size_t new_size) override {
        if (new_size >= size_) return;
        size_ = new_size;
        if (!blob_) small_.resize(new_size);
    }
    std::size_t size() const override { return size_; }
    const char* data() const override {
        return blob_ ? reinterpret_cast<const char*>(blob_->data) : small_.data();
    }

    // A blob the result went to shrank under the job's writes: the result is not what the job wrote.
    bool shrank() const { return shrank_ || (guard_ && guard_->shrank()); }

    // The blob holding the result, if it went to one and did not shrink; the caller then owns it.
    std::optional<BlobPool::Blob> take_blob() {
        if (shrank()) return std::nullopt;  // let_go() discards it
        auto blob = blob_;
        if (blob) blob->ref.bytes = size_;
        blob_.reset();
        guard_.reset();
        return blob;
    }

private:
    // Gives the current blob back to the pool, or out of it if it shrank.
    void let_go() {
        if (!blob_) return;
        if (guard_->shrank()) {
            shrank_ = true;
            pool_.discard(blob_->ref.object);
        } else {
            pool_.release(blob_->ref.object);
        }
        guard_.reset();
        blob_.reset();
    }

    std::string& small_;
    BlobPool& pool_;
    std::size_t inline_max_;
    std::size_t size_ = 0;
    std::optional<BlobPool::Blob> blob_;
    std::unique_ptr<BlobFaultGuard> guard_;  // over blob_'s mapping while blob_ is set
    bool shrank_ = false;  // a blob let go of earlier had shrunk
};

// A failure's reply payload: a Python job's may hold NUL bytes, which what() cannot carry.
std::string failure_text(const JobFailure& e) {
    if (const auto* python = dynamic_cast<const PythonJobFailure*>(&e)) return python->payload();
    return e.what();
}

// Runs `call`; on failure replaces `out` with the message and returns the ErrorKind.
template <class Call>
std::uint16_t invoke_guarded(std::string& out, Call&& call) {
    try {
        call();
        return 0;
    } catch (const JobFailure& e) {
        out = failure_text(e);
        return static_cast<std::uint16_t>(e.kind());
    } catch (const std::exception& e) {
        out = e.what();
    } catch (...) {
        out = "the handler threw something that is not a std::exception";
    }
    return static_cast<std::uint16_t>(ErrorKind::handler_error);
}

// Runs `call`, which appends its result to `out`; on failure replaces what it appended with
// the message and returns the ErrorKind.
template <class Call>
std::uint16_t invoke_appending(std::string& out, Call&& call) {
    const std::size_t mark = out.size();
    try {
        call();
        return 0;
    } catch (const JobFailure& e) {
        out.resize(mark);
        out += failure_text(e);
        return static_cast<std::uint16_t>(e.kind());
    } catch (const std::exception& e) {
        out.resize(mark);
        out += e.what();
    } catch (...) {
        out.resize(mark);
        out += "the handler threw something that is not a std::exception";
    }
    return static_cast<std::uint16_t>(ErrorKind::handler_error);
}

// Runs one call (for a Python job's batch item, a chunk of calls when pickled); appends the
// result (or, on failure, the message) to `out`.
std::uint16_t invoke_item(LoadedJobLibrary::Entry& entry, Encoding encoding, std::string_view args,
                          std::string& out) {
    if (entry.python) {
        return invoke_appending(out, [&] { PythonHost::invoke_batch_item(*entry.instance, encoding, args, out); });
    }
    return invoke_appending(out, [&] { entry.instance->invoke(encoding, args, out); });
}

std::string_view as_chars(std::span<const std::byte> bytes) {
    return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

}  // namespace

JobRunner::JobRunner(LoadedJobLibrary& library, WorkerContext& context, std::uint32_t inline_max,
                     bool hosts_python, Hooks hooks)
    : library_(library),
      context_(context),
      inline_max_(inline_max),
      hosts_python_(hosts_python),
      hooks_(std::move(hooks)) {}

JobResult JobRunner::failure(ErrorKind kind, std::string message) {
    JobResult result{static_cast<std::uint16_t>(kind), 0, std::move(message)};
    result.counts[static_cast<std::size_t>(kind)] = 1;
    return result;
}

JobResult JobRunner::execute(const JobRecord& job, std::span<const std::byte> payload, SessionBlobs& session,
                             JobOrigin origin) {
    context_.job_id = job.job_id;
    context_.attempt = job.attempt;
    if (origin == JobOrigin::lane) {
        if (!lane_may_carry(job, payload.size())) {
            return failure(ErrorKind::bad_request,
                           "a lane carries one call with its arguments inline and no time limit of its own");
        }
        if (auto why = job_refusal(job, payload, JobLimits{inline_max_})) {
            return failure(ErrorKind::bad_request, std::move(*why));
        }
    }
    if (job.deadline_ns != 0 && monotonic_ns() > job.deadline_ns) {
        return failure(ErrorKind::deadline_exceeded, "the job's deadline passed before it started");
    }
    const std::string_view name = function_name(job);
    LoadedJobLibrary::Entry* entry = library_.find(name);
    if (entry == nullptr) {
        return failure(ErrorKind::unknown_function, "no function '" + std::string(name) + "' in the job library" +
                                                        (hosts_python_ ? " or among the Python jobs" : ""));
    }
    const Encoding encoding = encoding_of(job.flags);
    if (auto refused = refuse_encoding(job, *entry, encoding)) return std::move(*refused);
    if (encoding == Encoding::binary && job.fingerprint != 0 && entry->function->fingerprint() != 0 &&
        job.fingerprint != entry->function->fingerprint()) {
        return failure(ErrorKind::type_mismatch, "function '" + std::string(name) +
                                                     "' was called with argument or result types other than its own");
    }
    if ((job.flags & kJobBlob) != 0) return run_from_blob(job, *entry, encoding, payload, session);
    return run(job, *entry, encoding, as_chars(payload), session);
}

// Calls a function cannot take in this encoding, and pickle from a peer the pool does not
// trust to run code as its user: answered before anything is decoded.
std::optional<JobResult> JobRunner::refuse_encoding(const JobRecord& job, const LoadedJobLibrary::Entry& entry,
                                                    Encoding encoding) const {
    const std::string& name = entry.function->name();
    if (encoding == Encoding::pickle && !entry.python) {
        // A Python client calling by name sends pickle first and, told this, JSON from then on.
        return failure(ErrorKind::type_mismatch,
                       "function '" + name + "' is a C++ job: it takes JSON (or binary), not pickle");
    }
    if (!entry.python) return std::nullopt;
    if (name == kPythonByValue && encoding != Encoding::pickle) {
        return failure(ErrorKind::unknown_function, "no function '" + name + "': functions by value come as pickle");
    }
    if (encoding == Encoding::binary) {
        return failure(ErrorKind::type_mismatch, "function '" + name + "' is a Python job: it takes pickle or JSON");
    }
    if (encoding == Encoding::pickle && !hooks_.may_unpickle(job)) {
        return failure(ErrorKind::permission,
                       "this pool does not take pickle from this peer (python.pickle): unpickling runs code as the "
                       "pool's user; call exported jobs with JSON instead");
    }
    return std::nullopt;
}

// Runs a job whose arguments are in the client's argument blob, read in place.
JobResult JobRunner::run_from_blob(const JobRecord& job, LoadedJobLibrary::Entry& entry, Encoding encoding,
                                   std::span<const std::byte> payload, SessionBlobs& session) {
    const std::optional<BlobRef> ref = blob_ref_of(payload);
    if (!ref) return failure(ErrorKind::bad_request, "malformed blob reference");
    // Freed by the client when it has our reply; a retry on another worker may need it.
    const std::string object = "a" + std::to_string(ref->object);
    auto mapped = session.arguments.map(
        object, *ref, [&] { return hooks_.argument_blob(job, ref->object); }, SharedSegment::Access::read_only);
    if (!mapped) return failure(ErrorKind::bad_request, "argument blob: " + mapped.error().message());
    // The job reads the client's object in place, and the client may shrink it meanwhile:
    // the guard turns the reads past its new end into zeros instead of a SIGBUS that kills us.
    const std::shared_ptr<SharedSegment> blob = mapped->segment;  // mapped while the job reads it
    const BlobFaultGuard guard(blob->data(), blob->size());
    JobResult result = run(job, entry, encoding, mapped->bytes, session);
    if (!guard.shrank()) return result;
    // What the job made of zeros is not the client's argument: nothing of it goes out.
    if (result.blob) session.results.release(result.blob->ref.object);
    session.arguments.drop(object);  // its pages are ours now, not the object's
    spdlog::debug("job {} of session {}: its argument blob {} shrank while the job read it", job.job_id,
                  job.session_slot, object);
    return failure(ErrorKind::bad_request, "the argument blob shrank while the job read it");
}

// Runs a job that passed the checks of execute() on its arguments.
JobResult JobRunner::run(const JobRecord& job, LoadedJobLibrary::Entry& entry, Encoding encoding,
                         std::string_view args, SessionBlobs& session) {
    if ((job.flags & kJobBatch) != 0) return run_batch(entry, encoding, args);
    JobResult result;
    result.payload = std::move(scratch_);
    result.payload.clear();
    result.flags = job.flags & kJobEncodingFlags;
    std::uint16_t status = 0;
    if (entry.instance->writes_in_place()) {
        ResultOutput out(result.payload, session.results, reply_inline_max(job.flags, inline_max_));
        status = invoke_guarded(result.payload, [&] { entry.instance->invoke_into(encoding, args, out); });
        if (out.shrank()) {
            spdlog::debug("job {} of session {}: a result blob shrank while the job wrote it", job.job_id,
                          job.session_slot);
            scratch_ = std::move(result.payload);
            return failure(ErrorKind::bad_request, kResultBlobShrank);
        }
        if (status == 0) {
            result.blob = out.take_blob();
            if (!result.blob) result.payload.resize(out.size());
        }
    } else {
        status = invoke_appending(result.payload, [&] { entry.instance->invoke(encoding, args, result.payload); });
    }
    if (status != 0) {
        result.status = status;
        result.flags = 0;
    }
    result.counts[result.outcome_slot()] = 1;
    return result;
}

JobResult JobRunner::run_batch(LoadedJobLibrary::Entry& entry, Encoding encoding, std::string_view args) {
    // Checked again before the result is sized for the count: no supervisor saw a batch in a blob.
    const std::optional<std::uint32_t> count = batch_count(std::as_bytes(std::span(args.data(), args.size())));
    if (!count) {
        return failure(ErrorKind::bad_request,
                       args.size() < sizeof(BatchHeader) ? "malformed batch" : "batch item count out of range");
    }
    JobResult result;
    result.flags = kJobBatch | encoding_flags(encoding);
    std::string& out = result.payload;
    out.reserve(args.size() + *count * sizeof(BatchResultItem));
    out.append(args.data(), sizeof(BatchHeader));
    std::size_t pos = sizeof(BatchHeader);
    for (std::uint32_t i = 0; i < *count; ++i) {
        std::uint32_t len = 0;
        if (args.size() - pos < sizeof len) return failure(ErrorKind::bad_request, "malformed batch item");
        std::memcpy(&len, args.data() + pos, sizeof len);
        pos += sizeof len;
        if (args.size() - pos < len) return failure(ErrorKind::bad_request, "malformed batch item");
        const std::size_t item_at = out.size();
        out.append(sizeof(BatchResultItem), '\0');
        BatchResultItem item{};
        item.status = invoke_item(entry, encoding, args.substr(pos, len), out);
        item.bytes = static_cast<std::uint32_t>(out.size() - item_at - sizeof item);
        std::memcpy(out.data() + item_at, &item, sizeof item);
        ++result.counts[item.status < kOutcomeDropped ? item.status : 0];
        pos += len;
    }
    if (pos != args.size()) return failure(ErrorKind::bad_request, "trailing bytes after batch");
    return result;
}

void JobRunner::seal(const JobRecord& job, JobResult& result, SessionBlobs& session) const {
    std::string_view copy_in;  // bytes still to go into the blob
    const std::uint32_t inline_max = reply_inline_max(job.flags, inline_max_);
    if (!result.blob && result.payload.size() > inline_max) {
        // Encoded into the buffer (a typed result): copied once into a reused blob.
        auto blob = session.results.acquire(result.payload.size());
        if (!blob) {
            fail_sealed(result, inline_max, ErrorKind::handler_error,
                        "cannot store a result of " + std::to_string(result.payload.size()) +
                            " bytes: " + blob.error().message());
            return;
        }
        result.blob = blob.value();
        result.blob->ref.bytes = result.payload.size();
        copy_in = result.payload;
    }
    if (!result.blob) return;
    const std::shared_ptr<const SharedSegment>& mapping = result.blob->segment;
    {
        const BlobFaultGuard guard(mapping->data(), mapping->size());
        if (!copy_in.empty()) std::memcpy(result.blob->data, copy_in.data(), copy_in.size());
        result.blob->publish();
        if (!guard.shrank()) return;
    }
    session.results.discard(result.blob->ref.object);
    result.blob.reset();
    spdlog::debug("job {} of session {}: its result blob shrank before the reply", job.job_id, job.session_slot);
    fail_sealed(result, inline_max, ErrorKind::bad_request, kResultBlobShrank);
}

// Turns a result into an error that goes inline, counted against all of the job's calls.
void JobRunner::fail_sealed(JobResult& result, std::uint32_t inline_max, ErrorKind kind, std::string message) const {
    std::uint32_t calls = 0;
    for (const std::uint32_t n : result.counts) calls += n;
    result = failure(kind, std::move(message));
    result.counts[static_cast<std::size_t>(kind)] = std::max(calls, 1u);
    // Inline, so it must fit the room the dispatcher reserved for one reply.
    if (result.payload.size() > inline_max) result.payload.resize(inline_max);
}

void JobRunner::finish(JobResult& result, bool delivered, SessionBlobs& session) {
    if (result.blob && !delivered) session.results.release(result.blob->ref.object);
    // Results a client keeps (Bytes) pile up beyond the limits: let go of those, it has its
    // own mapping of them.
    if (result.blob) session.results.trim(true);
    result.blob.reset();
    if (result.payload.capacity() <= kScratchKeepBytes) {
        scratch_ = std::move(result.payload);
        scratch_.clear();
    }
}

}  // namespace warmpool
