use std::path::PathBuf;

/// Everything that can go wrong while building, loading or running a model.
///
/// Errors about files always name the file, so that a message shown in
/// `gst-launch-1.0` or by the trainer tells the user which file to fix.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: cannot read model file: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a safetensors file: {reason}")]
    NotSafetensors { path: PathBuf, reason: String },
    #[error("{path}: not a pix2pix-gst model file: {reason}")]
    NotSelfDescribing { path: PathBuf, reason: String },
    #[error("{path}: not a PyTorch checkpoint: {reason}")]
    NotCheckpoint { path: PathBuf, reason: String },
    #[error("{path}: unsupported content in PyTorch checkpoint: {reason}")]
    UnsupportedPickle { path: PathBuf, reason: String },
    #[error("{path}: tensor `{name}` is missing (wrong architecture? expected {expected})")]
    MissingTensor {
        path: PathBuf,
        name: String,
        expected: String,
    },
    #[error("{path}: unexpected tensor `{name}` (wrong architecture? the model file holds more layers than the configuration {arch})")]
    UnexpectedTensor {
        path: PathBuf,
        name: String,
        arch: String,
    },
    #[error("{path}: tensor `{name}` has shape {found:?}, the architecture needs {expected:?}")]
    ShapeMismatch {
        path: PathBuf,
        name: String,
        expected: Vec<i64>,
        found: Vec<i64>,
    },
    #[error("{path}: tensor `{name}` has unsupported dtype {dtype}")]
    UnsupportedDtype {
        path: PathBuf,
        name: String,
        dtype: String,
    },
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("invalid image: {0}")]
    Image(String),
    #[error("device `{0}`: {1}")]
    Device(String, String),
    #[error("{path}: cannot write model file: {reason}")]
    Write { path: PathBuf, reason: String },
    #[error("{0}")]
    Inference(String),
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
}

pub type Result<T> = std::result::Result<T, Error>;
