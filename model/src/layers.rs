//! The few layers the pix2pix networks need, written against libtorch's
//! functional ops so that the variable names are exactly the official keys.

use tch::nn::{Init, Path};
use tch::Tensor;

use crate::config::Norm;

/// How a network runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Inference: BatchNorm uses its running statistics, no dropout. Deterministic.
    Eval,
    /// Training: batch statistics (running statistics are updated), dropout on.
    Train,
    /// The original pix2pix test-time behaviour: batch statistics and dropout
    /// on, but the running statistics are left untouched.
    Paper,
}

impl Mode {
    pub fn dropout_active(self) -> bool {
        !matches!(self, Mode::Eval)
    }
}

/// The negative slope of every LeakyReLU in pix2pix.
pub const LEAKY_SLOPE: f64 = 0.2;

/// `nn.LeakyReLU(0.2)`: libtorch's `leaky_relu(x, 0.2)` with its fused
/// backward (tch binds the op with the default slope 0.01 only). A libtorch
/// error panics with its message, as tch's own ops do.
pub fn leaky_relu(x: &Tensor) -> Tensor {
    // SAFETY: a live tensor handle.
    let y = unsafe {
        crate::shim::call("leaky_relu", |err, len| {
            crate::shim::pix2pix_leaky_relu(x.as_ptr(), LEAKY_SLOPE, err, len)
        })
    };
    y.unwrap_or_else(|e| panic!("{e}"))
}

/// Number of learnable parameters in a VarStore.
pub fn count_parameters(vs: &tch::nn::VarStore) -> i64 {
    vs.trainable_variables()
        .iter()
        .map(|t| t.numel() as i64)
        .sum()
}

/// Weight init of the reference (`init_type='normal'`, gain 0.02).
pub const INIT_GAIN: f64 = 0.02;

/// A 2-d convolution with a 4x4 kernel, optional bias.
#[derive(Debug)]
pub struct Conv {
    pub weight: Tensor,
    pub bias: Option<Tensor>,
    pub stride: i64,
    pub padding: i64,
    pub transposed: bool,
}

impl Conv {
    /// A 4x4 kernel of the given weight shape, N(0, 0.02), and a zero bias of
    /// `cout` channels when asked for.
    fn make(
        p: &Path,
        shape: [i64; 4],
        cout: i64,
        bias: bool,
        stride: i64,
        transposed: bool,
    ) -> Conv {
        let init = Init::Randn {
            mean: 0.0,
            stdev: INIT_GAIN,
        };
        Conv {
            weight: p.var("weight", &shape, init),
            bias: bias.then(|| p.var("bias", &[cout], Init::Const(0.0))),
            stride,
            padding: 1,
            transposed,
        }
    }

    /// `nn.Conv2d(cin, cout, 4, stride, 1, bias)`.
    pub fn new(p: &Path, cin: i64, cout: i64, stride: i64, bias: bool) -> Conv {
        Conv::make(p, [cout, cin, 4, 4], cout, bias, stride, false)
    }

    /// `nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias)`; weight stored `[in, out, kH, kW]`.
    pub fn transposed(p: &Path, cin: i64, cout: i64, bias: bool) -> Conv {
        Conv::make(p, [cin, cout, 4, 4], cout, bias, 2, true)
    }

    pub fn forward(&self, x: &Tensor) -> Tensor {
        if self.transposed {
            x.conv_transpose2d(
                &self.weight,
                self.bias.as_ref(),
                [self.stride, self.stride],
                [self.padding, self.padding],
                [0, 0],
                1,
                [1, 1],
            )
        } else {
            x.conv2d(
                &self.weight,
                self.bias.as_ref(),
                [self.stride, self.stride],
                [self.padding, self.padding],
                [1, 1],
                1,
            )
        }
    }
}

/// `nn.BatchNorm2d` (affine, running statistics) or `nn.InstanceNorm2d` (no affine, no stats).
#[derive(Debug)]
pub enum NormLayer {
    Batch {
        weight: Tensor,
        bias: Tensor,
        running_mean: Tensor,
        running_var: Tensor,
    },
    Instance,
}

pub const BN_EPS: f64 = 1e-5;
pub const BN_MOMENTUM: f64 = 0.1;

impl NormLayer {
    pub fn new(p: &Path, norm: Norm, channels: i64) -> NormLayer {
        match norm {
            Norm::Batch => NormLayer::Batch {
                weight: p.var(
                    "weight",
                    &[channels],
                    Init::Randn {
                        mean: 1.0,
                        stdev: INIT_GAIN,
                    },
                ),
                bias: p.var("bias", &[channels], Init::Const(0.0)),
                running_mean: p.zeros_no_train("running_mean", &[channels]),
                running_var: p.ones_no_train("running_var", &[channels]),
            },
            Norm::Instance => NormLayer::Instance,
        }
    }

    pub fn forward(&self, x: &Tensor, mode: Mode) -> Tensor {
        match self {
            NormLayer::Batch {
                weight,
                bias,
                running_mean,
                running_var,
            } => {
                // Eval: running statistics. Train: batch statistics, running ones
                // updated. Paper: batch statistics, running ones left alone.
                let (stats, training) = match mode {
                    Mode::Eval => (Some((running_mean, running_var)), false),
                    Mode::Train => (Some((running_mean, running_var)), true),
                    Mode::Paper => (None, true),
                };
                x.batch_norm(
                    Some(weight),
                    Some(bias),
                    stats.map(|s| s.0),
                    stats.map(|s| s.1),
                    training,
                    BN_MOMENTUM,
                    BN_EPS,
                    true,
                )
            }
            NormLayer::Instance => x.instance_norm(
                None::<Tensor>,
                None::<Tensor>,
                None::<Tensor>,
                None::<Tensor>,
                true,
                BN_MOMENTUM,
                BN_EPS,
                true,
            ),
        }
    }

    /// The per-channel affine map `y = x * scale + shift` that this layer is in eval
    /// mode, or `None` for instance norm (which depends on the input).
    pub fn eval_affine(&self) -> Option<(Tensor, Tensor)> {
        match self {
            NormLayer::Batch {
                weight,
                bias,
                running_mean,
                running_var,
            } => {
                let scale = weight / (running_var + BN_EPS).sqrt();
                let shift = bias - running_mean * &scale;
                Some((scale, shift))
            }
            NormLayer::Instance => None,
        }
    }
}
