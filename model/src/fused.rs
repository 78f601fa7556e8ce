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

struct FConv {
    weight: Tensor,
    bias: Option<Tensor>,
    transposed: bool,
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
            instance_norm,
        }
    }

    fn forward(&self, x: &Tensor) -> Tensor {
        let y = if self.transposed {
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
