// libtorch ops that tch's generated bindings cannot reach because they drop
// scalar arguments that have defaults: `leaky_relu(x, negative_slope)` is bound
// with its default slope 0.01 only, and pix2pix needs 0.2. Calling the ATen op
// keeps autograd (its backward is libtorch's fused leaky_relu_backward) and
// every device.
//
// Handles are tch's: a `C_tensor*` is an `at::Tensor*`. Errors (a C++
// exception) come back as a null result and a message in `err`.
#include <ATen/core/Tensor.h>
#include <ATen/ops/leaky_relu.h>

#include <cstddef>
#include <cstdio>
#include <exception>

namespace {
// Runs `f` (which returns an at::Tensor) and hands its result to Rust as a new
// handle, or returns null with the exception's message in `err`.
template <typename F>
at::Tensor *guarded(char *err, size_t len, const char *what, F f) {
  try {
    return new at::Tensor(f());
  } catch (const std::exception &e) {
    if (err != nullptr && len > 0) std::snprintf(err, len, "%s", e.what());
  } catch (...) {
    if (err != nullptr && len > 0) std::snprintf(err, len, "unknown C++ exception in %s", what);
  }
  return nullptr;
}
}  // namespace

extern "C" at::Tensor *pix2pix_leaky_relu(const at::Tensor *x, double slope, char *err,
                                          size_t err_len) {
  return guarded(err, err_len, "leaky_relu", [&] { return at::leaky_relu(*x, slope); });
}

// oneDNN convolutions with weights packed once (what PyTorch's Inductor does
// for frozen CPU models): `mkldnn::_reorder_convolution[_transpose]_weight`
// blocks a weight for one input shape, and `mkldnn::_convolution[_transpose]_
// pointwise` runs the convolution on it with an activation fused as a post-op.
// libtorch registers these operators but exports no C++ function for them, so
// they are called through the dispatcher, boxed.
#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/core/ivalue.h>
#include <ATen/core/stack.h>

#include <string>
#include <vector>

namespace {
enum MkldnnOp { kReorder, kReorderTransposed, kConv, kConvTransposed };

// Looked up on first use (a libtorch built without oneDNN throws here, and the
// caller falls back); the registry entries live as long as libtorch.
const c10::OperatorHandle &mkldnn_op(MkldnnOp which) {
  static const std::vector<c10::OperatorHandle> ops = [] {
    auto &d = c10::Dispatcher::singleton();
    return std::vector<c10::OperatorHandle>{
        d.findSchemaOrThrow("mkldnn::_reorder_convolution_weight", ""),
        d.findSchemaOrThrow("mkldnn::_reorder_convolution_transpose_weight", ""),
        d.findSchemaOrThrow("mkldnn::_convolution_pointwise", ""),
        d.findSchemaOrThrow("mkldnn::_convolution_transpose_pointwise", ""),
    };
  }();
  return ops[which];
}

std::vector<int64_t> pair(int64_t v) { return {v, v}; }

// The geometry arguments both operator families take after their tensors:
// padding, (output_padding for a transposed conv,) stride, dilation, groups.
void push_geometry(torch::jit::Stack &s, bool transposed, int64_t stride, int64_t padding) {
  s.emplace_back(pair(padding));
  if (transposed) s.emplace_back(pair(0));  // output_padding
  s.emplace_back(pair(stride));
  s.emplace_back(pair(1));     // dilation
  s.emplace_back(int64_t{1});  // groups
}

// Calls `op` on the stack and takes its one result.
at::Tensor call(MkldnnOp op, torch::jit::Stack &s) {
  mkldnn_op(op).callBoxed(&s);
  return s.at(0).toTensor();
}
}  // namespace

// Packs `w` (a conv weight [out, in, kh, kw], or a transposed one [in, out,
// kh, kw]) for inputs of shape `input_size` (N, C, H, W).
extern "C" at::Tensor *pix2pix_pack_conv_weight(const at::Tensor *w, int transposed,
                                                int64_t stride, int64_t padding,
                                                const int64_t *input_size, char *err,
                                                size_t err_len) {
  return guarded(err, err_len, "packing a convolution weight", [&] {
    torch::jit::Stack s;
    s.emplace_back(*w);
    push_geometry(s, transposed, stride, padding);
    s.emplace_back(std::vector<int64_t>(input_size, input_size + 4));
    return call(transposed ? kReorderTransposed : kReorder, s);
  });
}

// The convolution of `x` with a packed weight and optional bias, followed by
// `attr` ("none", "relu", "leaky_relu" with slope `alpha`, "tanh").
extern "C" at::Tensor *pix2pix_conv_pointwise(const at::Tensor *x, const at::Tensor *w,
                                              const at::Tensor *bias, int transposed,
                                              int64_t stride, int64_t padding,
                                              const char *attr, double alpha, char *err,
                                              size_t err_len) {
  return guarded(err, err_len, "a packed convolution", [&] {
    const std::string a(attr);
    torch::jit::Stack s;
    s.emplace_back(*x);
    s.emplace_back(*w);
    s.emplace_back(bias != nullptr ? c10::IValue(*bias) : c10::IValue());
    push_geometry(s, transposed, stride, padding);
    s.emplace_back(a);
    c10::List<std::optional<c10::Scalar>> scalars;
    scalars.push_back(a == "leaky_relu" ? std::optional<c10::Scalar>(alpha) : std::nullopt);
    s.emplace_back(scalars);
    s.emplace_back(std::string());  // algorithm
    return call(transposed ? kConvTransposed : kConv, s);
  });
}
