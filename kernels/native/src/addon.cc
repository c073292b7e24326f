// N-API bindings (plain C API, no node-addon-api). Every call works in place on the caller's
// typed arrays: nothing is copied in or out. All run on the calling thread except the attention
// *Async pair, which runs on libuv's pool and returns a promise. Arguments are checked here even
// though the TypeScript side validates first, because a wrong length would otherwise be a
// buffer overrun rather than an exception. Argument order is documented in
// kernels/src/native/addon.ts (the NativeAddon interface).
#include <node_api.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "attention.h"
#include "elementwise.h"
#include "gemm.h"
#include "parallel.h"
#include "simd.h"

namespace {

constexpr size_t kMaxArgs = 24;
const bool kHaveBlas = std::string(rt::gemm_backend()) == "openblas";

struct ArgError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

void check(napi_env env, napi_status status) {
  if (status != napi_ok) {
    const napi_extended_error_info* info = nullptr;
    napi_get_last_error_info(env, &info);
    throw std::runtime_error(info && info->error_message ? info->error_message : "N-API call failed");
  }
}

struct Args {
  napi_env env;
  napi_value argv[kMaxArgs];
  size_t argc = kMaxArgs;

  Args(napi_env e, napi_callback_info cb, size_t want) : env(e) {
    check(env, napi_get_cb_info(env, cb, &argc, argv, nullptr, nullptr));
    argc = std::min(argc, kMaxArgs);  // N-API reports the full count but fills only kMaxArgs
    require(want);
  }

  void require(size_t want) const {
    if (argc < want) throw ArgError("expected " + std::to_string(want) + " arguments, got " + std::to_string(argc));
  }

  double number(size_t i, const char* name) const {
    double x = 0;
    if (napi_get_value_double(env, argv[i], &x) != napi_ok) throw ArgError(std::string(name) + " must be a number");
    return x;
  }

  long size(size_t i, const char* name) const {
    const double x = number(i, name);
    if (!(x >= 0 && x <= 9.0e15 && std::floor(x) == x)) {
      throw ArgError(std::string(name) + " must be a non-negative integer, got " + std::to_string(x));
    }
    return static_cast<long>(x);
  }

  bool flag(size_t i, const char* name) const {
    bool b = false;
    if (napi_get_value_bool(env, argv[i], &b) != napi_ok) throw ArgError(std::string(name) + " must be a boolean");
    return b;
  }

  template <typename T>
  T* typed(size_t i, napi_typedarray_type want, const char* type, const char* name, size_t* length) const {
    bool is = false;
    check(env, napi_is_typedarray(env, argv[i], &is));
    napi_typedarray_type t;
    void* data = nullptr;
    if (is) check(env, napi_get_typedarray_info(env, argv[i], &t, length, &data, nullptr, nullptr));
    if (!is || t != want) throw ArgError(std::string(name) + " must be a " + type);
    return static_cast<T*>(data);
  }

  float* f32(size_t i, const char* name, size_t* length) const {
    return typed<float>(i, napi_float32_array, "Float32Array", name, length);
  }

  // A Float32Array of exactly `want` elements.
  float* f32(size_t i, const char* name, long want) const {
    size_t n = 0;
    float* p = f32(i, name, &n);
    if (static_cast<long>(n) != want) {
      throw ArgError(std::string(name) + " has " + std::to_string(n) + " elements, expected " + std::to_string(want));
    }
    return p;
  }

  const std::int32_t* i32(size_t i, const char* name, long want) const {
    size_t n = 0;
    const auto* p = typed<std::int32_t>(i, napi_int32_array, "Int32Array", name, &n);
    if (static_cast<long>(n) != want) {
      throw ArgError(std::string(name) + " has " + std::to_string(n) + " elements, expected " + std::to_string(want));
    }
    return p;
  }

  // An Int32Array of exactly `want` elements, or null/undefined (returns nullptr).
  const std::int32_t* i32_or_null(size_t i, const char* name, long want) const {
    napi_valuetype t;
    check(env, napi_typeof(env, argv[i], &t));
    if (t == napi_null || t == napi_undefined) return nullptr;
    return i32(i, name, want);
  }

