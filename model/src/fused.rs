//! An inference-only form of the U-Net for eval mode: BatchNorm folded into
//! the convolutions, activations in channels-last memory layout (what oneDNN
//! computes on without reordering), single-kernel activations.
//! Numerically it is the same network as [`UnetGenerator`] in
//! [`Mode::Eval`](crate::Mode::Eval) (to float rounding).
//!
//! On the CPU it runs on oneDNN weights packed once per input shape
//! ([`crate::packed`]), with each activation fused into the convolution before
//! it. Where that path fails (a libtorch without oneDNN, a precision its
//! kernels lack) it is switched off for the model, with the reason kept, and
//! the plain folded convolutions run instead.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};

use tch::{Device, Kind, Tensor};

use crate::layers::{leaky_relu, Conv, Mode, NormLayer};
use crate::packed::{self, ConvGeometry, PostOp};
use crate::unet::{BlockView, UnetGenerator};

/// `x` with channels-last strides (same sizes, NHWC in memory).
pub fn channels_last(x: &Tensor) -> Tensor {
    if x.dim() != 4 {
        return x.shallow_clone();
    }
    x.permute([0, 2, 3, 1]).contiguous().permute([0, 3, 1, 2])
}

/// Inputs of at most this many pixels run a transposed convolution in its
/// sub-pixel form (see [`phase_weights`]) on the CPU.
pub const SUBPIXEL_MAX_PIXELS: i64 = 64;

/// The 4x4, stride-2, padding-1 transposed convolution of weight `w`
/// (`[in, out, 4, 4]`) as four 2x2 stride-1 convolutions, one per output phase
/// (row parity a, column parity b), stacked as `[4 * out, in, 2, 2]`.
///
/// Output pixel (2m + a, 2n + b) only sees input rows m - 1 + a .. m + a and
/// columns n - 1 + b .. n + b, through kernel rows 3, 1 (a = 0) or 2, 0 (a = 1)
/// and the same for columns. On small inputs (the U-Net's innermost blocks, where
/// the work is reading 8-33 MB of weights for a few pixels) libtorch's CPU
/// transposed convolution is 5-20x slower than these plain convolutions.
pub fn phase_weights(w: &Tensor) -> Tensor {
    let taps = |parity: i64| {
        let idx: [i64; 2] = if parity == 0 { [3, 1] } else { [2, 0] };
        Tensor::from_slice(&idx).to_device(w.device())
    };
    let mut phases = Vec::with_capacity(4);
    for a in 0..2 {
        for b in 0..2 {
            let k = w.index_select(2, &taps(a)).index_select(3, &taps(b));
            phases.push(k.permute([1, 0, 2, 3]));
        }
    }
    Tensor::cat(&phases, 0).contiguous()
}

/// [`phase_weights`]' convolutions on `x` (NCHW, any layout): the transposed
/// convolution's output, in channels-last layout.
pub fn subpixel_conv_transpose(x: &Tensor, phases: &Tensor, bias: Option<&Tensor>) -> Tensor {
    let (n, h, w) = (x.size()[0], x.size()[2], x.size()[3]);
    let cout = phases.size()[0] / 4;
    let xp = x.constant_pad_nd([1, 1, 1, 1]);
    let mut outs = Vec::with_capacity(4);
    for a in 0..2 {
        for b in 0..2 {
            let i = 2 * a + b;
            let win = xp.narrow(2, a, h + 1).narrow(3, b, w + 1);
            let k = phases.narrow(0, i * cout, cout);
            outs.push(win.conv2d(&k, bias, [1, 1], [0, 0], [1, 1], 1));
        }
    }
    // [N, C, 4, H, W] -> [N, H, a, W, b, C] -> NCHW view of NHWC memory.
    Tensor::stack(&outs, 2)
        .view([n, cout, 2, 2, h, w])
        .permute([0, 4, 2, 5, 3, 1])
        .contiguous()
        .view([n, 2 * h, 2 * w, cout])
        .permute([0, 3, 1, 2])
}

