// A minimal parallel-for: `threads` workers (the caller is one of them) pull item indices from
// a shared counter, so uneven items (causal tiles) balance themselves. Threads are started per
// call; at the sizes where threading pays (milliseconds of work) that costs well under 1%.
#pragma once

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace rt {

// How many workers parallel_for(items, threads, ...) will use: min(threads, items), at least 1.
inline int worker_count(long items, int threads) {
  return static_cast<int>(std::max(1L, std::min<long>(threads, items)));
}

// fn(item, worker) for every item in [0, items), worker in [0, worker_count(items, threads)).
// The first exception thrown by fn is rethrown here after every worker has stopped.
template <typename Fn>
void parallel_for(long items, int threads, Fn fn) {
  const int workers = worker_count(items, threads);
  if (workers == 1) {
    for (long i = 0; i < items; ++i) fn(i, 0);
    return;
  }
  std::atomic<long> next{0};
  std::exception_ptr error;
  std::mutex errorLock;
  auto run = [&](int worker) {
    try {
      for (long i = next++; i < items; i = next++) fn(i, worker);
    } catch (...) {
      std::lock_guard<std::mutex> guard(errorLock);
      if (!error) error = std::current_exception();
      next = items;
    }
  };
  std::vector<std::thread> pool;
  for (int w = 1; w < workers; ++w) pool.emplace_back(run, w);
  run(0);
  for (auto& t : pool) t.join();
  if (error) std::rethrow_exception(error);
}

}  // namespace rt
