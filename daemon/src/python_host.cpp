// The interpreter inside a worker: initialisation, the Python jobs as JobFunctions, and each
// call's way from the worker's bytes into warmpool._worker.run() and back (python_host.hpp).
#define PY_SSIZE_T_CLEAN
#include <Python.h>
// Python.h first, as CPython asks.

#include "warmpool/daemon/python_host.hpp"

#include <malloc.h>

#include <cstring>
#include <filesystem>

#include "warmpool/common/pickle_envelope.hpp"

namespace warmpool {

namespace {

// warmpool._worker's entry points and the thread state kept while the GIL is released. One
// interpreter per process: process-wide, set once by start().
struct Interpreter {
    PyObject* run = nullptr;  // _worker.run(name, encoding, payload, job_id, attempt, batch)
    PyThreadState* released = nullptr;
};
Interpreter interpreter;

// Holds the GIL for a call: taken from the worker's released thread state, given back after.
class Gil {
public:
    Gil() { PyEval_RestoreThread(interpreter.released); }
    ~Gil() { interpreter.released = PyEval_SaveThread(); }
    Gil(const Gil&) = delete;
    Gil& operator=(const Gil&) = delete;
};

// An owned reference, dropped with the GIL held (declare it inside the Gil's scope).
class Ref {
public:
    explicit Ref(PyObject* object = nullptr) : object_(object) {}
    ~Ref() { Py_XDECREF(object_); }
    Ref(const Ref&) = delete;
    Ref& operator=(const Ref&) = delete;
    PyObject* get() const { return object_; }
    explicit operator bool() const { return object_ != nullptr; }

private:
    PyObject* object_;
};

// A buffer of a Python object, released with the GIL held.
class Buffer {
public:
    bool get(PyObject* object) {
        ok_ = PyObject_GetBuffer(object, &view_, PyBUF_SIMPLE) == 0;
        return ok_;
    }
    ~Buffer() {
        if (ok_) PyBuffer_Release(&view_);
    }
    const char* data() const { return static_cast<const char*>(view_.buf); }
    std::size_t size() const { return static_cast<std::size_t>(view_.len); }
    std::span<const std::byte> bytes() const { return {reinterpret_cast<const std::byte*>(data()), size()}; }

private:
    Py_buffer view_{};
    bool ok_ = false;
};

// The pending Python exception as text with its traceback (and clears it).
std::string exception_text() {
    PyObject* type = nullptr;
    PyObject* exc = nullptr;
    PyObject* tb = nullptr;
    PyErr_Fetch(&type, &exc, &tb);
    PyErr_NormalizeException(&type, &exc, &tb);
    Ref owned_type(type);
    Ref owned_tb(tb);
    if (exc == nullptr) return "unknown Python error";
    Ref owned(exc);
    if (tb != nullptr) PyException_SetTraceback(exc, tb);
    std::string text;
    Ref traceback(PyImport_ImportModule("traceback"));
    Ref lines(traceback ? PyObject_CallMethod(traceback.get(), "format_exception", "O", exc) : nullptr);
    Ref joined(lines ? PyUnicode_Join(Ref(PyUnicode_FromString("")).get(), lines.get()) : nullptr);
    if (joined) {
        Py_ssize_t n = 0;
        if (const char* utf8 = PyUnicode_AsUTF8AndSize(joined.get(), &n)) text.assign(utf8, static_cast<std::size_t>(n));
    }
    if (text.empty()) {
        Ref str(PyObject_Str(exc));
        const char* utf8 = str ? PyUnicode_AsUTF8(str.get()) : nullptr;
        text = utf8 != nullptr ? utf8 : "unprintable Python exception";
    }
    PyErr_Clear();
    while (!text.empty() && text.back() == '\n') text.pop_back();
    return text;
}

// Buffers larger than this are copied with the GIL released: threads a job started keep going.
constexpr std::size_t kCopyWithoutGil = 1u << 20;

// Calls _worker.run and writes what it returns into `out`: (0, head, buffers) is a result laid
// out as _codec.join() lays it out (head, then each buffer at the next multiple of 64 after the
// first); (kind, payload, ()) a failure, thrown as PythonJobFailure.
void call(PyObject* name, const WorkerContext& context, Encoding encoding, std::string_view args, bool batch,
          JobOutput& out) {
    Gil gil;
    Ref view(PyMemoryView_FromMemory(const_cast<char*>(args.data()), static_cast<Py_ssize_t>(args.size()),
                                     PyBUF_READ));
    Ref enc(PyLong_FromLong(static_cast<long>(encoding)));
    Ref job_id(PyLong_FromUnsignedLongLong(context.job_id));
    Ref attempt(PyLong_FromUnsignedLong(context.attempt));
    if (!view || !enc || !job_id || !attempt) throw PythonJobFailure(ErrorKind::handler_error, exception_text());
    PyObject* argv[] = {name, enc.get(), view.get(), job_id.get(), attempt.get(), batch ? Py_True : Py_False};
    Ref result(PyObject_Vectorcall(interpreter.run, argv, 6, nullptr));
    // The job's bytes are the worker's, valid for this call only: nothing may keep a view of them.
    if (Ref released(PyObject_CallMethod(view.get(), "release", nullptr)); !released) PyErr_Clear();
    if (!result) throw PythonJobFailure(ErrorKind::handler_error, exception_text());

    PyObject* status = nullptr;
    PyObject* head_object = nullptr;
    PyObject* buffer_list = nullptr;
    if (!PyArg_ParseTuple(result.get(), "OOO", &status, &head_object, &buffer_list)) {
        throw PythonJobFailure(ErrorKind::handler_error, "warmpool._worker.run returned something unexpected");
    }
    const long kind = PyLong_AsLong(status);
    Buffer head;
    if (kind == -1 || !head.get(head_object)) throw PythonJobFailure(ErrorKind::handler_error, exception_text());
    if (kind != 0) {
        const auto error = error_kind_from_code(static_cast<std::uint32_t>(kind)).value_or(ErrorKind::handler_error);
        throw PythonJobFailure(error, std::string(head.data(), head.size()));
    }
    Ref sequence(PySequence_Fast(buffer_list, "buffers"));
    if (!sequence) throw PythonJobFailure(ErrorKind::handler_error, exception_text());
    const Py_ssize_t count = PySequence_Fast_GET_SIZE(sequence.get());
    std::vector<Buffer> buffers(static_cast<std::size_t>(count));
    std::vector<std::span<const std::byte>> spans(buffers.size());
    for (Py_ssize_t i = 0; i < count; ++i) {
        if (!buffers[i].get(PySequence_Fast_GET_ITEM(sequence.get(), i))) {
            throw PythonJobFailure(ErrorKind::handler_error, exception_text());
        }
        spans[i] = buffers[i].bytes();
    }
    const std::size_t total = envelope_bytes(head.size(), spans);
    // Asked for at once: a large result goes straight into shared memory (JobOutput).
    auto* at = reinterpret_cast<std::byte*>(out.extend(total));
    if (total - head.size() >= kCopyWithoutGil) {
        PyThreadState* state = PyEval_SaveThread();  // the buffers stay held meanwhile
        write_envelope(at, head.bytes(), spans);
        PyEval_RestoreThread(state);
    } else {
        write_envelope(at, head.bytes(), spans);
    }
}

class PythonJobInstance final : public JobInstance {
public:
    PythonJobInstance(PyObject* name, const WorkerContext& context) : name_(name), context_(context) {}

