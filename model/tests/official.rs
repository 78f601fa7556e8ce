//! Official PyTorch checkpoints load and compute the same thing as PyTorch.

mod common;

use pix2pix_model::image::{image_to_tensor, ImageRef, PixelLayout};
use pix2pix_model::tch::{Device, Tensor};
use pix2pix_model::{
    file, load_any_generator, load_official_checkpoint, torchpth, Error, Mode, ModelInfo,
    StoragePrecision, UnetConfig,
};

#[test]
fn official_checkpoint_matches_pytorch_on_a_real_photo() {
    let dir = common::tmpdir("official");
    let (rgb, w, h) = common::photo("chelsea_256.png");
    let img = ImageRef {
        data: &rgb,
        width: w,
        height: h,
        stride: w * 3,
        layout: PixelLayout::Rgb,
    };
    let x = image_to_tensor(&img, 3).unwrap();
    let n = x.numel();
    let mut raw = vec![0f32; n];
    x.copy_data(&mut raw, n);
    let bytes: Vec<u8> = raw.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(dir.join("input.f32"), bytes).unwrap();

    let ckpt = dir.join("latest_net_G.pth");
    common::run_python(&[
        "make-checkpoint",
        ckpt.to_str().unwrap(),
        "--input",
        dir.join("input.f32").to_str().unwrap(),
        "--output",
        dir.join("output.f32").to_str().unwrap(),
        "--size",
        &h.to_string(),
        &w.to_string(),
    ]);
    let expected: Vec<f32> = std::fs::read(dir.join("output.f32"))
        .unwrap()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    let expected = Tensor::from_slice(&expected).view([1, 3, h as i64, w as i64]);

    let state = torchpth::read_state_dict(&ckpt).unwrap();
    assert_eq!(
        state.len(),
        82,
        "official unet_256 state_dict has 82 entries"
    );

    // Explicit architecture options, as the reference's --netG unet_256 --norm batch.
    let g = load_official_checkpoint(&ckpt, Some(&UnetConfig::default()), Device::Cpu).unwrap();
    let y = g.try_forward(&x, Mode::Eval).unwrap();
    let diff = f64::try_from((&y - &expected).abs().max()).unwrap();
    assert!(diff < 1e-4, "max abs difference to PyTorch {diff}");
    // The output is not trivial.
    assert!(f64::try_from(y.std(true)).unwrap() > 0.01);

    // Inferred architecture and conversion to the self-describing file give the same.
    let (g2, info) = load_any_generator(&ckpt, Device::Cpu).unwrap();
    assert_eq!(g2.config(), &UnetConfig::default());
    let out = dir.join("converted.safetensors");
    let mut info = ModelInfo {
        task: "test".into(),
        ..info
    };
    info.source = "imported".into();
    file::save_generator(&g2, &info, &out, StoragePrecision::F32).unwrap();
    let (g3, info3) = load_any_generator(&out, Device::Cpu).unwrap();
    assert_eq!(info3, info);
    let y3 = g3.try_forward(&x, Mode::Eval).unwrap();
    let diff3 = f64::try_from((&y3 - &expected).abs().max()).unwrap();
    assert!(
        diff3 < 1e-4,
        "converted file differs from PyTorch by {diff3}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn checkpoint_that_would_run_code_is_refused() {
    let dir = common::tmpdir("malicious");
    let marker = dir.join("pwned");
    let ckpt = dir.join("evil.pth");
    common::run_python(&[
        "make-malicious",
        ckpt.to_str().unwrap(),
        "--marker",
        marker.to_str().unwrap(),
    ]);
    let err = torchpth::read_state_dict(&ckpt).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::UnsupportedPickle { .. }), "{msg}");
    assert!(
        msg.contains("refusing to call") && msg.contains("system"),
        "{msg}"
    );
    assert!(msg.contains("evil.pth"), "error names the file: {msg}");
    assert!(!marker.exists(), "code ran");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn broken_checkpoints_give_clear_errors() {
    let dir = common::tmpdir("brokenpth");
    let p = dir.join("notzip.pth");
    std::fs::write(&p, b"hello world, not a checkpoint").unwrap();
    let e = torchpth::read_state_dict(&p).unwrap_err().to_string();
    assert!(e.contains("notzip.pth") && e.contains("not a zip"), "{e}");
    let p = dir.join("legacy.pth");
    std::fs::write(&p, [0x80u8, 0x02, 0x8a, 0x0a]).unwrap();
    let e = torchpth::read_state_dict(&p).unwrap_err().to_string();
    assert!(e.contains("legacy"), "{e}");
    let e = torchpth::read_state_dict(&dir.join("absent.pth"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("absent.pth"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}