  const double* f64(size_t i, const char* name, size_t* length) const {
    return typed<double>(i, napi_float64_array, "Float64Array", name, length);
  }
};

template <typename Fn>
napi_value guarded(napi_env env, Fn fn) {
  try {
    return fn();
  } catch (const ArgError& e) {
    napi_throw_type_error(env, "ERR_RINGTRAIN_NATIVE_ARG", e.what());
  } catch (const std::bad_alloc&) {
    napi_throw_range_error(env, "ERR_RINGTRAIN_NATIVE_OOM", "ringtrain native: out of memory");
  } catch (const std::exception& e) {
    napi_throw_error(env, "ERR_RINGTRAIN_NATIVE", e.what());
  }
  return nullptr;
}

napi_value undefined(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

// Worker threads for the fused attention and the fallback gemm: OpenBLAS's own count when
// linked (it reads OPENBLAS_NUM_THREADS at load), else OPENBLAS_NUM_THREADS, else every core.
int default_threads() {
  if (rt::blas_threads() > 0) return rt::blas_threads();
  if (const char* env = std::getenv("OPENBLAS_NUM_THREADS")) {
    const int n = std::atoi(env);
    if (n > 0) return n;
  }
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

int thread_arg(const Args& a, size_t i) {
  const long n = a.size(i, "threads");
  return n == 0 ? default_threads() : static_cast<int>(std::min(n, 256L));
}

// A stored matrix of rows × cols at row stride ld must fit in `length` elements.
void check_matrix(const char* name, long rows, long cols, long ld, size_t length) {
  if (ld < std::max(1L, cols)) throw ArgError(std::string(name) + ": leading dimension is smaller than the row");
  if (rows > 0 && cols > 0 && static_cast<long>(length) < (rows - 1) * ld + cols) {
    throw ArgError(std::string(name) + " is too short for its shape and leading dimension");
  }
}

// OpenBLAS's thread count set to `threads` for one binding call (calls run on the JS thread, one
// at a time; the attention kernels never call OpenBLAS) and set back when the call ends.
class BlasThreadsForCall {
 public:
  explicit BlasThreadsForCall(int threads) : own_(rt::blas_threads()), changed_(kHaveBlas && threads != own_) {
    if (changed_) rt::set_blas_threads(threads);
  }
  ~BlasThreadsForCall() {
    if (changed_) rt::set_blas_threads(own_);
  }
  BlasThreadsForCall(const BlasThreadsForCall&) = delete;
  BlasThreadsForCall& operator=(const BlasThreadsForCall&) = delete;

 private:
  const int own_;
  const bool changed_;
};

// Row-major gemm for the bindings: cblas when linked (on the caller's BlasThreadsForCall count);
// else the portable kernel, with the rows split into one block per thread (each packs B once)
// when the product is big enough to pay.
void gemm_any(bool ta, bool tb, long M, long N, long K, float alpha, const float* A, long lda, const float* B, long ldb,
              float beta, float* C, long ldc, int threads) {
  if (kHaveBlas || threads <= 1 || M * N * K < (1L << 21) || M < 64) {
    return rt::gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  }
  const long rows = ((M + threads - 1) / threads + rt::kMicroRows - 1) / rt::kMicroRows * rt::kMicroRows;
  rt::parallel_for((M + rows - 1) / rows, threads, [&](long item, int) {
    const long i0 = item * rows;
    const float* Ai = ta ? A + i0 : A + i0 * lda;
    rt::gemm_portable(ta, tb, std::min(rows, M - i0), N, K, alpha, Ai, lda, B, ldb, beta, C + i0 * ldc, ldc);
  });
}

// sgemm(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, threads)
napi_value Sgemm(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 14);
    const bool ta = a.flag(0, "transA"), tb = a.flag(1, "transB");
    const long M = a.size(2, "M"), N = a.size(3, "N"), K = a.size(4, "K");
    const float alpha = static_cast<float>(a.number(5, "alpha"));
    size_t na = 0, nb = 0, nc = 0;
    const float* A = a.f32(6, "A", &na);
    const long lda = a.size(7, "lda");
    const float* B = a.f32(8, "B", &nb);
    const long ldb = a.size(9, "ldb");
    const float beta = static_cast<float>(a.number(10, "beta"));
    float* C = a.f32(11, "C", &nc);
    const long ldc = a.size(12, "ldc");
    check_matrix("A", ta ? K : M, ta ? M : K, lda, na);
    check_matrix("B", tb ? N : K, tb ? K : N, ldb, nb);
    check_matrix("C", M, N, ldc, nc);
    const int threads = thread_arg(a, 13);
    BlasThreadsForCall blas(threads);
    gemm_any(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, threads);
    return undefined(env);
  });
}

