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
void set_error(char *err, size_t len, const char *msg) {
  if (err != nullptr && len > 0) std::snprintf(err, len, "%s", msg);
}
}  // namespace

extern "C" at::Tensor *pix2pix_leaky_relu(const at::Tensor *x, double slope, char *err,
                                          size_t err_len) {
  try {
    return new at::Tensor(at::leaky_relu(*x, slope));
  } catch (const std::exception &e) {
    set_error(err, err_len, e.what());
  } catch (...) {
    set_error(err, err_len, "unknown C++ exception in leaky_relu");
  }
  return nullptr;
}
