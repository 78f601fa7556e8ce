//! Architecture options and the metadata stored in a model file.

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Normalisation layer used by the networks, as in the reference
/// implementation's `--norm` option.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Norm {
    /// `nn.BatchNorm2d(affine=True, track_running_stats=True)`; convs feeding it have no bias.
    #[default]
    Batch,
    /// `nn.InstanceNorm2d(affine=False, track_running_stats=False)`; convs keep their bias.
    Instance,
}

impl Norm {
    pub fn as_str(self) -> &'static str {
        match self {
            Norm::Batch => "batch",
            Norm::Instance => "instance",
        }
    }
}

impl std::str::FromStr for Norm {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "batch" => Ok(Norm::Batch),
            "instance" => Ok(Norm::Instance),
            other => Err(Error::Config(format!(
                "unknown norm `{other}` (expected `batch` or `instance`)"
            ))),
        }
    }
}

/// The U-Net generator of pix2pix (`UnetGenerator` in the reference code).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnetConfig {
    /// Number of downsamplings: 7 = `unet_128`, 8 = `unet_256`.
    pub num_downs: u32,
    /// Filters in the outermost conv layer.
    pub ngf: i64,
    pub input_nc: i64,
    pub output_nc: i64,
    pub norm: Norm,
    /// Dropout 0.5 in the innermost 512-channel up blocks (`num_downs - 5` of them).
    pub dropout: bool,
}

impl Default for UnetConfig {
    fn default() -> Self {
        UnetConfig {
            num_downs: 8,
            ngf: 64,
            input_nc: 3,
            output_nc: 3,
            norm: Norm::Batch,
            dropout: true,
        }
    }
}

impl UnetConfig {
    /// `unet_128` or `unet_256` as in the reference's `--netG`.
    pub fn from_netg(netg: &str) -> Result<Self> {
        let num_downs = match netg {
            "unet_128" => 7,
            "unet_256" => 8,
            other => {
                return Err(Error::Config(format!(
                    "unknown generator `{other}` (expected unet_128 or unet_256)"
                )))
            }
        };
        Ok(UnetConfig {
            num_downs,
            ..Default::default()
        })
    }

    pub fn validate(&self) -> Result<()> {
        if !(5..=10).contains(&self.num_downs) {
            return Err(Error::Config(format!(
                "num_downs must be between 5 and 10, got {}",
                self.num_downs
            )));
        }
        if self.ngf < 1 || self.input_nc < 1 || self.output_nc < 1 {
            return Err(Error::Config(
                "ngf, input_nc and output_nc must be positive".into(),
            ));
        }
        Ok(())
    }

    /// The side length a frame must be a multiple of (2^num_downs).
    pub fn size_multiple(&self) -> i64 {
        1 << self.num_downs
    }

    /// A short human-readable name, e.g. `unet_256(ngf=64, batch, 3->3)`.
    pub fn describe(&self) -> String {
        let name = match self.num_downs {
            7 => "unet_128".to_string(),
            8 => "unet_256".to_string(),
            n => format!("unet(num_downs={n})"),
        };
        format!(
            "{name}(ngf={}, {}, {}->{} channels{})",
            self.ngf,
            self.norm.as_str(),
            self.input_nc,
            self.output_nc,
            if self.dropout { ", dropout" } else { "" }
        )
    }
}

/// The N-layer PatchGAN discriminator (`NLayerDiscriminator`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatchGanConfig {
    /// Input channels: input_nc + output_nc of the generator (a conditional pair).
    pub input_nc: i64,
    pub ndf: i64,
    /// 3 gives the 70x70 receptive field.
    pub n_layers: u32,
    pub norm: Norm,
}

impl Default for PatchGanConfig {
    fn default() -> Self {
        PatchGanConfig {
            input_nc: 6,
            ndf: 64,
            n_layers: 3,
            norm: Norm::Batch,
        }
    }
}

impl PatchGanConfig {
    /// Receptive field of one output patch, in input pixels.
    pub fn receptive_field(&self) -> i64 {
        // Walk back from the last conv: stride-1 4x4 twice, then n_layers stride-2 4x4.
        let mut rf = 1i64;
        rf += 3; // last conv, stride 1
        rf += 3; // the stride-1 conv before it
        for _ in 0..self.n_layers {
            rf = (rf - 1) * 2 + 4;
        }
        rf
    }
}

/// What a model file says about the model: enough to rebuild and use it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// The generator's architecture and hyper-parameters.
    pub generator: UnetConfig,
    /// Side length of the square images the model was trained at (its `crop_size`).
    pub image_size: i64,
    /// Pixel value range of the network's input and output.
    pub value_range: [f32; 2],
    /// What it translates, e.g. `colorize`, `label2photo`, `edges2photo`.
    pub task: String,
    /// `AtoB` or `BtoA` relative to the training set's layout.
    pub direction: String,
    /// Where the weights came from (a training run, an imported checkpoint, ...).
    pub source: String,
    /// Free-form description.
    #[serde(default)]
    pub description: String,
}

impl ModelInfo {
    pub fn new(generator: UnetConfig, image_size: i64) -> Self {
        ModelInfo {
            generator,
            image_size,
            value_range: [-1.0, 1.0],
            task: "unknown".into(),
            direction: "AtoB".into(),
            source: "unknown".into(),
            description: String::new(),
        }
    }
}
