//! The pix2pix networks on libtorch, shared by the GStreamer element, the
//! trainer and the tools.
//!
//! - [`UnetGenerator`] and [`PatchGan`]: exactly the reference pix2pix networks,
//!   with the official checkpoint keys as variable names.
//! - [`file`]: the self-describing safetensors model file.
//! - [`torchpth`]: a code-free reader for official `torch.save` checkpoints.
//! - [`image`]: packed 8-bit pixels ↔ tensors in [-1, 1].
//! - [`runtime`]: threads and devices.

pub mod config;
pub mod error;
pub mod file;
pub mod fused;
pub mod image;
pub mod layers;
pub mod packed;
pub mod patchgan;
pub mod runtime;
mod shim;
pub mod torchpth;
pub mod translate;
pub mod unet;

use std::path::Path;

pub use config::{ModelInfo, Norm, PatchGanConfig, UnetConfig};
pub use error::{Error, Result};
pub use file::{load_generator, save_generator, StoragePrecision};
pub use layers::Mode;
pub use patchgan::PatchGan;
pub use tch;
pub use translate::{Precision, ResizeMode, TranslateOptions, Translator};
pub use unet::UnetGenerator;

/// Guesses the U-Net configuration from the keys and shapes of a state_dict
/// (depth, ngf, channels and norm). Dropout has no weights, so it is taken
/// from `dropout`.
pub fn infer_unet_config(
    state: &torchpth::StateDict,
    dropout: bool,
) -> std::result::Result<UnetConfig, String> {
    let first = state
        .get("model.model.0.weight")
        .ok_or("no `model.model.0.weight`: not a pix2pix U-Net generator")?;
    let last = state
        .get("model.model.3.weight")
        .ok_or("no `model.model.3.weight`: not a pix2pix U-Net generator")?;
    let (fs, ls) = (first.size(), last.size());
    if fs.len() != 4 || ls.len() != 4 {
        return Err("unexpected shapes of the outermost convolutions".into());
    }
    let mut depth = 1u32;
    let mut prefix = String::from("model.model.1");
    while state
        .keys()
        .any(|k| k.starts_with(&format!("{prefix}.model.")))
    {
        depth += 1;
        prefix.push_str(".model.3");
    }
    let norm = if state.keys().any(|k| k.ends_with("running_mean")) {
        Norm::Batch
    } else {
        Norm::Instance
    };
    Ok(UnetConfig {
        num_downs: depth,
        ngf: fs[0],
        input_nc: fs[1],
        output_nc: ls[1],
        norm,
        dropout,
    })
}

/// Loads an official pix2pix generator checkpoint (`latest_net_G.pth`, saved by
/// `torch.save(net.state_dict())`). With `config` `None` the architecture is
/// inferred from the tensors (dropout assumed on, as in the reference default).
pub fn load_official_checkpoint(
    path: &Path,
    config: Option<&UnetConfig>,
    device: tch::Device,
) -> Result<UnetGenerator> {
    let state = torchpth::read_state_dict(path)?;
    let config = match config {
        Some(c) => c.clone(),
        None => infer_unet_config(&state, true).map_err(|reason| Error::UnsupportedPickle {
            path: path.to_owned(),
            reason,
        })?,
    };
    let mut generator = UnetGenerator::new(&config, tch::Device::Cpu)?;
    file::load_into_var_store(generator.var_store_mut(), state, path, &config.describe())?;
    if device != tch::Device::Cpu {
        generator.var_store_mut().set_device(device);
    }
    Ok(generator)
}

/// What kind of file a model path holds, judged by its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelFileKind {
    Safetensors,
    TorchZip,
    TorchLegacy,
    Unknown,
}

pub fn sniff(path: &Path) -> Result<ModelFileKind> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })?;
    let mut head = [0u8; 9];
    let n = f.read(&mut head).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })?;
    let head = &head[..n];
    Ok(if head.starts_with(b"PK\x03\x04") {
        ModelFileKind::TorchZip
    } else if head.len() >= 2 && head[0] == 0x80 && head[1] <= 5 {
        ModelFileKind::TorchLegacy
    } else if head.len() == 9 && head[8] == b'{' {
        ModelFileKind::Safetensors
    } else {
        ModelFileKind::Unknown
    })
}

/// Loads a generator from either a self-describing model file or an official
/// PyTorch checkpoint (whose [`ModelInfo`] is then inferred, with a 256 image
/// size for unet_256 and 128 for unet_128).
pub fn load_any_generator(path: &Path, device: tch::Device) -> Result<(UnetGenerator, ModelInfo)> {
    match sniff(path)? {
        ModelFileKind::TorchZip | ModelFileKind::TorchLegacy => {
            let g = load_official_checkpoint(path, None, device)?;
            let size = if g.config().num_downs == 7 { 128 } else { 256 };
            let mut info = ModelInfo::new(g.config().clone(), size);
            info.source = format!("official PyTorch checkpoint {}", path.display());
            Ok((g, info))
        }
        _ => load_generator(path, device),
    }
}
