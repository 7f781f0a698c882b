// DescriptorBroker: descriptor_broker.hpp. A descriptor asked for may still be in flight
// towards us (the producer sends its offer before it publishes the record that names the
// blob), so a miss first reads what the producer has sent, then answers. Every answer goes out
// in one non-blocking write: a peer that asks and does not read loses its connection, and nobody
// waits for it.
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/stat.h>

#include <algorithm>

#include "epoll_tags.hpp"
#include "warmpool/daemon/descriptor_broker.hpp"

namespace warmpool {

using namespace epoll_tag;

namespace {

// Argument blobs a session's client may have offered and not retired: it keeps few (BlobPool's
// limits), and each costs us a descriptor.
constexpr std::size_t kMaxArgumentBlobs = 64;
// How deep answering one request may nest reading another peer's requests (a worker's request
// can need a client's offer, whose reading can meet a request for a worker's offer).
constexpr int kMaxNesting = 4;

Result<UniqueFd> duplicate(int fd) {
    UniqueFd copy(::fcntl(fd, F_DUPFD_CLOEXEC, 0));
    if (!copy) return errno_error("dup");
    return copy;
}

// An argument blob must be a memfd that cannot shrink under the worker that maps it.
bool acceptable_blob(int fd, std::string& why) {
    struct stat st{};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        why = "a blob offered is not shared memory";
        return false;
    }
    const int seals = ::fcntl(fd, F_GET_SEALS);
    if (seals < 0 || (seals & F_SEAL_SHRINK) == 0) {
        why = "a blob offered is not sealed against shrinking";
        return false;
    }
    if (static_cast<std::size_t>(st.st_size) < kBlobDataOffset) {
        why = "a blob offered is smaller than a blob header";
        return false;
    }
    return true;
}

}  // namespace

DescriptorBroker::DescriptorBroker(int epoll_fd, WorkerSlots& workers, SessionTable& sessions,
                                   FunctionCatalog& functions, Peers& peers)
    : epoll_fd_(epoll_fd), workers_(workers), sessions_(sessions), functions_(functions), peers_(peers) {}

Status DescriptorBroker::open_worker_channel(unsigned slot, UniqueFd ours) {
    const int flags = ::fcntl(ours.get(), F_GETFL);
    if (flags < 0 || ::fcntl(ours.get(), F_SETFL, flags | O_NONBLOCK) != 0) return errno_error("channel O_NONBLOCK");
    epoll_event ev{EPOLLIN, {.u64 = tagged(kWorkerChannel, slot)}};
    if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, ours.get(), &ev) != 0) return errno_error("epoll_ctl channel");
    workers_[slot].channel = std::move(ours);
    return {};
}

void DescriptorBroker::drop_channel(unsigned slot, const std::string& why) {
    WorkerSlot& w = workers_[slot];
    if (!why.empty()) spdlog::warn("worker slot {} (pid {}): channel closed: {}", slot, w.pid, why);
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, w.channel.get(), nullptr);
    w.channel.reset();
    w.channel_fds.clear();
}

void DescriptorBroker::read_worker_channel(unsigned slot) {
    WorkerSlot& w = workers_[slot];
    if (!w.channel || nesting_ >= kMaxNesting) return;
    ++nesting_;
    auto close_channel = [&](const std::string& why) { drop_channel(slot, why); };
    char buf[4096];
    while (w.channel) {
        auto got = receive_available(w.channel.get(), buf, sizeof buf, w.channel_fds);
        if (!got) {
            if (got.error().errno_value != EAGAIN) close_channel(got.error().message());
            break;
        }
        if (got.value() == 0) {  // the worker is exiting
            close_channel("");
            break;
        }
        w.channel_reader.feed(buf, got.value());
        for (;;) {
            auto frame = w.channel_reader.next();
            if (!frame) {
                close_channel(frame.error().message());
                break;
            }
            if (!frame.value()) break;
            on_worker_frame(slot, *frame.value());
            if (!w.channel) break;
        }
    }
    --nesting_;
}

