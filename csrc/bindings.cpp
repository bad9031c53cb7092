// pybind11 only: NumPy buffers in and out, GIL release, errors to Python exceptions.
// The public API (python/fmaconv/functional.py) validates arguments and reshapes every
// op to 3 spatial axes; the checks here only keep a direct caller of _core memory-safe.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <atomic>
#include <chrono>
#include <climits>
#include <cstdint>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "ops/ops.h"
#include "runtime/block_cache.h"
#include "runtime/cpu.h"
#include "runtime/thread_pool.h"

namespace py = pybind11;
using fmaconv::ConvShape;
using fmaconv::PoolShape;
using I3 = std::array<int64_t, 3>;

namespace {

#ifndef FMACONV_VERSION
#define FMACONV_VERSION "unknown"
#endif

bool is_f64(const py::array& a) {
  // Equivalence, not identity: a native '=f4' dtype object is not the canonical float32 one.
  if (py::isinstance<py::array_t<float>>(a)) return false;
  if (py::isinstance<py::array_t<double>>(a)) return true;
  throw py::type_error("fmaconv._core: expected float32 or float64, got dtype " +
                       std::string(py::str(a.dtype())));
}

// A 5-D, C-contiguous, aligned array of the given dtype.
void check_array(const py::array& a, const char* name, bool f64, py::ssize_t ndim = 5) {
  if (a.ndim() != ndim) throw py::value_error(std::string("fmaconv._core: ") + name + " must be 5-D");
  if (is_f64(a) != f64) throw py::type_error(std::string("fmaconv._core: ") + name + " dtype mismatch");
  const auto flags = py::detail::array_proxy(a.ptr())->flags;
  if (!(flags & py::detail::npy_api::NPY_ARRAY_C_CONTIGUOUS_) || !(flags & py::detail::npy_api::NPY_ARRAY_ALIGNED_))
    throw py::value_error(std::string("fmaconv._core: ") + name + " must be C-contiguous and aligned");
}

// Geometry parameters stay in int32 range (as the Python layer enforces), so index
// arithmetic in int64 cannot overflow; sizes may use the full int64 range.
void check_positive(const I3& v, const char* name, int64_t min, int64_t max = INT32_MAX) {
  for (int64_t e : v)
    if (e < min || e > max) throw py::value_error(std::string("fmaconv._core: bad ") + name);
}

void release_block(PyObject* capsule) {
  fmaconv::cached_block_put(PyCapsule_GetPointer(capsule, "fmaconv.block"));
}

// A new C-contiguous result array of a NumPy type; null with a Python error set on failure.
// Large ones live in a reused block (runtime/block_cache.h), owned by a capsule as the base.
PyObject* new_result_array(int type_num, size_t itemsize, int nd, const py::ssize_t* shape) {
  auto& api = py::detail::npy_api::get();
  size_t bytes = itemsize;
  bool overflow = false;
  for (int i = 0; i < nd; ++i) overflow |= __builtin_mul_overflow(bytes, (size_t)shape[i], &bytes);
  PyObject* descr = api.PyArray_DescrFromType_(type_num);
  if (!descr) return nullptr;
  void* block = !overflow && bytes >= fmaconv::kMinCachedBytes ? fmaconv::cached_block_get(bytes) : nullptr;
  if (!block)  // NumPy's own allocation (and its MemoryError)
    return api.PyArray_NewFromDescr_(api.PyArray_Type_, descr, nd, shape, nullptr, nullptr, 0, nullptr);
  PyObject* capsule = PyCapsule_New(block, "fmaconv.block", release_block);
  if (!capsule) {
    fmaconv::cached_block_put(block);
    Py_DECREF(descr);
    return nullptr;
  }
  constexpr int flags = py::detail::npy_api::NPY_ARRAY_C_CONTIGUOUS_ | py::detail::npy_api::NPY_ARRAY_ALIGNED_ |
                        py::detail::npy_api::NPY_ARRAY_WRITEABLE_;
  PyObject* arr = api.PyArray_NewFromDescr_(api.PyArray_Type_, descr, nd, shape, nullptr, block, flags, nullptr);
  if (!arr) {
    Py_DECREF(capsule);
    return nullptr;
  }
  if (api.PyArray_SetBaseObject_(arr, capsule) < 0) {  // (steals the capsule)
    Py_DECREF(arr);
    return nullptr;
  }
  return arr;
}

template <typename T>
py::array_t<T> new_array(int64_t n, int64_t c, const I3& sp) {
  const py::ssize_t shape[5] = {(py::ssize_t)n, (py::ssize_t)c, (py::ssize_t)sp[0], (py::ssize_t)sp[1],
                                (py::ssize_t)sp[2]};
  PyObject* a = new_result_array(py::detail::npy_format_descriptor<T>::value, sizeof(T), 5, shape);
  if (!a) throw py::error_already_set();
  return py::reinterpret_steal<py::array_t<T>>(a);
}

// Allocates the (N, C, *out) result (and int64 indices if asked), runs compute(x, y, idx)
// without the GIL, and returns y or (y, idx). compute is skipped when there is nothing to do.
template <typename T, typename F>
py::object pooled(const py::array& x, const I3& out, bool with_indices, bool work, const F& compute) {
  auto y = new_array<T>(x.shape(0), x.shape(1), out);
  py::array_t<int64_t> idx;
  if (with_indices) idx = new_array<int64_t>(x.shape(0), x.shape(1), out);
  const T* xp = static_cast<const T*>(x.data());
  T* yp = y.mutable_data();
  int64_t* ip = with_indices ? idx.mutable_data() : nullptr;
  if (work) {
    py::gil_scoped_release nogil;
    compute(xp, yp, ip);
  }
  if (with_indices) return py::make_tuple(y, idx);
  return std::move(y);
}

PoolShape pool_shape(const py::array& x, const I3& k, const I3& s, const I3& p, const I3& d, const I3& out) {
  PoolShape ps{};
  ps.planes = x.shape(0) * x.shape(1);
  for (int i = 0; i < 3; ++i) {
    ps.in[i] = x.shape(2 + i);
    ps.out[i] = out[i];
    ps.k[i] = k[i];
    ps.s[i] = s[i];
    ps.p[i] = p[i];
    ps.d[i] = d[i];
  }
  return ps;
}

// The checked slow-path core call; packed (one of f32/f64, matching the dtype) keeps weight
// layouts between calls (a PackedConv), null packs for this call only.
py::array conv_impl(const py::array& x, const py::array& w, const py::object& bias, const I3& stride, const I3& pad,
                    const I3& dil, int64_t groups, const I3& out, fmaconv::PackedWeights<float>* packed32 = nullptr,
                    fmaconv::PackedWeights<double>* packed64 = nullptr) {
  const bool f64 = is_f64(x);
  check_array(x, "input", f64);
  check_array(w, "weight", f64);
  check_positive(stride, "stride", 1);
  check_positive(dil, "dilation", 1);
  check_positive(pad, "padding", 0);
  check_positive(out, "output size", 0, INT64_MAX);
  ConvShape s{};
  s.N = x.shape(0);
  s.C = x.shape(1);
  s.K = w.shape(0);
  s.groups = groups;
  if (groups <= 0 || s.C % groups || s.K % groups || w.shape(1) * groups != s.C)
    throw py::value_error("fmaconv._core: inconsistent channels/groups");
  for (int i = 0; i < 3; ++i) {
    s.in[i] = x.shape(2 + i);
    s.out[i] = out[i];
    s.k[i] = w.shape(2 + i);
    s.s[i] = stride[i];
    s.p[i] = pad[i];
    s.d[i] = dil[i];
  }
  const bool has_bias = !bias.is_none();
  py::array b;  // note: a default py::array is an empty array, not a null handle
  if (has_bias) {
    b = py::array::ensure(bias);
    if (!b || b.ndim() != 1 || b.shape(0) != s.K || is_f64(b) != f64 ||
        !(py::detail::array_proxy(b.ptr())->flags & py::detail::npy_api::NPY_ARRAY_C_CONTIGUOUS_))
      throw py::value_error("fmaconv._core: bad bias");
  }
  auto run = [&](auto tag, auto* packed) -> py::array {
    using T = decltype(tag);
    auto y = new_array<T>(s.N, s.K, out);
    const T* bp = has_bias ? static_cast<const T*>(b.data()) : nullptr;
    const T* xp = static_cast<const T*>(x.data());
    const T* wp = static_cast<const T*>(w.data());
    T* yp = y.mutable_data();
    py::gil_scoped_release nogil;
    fmaconv::conv_forward<T>(s, xp, wp, bp, yp, packed);
    return y;
  };
  return f64 ? run(double{}, packed64) : run(float{}, packed32);
}

py::array conv(const py::array& x, const py::array& w, const py::object& bias, const I3& stride, const I3& pad,
               const I3& dil, int64_t groups, const I3& out) {
  return conv_impl(x, w, bias, stride, pad, dil, groups, out);
}

// ----------------------------------------------------------------------------- fast path
// The common case of a functional call, checked and run here without the Python layer:
// exact ndarrays of one native float dtype, C-contiguous and aligned, geometry as exact
// ints or tuples of ints in range, padding_mode 'zeros', a non-empty valid result. For
// anything else (other types, copies needed, every error) the fast functions return None
// and the Python layer takes over, so errors and results stay exactly those of the slow
// path (which calls the same conv_forward with the same ConvShape).
namespace fast {

using npy = py::detail::npy_api;
enum Dtype : int { kNone = 0, kF32 = 1, kF64 = 2 };
constexpr int64_t kMaxElements = int64_t(1) << 62;  // _args._MAX_ELEMENTS
// Below this many multiply-adds the GIL stays held (releasing it costs more than it frees).
// Well below the thread pool's threshold, so a call holding the GIL runs inline and never
// waits for the pool (which may be busy with another thread's GIL-free call).
constexpr double kReleaseGilMacs = fmaconv::kMinParallelWork / 4;

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
constexpr char kNativeOrder = '>';
#else
constexpr char kNativeOrder = '<';
#endif

PyTypeObject* array_type() {
  static PyTypeObject* const t = npy::get().PyArray_Type_;
  return t;
}

// The dtype of an exact ndarray of native float32/float64 that is C-contiguous and aligned.
Dtype plain_array(PyObject* o) {
  if (Py_TYPE(o) != array_type()) return kNone;
  const auto* a = py::detail::array_proxy(o);
  constexpr int need = npy::NPY_ARRAY_C_CONTIGUOUS_ | npy::NPY_ARRAY_ALIGNED_;
  if ((a->flags & need) != need) return kNone;
  const auto* d = py::detail::array_descriptor_proxy(a->descr);
  if (d->byteorder != '=' && d->byteorder != kNativeOrder) return kNone;
  if (d->type_num == npy::NPY_FLOAT_) return kF32;
  if (d->type_num == npy::NPY_DOUBLE_) return kF64;
  return kNone;
}

int ndim(PyObject* a) { return py::detail::array_proxy(a)->nd; }
const py::ssize_t* dims_of(PyObject* a) { return py::detail::array_proxy(a)->dimensions; }
void* data_of(PyObject* a) { return py::detail::array_proxy(a)->data; }

// An exact int (not bool, not a NumPy integer) in [lo, hi].
bool exact_int(PyObject* o, int64_t lo, int64_t hi, int64_t& v) {
  if (!PyLong_CheckExact(o)) return false;
  int overflow = 0;
  const long long r = PyLong_AsLongLongAndOverflow(o, &overflow);
  if (overflow || (r == -1 && PyErr_Occurred())) {
    PyErr_Clear();
    return false;
  }
  if (r < lo || r > hi) return false;
  v = r;
  return true;
}

// An int or a tuple of 1 or `dims` ints in [lo, INT32_MAX], into the last `dims` of 3 axes.
bool geometry(PyObject* o, int dims, int64_t lo, int64_t fill, I3& out) {
  out = {fill, fill, fill};
  int64_t v;
  if (PyLong_CheckExact(o) || (PyTuple_CheckExact(o) && PyTuple_GET_SIZE(o) == 1)) {
    if (!exact_int(PyLong_CheckExact(o) ? o : PyTuple_GET_ITEM(o, 0), lo, INT32_MAX, v)) return false;
    for (int i = 3 - dims; i < 3; ++i) out[i] = v;
    return true;
  }
  if (!PyTuple_CheckExact(o) || PyTuple_GET_SIZE(o) != dims) return false;
  for (int j = 0; j < dims; ++j) {
    if (!exact_int(PyTuple_GET_ITEM(o, j), lo, INT32_MAX, v)) return false;
    out[3 - dims + j] = v;
  }
  return true;
}

bool is_str(PyObject* o, PyObject* interned, const char* text) {
  if (o == interned) return true;
  return PyUnicode_CheckExact(o) && PyUnicode_CompareWithASCIIString(o, text) == 0;
}

// Convolution geometry in the core's 3-axis form; padding 'same' is resolved per kernel.
struct ConvGeom {
  int dims = 0;
  I3 stride{1, 1, 1}, pad{0, 0, 0}, dil{1, 1, 1};
  bool same = false;
  int64_t groups = 1;
};

bool conv_geometry(int dims, PyObject* stride, PyObject* padding, PyObject* dilation, PyObject* groups,
                   PyObject* padding_mode, ConvGeom& g) {
  static PyObject* const zeros = PyUnicode_InternFromString("zeros");
  static PyObject* const same = PyUnicode_InternFromString("same");
  static PyObject* const valid = PyUnicode_InternFromString("valid");
  g.dims = dims;
  if (!is_str(padding_mode, zeros, "zeros")) return false;
  if (!exact_int(groups, 1, INT64_MAX, g.groups)) return false;
  if (!geometry(stride, dims, 1, 1, g.stride) || !geometry(dilation, dims, 1, 1, g.dil)) return false;
  if (is_str(padding, valid, "valid")) {
    g.pad = {0, 0, 0};
  } else if (is_str(padding, same, "same")) {
    if (g.stride != I3{1, 1, 1}) return false;  // an error: the slow path reports it
    g.same = true;
  } else if (!geometry(padding, dims, 0, 0, g.pad)) {
    return false;
  }
  return true;
}

// The core's shape of conv(x, w) if the call is valid with a non-empty result (else false).
bool conv_shape(const ConvGeom& g, PyObject* x, PyObject* w, ConvShape& s, bool& batched) {
  const int dims = g.dims, xn = ndim(x);
  if (ndim(w) != dims + 2 || (xn != dims + 2 && xn != dims + 1)) return false;
  batched = xn == dims + 2;
  const py::ssize_t* xd = dims_of(x);
  const py::ssize_t* wd = dims_of(w);
  s.N = batched ? xd[0] : 1;
  s.C = xd[batched ? 1 : 0];
  s.K = wd[0];
  s.groups = g.groups;
  if (s.N <= 0 || s.C <= 0 || s.K <= 0) return false;
  if (s.C % g.groups || s.K % g.groups || wd[1] != s.C / g.groups) return false;
  int64_t total;
  if (__builtin_mul_overflow(s.N, s.K, &total)) return false;
  for (int i = 0; i < 3; ++i) {
    s.in[i] = s.out[i] = s.k[i] = s.s[i] = s.d[i] = 1;
    s.p[i] = 0;
  }
  const py::ssize_t* xs = xd + (batched ? 2 : 1);
  for (int j = 0; j < dims; ++j) {
    const int a = 3 - dims + j;
    const int64_t in = xs[j], k = wd[2 + j], st = g.stride[a], d = g.dil[a];
    if (in <= 0 || k <= 0 || k > INT32_MAX) return false;
    const int64_t span = d * (k - 1);  // < 2**62
    int64_t pl = g.pad[a], pr = pl;
    if (g.same) {
      pl = span / 2;
      pr = span - pl;
      if (pl > INT32_MAX) return false;  // the slow path's core call rejects it
    }
    const int64_t padded = in + pl + pr;  // no overflow: in < 2**62, pads < 2**62
    if (padded < span + 1) return false;
    const int64_t o = (padded - span - 1) / st + 1;
    if (__builtin_mul_overflow(total, o, &total) || total > kMaxElements) return false;
    s.in[a] = in;
    s.k[a] = k;
    s.s[a] = st;
    s.d[a] = d;
    s.p[a] = pl;
    s.out[a] = o;
  }
  return true;
}

// A new C-contiguous array of the dtype; null with a Python error set on failure.
PyObject* new_array(Dtype dt, int nd, const py::ssize_t* shape) {
  return dt == kF64 ? new_result_array(npy::NPY_DOUBLE_, sizeof(double), nd, shape)
                    : new_result_array(npy::NPY_FLOAT_, sizeof(float), nd, shape);
}

template <typename T>
void run_conv(const ConvShape& s, const void* x, const void* w, const void* b, void* y,
              fmaconv::PackedWeights<T>* packed) {
  const double macs = (double)s.N * (double)s.K * (double)s.out_plane() * (double)s.Cg() * (double)s.taps();
  if (macs < kReleaseGilMacs) {
    fmaconv::conv_forward<T>(s, (const T*)x, (const T*)w, (const T*)b, (T*)y, packed);
  } else {
    py::gil_scoped_release nogil;
    fmaconv::conv_forward<T>(s, (const T*)x, (const T*)w, (const T*)b, (T*)y, packed);
  }
}

// conv(x, w, bias) for a checked geometry; a new reference: the result, None to fall back,
// or null with an exception set (allocation failure only).
PyObject* conv(const ConvGeom& g, PyObject* x, PyObject* w, PyObject* bias, fmaconv::PackedWeights<float>* p32,
               fmaconv::PackedWeights<double>* p64) {
  const Dtype dt = plain_array(x);
  if (dt == kNone || plain_array(w) != dt) Py_RETURN_NONE;
  ConvShape s;
  bool batched;
  if (!conv_shape(g, x, w, s, batched)) Py_RETURN_NONE;
  const void* bp = nullptr;
  if (bias != Py_None) {
    if (plain_array(bias) != dt || ndim(bias) != 1 || dims_of(bias)[0] != s.K) Py_RETURN_NONE;
    bp = data_of(bias);
  }
  py::ssize_t shape[5];
  int nd = 0;
  if (batched) shape[nd++] = s.N;
  shape[nd++] = s.K;
  for (int a = 3 - g.dims; a < 3; ++a) shape[nd++] = s.out[a];
  PyObject* y = new_array(dt, nd, shape);
  if (!y) return nullptr;
  try {
    if (dt == kF64)
      run_conv<double>(s, data_of(x), data_of(w), bp, data_of(y), p64);
    else
      run_conv<float>(s, data_of(x), data_of(w), bp, data_of(y), p32);
  } catch (const std::bad_alloc&) {
    Py_DECREF(y);
    return PyErr_NoMemory();
  } catch (const std::exception& e) {
    Py_DECREF(y);
    PyErr_SetString(PyExc_RuntimeError, e.what());
    return nullptr;
  }
  return y;
}

// _core.conv_fast(dims, input, weight, bias, stride, padding, dilation, groups, padding_mode):
// the functional convNd's arguments, positional; the result or None.
PyObject* conv_fast(PyObject*, PyObject* const* args, Py_ssize_t nargs) {
  if (nargs != 9) {
    PyErr_SetString(PyExc_TypeError, "conv_fast: expected 9 arguments");
    return nullptr;
  }
  int64_t dims;
  if (!exact_int(args[0], 1, 3, dims)) {
    PyErr_SetString(PyExc_ValueError, "conv_fast: dims must be 1, 2 or 3");
    return nullptr;
  }
  ConvGeom g;
  if (!conv_geometry((int)dims, args[4], args[5], args[6], args[7], args[8], g)) Py_RETURN_NONE;
  return conv(g, args[1], args[2], args[3], nullptr, nullptr);
}

// ----------------------------------------------------------------------------- pooling fast path

bool exact_bool(PyObject* o, bool& v) {
  if (o != Py_True && o != Py_False) return false;
  v = o == Py_True;
  return true;
}

// x's planes and spatial sizes (3 axes) if x is a plain array of rank dims + 1 or dims + 2
// with no empty axis.
bool pool_input(int dims, PyObject* x, PoolShape& ps, bool& batched, py::ssize_t lead[2]) {
  const int xn = ndim(x);
  if (xn != dims + 2 && xn != dims + 1) return false;
  batched = xn == dims + 2;
  const py::ssize_t* xd = dims_of(x);
  lead[0] = batched ? xd[0] : 1;
  lead[1] = xd[batched ? 1 : 0];
  if (lead[0] <= 0 || lead[1] <= 0) return false;
  ps = PoolShape{};
  ps.planes = lead[0] * lead[1];  // no overflow: both are sizes of one existing array
  for (int i = 0; i < 3; ++i) {
    ps.in[i] = ps.out[i] = ps.k[i] = ps.s[i] = ps.d[i] = 1;
    ps.p[i] = 0;
  }
  const py::ssize_t* sp = xd + (batched ? 2 : 1);
  for (int j = 0; j < dims; ++j) {
    if (sp[j] <= 0) return false;
    ps.in[3 - dims + j] = sp[j];
  }
  return true;
}

// pool_plan's window and output sizes for the common argument forms (else false).
bool pool_window(int dims, PyObject* kernel, PyObject* stride, PyObject* padding, PyObject* dilation,
                 PyObject* ceil, PoolShape& ps) {
  bool ceil_mode;
  I3 k, s, p, d;
  if (!exact_bool(ceil, ceil_mode) || !geometry(kernel, dims, 1, 1, k) || !geometry(padding, dims, 0, 0, p) ||
      !geometry(dilation, dims, 1, 1, d))
    return false;
  if (stride == Py_None || (PyTuple_CheckExact(stride) && PyTuple_GET_SIZE(stride) == 0))
    s = k;
  else if (!geometry(stride, dims, 1, 1, s))
    return false;
  int64_t total = ps.planes;
  for (int a = 3 - dims; a < 3; ++a) {
    if (p[a] > k[a] / 2) return false;
    const int64_t num = ps.in[a] + 2 * p[a] - d[a] * (k[a] - 1) - 1 + (ceil_mode ? s[a] - 1 : 0);
    if (num < 0) return false;  // the output would be empty: an error
    int64_t o = num / s[a] + 1;
    if (ceil_mode && (o - 1) * s[a] >= ps.in[a] + p[a]) --o;
    if (o < 1) return false;
    if (__builtin_mul_overflow(total, o, &total) || total > kMaxElements) return false;
    ps.out[a] = o;
    ps.k[a] = k[a];
    ps.s[a] = s[a];
    ps.p[a] = p[a];
    ps.d[a] = d[a];
  }
  return true;
}

// Allocates y (x's dtype) and, if asked, int64 indices of the pooled shape, runs
// compute(x, y, idx) (without the GIL when the work pays for it) and returns y or (y, idx).
template <typename F>
PyObject* pooled(Dtype dt, PyObject* x, const PoolShape& ps, bool batched, const py::ssize_t lead[2], int dims,
                 bool with_indices, double work, const F& compute) {
  py::ssize_t shape[5];
  int nd = 0;
  if (batched) shape[nd++] = lead[0];
  shape[nd++] = lead[1];
  for (int a = 3 - dims; a < 3; ++a) shape[nd++] = ps.out[a];
  PyObject* y = new_array(dt, nd, shape);
  if (!y) return nullptr;
  PyObject* idx = nullptr;
  if (with_indices) {
    idx = new_result_array(npy::NPY_INT64_, sizeof(int64_t), nd, shape);
    if (!idx) {
      Py_DECREF(y);
      return nullptr;
    }
  }
  try {
    int64_t* ip = idx ? static_cast<int64_t*>(data_of(idx)) : nullptr;
    auto run = [&] {
      if (dt == kF64)
        compute(static_cast<const double*>(data_of(x)), static_cast<double*>(data_of(y)), ip);
      else
        compute(static_cast<const float*>(data_of(x)), static_cast<float*>(data_of(y)), ip);
    };
    if (work < kReleaseGilMacs) {
      run();
    } else {
      py::gil_scoped_release nogil;
      run();
    }
  } catch (const std::exception& e) {
    Py_DECREF(y);
    Py_XDECREF(idx);
    if (dynamic_cast<const std::bad_alloc*>(&e)) return PyErr_NoMemory();
    PyErr_SetString(PyExc_RuntimeError, e.what());
    return nullptr;
  }
  if (!idx) return y;
  PyObject* r = PyTuple_New(2);
  if (!r) {
    Py_DECREF(y);
    Py_DECREF(idx);
    return nullptr;
  }
  PyTuple_SET_ITEM(r, 0, y);
  PyTuple_SET_ITEM(r, 1, idx);
  return r;
}

bool check_nargs(const char* name, Py_ssize_t nargs, Py_ssize_t want, PyObject* dims_arg, int& dims) {
  if (nargs != want) {
    PyErr_Format(PyExc_TypeError, "%s: expected %zd arguments", name, want);
    return false;
  }
  int64_t d;
  if (!exact_int(dims_arg, 1, 3, d)) {
    PyErr_Format(PyExc_ValueError, "%s: dims must be 1, 2 or 3", name);
    return false;
  }
  dims = (int)d;
  return true;
}

// _core.max_pool_fast(dims, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)
PyObject* max_pool_fast(PyObject*, PyObject* const* args, Py_ssize_t nargs) {
  int dims;
  if (!check_nargs("max_pool_fast", nargs, 8, nargs > 0 ? args[0] : nullptr, dims)) return nullptr;
  const Dtype dt = plain_array(args[1]);
  PoolShape ps;
  bool batched, with_indices;
  py::ssize_t lead[2];
  if (dt == kNone || !exact_bool(args[7], with_indices) || !pool_input(dims, args[1], ps, batched, lead) ||
      !pool_window(dims, args[2], args[3], args[4], args[5], args[6], ps))
    Py_RETURN_NONE;
  const double work = (double)ps.planes * (double)ps.out_plane() * ((double)ps.k[0] * (double)ps.k[1] * (double)ps.k[2]);
  return pooled(dt, args[1], ps, batched, lead, dims, with_indices, work, [&](const auto* xp, auto* yp, int64_t* ip) {
    using T = std::remove_const_t<std::remove_pointer_t<decltype(xp)>>;
    fmaconv::max_pool_forward<T>(ps, xp, yp, ip);
  });
}

// _core.avg_pool_fast(dims, input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)
PyObject* avg_pool_fast(PyObject*, PyObject* const* args, Py_ssize_t nargs) {
  int dims;
  if (!check_nargs("avg_pool_fast", nargs, 8, nargs > 0 ? args[0] : nullptr, dims)) return nullptr;
  static PyObject* const one = PyLong_FromLong(1);
  const Dtype dt = plain_array(args[1]);
  PoolShape ps;
  bool batched, count_include_pad;
  py::ssize_t lead[2];
  int64_t divisor = 0;
  if (dt == kNone || !exact_bool(args[6], count_include_pad) || !pool_input(dims, args[1], ps, batched, lead) ||
      !pool_window(dims, args[2], args[3], args[4], one, args[5], ps))
    Py_RETURN_NONE;
  if (args[7] != Py_None && (!exact_int(args[7], INT64_MIN, INT64_MAX, divisor) || divisor == 0)) Py_RETURN_NONE;
  if (dims == 3)  // avg_pool3d rejects an input smaller than the kernel
    for (int a = 0; a < 3; ++a)
      if (ps.in[a] < ps.k[a]) Py_RETURN_NONE;
  const double work = (double)ps.planes * (double)ps.out_plane() * ((double)ps.k[0] * (double)ps.k[1] * (double)ps.k[2]);
  return pooled(dt, args[1], ps, batched, lead, dims, false, work, [&](const auto* xp, auto* yp, int64_t*) {
    using T = std::remove_const_t<std::remove_pointer_t<decltype(xp)>>;
    fmaconv::avg_pool_forward<T>(ps, xp, yp, count_include_pad, divisor);
  });
}

// _core.adaptive_pool_fast(dims, input, output_size, is_max, return_indices)
PyObject* adaptive_pool_fast(PyObject*, PyObject* const* args, Py_ssize_t nargs) {
  int dims;
  if (!check_nargs("adaptive_pool_fast", nargs, 5, nargs > 0 ? args[0] : nullptr, dims)) return nullptr;
  const Dtype dt = plain_array(args[1]);
  PoolShape ps;
  bool batched, is_max, with_indices;
  py::ssize_t lead[2];
  if (dt == kNone || !exact_bool(args[3], is_max) || !exact_bool(args[4], with_indices) ||
      !pool_input(dims, args[1], ps, batched, lead))
    Py_RETURN_NONE;
  PyObject* o = args[2];
  int64_t v;
  if (PyLong_CheckExact(o)) {
    if (!exact_int(o, 1, INT64_MAX, v)) Py_RETURN_NONE;
    for (int a = 3 - dims; a < 3; ++a) ps.out[a] = v;
  } else if (PyTuple_CheckExact(o) && PyTuple_GET_SIZE(o) == dims) {
    for (int j = 0; j < dims; ++j) {
      PyObject* e = PyTuple_GET_ITEM(o, j);
      const int a = 3 - dims + j;
      if (e == Py_None && dims > 1)
        ps.out[a] = ps.in[a];
      else if (exact_int(e, 1, INT64_MAX, v))
        ps.out[a] = v;
      else
        Py_RETURN_NONE;
    }
  } else {
    Py_RETURN_NONE;
  }
  int64_t total = ps.planes;
  for (int a = 0; a < 3; ++a)
    if (__builtin_mul_overflow(total, ps.out[a], &total) || total > kMaxElements) Py_RETURN_NONE;
  const double work = (double)ps.planes * (double)ps.in_plane();
  return pooled(dt, args[1], ps, batched, lead, dims, is_max && with_indices, work,
                [&](const auto* xp, auto* yp, int64_t* ip) {
                  using T = std::remove_const_t<std::remove_pointer_t<decltype(xp)>>;
                  if (is_max)
                    fmaconv::adaptive_max_pool_forward<T>(ps, xp, yp, ip);
                  else
                    fmaconv::adaptive_avg_pool_forward<T>(ps, xp, yp);
                });
}

PyMethodDef methods[] = {
    {"conv_fast", (PyCFunction)(void (*)(void))conv_fast, METH_FASTCALL,
     "conv_fast(dims, input, weight, bias, stride, padding, dilation, groups, padding_mode): the result of the "
     "common case, or None for the Python layer to handle (private)."},
    {"max_pool_fast", (PyCFunction)(void (*)(void))max_pool_fast, METH_FASTCALL,
     "max_pool_fast(dims, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices): as conv_fast "
     "(private)."},
    {"avg_pool_fast", (PyCFunction)(void (*)(void))avg_pool_fast, METH_FASTCALL,
     "avg_pool_fast(dims, input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override): as "
     "conv_fast (private)."},
    {"adaptive_pool_fast", (PyCFunction)(void (*)(void))adaptive_pool_fast, METH_FASTCALL,
     "adaptive_pool_fast(dims, input, output_size, is_max, return_indices): as conv_fast (private)."},
    {nullptr, nullptr, 0, nullptr}};

}  // namespace fast

// ----------------------------------------------------------------------------- packed weights
// Private copies of a convolution's weights (and bias) with their packed layouts, kept for the
// life of the object. python/fmaconv/packed.py validates and copies; this holds and runs.
class PackedConvCore {
 public:
  PackedConvCore(py::array weight, py::object bias, int dims, py::handle stride, py::handle padding,
                 py::handle dilation, py::handle groups, py::handle padding_mode)
      : w_(std::move(weight)), b_(std::move(bias)) {
    const fast::Dtype dt = fast::plain_array(w_.ptr());
    if (dt == fast::kNone || w_.ndim() != dims + 2 || dims < 1 || dims > 3)
      throw py::value_error("fmaconv._core.PackedConv: weight must be a C-contiguous float array of ndim dims + 2");
    if (!b_.is_none() && (fast::plain_array(b_.ptr()) != dt || fast::ndim(b_.ptr()) != 1 ||
                          fast::dims_of(b_.ptr())[0] != w_.shape(0)))
      throw py::value_error("fmaconv._core.PackedConv: bad bias");
    f64_ = dt == fast::kF64;
    if (f64_)
      p64_ = std::make_unique<fmaconv::PackedWeights<double>>();
    else
      p32_ = std::make_unique<fmaconv::PackedWeights<float>>();
    // Geometry the fast path cannot take (e.g. a non-zero padding_mode) leaves every call to
    // the Python layer, which then runs conv() below.
    fast_ = fast::conv_geometry(dims, stride.ptr(), padding.ptr(), dilation.ptr(), groups.ptr(), padding_mode.ptr(),
                                geom_);
  }