struct FConv {
    /// The convolution's own weight (sharing the model's storage: no copy is
    /// kept) and the per-output-channel BatchNorm scale folded into it when a
    /// folded weight is made.
    raw_weight: Tensor,
    scale: Option<Tensor>,
    /// The folded weight in channels-last layout for the plain path, made on
    /// its first use (never, while the packed path works).
    plain_weight: OnceLock<Tensor>,
    /// The compute precision.
    kind: Kind,
    bias: Option<Tensor>,
    /// Transposed or not, stride and padding: the model's own.
    geometry: ConvGeometry,
    /// Sub-pixel form of a transposed convolution's weight, made on the first
    /// small input on the CPU (only the innermost blocks ever need it).
    phases: OnceLock<Tensor>,
    /// Instance norm after the conv (cannot be folded).
    instance_norm: bool,
    /// The weight packed by oneDNN for the last input shape it saw.
    packed: Mutex<Option<([i64; 4], Tensor)>>,
    /// For a transposed convolution with few output channels (the last layer,
    /// 128 -> 3: oneDNN's kernels run it at an eighth of their speed), its
    /// weight as a 1x1 convolution to `out * 4 * 4` channels, whose output
    /// col2im sums into the transposed convolution's.
    col2im_weight: Option<Tensor>,
}

/// Transposed convolutions with fewer output channels than this run as a 1x1
/// convolution and col2im on the packed path.
const COL2IM_MAX_CHANNELS: i64 = 16;

impl FConv {
    fn new(conv: &Conv, norm: Option<&NormLayer>, kind: Kind) -> FConv {
        let raw_weight = conv.weight.detach();
        let b = conv.bias.as_ref().map(|b| b.detach().to_kind(Kind::Float));
        let (scale, bias, instance_norm) = match norm.and_then(|n| n.eval_affine()) {
            Some((scale, shift)) => {
                // Output channels are dim 0 of a conv weight, dim 1 of a transposed one.
                let shape: [i64; 4] = if conv.transposed {
                    [1, -1, 1, 1]
                } else {
                    [-1, 1, 1, 1]
                };
                let b = match &b {
                    Some(b) => b * &scale + &shift,
                    None => shift,
                };
                (Some(scale.to_kind(Kind::Float).view(shape)), Some(b), false)
            }
            None => (None, b, matches!(norm, Some(NormLayer::Instance))),
        };
        let mut f = FConv {
            raw_weight,
            scale,
            plain_weight: OnceLock::new(),
            kind,
            bias: bias.map(|b| b.to_kind(kind)),
            geometry: ConvGeometry {
                transposed: conv.transposed,
                stride: conv.stride,
                padding: conv.padding,
            },
            phases: OnceLock::new(),
            instance_norm,
            packed: Mutex::new(None),
            col2im_weight: None,
        };
        let s = f.raw_weight.size();
        if conv.transposed && s[1] < COL2IM_MAX_CHANNELS {
            // [in, out, kh, kw] -> [(out, kh, kw), in, 1, 1], col2im's channel order.
            f.col2im_weight = Some(
                f.folded_weight()
                    .permute([1, 2, 3, 0])
                    .reshape([s[1] * s[2] * s[3], s[0], 1, 1])
                    .contiguous(),
            );
        }
        f
    }

    /// The weight with the BatchNorm scale folded in, contiguous, in the
    /// compute precision (made on demand: only packing and the plain path need it).
    fn folded_weight(&self) -> Tensor {
        let w = self.raw_weight.to_kind(Kind::Float);
        let w = match &self.scale {
            Some(s) => &w * s,
            None => w,
        };
        w.to_kind(self.kind).contiguous()
    }

    fn plain_weight(&self) -> &Tensor {
        self.plain_weight
            .get_or_init(|| channels_last(&self.folded_weight()))
    }

    /// The geometry of the convolution that runs on the packed weight: the
    /// 1x1 one when col2im completes it.
    fn packed_geometry(&self) -> ConvGeometry {
        match self.col2im_weight {
            Some(_) => ConvGeometry {
                transposed: false,
                stride: 1,
                padding: 0,
            },
            None => self.geometry,
        }
    }

