//! The self-describing model file: round trips and every kind of bad file.

mod common;

use pix2pix_model::tch::{Device, Kind, Tensor};
use pix2pix_model::{
    file, load_generator, Error, Mode, ModelInfo, Norm, StoragePrecision, UnetConfig, UnetGenerator,
};
use std::path::Path;

fn small_config() -> UnetConfig {
    UnetConfig {
        num_downs: 7,
        ngf: 8,
        input_nc: 1,
        output_nc: 3,
        norm: Norm::Batch,
        dropout: true,
    }
}

fn saved(
    dir: &Path,
    precision: StoragePrecision,
) -> (UnetGenerator, ModelInfo, std::path::PathBuf) {
    pix2pix_model::tch::manual_seed(3);
    let g = UnetGenerator::new(&small_config(), Device::Cpu).unwrap();
    // Non-trivial running statistics.
    for (name, mut v) in g.var_store().variables() {
        if name.ends_with("running_var") {
            let _ = pix2pix_model::tch::no_grad(|| v.uniform_(0.5, 2.0));
        }
    }
    let mut info = ModelInfo::new(small_config(), 128);
    info.task = "colorize".into();
    info.direction = "AtoB".into();
    info.source = "unit test".into();
    let p = dir.join("m.safetensors");
    file::save_generator(&g, &info, &p, precision).unwrap();
    (g, info, p)
}

#[test]
fn round_trip_keeps_weights_metadata_and_output() {
    let dir = common::tmpdir("roundtrip");
    let (g, info, p) = saved(&dir, StoragePrecision::F32);
    let (g2, info2) = load_generator(&p, Device::Cpu).unwrap();
    assert_eq!(info, info2);
    assert_eq!(g2.config(), g.config());
    let x = Tensor::rand([1, 1, 128, 128], (Kind::Float, Device::Cpu)) * 2 - 1;
    let a = g.try_forward(&x, Mode::Eval).unwrap();
    let b = g2.try_forward(&x, Mode::Eval).unwrap();
    assert_eq!(f64::try_from((&a - &b).abs().max()).unwrap(), 0.0);
    // Metadata is readable without loading tensors.
    assert_eq!(file::read_info(&p).unwrap(), info);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn half_precision_storage_halves_the_file_and_stays_close() {
    let dir = common::tmpdir("fp16");
    let (g, _, p32) = saved(&dir, StoragePrecision::F32);
    let p16 = dir.join("m16.safetensors");
    let info = file::read_info(&p32).unwrap();
    file::save_generator(&g, &info, &p16, StoragePrecision::F16).unwrap();
    let (s32, s16) = (
        std::fs::metadata(&p32).unwrap().len(),
        std::fs::metadata(&p16).unwrap().len(),
    );
    assert!(s16 * 10 < s32 * 6, "fp16 file {s16} vs fp32 {s32}");
    let (g16, _) = load_generator(&p16, Device::Cpu).unwrap();
    let x = Tensor::rand([1, 1, 128, 128], (Kind::Float, Device::Cpu)) * 2 - 1;
    let d = f64::try_from(
        (g.try_forward(&x, Mode::Eval).unwrap() - g16.try_forward(&x, Mode::Eval).unwrap())
            .abs()
            .max(),
    )
    .unwrap();
    assert!(d < 0.02, "fp16 storage changed output by {d}");
    let _ = std::fs::remove_dir_all(&dir);
}

fn err_of(p: &Path) -> Error {
    load_generator(p, Device::Cpu).unwrap_err()
}

#[test]
fn missing_file_is_an_error_naming_it() {
    let e = err_of(Path::new("/nonexistent/dir/model.safetensors"));
    assert!(matches!(e, Error::Io { .. }));
    assert!(
        e.to_string().contains("/nonexistent/dir/model.safetensors"),
        "{e}"
    );
}

#[test]
fn not_safetensors_and_truncated_files_are_errors() {
    let dir = common::tmpdir("corrupt");
    let p = dir.join("text.safetensors");
    std::fs::write(&p, "this is a text file, not a model at all").unwrap();
    let e = err_of(&p);
    assert!(matches!(e, Error::NotSafetensors { .. }), "{e}");
    assert!(e.to_string().contains("text.safetensors"));

    let p = dir.join("tiny");
    std::fs::write(&p, [1u8, 2, 3]).unwrap();
    assert!(matches!(err_of(&p), Error::NotSafetensors { .. }));

    let (_, _, good) = saved(&dir, StoragePrecision::F32);
    let bytes = std::fs::read(&good).unwrap();
    let p = dir.join("truncated.safetensors");
    std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
    let e = err_of(&p);
    assert!(matches!(e, Error::NotSafetensors { .. }), "{e}");
    assert!(e.to_string().contains("truncated"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

fn write_with(
    dir: &Path,
    name: &str,
    info: &ModelInfo,
    tensors: Vec<(String, Tensor)>,
) -> std::path::PathBuf {
    let p = dir.join(name);
    let mut meta = std::collections::HashMap::new();
    meta.insert(
        file::META_KEY.to_string(),
        serde_json::to_string(info).unwrap(),
    );
    let bytes = file::tensors_to_safetensors(&tensors, StoragePrecision::F32, meta).unwrap();
    std::fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn missing_tensor_and_shape_mismatch_are_errors() {
    let dir = common::tmpdir("arch");
    let (g, info, _) = saved(&dir, StoragePrecision::F32);
    let mut all: Vec<(String, Tensor)> = g.var_store().variables().into_iter().collect();
    all.sort_by(|a, b| a.0.cmp(&b.0));

    let without: Vec<_> = all
        .iter()
        .filter(|(n, _)| n != "model.model.3.bias")
        .map(|(n, t)| (n.clone(), t.copy()))
        .collect();
    let p = write_with(&dir, "missing.safetensors", &info, without);
    let e = err_of(&p);
    assert!(matches!(e, Error::MissingTensor { .. }), "{e}");
    assert!(
        e.to_string().contains("model.model.3.bias")
            && e.to_string().contains("missing.safetensors")
    );

    // The file says ngf 8 but holds ngf 16 weights for the first conv.
    let mut wrong: Vec<_> = all.iter().map(|(n, t)| (n.clone(), t.copy())).collect();
    for (n, t) in wrong.iter_mut() {
        if n == "model.model.0.weight" {
            *t = Tensor::zeros([16, 1, 4, 4], (Kind::Float, Device::Cpu));
        }
    }
    let p = write_with(&dir, "shape.safetensors", &info, wrong);
    let e = err_of(&p);
    assert!(matches!(e, Error::ShapeMismatch { .. }), "{e}");
    assert!(e.to_string().contains("[16, 1, 4, 4]"), "{e}");

    // A plain safetensors file without our metadata.
    let p = dir.join("plain.safetensors");
    let plain: Vec<_> = all.iter().map(|(n, t)| (n.clone(), t.copy())).collect();
    Tensor::write_safetensors(&plain, &p).unwrap();
    let e = err_of(&p);
    assert!(matches!(e, Error::NotSelfDescribing { .. }), "{e}");

    // More layers than the architecture: a wrong architecture.
    let mut more: Vec<_> = all.iter().map(|(n, t)| (n.clone(), t.copy())).collect();
    more.push((
        "model.model.9.weight".into(),
        Tensor::zeros([2], (Kind::Float, Device::Cpu)),
    ));
    let p = write_with(&dir, "extra.safetensors", &info, more);
    let e = err_of(&p);
    assert!(matches!(e, Error::UnexpectedTensor { .. }), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}
