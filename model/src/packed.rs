//! oneDNN convolutions on weights packed once, with the activation fused.
//!
//! libtorch's plain `conv2d` on the CPU re-blocks the weight into oneDNN's
//! layout on every call: for a unet_256 with 64 filters that is 218 MB of
//! weights copied per frame. PyTorch's Inductor avoids it for frozen models
//! with two operators that libtorch registers (but exports no C++ function
//! for): `mkldnn::_reorder_convolution[_transpose]_weight` blocks a weight once
//! for a given input shape, and `mkldnn::_convolution[_transpose]_pointwise`
//! convolves with it, an activation applied as a oneDNN post-op. These are the
//! thin, checked wrappers over them (`csrc/ops.cpp` calls the dispatcher).

use std::ffi::CStr;

use tch::Tensor;

use crate::layers::LEAKY_SLOPE;
use crate::shim;

/// The activation fused after a packed convolution.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PostOp {
    None,
    Relu,
    /// pix2pix's LeakyReLU, negative slope [`LEAKY_SLOPE`].
    LeakyRelu,
    Tanh,
}

impl PostOp {
    /// oneDNN's name for it (as `mkldnn::_convolution_pointwise` takes it).
    fn attr(self) -> &'static CStr {
        match self {
            PostOp::None => c"none",
            PostOp::Relu => c"relu",
            PostOp::LeakyRelu => c"leaky_relu",
            PostOp::Tanh => c"tanh",
        }
    }

    /// The same activation as separate tensor ops (for layers that cannot fuse it).
    pub fn apply(self, mut y: Tensor) -> Tensor {
        match self {
            PostOp::None => y,
            PostOp::Relu => {
                let _ = y.relu_();
                y
            }
            PostOp::LeakyRelu => crate::layers::leaky_relu(&y),
            PostOp::Tanh => {
                let _ = y.tanh_();
                y
            }
        }
    }
}

/// The geometry of one convolution (pix2pix's 4x4 ones are all stride 2, padding 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvGeometry {
    pub transposed: bool,
    pub stride: i64,
    pub padding: i64,
}

/// `w` (float or bfloat16, `[out, in, k, k]`, or `[in, out, k, k]` when
/// transposed) blocked in oneDNN's layout for inputs of shape `input_size`
/// (N, C, H, W). The result is an opaque oneDNN tensor for [`conv_pointwise`].
pub fn pack_weight(w: &Tensor, geo: ConvGeometry, input_size: [i64; 4]) -> Result<Tensor, String> {
    let w = w.contiguous();
    // SAFETY: a live tensor handle and 4 readable i64s.
    unsafe {
        shim::call("packing a convolution weight", |err, len| {
            shim::pix2pix_pack_conv_weight(
                w.as_ptr(),
                geo.transposed as i32,
                geo.stride,
                geo.padding,
                input_size.as_ptr(),
                err,
                len,
            )
        })
    }
}

/// The convolution of `x` (NCHW sizes, best in channels-last memory) with a
/// weight from [`pack_weight`], then `post`.
pub fn conv_pointwise(
    x: &Tensor,
    packed: &Tensor,
    bias: Option<&Tensor>,
    geo: ConvGeometry,
    post: PostOp,
) -> Result<Tensor, String> {
    // SAFETY: live tensor handles (the bias may be null) and a NUL-terminated name.
    unsafe {
        shim::call("packed convolution", |err, len| {
            shim::pix2pix_conv_pointwise(
                x.as_ptr(),
                packed.as_ptr(),
                bias.map_or(std::ptr::null(), |b| b.as_ptr()),
                geo.transposed as i32,
                geo.stride,
                geo.padding,
                post.attr().as_ptr(),
                LEAKY_SLOPE,
                err,
                len,
            )
        })
    }
}
