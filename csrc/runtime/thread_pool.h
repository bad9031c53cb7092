// One persistent pool for the process. The calling thread works too; a call made while
// the pool is busy (another Python thread) runs its tasks inline instead of waiting.
#pragma once
#include <cstdint>
#include <functional>

namespace fmaconv {

// Runs fn(task) for every task in [0, n_tasks) on up to get_num_threads() threads.
// Tasks are handed out dynamically; the first exception a task throws is rethrown here.
void parallel_for(int64_t n_tasks, const std::function<void(int64_t)>& fn);

void set_num_threads(int n);
int get_num_threads();
int default_num_threads();

}  // namespace fmaconv
