// One persistent pool for the process. The calling thread works too; a call made while
// the pool is busy (another Python thread) runs its tasks inline instead of waiting.
#pragma once
#include <cstdint>
#include <functional>

namespace fmaconv {

// Below this much work (elementary operations, e.g. multiply-adds or loads) a job runs on
// the calling thread: waking a worker costs more than it saves.
constexpr double kMinParallelWork = 65536;

// Runs fn(task) for every task in [0, n_tasks) on up to get_num_threads() threads.
// Tasks are handed out dynamically; the first exception a task throws is rethrown here.
// `work` estimates the whole job's cost (negative: unknown, always parallel).
void parallel_for(int64_t n_tasks, const std::function<void(int64_t)>& fn, double work = -1);

// Runs fn(begin, end) over [0, n_items) split into contiguous ranges: enough ranges to balance
// the threads, none much smaller than kMinParallelWork (so cheap items are not handed out one
// by one through a shared counter). work_per_item estimates one item's cost.
void parallel_range(int64_t n_items, double work_per_item, const std::function<void(int64_t, int64_t)>& fn);

void set_num_threads(int n);
int get_num_threads();
int default_num_threads();

}  // namespace fmaconv
