#include "runtime/thread_pool.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <memory>
#if defined(__unix__) || defined(__APPLE__)
#include <pthread.h>
#endif
#include <mutex>
#include <thread>
#include <vector>

#if defined(__linux__)
#include <sched.h>
#endif

namespace fmaconv {

namespace {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ volatile("yield");
#endif
}

// Spins until pred() or `budget` passes; true if pred() held. Every 64 rounds it yields the core:
// a thread that shares the spinner's core (the caller and its worker placed on one core while
// another process holds the other, as on this shared VM) then runs instead of waiting out the
// spin (the caller waiting for a preempted worker's task spun for whole time slices: 2-5 ms
// calls of a 0.1 ms pool). Alone on its core, the yield returns at once.
template <typename Pred>
bool spin_until(const Pred& pred, std::chrono::microseconds budget) {
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 1;; ++i) {
    if (pred()) return true;
    cpu_relax();
    if ((i & 63) == 0) {
      if (std::chrono::steady_clock::now() - t0 > budget) return pred();
#if defined(__linux__)
      sched_yield();
#else
      std::this_thread::yield();
#endif
    }
  }
}

// One parallel region. Workers hold it by shared_ptr, so one that wakes late (descheduled by
// another process) can still look at a finished job safely: it finds no task left and leaves.
// Each participant owns a contiguous share of the tasks, takes them from a counter on a cache
// line of its own, and only then takes what is left of the others' shares. One shared counter
// (and a shared count of finished tasks) cost two cache-line transfers per task, and the
// cores of this VM can sit on different dies (a transfer there: ~150 ns; 64 tasks of a few
// microseconds each lost 10-30%). Contiguous shares also keep each thread's memory streams
// apart: memory-bound pooling at 2 threads ran 1.5-1.8x 1 thread with ranges handed out in
// turn, 1.7-2.0x with contiguous halves.
struct Job {
  struct alignas(64) Share {
    std::atomic<int64_t> next{0};  // next task of this share (may run past `end`)
    int64_t end = 0;
  };
  Job(const std::function<void(int64_t)>* f, int64_t n, int parts) : fn(f), n_tasks(n), shares(parts) {
    for (int p = 0; p < parts; ++p) {
      shares[p].next.store(n * p / parts, std::memory_order_relaxed);
      shares[p].end = n * (p + 1) / parts;
    }
  }
  const std::function<void(int64_t)>* fn;
  int64_t n_tasks;
  std::vector<Share> shares;
  alignas(64) std::atomic<int64_t> done{0};  // tasks finished (run, or skipped after an error)
  std::atomic<bool> failed{false};
  std::mutex error_mutex;
  std::exception_ptr error;
};

// Workers spin briefly after each job before sleeping on a condition variable, so
// back-to-back calls (a network's layers) do not pay a futex wake-up each. The caller waits
// for the job's tasks, not for the workers: a worker that never got a core takes no task and
// holds nobody up.
class ThreadPool {
 public:
  explicit ThreadPool(int n_threads) { resize(n_threads); }
  ~ThreadPool() { stop_workers(); }

  int size() const { return n_threads_.load(std::memory_order_relaxed); }

  void resize(int n_threads) {
    std::lock_guard<std::mutex> run_lock(run_mutex_);
    stop_workers();
    stopping_.store(false);
    // The generation is read here, not in the new thread: a job posted before the thread
    // first runs must still count as new to it.
    const uint64_t gen = generation_.load();
    try {
      for (int i = 1; i < std::max(1, n_threads); ++i) workers_.emplace_back([this, gen, i] { worker_loop(gen, i); });
    } catch (...) {  // could not start them all: the count stays true to what runs
      n_threads_.store((int)workers_.size() + 1);
      throw;
    }
    n_threads_.store((int)workers_.size() + 1);
  }

  void run(int64_t n_tasks, const std::function<void(int64_t)>& fn) {
    if (n_tasks <= 0) return;
    std::unique_lock<std::mutex> run_lock(run_mutex_, std::try_to_lock);
    if (n_tasks == 1 || size() == 1 || !run_lock.owns_lock()) {
      for (int64_t t = 0; t < n_tasks; ++t) fn(t);
      return;
    }
    auto job = std::make_shared<Job>(&fn, n_tasks, size());
    bool wake;
    {
      std::lock_guard<std::mutex> lk(mutex_);
      std::atomic_store(&job_, job);
      generation_.fetch_add(1, std::memory_order_release);
      wake = sleepers_ > 0;
    }
    if (wake) cv_work_.notify_all();
    drain(*job, 0);
    auto finished = [&] { return job->done.load(std::memory_order_acquire) == n_tasks; };
    if (!spin_until(finished, std::chrono::microseconds(2000))) {
      std::unique_lock<std::mutex> lk(mutex_);
      cv_done_.wait(lk, finished);
    }
    std::atomic_store(&job_, std::shared_ptr<Job>());
    if (job->error) std::rethrow_exception(job->error);
  }

