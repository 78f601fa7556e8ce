//! The self-describing model file: safetensors whose metadata holds a
//! [`ModelInfo`] as JSON under the key [`META_KEY`], so one call rebuilds the
//! generator. Loading never runs code: safetensors is a JSON header plus raw
//! little-endian tensor data.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use safetensors::{Dtype, SafeTensors, View};
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};

use crate::config::ModelInfo;
use crate::unet::UnetGenerator;
use crate::{Error, Result};

/// Metadata key holding the JSON [`ModelInfo`].
pub const META_KEY: &str = "pix2pix";
/// Metadata key naming the format, so other safetensors files are recognised.
pub const FORMAT_KEY: &str = "format";
pub const FORMAT_NAME: &str = "pix2pix-gst";
pub const FORMAT_VERSION_KEY: &str = "format_version";
pub const FORMAT_VERSION: &str = "1";

/// How tensors are stored in the file (they are always fp32 once loaded).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StoragePrecision {
    #[default]
    F32,
    F16,
    BF16,
}

impl std::str::FromStr for StoragePrecision {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "fp32" | "f32" | "float32" => Ok(Self::F32),
            "fp16" | "f16" | "float16" | "half" => Ok(Self::F16),
            "bf16" | "bfloat16" => Ok(Self::BF16),
            o => Err(Error::Config(format!(
                "unknown storage precision `{o}` (fp32, fp16 or bf16)"
            ))),
        }
    }
}

struct RawTensor {
    dtype: Dtype,
    shape: Vec<usize>,
    data: Vec<u8>,
}

impl View for &RawTensor {
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.data)
    }
    fn data_len(&self) -> usize {
        self.data.len()
    }
}

fn tensor_to_raw(t: &Tensor, precision: StoragePrecision) -> Result<RawTensor> {
    let (kind, dtype) = match (t.kind(), precision) {
        (Kind::Float, StoragePrecision::F32) => (Kind::Float, Dtype::F32),
        (Kind::Float, StoragePrecision::F16) => (Kind::Half, Dtype::F16),
        (Kind::Float, StoragePrecision::BF16) => (Kind::BFloat16, Dtype::BF16),
        (Kind::Int64, _) => (Kind::Int64, Dtype::I64),
        (k, _) => (k, Dtype::F32),
    };
    let t = t.to_device(Device::Cpu).to_kind(kind).contiguous().detach();
    let numel = t.numel();
    let elt = kind.elt_size_in_bytes();
    let mut data = vec![0u8; numel * elt];
    t.f_copy_data_u8(&mut data, numel)?;
    Ok(RawTensor {
        dtype,
        shape: t.size().iter().map(|&d| d as usize).collect(),
        data,
    })
}

