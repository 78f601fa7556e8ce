//! The models a server offers: loaded once at start, shared by all requests.

use std::path::{Path, PathBuf};

use pix2pix_model::tch::Device;
use pix2pix_model::{load_any_generator, Precision, ResizeMode, TranslateOptions, Translator};
use serde::Serialize;

/// Why a model list could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("cannot read the model folder {path}: {source}")]
    Folder {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no model files (*.safetensors) in {0}")]
    Empty(PathBuf),
    #[error("two models are both named `{0}`: give one of them another name with NAME=PATH")]
    Duplicate(String),
    #[error("model name `{0}` may only hold letters, digits, `_`, `-` and `.`")]
    BadName(String),
    #[error("cannot load model `{name}`: {source}")]
    Load {
        name: String,
        source: pix2pix_model::Error,
    },
}

/// What a client learns about a model (`GET /api/models`).
#[derive(Debug, Clone, Serialize)]
pub struct ModelSummary {
    pub name: String,
    pub task: String,
    pub direction: String,
    pub description: String,
    /// Side of the square images the model was trained at; inputs of any size
    /// are scaled to it and the result back to the input's size.
    pub input_size: i64,
    pub input_channels: i64,
    pub output_channels: i64,
    pub architecture: String,
}

/// One loaded model.
pub struct Model {
    pub summary: ModelSummary,
    pub translator: Translator,
    pub options: TranslateOptions,
}

impl Model {
    pub fn load(name: &str, path: &Path, device: Device) -> Result<Model, ModelError> {
        check_name(name)?;
        let err = |source| ModelError::Load {
            name: name.to_owned(),
            source,
        };
        let (generator, info) = load_any_generator(path, Device::Cpu).map_err(err)?;
        let translator =
            Translator::new(generator, info.clone(), device, Precision::F32).map_err(err)?;
        let options = TranslateOptions {
            resize: ResizeMode::Stretch,
            // A colorizer keeps the drawing's or photo's own lightness.
            preserve_luma: info.task == "colorize" && info.generator.output_nc == 3,
            ..TranslateOptions::default()
        };
        let summary = ModelSummary {
            name: name.to_owned(),
            task: info.task.clone(),
            direction: info.direction.clone(),
            description: info.description.clone(),
            input_size: info.image_size,
            input_channels: info.generator.input_nc,
            output_channels: info.generator.output_nc,
            architecture: info.generator.describe(),
        };
        Ok(Model {
            summary,
            translator,
            options,
        })
    }
}

fn check_name(name: &str) -> Result<(), ModelError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if ok {
        Ok(())
    } else {
        Err(ModelError::BadName(name.to_owned()))
    }
}

/// A `--model` argument: `PATH` (named after the file's stem) or `NAME=PATH`.
pub fn parse_model_arg(arg: &str) -> (String, PathBuf) {
    match arg.split_once('=') {
        Some((name, path)) if !name.contains('/') => (name.to_owned(), PathBuf::from(path)),
        _ => {
            let path = PathBuf::from(arg);
            let name = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            (name, path)
        }
    }
}

/// Every `*.safetensors` file in `dir`, named after its stem, in name order.
pub fn models_in(dir: &Path) -> Result<Vec<(String, PathBuf)>, ModelError> {
    let folder = |source| ModelError::Folder {
        path: dir.to_owned(),
        source,
    };
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(folder)? {
        let path = entry.map_err(folder)?.path();
        if path.extension().is_some_and(|e| e == "safetensors") && path.is_file() {
            let (name, path) = parse_model_arg(&path.to_string_lossy());
            found.push((name, path));
        }
    }
    if found.is_empty() {
        return Err(ModelError::Empty(dir.to_owned()));
    }
    found.sort();
    Ok(found)
}

/// Loads the listed models; names must be unique.
pub fn load_all(list: &[(String, PathBuf)], device: Device) -> Result<Vec<Model>, ModelError> {
    let mut models: Vec<Model> = Vec::new();
    for (name, path) in list {
        if models.iter().any(|m| &m.summary.name == name) {
            return Err(ModelError::Duplicate(name.clone()));
        }
        models.push(Model::load(name, path, device)?);
    }
    Ok(models)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_arguments() {
        assert_eq!(
            parse_model_arg("weights/colorize.safetensors"),
            (
                "colorize".into(),
                PathBuf::from("weights/colorize.safetensors")
            )
        );
        assert_eq!(
            parse_model_arg("paint=/tmp/x.safetensors"),
            ("paint".into(), PathBuf::from("/tmp/x.safetensors"))
        );
        assert!(check_name("facades_label2photo").is_ok());
        assert!(check_name("../etc").is_err());
        assert!(check_name("").is_err());
    }
}
