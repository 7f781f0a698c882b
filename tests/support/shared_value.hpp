// Shared<T>: a T in an anonymous MAP_SHARED mapping, visible to every child forked after it was
// made. Tests use it for counters that child processes (clients, killers) update.
#pragma once

#include <sys/mman.h>

#include <new>
#include <stdexcept>

namespace warmpool::testing {

template <class T>
class Shared {
public:
    Shared() {
        void* p = ::mmap(nullptr, sizeof(T), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) throw std::runtime_error("mmap failed");
        value_ = new (p) T();
    }
    ~Shared() {
        value_->~T();
        ::munmap(value_, sizeof(T));
    }
    Shared(const Shared&) = delete;
    Shared& operator=(const Shared&) = delete;
    T* get() const { return value_; }
    T* operator->() const { return value_; }

private:
    T* value_;
};

}  // namespace warmpool::testing
