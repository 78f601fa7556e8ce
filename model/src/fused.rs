//! An inference-only form of the U-Net for eval mode: BatchNorm folded into
//! the convolutions, weights and activations in channels-last memory layout
//! (what oneDNN computes on without reordering), single-kernel activations.
//! Numerically it is the same network as [`UnetGenerator`] in
//! [`Mode::Eval`](crate::Mode::Eval) (to float rounding).

use tch::{Kind, Tensor};

use crate::layers::{leaky_relu, Conv, NormLayer};
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
    weight: Tensor,
    bias: Option<Tensor>,
    transposed: bool,
    /// Sub-pixel form of a transposed convolution's weight, made on the first
    /// small input on the CPU (only the innermost blocks ever need it).
    phases: std::sync::OnceLock<Tensor>,
    /// Instance norm after the conv (cannot be folded).
    instance_norm: bool,
}

impl FConv {
    fn new(conv: &Conv, norm: Option<&NormLayer>, kind: Kind) -> FConv {
        let w = conv.weight.detach().to_kind(Kind::Float);
        let b = conv.bias.as_ref().map(|b| b.detach().to_kind(Kind::Float));
        let (weight, bias, instance_norm) = match norm.and_then(|n| n.eval_affine().map(|a| (n, a)))
        {
            Some((_, (scale, shift))) => {
                // Output channels are dim 0 of a conv weight, dim 1 of a transposed one.
                let shape: [i64; 4] = if conv.transposed {
                    [1, -1, 1, 1]
                } else {
                    [-1, 1, 1, 1]
                };
                let w = &w * scale.view(shape);
                let b = match &b {
                    Some(b) => b * &scale + &shift,
                    None => shift,
                };
                (w, Some(b), false)
            }
            None => (w, b, matches!(norm, Some(NormLayer::Instance))),
        };
        FConv {
            weight: channels_last(&weight.to_kind(kind)),
            bias: bias.map(|b| b.to_kind(kind)),
            transposed: conv.transposed,
            phases: std::sync::OnceLock::new(),
            instance_norm,
        }
    }

    fn forward(&self, x: &Tensor) -> Tensor {
        let subpixel = self.transposed
            && x.device() == tch::Device::Cpu
            && x.size()[2] * x.size()[3] <= SUBPIXEL_MAX_PIXELS;
        let y = if subpixel {
            let phases = self
                .phases
                .get_or_init(|| channels_last(&phase_weights(&self.weight)));
            subpixel_conv_transpose(x, phases, self.bias.as_ref())
        } else if self.transposed {
            x.conv_transpose2d(
                &self.weight,
                self.bias.as_ref(),
                [2, 2],
                [1, 1],
                [0, 0],
                1,
                [1, 1],
            )
        } else {
            x.conv2d(&self.weight, self.bias.as_ref(), [2, 2], [1, 1], [1, 1], 1)
        };
        if self.instance_norm {
            y.instance_norm(
                None::<Tensor>,
                None::<Tensor>,
                None::<Tensor>,
                None::<Tensor>,
                true,
                0.1,
                crate::layers::BN_EPS,
                true,
            )
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
}

/// The folded eval-mode generator for one precision and device.
pub struct FusedUnet {
    root: FBlock,
    kind: Kind,
}

// SAFETY: read-only after construction (see `Translator`).
unsafe impl Sync for FusedUnet {}

impl FusedUnet {
    /// Folds `g` (on its device) into inference form computing in `kind`.
    pub fn new(g: &UnetGenerator, kind: Kind) -> FusedUnet {
        fn build(b: BlockView<'_>, kind: Kind) -> FBlock {
            FBlock {
                outermost: b.outermost,
                down: FConv::new(b.down_conv, b.down_norm, kind),
                sub: b.sub.map(|s| Box::new(build(*s, kind))),
                up: FConv::new(b.up_conv, b.up_norm, kind),
            }
        }
        let root = tch::no_grad(|| build(g.root_view(), kind));
        FusedUnet { root, kind }
    }

    /// Forward pass on an NCHW batch (any memory layout) in the folded precision.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        let x = channels_last(&x.to_kind(self.kind));
        self.root.forward(&x)
    }
}