// batchMatMul(a, b, c, aOffsets, bOffsets, M, N, K, transA, transB, threads):
// c[i] = op(a at aOffsets[i]) · op(b at bOffsets[i]) for every batch entry i; c is [batch, M, N].
napi_value BatchMatMul(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 11);
    size_t na = 0, nb = 0, nc = 0, batch = 0, nbo = 0;
    const float* A = a.f32(0, "a", &na);
    const float* B = a.f32(1, "b", &nb);
    float* C = a.f32(2, "c", &nc);
    const double* aOff = a.f64(3, "aOffsets", &batch);
    const double* bOff = a.f64(4, "bOffsets", &nbo);
    const long M = a.size(5, "M"), N = a.size(6, "N"), K = a.size(7, "K");
    const bool ta = a.flag(8, "transA"), tb = a.flag(9, "transB");
    const int threads = thread_arg(a, 10);
    if (nbo != batch) throw ArgError("aOffsets and bOffsets must have the same length");
    if (static_cast<long>(nc) != static_cast<long>(batch) * M * N) throw ArgError("c must hold batch · M · N elements");
    const long lda = ta ? M : K, ldb = tb ? K : N;
    for (size_t i = 0; i < batch; ++i) {
      if (!(aOff[i] >= 0 && aOff[i] + M * K <= static_cast<double>(na))) throw ArgError("aOffsets: matrix out of range");
      if (!(bOff[i] >= 0 && bOff[i] + K * N <= static_cast<double>(nb))) throw ArgError("bOffsets: matrix out of range");
    }
    auto one = [&](long i, int innerThreads) {
      gemm_any(ta, tb, M, N, K, 1.0f, A + static_cast<long>(aOff[i]), std::max(lda, 1L), B + static_cast<long>(bOff[i]),
               std::max(ldb, 1L), 0.0f, C + i * M * N, std::max(N, 1L), innerThreads);
    };
    BlasThreadsForCall blas(threads);
    if (!kHaveBlas && batch >= 2 && threads > 1) {
      rt::parallel_for(static_cast<long>(batch), threads, [&](long i, int) { one(i, 1); });
    } else {
      for (size_t i = 0; i < batch; ++i) one(static_cast<long>(i), threads);
    }
    return undefined(env);
  });
}

// Arguments 3..13 of both attention directions: posQ, posK, docQ, docK, heads, kvHeads, seqQ,
// seqK, headDim, causal, scale. docQ and docK are both Int32Arrays or both null.
rt::AttentionProblem problem(const Args& a) {
  rt::AttentionProblem p{};
  p.heads = a.size(7, "heads");
  p.kvHeads = a.size(8, "kvHeads");
  p.seqQ = a.size(9, "seqQ");
  p.seqK = a.size(10, "seqK");
  p.headDim = a.size(11, "headDim");
  p.causal = a.flag(12, "causal");
  p.scale = static_cast<float>(a.number(13, "scale"));
  if (p.kvHeads < 1 || p.heads % p.kvHeads != 0) throw ArgError("heads must be a multiple of kvHeads >= 1");
  p.posQ = a.i32(3, "posQ", p.seqQ);
  p.posK = a.i32(4, "posK", p.seqK);
  p.docQ = a.i32_or_null(5, "docQ", p.seqQ);
  p.docK = a.i32_or_null(6, "docK", p.seqK);
  if ((p.docQ == nullptr) != (p.docK == nullptr)) throw ArgError("docQ and docK must both be Int32Arrays or both null");
  return p;
}

// What both attention directions start with: the problem, and q, k, v checked against it.
struct QkvArgs {
  rt::AttentionProblem p;
  long qn, kn;  // elements of q and of k (= v)
  const float *q, *k, *v;
};

QkvArgs qkv_args(const Args& a, size_t want) {
  a.require(want);
  QkvArgs r{problem(a), 0, 0, nullptr, nullptr, nullptr};
  r.qn = r.p.heads * r.p.seqQ * r.p.headDim;
  r.kn = r.p.kvHeads * r.p.seqK * r.p.headDim;
  r.q = a.f32(0, "q", r.qn);
  r.k = a.f32(1, "k", r.kn);
  r.v = a.f32(2, "v", r.kn);
  return r;
}