  // The result for input x, or None (the caller runs the Python layer).
  py::object call(py::handle x) {
    if (!fast_) return py::none();
    PyObject* r = fast::conv(geom_, x.ptr(), w_.ptr(), b_.ptr(), p32_.get(), p64_.get());
    if (!r) throw py::error_already_set();
    return py::reinterpret_steal<py::object>(r);
  }

  // _core.conv with these weights (x prepared by the Python layer).
  py::array conv(const py::array& x, const I3& stride, const I3& pad, const I3& dil, int64_t groups, const I3& out) {
    const py::array w5 = w_.reshape(std::vector<py::ssize_t>{w_.shape(0), w_.shape(1), w_.ndim() > 4 ? w_.shape(2) : 1,
                                                             w_.ndim() > 3 ? w_.shape(w_.ndim() - 2) : 1,
                                                             w_.shape(w_.ndim() - 1)});
    return conv_impl(x, w5, b_, stride, pad, dil, groups, out, p32_.get(), p64_.get());
  }

  bool fast() const { return fast_; }

 private:
  py::array w_;
  py::object b_;
  bool f64_ = false, fast_ = false;
  fast::ConvGeom geom_;
  std::unique_ptr<fmaconv::PackedWeights<float>> p32_;
  std::unique_ptr<fmaconv::PackedWeights<double>> p64_;
};

py::array pad(const py::array& x, const std::array<int64_t, 6>& pads, int mode) {
  const bool f64 = is_f64(x);
  check_array(x, "input", f64);
  if (mode < 1 || mode > 3) throw py::value_error("fmaconv._core: bad padding mode");
  I3 in{x.shape(2), x.shape(3), x.shape(4)}, outs;
  for (int i = 0; i < 3; ++i) {
    if (pads[2 * i] < 0 || pads[2 * i + 1] < 0 || pads[2 * i] > INT32_MAX || pads[2 * i + 1] > INT32_MAX)
      throw py::value_error("fmaconv._core: bad padding");
    if (in[i] == 0 && (pads[2 * i] || pads[2 * i + 1])) throw py::value_error("fmaconv._core: cannot pad an empty axis");
    outs[i] = in[i] + pads[2 * i] + pads[2 * i + 1];
  }
  const int64_t planes = x.shape(0) * x.shape(1);
  auto run = [&](auto tag) -> py::array {
    using T = decltype(tag);
    auto y = new_array<T>(x.shape(0), x.shape(1), outs);
    const T* xp = static_cast<const T*>(x.data());
    T* yp = y.mutable_data();
    if (planes > 0 && in[0] * in[1] * in[2] > 0) {
      py::gil_scoped_release nogil;
      fmaconv::pad_forward<T>(planes, in.data(), pads.data(), static_cast<fmaconv::PadMode>(mode), xp, yp);
    }
    return y;
  };
  return f64 ? run(double{}) : run(float{});
}

// The window pooling ops' checks, then their shape.
PoolShape checked_pool_shape(const py::array& x, bool f64, const I3& k, const I3& s, const I3& p, const I3& d,
                             const I3& out) {
  check_array(x, "input", f64);
  check_positive(k, "kernel_size", 1);
  check_positive(s, "stride", 1);
  check_positive(d, "dilation", 1);
  check_positive(p, "padding", 0);
  check_positive(out, "output size", 0, INT64_MAX);
  return pool_shape(x, k, s, p, d, out);
}

py::object max_pool(const py::array& x, const I3& k, const I3& s, const I3& p, const I3& d, const I3& out,
                    bool return_indices) {
  const bool f64 = is_f64(x);
  const PoolShape ps = checked_pool_shape(x, f64, k, s, p, d, out);
  const bool work = ps.planes > 0 && ps.out_plane() > 0;
  auto run = [&](auto tag) {
    using T = decltype(tag);
    return pooled<T>(x, out, return_indices, work,
                     [&](const T* xp, T* yp, int64_t* ip) { fmaconv::max_pool_forward<T>(ps, xp, yp, ip); });
  };
  return f64 ? run(double{}) : run(float{});
}

py::object avg_pool(const py::array& x, const I3& k, const I3& s, const I3& p, const I3& out, bool count_include_pad,
                    int64_t divisor_override) {
  const bool f64 = is_f64(x);
  const PoolShape ps = checked_pool_shape(x, f64, k, s, p, I3{1, 1, 1}, out);
  const bool work = ps.planes > 0 && ps.out_plane() > 0;
  auto run = [&](auto tag) {
    using T = decltype(tag);
    return pooled<T>(x, out, false, work, [&](const T* xp, T* yp, int64_t*) {
      fmaconv::avg_pool_forward<T>(ps, xp, yp, count_include_pad, divisor_override);
    });
  };
  return f64 ? run(double{}) : run(float{});
}

py::object adaptive_pool(const py::array& x, const I3& out, bool is_max, bool return_indices) {
  const bool f64 = is_f64(x);
  check_array(x, "input", f64);
  check_positive(out, "output_size", 1, INT64_MAX);
  for (int i = 0; i < 3; ++i)
    if (x.shape(2 + i) < 1) throw py::value_error("fmaconv._core: empty spatial axis");
  const PoolShape ps = pool_shape(x, I3{1, 1, 1}, I3{1, 1, 1}, I3{0, 0, 0}, I3{1, 1, 1}, out);
  auto run = [&](auto tag) {
    using T = decltype(tag);
    return pooled<T>(x, out, return_indices, ps.planes > 0, [&](const T* xp, T* yp, int64_t* ip) {
      if (is_max)
        fmaconv::adaptive_max_pool_forward<T>(ps, xp, yp, ip);
      else
        fmaconv::adaptive_avg_pool_forward<T>(ps, xp, yp);
    });
  };
  return f64 ? run(double{}) : run(float{});
}

// ----------------------------------------------------------------------------- gradients
// The Python layer (python/fmaconv/grad.py) validates; these checks keep _core memory-safe.

ConvShape grad_conv_shape(int64_t N, int64_t C, int64_t K, int64_t groups, const I3& in, const I3& out, const I3& k,
                          const I3& stride, const I3& pad, const I3& dil) {
  check_positive(stride, "stride", 1);
  check_positive(dil, "dilation", 1);
  check_positive(pad, "padding", 0);
  check_positive(k, "kernel size", 1);
  check_positive(in, "input size", 0, INT64_MAX);
  check_positive(out, "output size", 0, INT64_MAX);
  if (groups <= 0 || C % groups || K % groups) throw py::value_error("fmaconv._core: inconsistent channels/groups");
  ConvShape s{};
  s.N = N;
  s.C = C;
  s.K = K;
  s.groups = groups;
  for (int i = 0; i < 3; ++i) {
    s.in[i] = in[i];
    s.out[i] = out[i];
    s.k[i] = k[i];
    s.s[i] = stride[i];
    s.p[i] = pad[i];
    s.d[i] = dil[i];
  }
  return s;
}

// grad_input (N, C, *in) of a zero-padded convolution from gy (N, K, *out) and w (K, C/groups, *k).
py::array conv_backward_input(const py::array& gy, const py::array& w, const I3& stride, const I3& pad,
                              const I3& dil, int64_t groups, const I3& in) {
  const bool f64 = is_f64(gy);
  check_array(gy, "grad_output", f64);
  check_array(w, "weight", f64);
  if (gy.shape(1) != w.shape(0)) throw py::value_error("fmaconv._core: grad_output channels do not match weight");
  const ConvShape s = grad_conv_shape(gy.shape(0), w.shape(1) * groups, w.shape(0), groups, in,
                                      I3{gy.shape(2), gy.shape(3), gy.shape(4)},
                                      I3{w.shape(2), w.shape(3), w.shape(4)}, stride, pad, dil);
  auto run = [&](auto tag) -> py::array {
    using T = decltype(tag);
    auto gx = new_array<T>(s.N, s.C, in);
    const T* gp = static_cast<const T*>(gy.data());
    const T* wp = static_cast<const T*>(w.data());
    T* xp = gx.mutable_data();
    py::gil_scoped_release nogil;
    fmaconv::conv_backward_input<T>(s, gp, wp, xp);
    return gx;
  };
  return f64 ? run(double{}) : run(float{});
}

// (grad_weight (K, C/groups, *k) or None, grad_bias (K,) or None) from x (N, C, *in), gy (N, K, *out).
py::tuple conv_backward_weight(const py::array& x, const py::array& gy, const I3& k, const I3& stride, const I3& pad,
                               const I3& dil, int64_t groups, bool want_w, bool want_b) {
  const bool f64 = is_f64(x);
  check_array(x, "input", f64);
  check_array(gy, "grad_output", f64);
  if (gy.shape(0) != x.shape(0)) throw py::value_error("fmaconv._core: batch sizes differ");
  const ConvShape s = grad_conv_shape(x.shape(0), x.shape(1), gy.shape(1), groups,
                                      I3{x.shape(2), x.shape(3), x.shape(4)},
                                      I3{gy.shape(2), gy.shape(3), gy.shape(4)}, k, stride, pad, dil);
  auto run = [&](auto tag) -> py::tuple {
    using T = decltype(tag);
    py::object gw = py::none(), gb = py::none();
    T* wp = nullptr;
    T* bp = nullptr;
    if (want_w) {
      auto a = new_array<T>(s.K, s.Cg(), k);
      wp = a.mutable_data();
      gw = a;
    }
    if (want_b) {
      auto a = py::array_t<T>(std::vector<py::ssize_t>{(py::ssize_t)s.K});
      bp = a.mutable_data();
      gb = a;
    }
    const T* xp = static_cast<const T*>(x.data());
    const T* gp = static_cast<const T*>(gy.data());
    {
      py::gil_scoped_release nogil;
      fmaconv::conv_backward_weight<T>(s, xp, gp, wp, bp);
    }
    return py::make_tuple(gw, gb);
  };
  return f64 ? run(double{}) : run(float{});
}

// Gradient of pad(): gy has the padded sizes; the result has in = padded - pads.
py::array pad_backward(const py::array& gy, const std::array<int64_t, 6>& pads, int mode) {
  const bool f64 = is_f64(gy);
  check_array(gy, "grad_output", f64);
  if (mode < 1 || mode > 3) throw py::value_error("fmaconv._core: bad padding mode");
  I3 in;
  for (int i = 0; i < 3; ++i) {
    if (pads[2 * i] < 0 || pads[2 * i + 1] < 0 || pads[2 * i] > INT32_MAX || pads[2 * i + 1] > INT32_MAX)
      throw py::value_error("fmaconv._core: bad padding");
    in[i] = gy.shape(2 + i) - pads[2 * i] - pads[2 * i + 1];
    if (in[i] < 1) throw py::value_error("fmaconv._core: padding exceeds the padded size");
    const int64_t lim = mode == 1 ? in[i] - 1 : in[i];  // reflect: pad < size, circular: pad <= size
    if (mode != 2 && (pads[2 * i] > lim || pads[2 * i + 1] > lim))
      throw py::value_error("fmaconv._core: padding too large for the mode");
  }
  const int64_t planes = gy.shape(0) * gy.shape(1);
  auto run = [&](auto tag) -> py::array {
    using T = decltype(tag);
    auto gx = new_array<T>(gy.shape(0), gy.shape(1), in);
    const T* gp = static_cast<const T*>(gy.data());
    T* xp = gx.mutable_data();
    if (planes > 0) {
      py::gil_scoped_release nogil;
      fmaconv::pad_backward<T>(planes, in.data(), pads.data(), static_cast<fmaconv::PadMode>(mode), gp, xp);
    }
    return gx;
  };
  return f64 ? run(double{}) : run(float{});
}

template <typename F>
py::array pool_grad(const py::array& gy, const I3& in, const F& compute) {
  const bool f64 = is_f64(gy);
  check_array(gy, "grad_output", f64);
  check_positive(in, "input size", 1, INT64_MAX);
  auto run = [&](auto tag) -> py::array {
    using T = decltype(tag);
    auto gx = new_array<T>(gy.shape(0), gy.shape(1), in);
    const T* gp = static_cast<const T*>(gy.data());
    T* xp = gx.mutable_data();
    if (gy.shape(0) * gy.shape(1) > 0) {
      py::gil_scoped_release nogil;
      compute(gp, xp);
    }
    return gx;
  };
  return f64 ? run(double{}) : run(float{});
}

py::array max_pool_backward(const py::array& gy, const py::array& idx, const I3& in) {
  if (!py::isinstance<py::array_t<int64_t>>(idx)) throw py::type_error("fmaconv._core: indices must be int64");
  const auto flags = py::detail::array_proxy(idx.ptr())->flags;
  if (idx.ndim() != 5 || !(flags & py::detail::npy_api::NPY_ARRAY_C_CONTIGUOUS_) ||
      !(flags & py::detail::npy_api::NPY_ARRAY_ALIGNED_))
    throw py::value_error("fmaconv._core: indices must be 5-D, C-contiguous and aligned");
  for (int i = 0; i < 5; ++i)
    if (idx.shape(i) != gy.shape(i)) throw py::value_error("fmaconv._core: indices shape differs from grad_output");
  const int64_t planes = gy.shape(0) * gy.shape(1);
  const I3 out{gy.shape(2), gy.shape(3), gy.shape(4)};
  const int64_t* ip = static_cast<const int64_t*>(idx.data());
  return pool_grad(gy, in, [&](const auto* gp, auto* xp) {
    using T = std::remove_const_t<std::remove_pointer_t<decltype(gp)>>;
    fmaconv::max_pool_backward<T>(planes, in.data(), out.data(), gp, ip, xp);
  });
}

py::array avg_pool_backward(const py::array& gy, const I3& in, const I3& k, const I3& s, const I3& p,
                            bool count_include_pad, int64_t divisor_override) {
  check_positive(k, "kernel_size", 1);
  check_positive(s, "stride", 1);
  check_positive(p, "padding", 0);
  PoolShape ps{};
  ps.planes = gy.shape(0) * gy.shape(1);
  for (int i = 0; i < 3; ++i) {
    ps.in[i] = in[i];
    ps.out[i] = gy.ndim() == 5 ? gy.shape(2 + i) : 0;
    ps.k[i] = k[i];
    ps.s[i] = s[i];
    ps.p[i] = p[i];
    ps.d[i] = 1;
    if (2 * p[i] > k[i]) throw py::value_error("fmaconv._core: padding more than half the kernel");
  }
  return pool_grad(gy, in, [&](const auto* gp, auto* xp) {
    using T = std::remove_const_t<std::remove_pointer_t<decltype(gp)>>;
    fmaconv::avg_pool_backward<T>(ps, gp, xp, count_include_pad, divisor_override);
  });
}

py::array adaptive_avg_pool_backward(const py::array& gy, const I3& in) {
  PoolShape ps{};
  ps.planes = gy.shape(0) * gy.shape(1);
  for (int i = 0; i < 3; ++i) {
    ps.in[i] = in[i];
    ps.out[i] = gy.ndim() == 5 ? gy.shape(2 + i) : 0;
    ps.k[i] = ps.s[i] = ps.d[i] = 1;
    if (ps.out[i] < 1) throw py::value_error("fmaconv._core: empty output axis");
  }
  return pool_grad(gy, in, [&](const auto* gp, auto* xp) {
    using T = std::remove_const_t<std::remove_pointer_t<decltype(gp)>>;
    fmaconv::adaptive_avg_pool_backward<T>(ps, gp, xp);
  });
}

std::string compiler_string() {
#if defined(__clang__)
  return std::string("clang ") + __clang_version__;
#elif defined(__GNUC__)
  return std::string("gcc ") + __VERSION__;
#elif defined(_MSC_VER)
  return "msvc " + std::to_string(_MSC_VER);
#else
  return "unknown";
#endif
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "fmaconv compiled core (private; use the fmaconv package)";
  m.attr("__version__") = FMACONV_VERSION;
  m.def("conv", &conv, py::arg("x"), py::arg("w"), py::arg("bias"), py::arg("stride"), py::arg("padding"),
        py::arg("dilation"), py::arg("groups"), py::arg("out"));
  if (PyModule_AddFunctions(m.ptr(), fast::methods) != 0) throw py::error_already_set();
  py::class_<PackedConvCore>(m, "PackedConv", "Packed convolution weights (private; use fmaconv.PackedConv)")
      .def(py::init<py::array, py::object, int, py::handle, py::handle, py::handle, py::handle, py::handle>(),
           py::arg("weight"), py::arg("bias"), py::arg("dims"), py::arg("stride"), py::arg("padding"),
           py::arg("dilation"), py::arg("groups"), py::arg("padding_mode"))
      .def("__call__", &PackedConvCore::call, py::arg("x"))
      .def("conv", &PackedConvCore::conv, py::arg("x"), py::arg("stride"), py::arg("padding"), py::arg("dilation"),
           py::arg("groups"), py::arg("out"))
      .def_property_readonly("fast", &PackedConvCore::fast);
  m.def("pad", &pad, py::arg("x"), py::arg("pads"), py::arg("mode"));
  m.def("max_pool", &max_pool, py::arg("x"), py::arg("kernel"), py::arg("stride"), py::arg("padding"),
        py::arg("dilation"), py::arg("out"), py::arg("return_indices"));
  m.def("avg_pool", &avg_pool, py::arg("x"), py::arg("kernel"), py::arg("stride"), py::arg("padding"), py::arg("out"),
        py::arg("count_include_pad"), py::arg("divisor_override"));
  m.def("adaptive_avg_pool",
        [](const py::array& x, const I3& out) { return adaptive_pool(x, out, false, false); }, py::arg("x"),
        py::arg("out"));
  m.def("adaptive_max_pool",
        [](const py::array& x, const I3& out, bool ri) { return adaptive_pool(x, out, true, ri); }, py::arg("x"),
        py::arg("out"), py::arg("return_indices"));
  m.def("conv_backward_input", &conv_backward_input, py::arg("grad_output"), py::arg("weight"), py::arg("stride"),
        py::arg("padding"), py::arg("dilation"), py::arg("groups"), py::arg("input_size"));
  m.def("conv_backward_weight", &conv_backward_weight, py::arg("x"), py::arg("grad_output"), py::arg("kernel"),
        py::arg("stride"), py::arg("padding"), py::arg("dilation"), py::arg("groups"), py::arg("want_weight"),
        py::arg("want_bias"));
  m.def("pad_backward", &pad_backward, py::arg("grad_output"), py::arg("pads"), py::arg("mode"));
  m.def("max_pool_backward", &max_pool_backward, py::arg("grad_output"), py::arg("indices"), py::arg("input_size"));
  m.def("avg_pool_backward", &avg_pool_backward, py::arg("grad_output"), py::arg("input_size"), py::arg("kernel"),
        py::arg("stride"), py::arg("padding"), py::arg("count_include_pad"), py::arg("divisor_override"));
  m.def("adaptive_avg_pool_backward", &adaptive_avg_pool_backward, py::arg("grad_output"), py::arg("input_size"));
  m.def("set_num_threads", [](int n) {
    if (n < 1 || n > 4096)
      throw py::value_error("set_num_threads: n must be between 1 and 4096, got " + std::to_string(n));
    py::gil_scoped_release nogil;
    fmaconv::set_num_threads(n);
  });
  m.def("get_num_threads", &fmaconv::get_num_threads);
  m.def("default_num_threads", &fmaconv::default_num_threads);
  m.def(
      "peak_gflops",
      [](const std::string& dtype, int threads) {
        if (dtype != "float32" && dtype != "float64")
          throw py::value_error("peak_gflops: dtype must be 'float32' or 'float64', got '" + dtype + "'");
        if (threads < 0) throw py::value_error("peak_gflops: threads must be >= 0");
        py::gil_scoped_release nogil;
        return fmaconv::peak_gflops(dtype == "float64", threads);
      },
      py::arg("dtype") = "float32", py::arg("threads") = 0);
  // Testing hook for the thread pool: runs n_tasks tasks of about task_us microseconds each
  // (the one numbered fail_at throws) and returns how often each ran and which thread ran it.
  m.def(
      "_pool_run",
      [](int64_t n_tasks, int64_t fail_at, double task_us) {
        if (n_tasks < 0 || n_tasks > (1 << 20))
          throw py::value_error("_pool_run: n_tasks must be in [0, 2**20], got " + std::to_string(n_tasks));
        std::vector<std::atomic<int>> runs((size_t)n_tasks);
        std::vector<uint64_t> who((size_t)n_tasks);
        {
          py::gil_scoped_release nogil;
          fmaconv::parallel_for(n_tasks, [&](int64_t t) {
            if (t == fail_at) throw std::runtime_error("task " + std::to_string(t) + " failed");
            const auto t0 = std::chrono::steady_clock::now();
            while (std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() < task_us) {
            }
            runs[(size_t)t].fetch_add(1);
            who[(size_t)t] = (uint64_t)std::hash<std::thread::id>()(std::this_thread::get_id());
          });
        }
        std::vector<int> counts(runs.size());
        for (size_t i = 0; i < runs.size(); ++i) counts[i] = runs[i].load();
        return py::make_tuple(counts, who);
      },
      py::arg("n_tasks"), py::arg("fail_at") = -1, py::arg("task_us") = 0.0);
  m.def("config", [] {
    py::dict d;
    d["version"] = FMACONV_VERSION;
    d["compiler"] = compiler_string();
    d["isa"] = fmaconv::isa_name(fmaconv::isa_selected());
    py::list avail;
    for (auto isa : fmaconv::isa_available()) avail.append(fmaconv::isa_name(isa));
    d["isa_available"] = avail;
    d["isa_warning"] = fmaconv::isa_override_warning();
    d["threads"] = fmaconv::get_num_threads();
    d["conv_tiles"] = fmaconv::conv_tile_names();
    return d;
  });
}