    /// The convolution on the weight packed for `x`'s shape (packed on the
    /// first input of a new shape), then `post`: fused into the convolution
    /// where nothing comes between them.
    fn forward_packed(&self, x: &Tensor, post: PostOp) -> Result<Tensor, String> {
        let size: [i64; 4] = x
            .size()
            .try_into()
            .map_err(|_| format!("expected a 4-d input, got {:?}", x.size()))?;
        let geometry = self.packed_geometry();
        let weight = {
            let mut slot = self.packed.lock().unwrap_or_else(|e| e.into_inner());
            match &*slot {
                Some((s, w)) if *s == size => w.shallow_clone(),
                _ => {
                    // Drop the weight packed for the old shape before packing anew.
                    *slot = None;
                    let source = match &self.col2im_weight {
                        Some(w) => w.shallow_clone(),
                        None => self.folded_weight(),
                    };
                    let w = packed::pack_weight(&source, geometry, size)?;
                    *slot = Some((size, w.shallow_clone()));
                    w
                }
            }
        };
        let bias = self.bias.as_ref();
        let fused = self.col2im_weight.is_none() && !self.instance_norm;
        let y = if self.col2im_weight.is_some() {
            // Each input pixel's 1x1 output holds its (out, kh, kw) taps; col2im
            // adds them where the transposed convolution puts them.
            let cols = packed::conv_pointwise(x, &weight, None, geometry, PostOp::None)?;
            let (n, h, w) = (size[0], size[2], size[3]);
            let k = self.raw_weight.size()[2];
            let ConvGeometry {
                stride, padding, ..
            } = self.geometry;
            let out = |i: i64| (i - 1) * stride - 2 * padding + k;
            let mut y = cols.reshape([n, cols.size()[1], h * w]).col2im(
                [out(h), out(w)],
                [k, k],
                [1, 1],
                [padding, padding],
                [stride, stride],
            );
            if let Some(b) = bias {
                y += b.view([1, -1, 1, 1]);
            }
            y
        } else {
            let fused_post = if fused { post } else { PostOp::None };
            packed::conv_pointwise(x, &weight, bias, geometry, fused_post)?
        };
        if fused {
            return Ok(y);
        }
        let y = if self.instance_norm {
            NormLayer::Instance.forward(&y, Mode::Eval)
        } else {
            y
        };
        Ok(post.apply(y))
    }

    fn forward(&self, x: &Tensor) -> Tensor {
        let ConvGeometry {
            transposed,
            stride,
            padding,
        } = self.geometry;
        let subpixel = transposed
            && x.device() == tch::Device::Cpu
            && x.size()[2] * x.size()[3] <= SUBPIXEL_MAX_PIXELS;
        let y = if subpixel {
            let phases = self
                .phases
                .get_or_init(|| channels_last(&phase_weights(self.plain_weight())));
            subpixel_conv_transpose(x, phases, self.bias.as_ref())
        } else if transposed {
            x.conv_transpose2d(
                self.plain_weight(),
                self.bias.as_ref(),
                [stride, stride],
                [padding, padding],
                [0, 0],
                1,
                [1, 1],
            )
        } else {
            x.conv2d(
                self.plain_weight(),
                self.bias.as_ref(),
                [stride, stride],
                [padding, padding],
                [1, 1],
                1,
            )
        };
        if self.instance_norm {
            NormLayer::Instance.forward(&y, Mode::Eval)
        } else {
            y
        }
    }
}

struct FBlock {
    outermost: bool,
    down: FConv,
    sub: Option<Box<FBlock>>,
    up: FConv,
}

impl FBlock {
    fn forward(&self, x: &Tensor) -> Tensor {
        let h = if self.outermost {
            self.down.forward(x)
        } else {
            self.down.forward(&leaky_relu(x))
        };
        let mut h = match &self.sub {
            Some(s) => s.forward(&h),
            None => h,
        };
        let _ = h.relu_();
        let mut h = self.up.forward(&h);
        if self.outermost {
            let _ = h.tanh_();
            h
        } else {
            Tensor::cat(&[x, &h], 1)
        }
    }