// attentionForward(q, k, v, posQ, posK, docQ, docK, heads, kvHeads, seqQ, seqK, headDim, causal,
//                  scale, out, lse, threads): the checked arguments as the work to run.
std::function<void()> forward_work(const Args& a) {
  QkvArgs in = qkv_args(a, 17);
  float* out = a.f32(14, "out", in.qn);
  float* lse = a.f32(15, "lse", in.p.heads * in.p.seqQ);
  in.p.threads = thread_arg(a, 16);
  return [=] { rt::attention_forward(in.p, in.q, in.k, in.v, out, lse); };
}

// attentionBackward(q, k, v, posQ, posK, docQ, docK, heads, kvHeads, seqQ, seqK, headDim, causal,
//                   scale, dout, out, lse, dq, dk, dv, threads): the checked arguments as the work.
std::function<void()> backward_work(const Args& a) {
  QkvArgs in = qkv_args(a, 21);
  const float* dout = a.f32(14, "dout", in.qn);
  const float* out = a.f32(15, "out", in.qn);
  const float* lse = a.f32(16, "lse", in.p.heads * in.p.seqQ);
  float* dq = a.f32(17, "dq", in.qn);
  float* dk = a.f32(18, "dk", in.kn);
  float* dv = a.f32(19, "dv", in.kn);
  in.p.threads = thread_arg(a, 20);
  return [=] { rt::attention_backward(in.p, in.q, in.k, in.v, dout, out, lse, dq, dk, dv); };
}

// Runs the work now, on the calling (JS) thread.
template <std::function<void()> (*Work)(const Args&)>
napi_value run_now(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 0);
    Work(a)();
    return undefined(env);
  });
}

// The same work on libuv's thread pool, so the event loop keeps moving network frames meanwhile.
// Returns a promise that settles when the work is done. Every object argument is pinned by a
// reference until then, so the typed arrays the work reads and writes outlive it.
struct AsyncJob {
  napi_async_work work = nullptr;
  napi_deferred deferred = nullptr;
  std::vector<napi_ref> pinned;
  std::function<void()> fn;
  std::string error;  // set by the pool thread; read after it is done
};

void async_execute(napi_env, void* data) {
  auto* job = static_cast<AsyncJob*>(data);
  try {
    job->fn();
  } catch (const std::bad_alloc&) {
    job->error = "ringtrain native: out of memory";
  } catch (const std::exception& e) {
    job->error = e.what();
  }
}

void async_complete(napi_env env, napi_status status, void* data) {
  std::unique_ptr<AsyncJob> job(static_cast<AsyncJob*>(data));
  for (napi_ref r : job->pinned) napi_delete_reference(env, r);
  napi_delete_async_work(env, job->work);
  if (status == napi_ok && job->error.empty()) {
    napi_resolve_deferred(env, job->deferred, undefined(env));
    return;
  }
  napi_value code, msg, err;
  napi_create_string_utf8(env, "ERR_RINGTRAIN_NATIVE", NAPI_AUTO_LENGTH, &code);
  const std::string text = job->error.empty() ? "ringtrain native: the work was cancelled" : job->error;
  napi_create_string_utf8(env, text.c_str(), NAPI_AUTO_LENGTH, &msg);
  napi_create_error(env, code, msg, &err);
  napi_reject_deferred(env, job->deferred, err);
}

template <std::function<void()> (*Work)(const Args&)>
napi_value run_async(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 0);
    auto job = std::make_unique<AsyncJob>();
    job->fn = Work(a);
    napi_value promise, name;
    try {
      for (size_t i = 0; i < a.argc; ++i) {
        napi_valuetype t;
        check(env, napi_typeof(env, a.argv[i], &t));
        if (t != napi_object) continue;
        napi_ref r;
        check(env, napi_create_reference(env, a.argv[i], 1, &r));
        job->pinned.push_back(r);
      }
      check(env, napi_create_string_utf8(env, "ringtrain.native", NAPI_AUTO_LENGTH, &name));
      check(env, napi_create_async_work(env, nullptr, name, async_execute, async_complete, job.get(), &job->work));
      check(env, napi_create_promise(env, &job->deferred, &promise));
      check(env, napi_queue_async_work(env, job->work));
    } catch (...) {
      for (napi_ref r : job->pinned) napi_delete_reference(env, r);
      if (job->work) napi_delete_async_work(env, job->work);
      throw;
    }
    job.release();  // async_complete owns it now
    return promise;
  });
}

