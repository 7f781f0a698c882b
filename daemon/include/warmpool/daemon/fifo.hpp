// Fifo<T>: a double-ended queue kept in one growable circular buffer.
//
// The supervisor's job queues (per session) and in-flight lists (per worker) take and give back
// jobs at the rate the pool runs them. std::deque allocates a node for every two or three
// elements of their size, so a steady stream cost a malloc and a free per few jobs; a Fifo
// allocates only when it grows past its largest size so far (and gives memory back once it is
// mostly empty), so a steady stream costs no heap traffic.
//
// Elements are constructed on push and destroyed on pop. Not thread-safe. A push, erase or
// pop may move elements: references and iterators are valid until the next of these.
#pragma once

#include <cstddef>
#include <iterator>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>

namespace warmpool {

template <class T>
class Fifo {
public:
    // Iterates by position from the front; Const chooses const access.
    template <bool Const>
    class basic_iterator {
        using Owner = std::conditional_t<Const, const Fifo, Fifo>;

    public:
        using iterator_category = std::forward_iterator_tag;
        using value_type = T;
        using difference_type = std::ptrdiff_t;
        using pointer = std::conditional_t<Const, const T*, T*>;
        using reference = std::conditional_t<Const, const T&, T&>;

        basic_iterator() = default;
        reference operator*() const { return (*fifo_)[index_]; }
        pointer operator->() const { return &(*fifo_)[index_]; }
        basic_iterator& operator++() {
            ++index_;
            return *this;
        }
        basic_iterator operator++(int) {
            basic_iterator old = *this;
            ++index_;
            return old;
        }
        bool operator==(const basic_iterator& other) const { return index_ == other.index_; }

    private:
        friend class Fifo;
        basic_iterator(Owner* fifo, std::size_t index) : fifo_(fifo), index_(index) {}
        Owner* fifo_ = nullptr;
        std::size_t index_ = 0;
    };
    using iterator = basic_iterator<false>;
    using const_iterator = basic_iterator<true>;

    Fifo() = default;
    ~Fifo() { release_storage(); }
    Fifo(const Fifo&) = delete;
    Fifo& operator=(const Fifo&) = delete;
    Fifo(Fifo&& other) noexcept
        : data_(std::exchange(other.data_, nullptr)),
          capacity_(std::exchange(other.capacity_, 0)),
          head_(std::exchange(other.head_, 0)),
          size_(std::exchange(other.size_, 0)) {}
    Fifo& operator=(Fifo&& other) noexcept {
        if (this != &other) {
            release_storage();
            data_ = std::exchange(other.data_, nullptr);
            capacity_ = std::exchange(other.capacity_, 0);
            head_ = std::exchange(other.head_, 0);
            size_ = std::exchange(other.size_, 0);
        }
        return *this;
    }

    bool empty() const { return size_ == 0; }
    std::size_t size() const { return size_; }
    std::size_t capacity() const { return capacity_; }

    // Element i counted from the front; i < size().
    T& operator[](std::size_t i) { return data_[(head_ + i) & (capacity_ - 1)]; }
    const T& operator[](std::size_t i) const { return data_[(head_ + i) & (capacity_ - 1)]; }
    T& front() { return (*this)[0]; }
    const T& front() const { return (*this)[0]; }
    T& back() { return (*this)[size_ - 1]; }
    const T& back() const { return (*this)[size_ - 1]; }

    iterator begin() { return iterator(this, 0); }
    iterator end() { return iterator(this, size_); }
    const_iterator begin() const { return const_iterator(this, 0); }
    const_iterator end() const { return const_iterator(this, size_); }

    template <class... Args>
    T& emplace_back(Args&&... args) {
        if (size_ == capacity_) grow();
        T* at = &data_[(head_ + size_) & (capacity_ - 1)];
        ::new (static_cast<void*>(at)) T(std::forward<Args>(args)...);
        ++size_;
        return *at;
    }
    void push_back(T&& value) { emplace_back(std::move(value)); }
    void push_front(T&& value) {
        if (size_ == capacity_) grow();
        const std::size_t at = (head_ + capacity_ - 1) & (capacity_ - 1);
        ::new (static_cast<void*>(&data_[at])) T(std::move(value));
        head_ = at;
        ++size_;
    }

    void pop_front() {
        std::destroy_at(&data_[head_]);
        head_ = (head_ + 1) & (capacity_ - 1);
        --size_;
        maybe_shrink();
    }
    void pop_back() {
        std::destroy_at(&back());
        --size_;
        maybe_shrink();
    }

    // Removes the element at `it`, keeping the order of the rest; returns the element after it.
    iterator erase(iterator it) {
        for (std::size_t i = it.index_; i + 1 < size_; ++i) (*this)[i] = std::move((*this)[i + 1]);
        pop_back();
        return iterator(this, it.index_);
    }

    void clear() {
        while (size_ > 0) {
            std::destroy_at(&data_[head_]);
            head_ = (head_ + 1) & (capacity_ - 1);
            --size_;
        }
        head_ = 0;
    }

private:
    static constexpr std::size_t kFirstCapacity = 16;
    // Storage above this is given back once the queue is less than an eighth full.
    static constexpr std::size_t kKeepCapacity = 1024;

    void grow() { reallocate(capacity_ == 0 ? kFirstCapacity : capacity_ * 2); }

    void maybe_shrink() {
        if (capacity_ > kKeepCapacity && size_ < capacity_ / 8) reallocate(capacity_ / 4);
    }

    // Moves the elements, in order, to new storage of `capacity` (a power of two >= size_).
    void reallocate(std::size_t capacity) {
        T* data = std::allocator<T>().allocate(capacity);
        for (std::size_t i = 0; i < size_; ++i) {
            T& from = (*this)[i];
            ::new (static_cast<void*>(&data[i])) T(std::move(from));
            std::destroy_at(&from);
        }
        if (data_ != nullptr) std::allocator<T>().deallocate(data_, capacity_);
        data_ = data;
        capacity_ = capacity;
        head_ = 0;
    }

    void release_storage() {
        clear();
        if (data_ != nullptr) std::allocator<T>().deallocate(data_, capacity_);
        data_ = nullptr;
        capacity_ = 0;
    }

    T* data_ = nullptr;
    std::size_t capacity_ = 0;  // 0 or a power of two
    std::size_t head_ = 0;
    std::size_t size_ = 0;
};

}  // namespace warmpool
