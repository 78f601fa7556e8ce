//! The N-layer PatchGAN discriminator (`NLayerDiscriminator` in the reference),
//! with the same variable names (`model.0.weight` ... `model.11.bias` for 3 layers).

use tch::nn::VarStore;
use tch::{Device, Tensor};

use crate::config::{Norm, PatchGanConfig};
use crate::layers::{leaky_relu, Conv, Mode, NormLayer};
use crate::{Error, Result};

struct Stage {
    conv: Conv,
    norm: Option<NormLayer>,
    /// LeakyReLU after the stage (all but the last conv).
    act: bool,
}

/// The PatchGAN discriminator: one logit per overlapping patch.
pub struct PatchGan {
    vs: VarStore,
    config: PatchGanConfig,
    stages: Vec<Stage>,
}

impl std::fmt::Debug for PatchGan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PatchGan")
            .field("config", &self.config)
            .finish()
    }
}

impl PatchGan {
    pub fn new(config: &PatchGanConfig, device: Device) -> Result<PatchGan> {
        if config.n_layers < 1 || config.ndf < 1 || config.input_nc < 1 {
            return Err(Error::Config(
                "discriminator needs n_layers >= 1, ndf >= 1 and input_nc >= 1".into(),
            ));
        }
        let vs = VarStore::new(device);
        let m = vs.root() / "model";
        let (ndf, norm) = (config.ndf, config.norm);
        let use_bias = norm == Norm::Instance;
        let mut stages = Vec::new();
        let mut idx = 0i64;
        // conv(input_nc, ndf, stride 2, bias) + LeakyReLU
        stages.push(Stage {
            conv: Conv::new(&(&m / idx), config.input_nc, ndf, 2, true),
            norm: None,
            act: true,
        });
        idx += 2;
        let mut nf_mult = 1i64;
        for n in 1..=config.n_layers {
            let prev = nf_mult;
            nf_mult = (1i64 << n).min(8);
            // The loop's layers have stride 2; the one after the loop has stride 1.
            let stride = if n < config.n_layers { 2 } else { 1 };
            let conv = Conv::new(&(&m / idx), ndf * prev, ndf * nf_mult, stride, use_bias);
            let norm_layer = NormLayer::new(&(&m / (idx + 1)), norm, ndf * nf_mult);
            stages.push(Stage {
                conv,
                norm: Some(norm_layer),
                act: true,
            });
            idx += 3;
        }
        stages.push(Stage {
            conv: Conv::new(&(&m / idx), ndf * nf_mult, 1, 1, true),
            norm: None,
            act: false,
        });
        Ok(PatchGan {
            vs,
            config: config.clone(),
            stages,
        })
    }

    pub fn config(&self) -> &PatchGanConfig {
        &self.config
    }

    pub fn var_store(&self) -> &VarStore {
        &self.vs
    }

    pub fn var_store_mut(&mut self) -> &mut VarStore {
        &mut self.vs
    }

    /// Number of learnable parameters (2,768,705 for the default 70x70 PatchGAN).
    pub fn num_parameters(&self) -> i64 {
        crate::layers::count_parameters(&self.vs)
    }

    /// Logits, one per patch: N x 1 x H' x W'.
    pub fn forward(&self, x: &Tensor, mode: Mode) -> Tensor {
        let mut h = x.shallow_clone();
        for s in &self.stages {
            h = s.conv.forward(&h);
            if let Some(n) = &s.norm {
                h = n.forward(&h, mode);
            }
            if s.act {
                h = leaky_relu(&h);
            }
        }
        h
    }
}