// geluForward(x, y): y = gelu_tanh(x), elementwise.
napi_value GeluForward(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 2);
    size_t n = 0;
    const float* x = a.f32(0, "x", &n);
    float* y = a.f32(1, "y", static_cast<long>(n));
    rt::gelu_forward(x, y, static_cast<long>(n));
    return undefined(env);
  });
}

// geluBackward(x, dy, dx): dx = dy · gelu_tanh'(x).
napi_value GeluBackward(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 3);
    size_t n = 0;
    const float* x = a.f32(0, "x", &n);
    const float* dy = a.f32(1, "dy", static_cast<long>(n));
    float* dx = a.f32(2, "dx", static_cast<long>(n));
    rt::gelu_backward(x, dy, dx, static_cast<long>(n));
    return undefined(env);
  });
}

// Rows of x (length a multiple of d = g's length), and how many there are.
long norm_rows(size_t xn, size_t d) {
  if (d == 0 || xn % d != 0) throw ArgError("x must hold whole rows of g's length");
  return static_cast<long>(xn / d);
}

// rmsNormForward(x, g, eps, y, inv)
napi_value RmsNormForward(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 5);
    size_t xn = 0, d = 0;
    const float* x = a.f32(0, "x", &xn);
    const float* g = a.f32(1, "g", &d);
    const long rows = norm_rows(xn, d);
    const float eps = static_cast<float>(a.number(2, "eps"));
    float* y = a.f32(3, "y", static_cast<long>(xn));
    float* inv = a.f32(4, "inv", rows);
    rt::rms_norm_forward(x, g, eps, y, inv, rows, static_cast<long>(d));
    return undefined(env);
  });
}

// rmsNormBackward(x, g, inv, dy, dx, dg)
napi_value RmsNormBackward(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 6);
    size_t xn = 0, d = 0;
    const float* x = a.f32(0, "x", &xn);
    const float* g = a.f32(1, "g", &d);
    const long rows = norm_rows(xn, d);
    const float* inv = a.f32(2, "inv", rows);
    const float* dy = a.f32(3, "dy", static_cast<long>(xn));
    float* dx = a.f32(4, "dx", static_cast<long>(xn));
    float* dg = a.f32(5, "dg", static_cast<long>(d));
    rt::rms_norm_backward(x, g, inv, dy, dx, dg, rows, static_cast<long>(d));
    return undefined(env);
  });
}

void set(napi_env env, napi_value obj, const char* key, napi_value value) {
  check(env, napi_set_named_property(env, obj, key, value));
}

napi_value str(napi_env env, const char* s) {
  napi_value v;
  napi_create_string_utf8(env, s, NAPI_AUTO_LENGTH, &v);
  return v;
}

napi_value num(napi_env env, double x) {
  napi_value v;
  napi_create_double(env, x, &v);
  return v;
}

// info() -> { blas, blasCore, defaultThreads, simdWidth, compiler }
napi_value Info(napi_env env, napi_callback_info) {
  return guarded(env, [&]() -> napi_value {
    napi_value obj;
    check(env, napi_create_object(env, &obj));
    set(env, obj, "blas", str(env, rt::gemm_backend()));
    set(env, obj, "blasCore", str(env, rt::blas_core()));
    set(env, obj, "defaultThreads", num(env, default_threads()));
    set(env, obj, "simdWidth", num(env, rt::VL * 32));
#ifdef __VERSION__
    set(env, obj, "compiler", str(env, __VERSION__));
#endif
    return obj;
  });
}

}  // namespace

NAPI_MODULE_INIT() {
  const napi_property_descriptor props[] = {
      {"sgemm", nullptr, Sgemm, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"batchMatMul", nullptr, BatchMatMul, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"attentionForward", nullptr, run_now<forward_work>, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"attentionBackward", nullptr, run_now<backward_work>, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"attentionForwardAsync", nullptr, run_async<forward_work>, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"attentionBackwardAsync", nullptr, run_async<backward_work>, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"geluForward", nullptr, GeluForward, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"geluBackward", nullptr, GeluBackward, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"rmsNormForward", nullptr, RmsNormForward, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"rmsNormBackward", nullptr, RmsNormBackward, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"info", nullptr, Info, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  return exports;
}