/// Writes `bytes` to `path` atomically: a temporary file in the same folder,
/// flushed to disk, then renamed over the target. A kill at any moment leaves
/// either the old file or the new one, never a torn one.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".into());
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let unique = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.join(format!(".{name}.tmp-{}-{unique}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Serialises the variables of `vs` with the given metadata.
pub fn var_store_to_safetensors(
    vs: &VarStore,
    precision: StoragePrecision,
    metadata: HashMap<String, String>,
) -> Result<Vec<u8>> {
    let named: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    tensors_to_safetensors(&named, precision, metadata)
}

/// Serialises named tensors (sorted by name) with the given metadata.
pub fn tensors_to_safetensors(
    tensors: &[(String, Tensor)],
    precision: StoragePrecision,
    metadata: HashMap<String, String>,
) -> Result<Vec<u8>> {
    let mut raws: Vec<(String, RawTensor)> = Vec::new();
    for (name, t) in tensors {
        raws.push((name.clone(), tensor_to_raw(t, precision)?));
    }
    raws.sort_by(|a, b| a.0.cmp(&b.0));
    let views: Vec<(String, &RawTensor)> = raws.iter().map(|(n, r)| (n.clone(), r)).collect();
    safetensors::serialize(views, Some(metadata)).map_err(|e| Error::Write {
        path: PathBuf::new(),
        reason: e.to_string(),
    })
}

/// Saves a generator as a self-describing model file.
pub fn save_generator(
    generator: &UnetGenerator,
    info: &ModelInfo,
    path: &Path,
    precision: StoragePrecision,
) -> Result<()> {
    if &info.generator != generator.config() {
        return Err(Error::Config(
            "model info describes a different architecture than the generator".into(),
        ));
    }
    let mut meta = HashMap::new();
    meta.insert(FORMAT_KEY.to_string(), FORMAT_NAME.to_string());
    meta.insert(FORMAT_VERSION_KEY.to_string(), FORMAT_VERSION.to_string());
    meta.insert(
        META_KEY.to_string(),
        serde_json::to_string(info).expect("ModelInfo serialises"),
    );
    meta.insert("architecture".into(), info.generator.describe());
    let bytes =
        var_store_to_safetensors(generator.var_store(), precision, meta).map_err(|e| match e {
            Error::Write { reason, .. } => Error::Write {
                path: path.to_owned(),
                reason,
            },
            e => e,
        })?;
    atomic_write(path, &bytes).map_err(|e| Error::Write {
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

/// Reads all tensors (as fp32/i64 CPU tensors) and the metadata of a safetensors file.
pub fn read_safetensors(path: &Path) -> Result<(HashMap<String, Tensor>, HashMap<String, String>)> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })?;
    parse_safetensors(path, &bytes)
}

pub(crate) fn parse_safetensors(
    path: &Path,
    bytes: &[u8],
) -> Result<(HashMap<String, Tensor>, HashMap<String, String>)> {
    let not_st = |reason: String| Error::NotSafetensors {
        path: path.to_owned(),
        reason,
    };
    if bytes.len() < 8 {
        return Err(not_st(format!(
            "file is {} bytes long, too short for a header",
            bytes.len()
        )));
    }
    let (_, meta) = SafeTensors::read_metadata(bytes).map_err(|e| not_st(describe_st_error(&e)))?;
    let st = SafeTensors::deserialize(bytes).map_err(|e| not_st(describe_st_error(&e)))?;
    let mut out = HashMap::new();
    for (name, view) in st.tensors() {
        let shape: Vec<i64> = view.shape().iter().map(|&d| d as i64).collect();
        let kind = match view.dtype() {
            Dtype::F32 => Kind::Float,
            Dtype::F16 => Kind::Half,
            Dtype::BF16 => Kind::BFloat16,
            Dtype::F64 => Kind::Double,
            Dtype::I64 => Kind::Int64,
            Dtype::I32 => Kind::Int,
            other => {
                return Err(Error::UnsupportedDtype {
                    path: path.to_owned(),
                    name,
                    dtype: format!("{other:?}"),
                })
            }
        };
        let t = Tensor::f_from_data_size(view.data(), &shape, kind)?;
        let t = if matches!(kind, Kind::Half | Kind::BFloat16 | Kind::Double) {
            t.to_kind(Kind::Float)
        } else {
            t
        };
        out.insert(name, t);
    }
    Ok((out, meta.metadata().clone().unwrap_or_default()))
}

fn describe_st_error(e: &safetensors::SafeTensorError) -> String {
    use safetensors::SafeTensorError as E;
    match e {
        E::InvalidHeaderDeserialization(_) | E::InvalidHeader(_) => {
            format!("the header is not valid safetensors JSON ({e})")
        }
        E::HeaderTooLarge | E::HeaderTooSmall | E::InvalidHeaderLength => {
            format!("the header length is invalid ({e}); is this a different kind of file?")
        }
        E::MetadataIncompleteBuffer | E::InvalidOffset(_) => {
            format!("the file is truncated or its tensor offsets are wrong ({e})")
        }
        _ => e.to_string(),
    }
}

/// Copies `tensors` into the variables of `vs`, checking names and shapes.
/// `num_batches_tracked` entries (PyTorch's BatchNorm counters) are ignored.
pub fn load_into_var_store(
    vs: &mut VarStore,
    mut tensors: HashMap<String, Tensor>,
    path: &Path,
    arch: &str,
) -> Result<()> {
    tensors.retain(|k, _| !k.ends_with("num_batches_tracked"));
    let vars = vs.variables();
    let mut names: Vec<&String> = vars.keys().collect();
    names.sort();
    for name in names {
        let var = &vars[name];
        let src = tensors.remove(name).ok_or_else(|| Error::MissingTensor {
            path: path.to_owned(),
            name: name.clone(),
            expected: arch.to_string(),
        })?;
        if src.size() != var.size() {
            return Err(Error::ShapeMismatch {
                path: path.to_owned(),
                name: name.clone(),
                expected: var.size(),
                found: src.size(),
            });
        }
        let mut var = var.shallow_clone();
        tch::no_grad(|| var.f_copy_(&src.to_kind(var.kind())))?;
    }
    if let Some(extra) = tensors.keys().min() {
        return Err(Error::UnexpectedTensor {
            path: path.to_owned(),
            name: extra.clone(),
            arch: arch.to_string(),
        });
    }
    Ok(())
}

/// Reads the [`ModelInfo`] of a self-describing model file.
pub fn info_from_metadata(path: &Path, meta: &HashMap<String, String>) -> Result<ModelInfo> {
    let json = meta.get(META_KEY).ok_or_else(|| Error::NotSelfDescribing {
        path: path.to_owned(),
        reason: format!(
            "its metadata has no `{META_KEY}` entry (a plain safetensors file; convert it with `pix2pix-train import`)"
        ),
    })?;
    let info: ModelInfo = serde_json::from_str(json).map_err(|e| Error::NotSelfDescribing {
        path: path.to_owned(),
        reason: format!("invalid `{META_KEY}` metadata: {e}"),
    })?;
    info.generator
        .validate()
        .map_err(|e| Error::NotSelfDescribing {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
    Ok(info)
}

/// Reads only the [`ModelInfo`] of a model file (no tensors are loaded).
pub fn read_info(path: &Path) -> Result<ModelInfo> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })?;
    let (_, meta) = SafeTensors::read_metadata(&bytes).map_err(|e| Error::NotSafetensors {
        path: path.to_owned(),
        reason: describe_st_error(&e),
    })?;
    info_from_metadata(path, &meta.metadata().clone().unwrap_or_default())
}

/// Loads a generator from a self-describing model file onto `device`.
pub fn load_generator(path: &Path, device: Device) -> Result<(UnetGenerator, ModelInfo)> {
    let (tensors, meta) = read_safetensors(path)?;
    let info = info_from_metadata(path, &meta)?;
    let mut generator = UnetGenerator::new(&info.generator, Device::Cpu)?;
    load_into_var_store(
        generator.var_store_mut(),
        tensors,
        path,
        &info.generator.describe(),
    )?;
    if device != Device::Cpu {
        generator.var_store_mut().set_device(device);
    }
    Ok((generator, info))
}