void DescriptorBroker::on_worker_frame(unsigned slot, const protocol::Frame& frame) {
    WorkerSlot& w = workers_[slot];
    auto take_fd = [&]() {
        UniqueFd fd;
        if (!w.channel_fds.empty()) {
            fd = std::move(w.channel_fds.front());
            w.channel_fds.erase(w.channel_fds.begin());
        }
        return fd;
    };
    switch (frame.type) {
        case protocol::MessageType::worker_want: {
            auto want = protocol::decode<protocol::WorkerWant>(frame);
            if (want) answer_worker_want(slot, want.value());
            return;
        }
        case protocol::MessageType::result_offer: {
            auto offer = protocol::decode<protocol::ResultOffer>(frame);
            UniqueFd fd = take_fd();
            if (!offer || !fd) return;
            SessionSlot* s = sessions_.live(offer->session_slot, offer->session_generation);
            if (s == nullptr) return;  // the session is gone: so is the blob's use
            s->result_blobs.push_back(SessionSlot::ResultBlob{w.pid, offer->object, std::move(fd), false, slot, {}});
            return;
        }
        case protocol::MessageType::result_retire: {
            auto retire = protocol::decode<protocol::ResultRetire>(frame);
            if (!retire) return;
            if (SessionSlot* s = sessions_.live(retire->session_slot, retire->session_generation)) {
                std::erase_if(s->result_blobs, [&](const SessionSlot::ResultBlob& b) {
                    return b.worker == w.pid && b.object == retire->object;
                });
            }
            return;
        }
        case protocol::MessageType::function_settings: {
            auto settings = protocol::decode<protocol::FunctionSettings>(frame);
            if (!settings) {
                spdlog::warn("worker slot {} declared malformed function settings: {}", slot,
                             settings.error().message());
                return;
            }
            peers_.declared_functions(slot, settings.value());
            return;
        }
        case protocol::MessageType::function_list: {
            auto list = protocol::decode<protocol::FunctionList>(frame);
            if (!list) {
                spdlog::warn("worker slot {} sent a malformed function list: {}", slot, list.error().message());
                return;
            }
            functions_.list(w.config_generation, std::move(list.value()));
            return;
        }
        default: spdlog::warn("worker slot {} sent message type {} on its channel", slot, static_cast<int>(frame.type));
    }
}

Result<UniqueFd> DescriptorBroker::session_fd_for_worker(const protocol::WorkerWant& want) {
    SessionSlot* s = sessions_.live(want.session_slot, want.session_generation);
    if (s == nullptr || s->closing) return make_error(SysError::Code::not_found, "the session is gone");
    if (want.kind == protocol::WorkerWantKind::session) return s->segment.share(SharedSegment::Access::read_write);
    if (want.kind != protocol::WorkerWantKind::argument_blob) return make_error(SysError::Code::invalid, "unknown want");
    auto found = s->argument_blobs.find(want.object);
    if (found == s->argument_blobs.end() && s->fd >= 0) {
        // Its offer was sent before the job was; it may not have been read yet.
        peers_.read_client(s->fd);
        s = sessions_.live(want.session_slot, want.session_generation);
        if (s == nullptr || s->closing) return make_error(SysError::Code::not_found, "the session is gone");
        found = s->argument_blobs.find(want.object);
    }
    if (found == s->argument_blobs.end()) {
        return make_error(SysError::Code::not_found,
                          "the client offered no argument blob " + std::to_string(want.object));
    }
    return duplicate(found->second.get());
}

void DescriptorBroker::answer_worker_want(unsigned slot, const protocol::WorkerWant& want) {
    auto fd = session_fd_for_worker(want);
    protocol::WorkerGive give;
    give.found = fd.ok();
    if (!fd) give.message = fd.error().message();
    WorkerSlot& w = workers_[slot];
    if (!w.channel) return;
    const int passed = fd ? fd->get() : -1;
    auto st = send_now(w.channel.get(), protocol::encode_frame(give),
                       fd ? std::span<const int>(&passed, 1) : std::span<const int>{});
    if (!st) spdlog::warn("worker slot {}: cannot answer its request: {}", slot, st.error().message());
}

