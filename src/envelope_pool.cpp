// Recycled envelope memory: a lock-free free list per size class, with a small cache per thread in front of it.
// Under AddressSanitizer every envelope is a plain allocation again, so that a use after free is still caught.
#include <concurrentqueue/concurrentqueue.h>

#include <array>
#include <atomic>
#include <cstddef>
#include <new>

#include "cmdbus/detail/envelope.hpp"

namespace cmdbus::detail {
namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool pooled = false;
#else
constexpr bool pooled = true;
#endif

constexpr std::array<std::size_t, 3> size_classes{512, 1024, 2048};
constexpr std::size_t max_free_per_class = 1 << 16;

/// Free blocks of one size class, shared by all threads; threads take and give them in batches.
class pool {
 public:
  pool() = default;
  pool(const pool&) = delete;
  pool& operator=(const pool&) = delete;
  ~pool() {
    void* p = nullptr;
    while (free_.try_dequeue(p)) {
      ::operator delete(p);
    }
  }
  std::size_t take(void** out, std::size_t n) noexcept {
    const std::size_t got = free_.try_dequeue_bulk(out, n);
    count_.fetch_sub(got, std::memory_order_relaxed);
    return got;
  }
  /// Gives back `n` blocks, or frees them if the pool already holds plenty.
  void give(void** blocks, std::size_t n) noexcept {
    if (count_.load(std::memory_order_relaxed) < max_free_per_class) {
      count_.fetch_add(n, std::memory_order_relaxed);
      if (free_.enqueue_bulk(blocks, n)) {
        return;
      }
      count_.fetch_sub(n, std::memory_order_relaxed);
    }
    for (std::size_t i = 0; i < n; ++i) {
      ::operator delete(blocks[i]);
    }
  }

 private:
  moodycamel::ConcurrentQueue<void*> free_;
  std::atomic<std::size_t> count_{0};
};

/// Never destroyed: worker threads of a static or global bus end during static destruction and give their cached
/// blocks back here then. (The blocks stay reachable, so leak checkers do not report them.)
std::array<pool, size_classes.size()>& pools() {
  static auto* all = new std::array<pool, size_classes.size()>;
  return *all;
}

// Whether this thread's cache can be used: not after it was destroyed (an envelope freed by another thread_local's
// destructor, later in the thread's exit, goes straight to operator delete).
enum cache_state : unsigned char { unused, alive, gone };
thread_local cache_state state = unused;

/// Each thread's few blocks per class: a sending thread refills from the shared pool in a batch, a worker gives its
/// freed blocks back in a batch. Returned to the shared pool when the thread ends.
struct thread_cache {
  static constexpr std::size_t batch = 32;
  struct list {
    void* blocks[2 * batch];
    std::size_t n = 0;
  };
  std::array<list, size_classes.size()> lists{};

  thread_cache() noexcept;  // the shared pools outlive every thread's cache
  thread_cache(const thread_cache&) = delete;
  thread_cache& operator=(const thread_cache&) = delete;
  ~thread_cache() {
    state = gone;
    for (std::size_t c = 0; c < lists.size(); ++c) {
      if (lists[c].n != 0) {
        pools()[c].give(lists[c].blocks, lists[c].n);
      }
    }
  }
};

thread_cache::thread_cache() noexcept {
  (void)pools();
  state = alive;
}

/// This thread's cache, or null once it is gone.
thread_cache* cache() noexcept {
  if (state == gone) {
    return nullptr;
  }
  thread_local thread_cache c;
  return &c;
}

int class_of(std::size_t size) noexcept {
  for (std::size_t i = 0; i < size_classes.size(); ++i) {
    if (size <= size_classes[i]) {
      return static_cast<int>(i);
    }
  }
  return -1;
}

}  // namespace

void* allocate_envelope(std::size_t size) {
  const int c = class_of(size);
  if (!pooled || c < 0) {
    return ::operator new(size);
  }
  const auto k = static_cast<std::size_t>(c);
  thread_cache* tc = cache();
  if (tc == nullptr) {
    return ::operator new(size_classes[k]);
  }
  auto& list = tc->lists[k];
  if (list.n == 0) {
    list.n = pools()[k].take(list.blocks, thread_cache::batch);
  }
  if (list.n != 0) {
    if (list.n > 1) {  // the next send's block was last written by a worker: start taking it over now
      __builtin_prefetch(list.blocks[list.n - 2], 1);
      __builtin_prefetch(static_cast<char*>(list.blocks[list.n - 2]) + 64, 1);
    }
    return list.blocks[--list.n];
  }
  return ::operator new(size_classes[k]);
}

void free_envelope(void* p, std::size_t size) noexcept {
  const int c = class_of(size);
  if (!pooled || c < 0) {
    ::operator delete(p);
    return;
  }
  const auto k = static_cast<std::size_t>(c);
  thread_cache* tc = cache();
  if (tc == nullptr) {
    ::operator delete(p);
    return;
  }
  auto& list = tc->lists[k];
  list.blocks[list.n++] = p;
  if (list.n == 2 * thread_cache::batch) {  // keep a batch for this thread's own sends, give the other back
    pools()[k].give(list.blocks + thread_cache::batch, thread_cache::batch);
    list.n = thread_cache::batch;
  }
}

}  // namespace cmdbus::detail