 private:
  // Runs tasks of `job` until none is left, its own share (participant `me`) first; the
  // caller's fn stays valid while any task of the job is unfinished, and a task is only taken
  // while tasks remain. After an error the remaining tasks are taken but not run.
  void drain(Job& job, int me) {
    const int parts = (int)job.shares.size();
    int64_t finished = 0;
    for (int i = 0; i < parts; ++i) {
      Job::Share& sh = job.shares[(me + i) % parts];
      for (;;) {
        if (sh.next.load(std::memory_order_relaxed) >= sh.end) break;
        const int64_t t = sh.next.fetch_add(1, std::memory_order_relaxed);
        if (t >= sh.end) break;
        if (!job.failed.load(std::memory_order_relaxed)) {
          try {
            (*job.fn)(t);
          } catch (...) {  // e.g. bad_alloc in a worker: hand it to the caller, skip the rest
            std::lock_guard<std::mutex> lk(job.error_mutex);
            if (!job.error) job.error = std::current_exception();
            job.failed.store(true, std::memory_order_relaxed);
          }
        }
        ++finished;
      }
    }
    if (finished) finish(job, finished);
  }

  void finish(Job& job, int64_t n) {
    if (job.done.fetch_add(n, std::memory_order_acq_rel) + n == job.n_tasks) {
      std::lock_guard<std::mutex> lk(mutex_);
      cv_done_.notify_all();
    }
  }

  void worker_loop(uint64_t seen, int index) {
    for (;;) {
      auto ready = [&] { return stopping_.load() || generation_.load(std::memory_order_acquire) != seen; };
      if (!spin_until(ready, std::chrono::microseconds(200))) {
        std::unique_lock<std::mutex> lk(mutex_);
        ++sleepers_;
        cv_work_.wait(lk, ready);
        --sleepers_;
      }
      if (stopping_.load()) return;
      seen = generation_.load(std::memory_order_acquire);
      std::shared_ptr<Job> job = std::atomic_load(&job_);
      if (job) drain(*job, index);
    }
  }

  void stop_workers() {
    {
      std::lock_guard<std::mutex> lk(mutex_);
      stopping_.store(true);
    }
    cv_work_.notify_all();
    for (auto& w : workers_) w.join();
    workers_.clear();
  }

  std::mutex run_mutex_;  // one parallel region at a time
  std::mutex mutex_;
  std::condition_variable cv_work_, cv_done_;
  std::vector<std::thread> workers_;
  std::shared_ptr<Job> job_;  // read and written with std::atomic_load/atomic_store
  std::atomic<uint64_t> generation_{0};
  std::atomic<bool> stopping_{false};
  int sleepers_ = 0;
  std::atomic<int> n_threads_{1};
};

// Leaked on purpose: no joins during interpreter shutdown, and a forked child (which has
// none of the parent's workers) drops it and builds its own on first use.
std::mutex* g_pool_mutex = new std::mutex;
ThreadPool* g_pool = nullptr;

// The count the user asked for, so a forked child's new pool keeps it.
std::atomic<int> g_requested{0};

void forget_pool_in_child() {
  g_pool_mutex = new std::mutex;
  g_pool = nullptr;
}

ThreadPool& pool() {
  static const bool registered = [] {
#if defined(__unix__) || defined(__APPLE__)
    pthread_atfork(nullptr, nullptr, forget_pool_in_child);
#endif
    return true;
  }();
  (void)registered;
  std::lock_guard<std::mutex> lk(*g_pool_mutex);
  if (!g_pool) {
    const int n = g_requested.load();
    g_pool = new ThreadPool(n > 0 ? n : default_num_threads());
  }
  return *g_pool;
}

}  // namespace

int default_num_threads() {
#if defined(__linux__)
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
#endif
  unsigned n = std::thread::hardware_concurrency();
  return n ? (int)n : 1;
}

void parallel_for(int64_t n_tasks, const std::function<void(int64_t)>& fn, double work) {
  if (work >= 0 && work < kMinParallelWork) {
    for (int64_t t = 0; t < n_tasks; ++t) fn(t);
    return;
  }
  pool().run(n_tasks, fn);
}

void parallel_range(int64_t n_items, double work_per_item, const std::function<void(int64_t, int64_t)>& fn) {
  if (n_items <= 0) return;
  const double total = (double)n_items * (work_per_item > 0 ? work_per_item : 1.0);
  const int64_t threads = get_num_threads();
  int64_t n_tasks = 1;
  if (threads > 1 && total >= kMinParallelWork) {
    const int64_t by_work = (int64_t)(total / (kMinParallelWork / 4));  // tasks of >= 16K operations
    n_tasks = std::max<int64_t>(1, std::min<int64_t>({n_items, 8 * threads, by_work}));
  }
  if (n_tasks == 1) {
    fn(0, n_items);
    return;
  }
  parallel_for(n_tasks, [&](int64_t t) { fn(t * n_items / n_tasks, (t + 1) * n_items / n_tasks); });
}

void set_num_threads(int n) {
  g_requested.store(n);
  pool().resize(n);
}

int get_num_threads() { return pool().size(); }

}  // namespace fmaconv