    void invoke(Encoding encoding, std::string_view args, std::string& out) override {
        StringJobOutput output(out);
        call(name_, context_, encoding, args, false, output);
    }
    bool writes_in_place() const override { return true; }
    void invoke_into(Encoding encoding, std::string_view args, JobOutput& out) override {
        call(name_, context_, encoding, args, false, out);
    }
    void invoke_batch_item(Encoding encoding, std::string_view args, std::string& out) {
        StringJobOutput output(out);
        call(name_, context_, encoding, args, true, output);
    }

private:
    PyObject* name_;  // interned, immortal for the worker's life
    const WorkerContext& context_;
};

class PythonJobFunction final : public JobFunction {
public:
    PythonJobFunction(std::string name, PyObject* interned)
        : JobFunction(std::move(name), 0, "Python"), interned_(interned) {}
    std::unique_ptr<JobInstance> instantiate(const WorkerContext& context) const override {
        return std::make_unique<PythonJobInstance>(interned_, context);
    }

private:
    PyObject* interned_;
};

// Large buffers reused warm: memory for a 64 MiB bytes object comes from the heap (its pages
// already mapped and faulted in by the previous call) instead of a fresh mmap each time, and
// freeing it does not hand it back to the kernel at once.
void tune_malloc() {
    ::mallopt(M_MMAP_MAX, 0);
    ::mallopt(M_TRIM_THRESHOLD, 512 << 20);
}

// <dir of this executable>/../python, if it holds the warmpool package (the build tree).
std::string bundled_package_dir() {
    std::error_code ec;
    const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (ec) return {};
    const auto dir = exe.parent_path() / ".." / "python";
    if (!std::filesystem::exists(dir / "warmpool" / "__init__.py", ec)) return {};
    return std::filesystem::weakly_canonical(dir, ec).string();
}

SysError python_error(const std::string& what) { return make_error(SysError::Code::invalid, what); }

Status initialise() {
    PyConfig config;
    PyConfig_InitPythonConfig(&config);
    config.install_signal_handlers = 0;  // the worker's signal handling stays as it is
    config.parse_argv = 0;
    // Found by absolute path, so that the prefix (and the standard library) are those of the
    // interpreter this daemon was built against, not of a `python3` first on PATH.
    PyStatus status = PyConfig_SetBytesString(&config, &config.program_name, WARMPOOL_PYTHON_EXECUTABLE);
    if (!PyStatus_Exception(status)) status = Py_InitializeFromConfig(&config);
    PyConfig_Clear(&config);
    if (PyStatus_Exception(status)) {
        return python_error(std::string("cannot initialise Python: ") +
                            (status.err_msg != nullptr ? status.err_msg : "unknown error"));
    }
    return {};
}

Status extend_sys_path(const PythonSetup& setup) {
    std::vector<std::string> front = setup.path;
    if (auto bundled = bundled_package_dir(); !bundled.empty()) front.push_back(bundled);
    PyObject* path = PySys_GetObject("path");  // borrowed
    if (path == nullptr || !PyList_Check(path)) return python_error("sys.path is not a list");
    for (std::size_t i = 0; i < front.size(); ++i) {
        Ref dir(PyUnicode_DecodeFSDefaultAndSize(front[i].data(), static_cast<Py_ssize_t>(front[i].size())));
        if (!dir || PyList_Insert(path, static_cast<Py_ssize_t>(i), dir.get()) != 0) {
            return python_error("cannot extend sys.path: " + exception_text());
        }
    }
    return {};
}

}  // namespace

Status PythonHost::preload(const PythonSetup& setup) {
    tune_malloc();
    if (auto st = initialise(); !st) return st;
    if (auto st = extend_sys_path(setup); !st) return st;
    Ref worker(PyImport_ImportModule("warmpool._worker"));
    if (!worker) return python_error("cannot import warmpool._worker: " + exception_text());
    for (const auto& m : setup.modules) {
        Ref module(PyImport_ImportModule(m.c_str()));
        if (!module) return python_error(exception_text());
    }
    Ref gc(PyImport_ImportModule("gc"));
    Ref frozen(gc ? PyObject_CallMethod(gc.get(), "freeze", nullptr) : nullptr);
    if (!frozen) return python_error("gc.freeze() failed: " + exception_text());
    return {};
}

void PythonHost::before_fork() {
    if (Py_IsInitialized()) PyOS_BeforeFork();
}

void PythonHost::after_fork_in_parent() {
    if (Py_IsInitialized()) PyOS_AfterFork_Parent();
}

void PythonHost::after_fork_in_child() {
    if (Py_IsInitialized()) PyOS_AfterFork_Child();
}

Result<std::unique_ptr<PythonHost>> PythonHost::start(const PythonSetup& setup, const WorkerContext& context) {
    // Initialised already: forked from the zygote, which preloaded (and holds the GIL).
    const bool preloaded = Py_IsInitialized() != 0;
    if (!preloaded) {
        tune_malloc();
        if (auto st = initialise(); !st) return st.error();
    }
    std::unique_ptr<PythonHost> host(new PythonHost());
    // Whatever happens below, the GIL is released when this returns.
    struct Release {
        ~Release() { interpreter.released = PyEval_SaveThread(); }
    } release;

    if (!preloaded) {
        if (auto st = extend_sys_path(setup); !st) return st.error();
    }
    Ref worker(PyImport_ImportModule("warmpool._worker"));
    if (!worker) return python_error("cannot import warmpool._worker: " + exception_text());
    interpreter.run = PyObject_GetAttrString(worker.get(), "run");  // kept for the worker's life
    Ref load(PyObject_GetAttrString(worker.get(), "load"));
    if (interpreter.run == nullptr || !load) return python_error("warmpool._worker lacks run or load");

    Ref modules(PyList_New(0));
    for (const auto& m : setup.modules) {
        Ref name(PyUnicode_FromStringAndSize(m.data(), static_cast<Py_ssize_t>(m.size())));
        if (!name || PyList_Append(modules.get(), name.get()) != 0) return python_error(exception_text());
    }
    Ref jobs(PyObject_CallFunction(load.get(), "OsIi", modules.get(), context.pool_name.c_str(),
                                   static_cast<unsigned>(context.worker_slot), static_cast<int>(context.pid)));
    if (!jobs) return python_error(exception_text());

    // [(name, timeout or -1.0, retries), ...]
    Ref list(PySequence_Fast(jobs.get(), "load() returns a list"));
    if (!list) return python_error(exception_text());
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(list.get()); ++i) {
        const char* name = nullptr;
        Py_ssize_t name_size = 0;
        double timeout_s = -1;
        unsigned retries = 0;
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(list.get(), i), "s#dI", &name, &name_size, &timeout_s,
                              &retries)) {
            return python_error(exception_text());
        }
        PyObject* interned = PyUnicode_FromStringAndSize(name, name_size);  // kept for the worker's life
        if (interned == nullptr) return python_error(exception_text());
        PyUnicode_InternInPlace(&interned);
        std::string job(name, static_cast<std::size_t>(name_size));
        if (timeout_s >= 0 || retries != 0) {
            if (host->declared_.functions.size() == protocol::kMaxFunctionSettings) {
                return python_error("more than " + std::to_string(protocol::kMaxFunctionSettings) +
                                    " Python jobs declare a timeout or retries");
            }
            host->declared_.functions.push_back({job, timeout_s, retries});
        }
        host->functions_.push_back(std::make_unique<PythonJobFunction>(std::move(job), interned));
    }
    return host;
}

PythonHost::~PythonHost() = default;

void PythonHost::invoke_batch_item(JobInstance& instance, Encoding encoding, std::string_view args,
                                   std::string& out) {
    static_cast<PythonJobInstance&>(instance).invoke_batch_item(encoding, args, out);
}

}  // namespace warmpool