bool DescriptorBroker::on_blob_frame(ConnectionTable::Connection& conn, SessionSlot& s, const protocol::Frame& frame, std::string& why) {
    switch (frame.type) {
        case protocol::MessageType::blob_offer: {
            auto offer = protocol::decode<protocol::BlobOffer>(frame);
            if (!offer) return why = "malformed blob offer", false;
            if (conn.passed_fds.empty()) return why = "a blob offer without its descriptor", false;
            UniqueFd fd = std::move(conn.passed_fds.front());
            conn.passed_fds.erase(conn.passed_fds.begin());
            if (!acceptable_blob(fd.get(), why)) return false;
            if (s.argument_blobs.size() >= kMaxArgumentBlobs && !s.argument_blobs.contains(offer->object)) {
                return why = "more than " + std::to_string(kMaxArgumentBlobs) + " argument blobs offered", false;
            }
            s.argument_blobs[offer->object] = std::move(fd);
            return true;
        }
        case protocol::MessageType::blob_retire: {
            auto retire = protocol::decode<protocol::BlobRetire>(frame);
            if (!retire) return why = "malformed blob retire", false;
            s.argument_blobs.erase(retire->object);
            return true;
        }
        case protocol::MessageType::blob_want: {
            auto want = protocol::decode<protocol::BlobWant>(frame);
            if (!want) return why = "malformed blob want", false;
            auto find = [&]() -> SessionSlot::ResultBlob* {
                for (auto& b : s.result_blobs) {
                    if (b.worker == want->worker_pid && b.object == want->object) return &b;
                }
                return nullptr;
            };
            SessionSlot::ResultBlob* blob = find();
            if (blob == nullptr) {
                // The worker offered it before publishing the reply that names it: read its channel.
                if (const int w = workers_.find(want->worker_pid); w >= 0) {
                    read_worker_channel(static_cast<unsigned>(w));
                }
                if (!s.used) return true;  // closed meanwhile
                blob = find();
            }
            protocol::BlobGive give{want->worker_pid, want->object, false, {}};
            Result<UniqueFd> fd = blob != nullptr ? duplicate(blob->fd.get())
                                                  : Result<UniqueFd>(make_error(SysError::Code::not_found,
                                                                                "no such result blob"));
            give.found = fd.ok();
            if (!fd) give.message = fd.error().message();
            if (blob != nullptr && fd) blob->given = true;
            const int passed = fd ? fd->get() : -1;
            if (auto st = send_now(conn.fd.get(), protocol::encode_frame(give),
                                   fd ? std::span<const int>(&passed, 1) : std::span<const int>{});
                !st) {
                return why = "it does not read the answers it asked for", false;
            }
            return true;
        }
        default: return why = "unexpected message", false;
    }
}

void DescriptorBroker::close_worker_channel(unsigned slot) {
    WorkerSlot& w = workers_[slot];
    // Offers still in its channel are read first: it sent each before the reply naming it.
    read_worker_channel(slot);
    // Its result blobs (kept for reuse) have no owner any more, but a reply it published may
    // still name one, and the client may ask for it (again: a client keeps a few mappings and may
    // have dropped one it was given). So each is kept until the client has read every reply the
    // worker published: its reply ring's tail now.
    for (unsigned s = 0; s < sessions_.end(); ++s) {
        SessionSlot& session = sessions_[s];
        if (!session.used) continue;
        const std::uint64_t published = session.memory.reply_control(slot).tail.load(std::memory_order_acquire);
        for (auto& blob : session.result_blobs) {
            if (blob.worker == w.pid && !blob.until_replies_read) blob.until_replies_read = published;
        }
    }
    forget_read_results();
    if (w.channel) drop_channel(slot, "");
}

void DescriptorBroker::forget_read_results() {
    for (unsigned s = 0; s < sessions_.end(); ++s) {
        SessionSlot& session = sessions_[s];
        if (!session.used) continue;
        std::erase_if(session.result_blobs, [&](const SessionSlot::ResultBlob& b) {
            return b.until_replies_read &&
                   session.memory.reply_control(b.worker_slot).head.load(std::memory_order_acquire) >=
                       *b.until_replies_read;
        });
    }
}

}  // namespace warmpool
