//! The Rust side of `csrc/ops.cpp` (built by `build.rs`): libtorch operators
//! that tch's bindings cannot call with the arguments pix2pix needs.
//!
//! Handles are tch's (a `C_tensor*` is an `at::Tensor*`). Every function
//! returns a new tensor handle, or null with the C++ exception's message
//! written into `err`; [`call`] turns that into a `Result`.

use std::ffi::c_char;

use tch::Tensor;
use torch_sys::C_tensor;

extern "C" {
    pub fn pix2pix_leaky_relu(
        x: *const C_tensor,
        slope: f64,
        err: *mut c_char,
        err_len: usize,
    ) -> *mut C_tensor;
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

/// Runs one shim function, handing it an error buffer: its tensor, or
/// `"{what}: "` and the first line of the C++ error (ATen appends a backtrace).
///
/// # Safety
/// `f` must call a shim function with live handles and the buffer it is given,
/// so that it returns null or a fresh `new at::Tensor` handle.
pub unsafe fn call(
    what: &str,
    f: impl FnOnce(*mut c_char, usize) -> *mut C_tensor,
) -> Result<Tensor, String> {
    let mut err = [0u8; 512];
    let out = f(err.as_mut_ptr().cast(), err.len());
    if out.is_null() {
        let end = err.iter().position(|&b| b == 0).unwrap_or(err.len());
        let msg = String::from_utf8_lossy(&err[..end]);
        return Err(format!("{what}: {}", msg.lines().next().unwrap_or("")));
    }
    // SAFETY: a fresh, non-null handle (the caller's promise), owned from here on.
    Ok(unsafe { Tensor::from_ptr(out) })
}