    /// The packed form. A block's input arrives already activated by the
    /// parent's LeakyReLU (the raw image at the outermost block), and the block
    /// returns its up-convolution's output without the skip concatenation:
    /// the parent concatenates. That lets every down convolution fuse
    /// LeakyReLU as its post-op: its output feeds both the inner block (which
    /// wants LeakyReLU) and the skip connection, which is followed by ReLU,
    /// and ReLU(LeakyReLU(x)) = ReLU(x).
    fn forward_packed(&self, x: &Tensor) -> Result<Tensor, String> {
        let h = match &self.sub {
            Some(s) => {
                let d = self.down.forward_packed(x, PostOp::LeakyRelu)?;
                let u = s.forward_packed(&d)?;
                let mut h = Tensor::cat(&[&d, &u], 1);
                let _ = h.relu_();
                h
            }
            // Innermost: the down conv's output goes straight to the up ReLU.
            None => self.down.forward_packed(x, PostOp::Relu)?,
        };
        let post = if self.outermost {
            PostOp::Tanh
        } else {
            PostOp::None
        };
        self.up.forward_packed(&h, post)
    }
}

/// The folded eval-mode generator for one precision and device.
pub struct FusedUnet {
    root: FBlock,
    kind: Kind,
    /// Whether the packed oneDNN path may run (CPU models only).
    packed_on: AtomicBool,
    /// Why the packed path was switched off, once it was.
    packed_error: OnceLock<String>,
}

// SAFETY: the tensors are only read after construction, except the weights
// made on demand, which sit behind a `OnceLock` or a `Mutex` (see `Translator`).
unsafe impl Sync for FusedUnet {}

impl FusedUnet {
    /// Folds `g` (on its device) into inference form computing in `kind`, on
    /// packed oneDNN weights on the CPU unless `PIX2PIX_NO_PACKED` is set.
    ///
    /// The convolution weights are shared with `g`, not copied: a folded
    /// weight is made from them when one is packed for a new input shape (or
    /// when the plain path first runs), so `g`'s weights must not change while
    /// this is in use. `Translator` owns both and never changes them.
    pub fn new(g: &UnetGenerator, kind: Kind) -> FusedUnet {
        Self::with_packing(g, kind, std::env::var_os("PIX2PIX_NO_PACKED").is_none())
    }

    /// [`FusedUnet::new`], choosing whether CPU passes may use packed weights.
    pub fn with_packing(g: &UnetGenerator, kind: Kind, packing: bool) -> FusedUnet {
        fn build(b: BlockView<'_>, kind: Kind) -> FBlock {
            FBlock {
                outermost: b.outermost,
                down: FConv::new(b.down_conv, b.down_norm, kind),
                sub: b.sub.map(|s| Box::new(build(*s, kind))),
                up: FConv::new(b.up_conv, b.up_norm, kind),
            }
        }
        let root = tch::no_grad(|| build(g.root_view(), kind));
        let packed_on = packing && g.device() == Device::Cpu;
        FusedUnet {
            root,
            kind,
            packed_on: AtomicBool::new(packed_on),
            packed_error: OnceLock::new(),
        }
    }

    /// Forward pass on an NCHW batch (any memory layout) in the folded precision.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        let x = channels_last(&x.to_kind(self.kind));
        if self.packed_on.load(Ordering::Relaxed) {
            match self.root.forward_packed(&x) {
                Ok(y) => return y,
                Err(e) => {
                    self.packed_on.store(false, Ordering::Relaxed);
                    let _ = self.packed_error.set(e);
                }
            }
        }
        self.root.forward(&x)
    }

    /// Whether forward passes run on packed oneDNN weights (`Ok(true)`), on the
    /// plain folded convolutions by choice (`Ok(false)`: not on the CPU, or
    /// `PIX2PIX_NO_PACKED` set), or on the plain ones because the packed path
    /// failed (`Err` with the reason).
    pub fn packed_status(&self) -> Result<bool, String> {
        match self.packed_error.get() {
            Some(e) => Err(e.clone()),
            None => Ok(self.packed_on.load(Ordering::Relaxed)),
        }
    }
}
