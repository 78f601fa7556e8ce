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

use std::ffi::{c_char, CString};

use tch::Tensor;
use torch_sys::C_tensor;

mod ffi {
    use super::*;

    // csrc/ops.cpp, built by build.rs.
    extern "C" {
        pub fn pix2pix_pack_conv_weight(
            w: *const C_tensor,
            transposed: i32,
            stride: i64,
            padding: i64,
            input_size: *const i64,
            err: *mut c_char,
            err_len: usize,
        ) -> *mut C_tensor;
        #[allow(clippy::too_many_arguments)]
        pub fn pix2pix_conv_pointwise(
            x: *const C_tensor,
            w: *const C_tensor,
            bias: *const C_tensor,
            transposed: i32,
            stride: i64,
            padding: i64,
            attr: *const c_char,
            alpha: f64,
            err: *mut c_char,
            err_len: usize,
        ) -> *mut C_tensor;
    }
}

/// The activation fused after a packed convolution.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PostOp {
    None,
    Relu,
    /// LeakyReLU with this negative slope.
    LeakyRelu(f64),
    Tanh,
}

impl PostOp {
    fn attr(self) -> (&'static str, f64) {
        match self {
            PostOp::None => ("none", 0.0),
            PostOp::Relu => ("relu", 0.0),
            PostOp::LeakyRelu(a) => ("leaky_relu", a),
            PostOp::Tanh => ("tanh", 0.0),
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
            PostOp::LeakyRelu(a) => {
                if a == crate::layers::LEAKY_SLOPE {
                    crate::layers::leaky_relu(&y)
                } else {
                    y.maximum(&(&y * a))
                }
            }
            PostOp::Tanh => {
                let _ = y.tanh_();
                y
            }
        }
    }
}

/// The geometry of one convolution: pix2pix's are all 4x4, stride 2, padding 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvGeometry {
    pub transposed: bool,
    pub stride: i64,
    pub padding: i64,
}

fn checked(out: *mut C_tensor, err: &[u8], what: &str) -> Result<Tensor, String> {
    if out.is_null() {
        let end = err.iter().position(|&b| b == 0).unwrap_or(err.len());
        let msg = String::from_utf8_lossy(&err[..end]);
        let first = msg.lines().next().unwrap_or("").to_string();
        return Err(format!("{what}: {first}"));
    }
    // SAFETY: a fresh, non-null handle from `new at::Tensor`, owned from here on.
    Ok(unsafe { Tensor::from_ptr(out) })
}

/// `w` (float or bfloat16, `[out, in, k, k]`, or `[in, out, k, k]` when
/// transposed) blocked in oneDNN's layout for inputs of shape `input_size`
/// (N, C, H, W). The result is an opaque oneDNN tensor for [`conv_pointwise`].
pub fn pack_weight(w: &Tensor, geo: ConvGeometry, input_size: [i64; 4]) -> Result<Tensor, String> {
    let w = w.contiguous();
    let mut err = [0u8; 512];
    // SAFETY: live tensor handle, 4 readable i64s; the result is a new handle or null.
    let out = unsafe {
        ffi::pix2pix_pack_conv_weight(
            w.as_ptr(),
            geo.transposed as i32,
            geo.stride,
            geo.padding,
            input_size.as_ptr(),
            err.as_mut_ptr().cast(),
            err.len(),
        )
    };
    checked(out, &err, "packing a convolution weight")
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
    let (attr, alpha) = post.attr();
    let attr = CString::new(attr).expect("no NUL in a post-op name");
    let mut err = [0u8; 512];
    // SAFETY: live tensor handles (bias may be null), a NUL-terminated string;
    // the result is a new handle or null.
    let out = unsafe {
        ffi::pix2pix_conv_pointwise(
            x.as_ptr(),
            packed.as_ptr(),
            bias.map_or(std::ptr::null(), |b| b.as_ptr()),
            geo.transposed as i32,
            geo.stride,
            geo.padding,
            attr.as_ptr(),
            alpha,
            err.as_mut_ptr().cast(),
            err.len(),
        )
    };
    checked(out, &err, "packed convolution")
}
