// pybind11 only: NumPy buffers in and out, GIL release, errors to Python exceptions.
// The public API (python/fmaconv/functional.py) validates arguments and reshapes every
// op to 3 spatial axes; the checks here only keep a direct caller of _core memory-safe.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <climits>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "ops/ops.h"
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

template <typename T>
py::array_t<T> new_array(int64_t n, int64_t c, const I3& sp) {
  return py::array_t<T>(std::vector<py::ssize_t>{(py::ssize_t)n, (py::ssize_t)c, (py::ssize_t)sp[0],
                                                 (py::ssize_t)sp[1], (py::ssize_t)sp[2]});
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

py::array conv(const py::array& x, const py::array& w, const py::object& bias, const I3& stride, const I3& pad,
               const I3& dil, int64_t groups, const I3& out) {
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
  auto run = [&](auto tag) -> py::array {
    using T = decltype(tag);
    auto y = new_array<T>(s.N, s.K, out);
    const T* bp = has_bias ? static_cast<const T*>(b.data()) : nullptr;
    const T* xp = static_cast<const T*>(x.data());
    const T* wp = static_cast<const T*>(w.data());
    T* yp = y.mutable_data();
    py::gil_scoped_release nogil;
    fmaconv::conv_forward<T>(s, xp, wp, bp, yp);
    return y;
  };
  return f64 ? run(double{}) : run(float{});
}

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
