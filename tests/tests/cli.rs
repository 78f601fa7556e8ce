//! The built plugin in the real command-line tools, as users run them.

use pix2pix_e2e::*;
use std::process::Command;

fn model(dir: &std::path::Path, args: &[&str]) -> std::path::PathBuf {
    small_model(dir, "m", args)
}

#[test]
fn gst_inspect_documents_every_property() {
    let dir = tmpdir("inspect");
    let o = gst_command("gst-inspect-1.0", &dir)
        .arg("pix2pixtranslate")
        .output()
        .unwrap();
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("Filter/Effect/Video"));
    for prop in [
        "model-location",
        "device",
        "precision",
        "resize-mode",
        "inference-mode",
        "seed",
        "preserve-luma",
        "mix",
        "threads",
        "tile-overlap",
        "pipelined",
        "frames-processed",
        "inference-ms-last",
        "inference-ms-mean",
    ] {
        let line = t
            .lines()
            .position(|l| l.trim_start().starts_with(&format!("{prop} ")))
            .unwrap_or_else(|| panic!("{prop} not documented"));
        let block: String = t.lines().skip(line).take(4).collect::<Vec<_>>().join("\n");
        assert!(
            block.contains("Default") || block.contains("readable"),
            "{prop}: {block}"
        );
    }
    for mode in ["stretch", "letterbox", "pad", "tile"] {
        assert!(t.contains(mode));
    }
}

#[test]
fn still_image_through_gst_launch() {
    let dir = tmpdir("still");
    let m = model(&dir, &[]);
    let photo = root().join("tests/data/chelsea_256.png");
    let out = dir.join("out.png");
    let o = gst_launch(
        &format!(
            "filesrc location={} ! decodebin ! videoconvert ! pix2pixtranslate model-location={} resize-mode=letterbox ! videoconvert ! pngenc ! filesink location={}",
            photo.display(), m.display(), out.display()
        ),
        &dir,
    );
    assert!(o.status.success(), "{}", text(&o));
    let img = image::open(&out).unwrap();
    assert_eq!((img.width(), img.height()), (256, 256));
}

#[test]
fn errors_are_visible_in_gst_launch_output() {
    let dir = tmpdir("errors");
    let o = gst_launch(
        "videotestsrc num-buffers=2 ! pix2pixtranslate model-location=/no/such/model.safetensors ! fakesink",
        &dir,
    );
    assert!(!o.status.success());
    let t = text(&o);
    assert!(t.contains("/no/such/model.safetensors"), "{t}");
    let m = model(&dir, &[]);
    let o = gst_launch(
        &format!("videotestsrc num-buffers=2 ! pix2pixtranslate device=cuda model-location={} ! fakesink", m.display()),
        &dir,
    );
    if !o.status.success() {
        assert!(text(&o).contains("CUDA"), "{}", text(&o));
    }
    let o = gst_launch(
        &format!(
            "videotestsrc num-buffers=2 ! pix2pixtranslate device=tpu model-location={} ! fakesink",
            m.display()
        ),
        &dir,
    );
    assert!(!o.status.success());
    assert!(
        text(&o).contains("expected cpu, cuda or cuda:N"),
        "{}",
        text(&o)
    );
}

#[test]
fn official_checkpoint_runs_in_the_element_and_imports() {
    let dir = tmpdir("official");
    // A reference generator made by PyTorch itself (random weights), saved with torch.save.
    let input = dir.join("in.f32");
    std::fs::write(&input, vec![0u8; 3 * 256 * 256 * 4]).unwrap();
    let ckpt = dir.join("latest_net_G.pth");
    let o = Command::new(python())
        .arg(root().join("tests/python/reference_pix2pix.py"))
        .args([
            "make-checkpoint",
            ckpt.to_str().unwrap(),
            "--input",
            input.to_str().unwrap(),
            "--output",
            dir.join("o.f32").to_str().unwrap(),
            "--ngf",
            "16",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let imported = dir.join("imported.safetensors");
    let o = Command::new(trainer())
        .args(["import", "--infer", "--task", "test", "--out"])
        .arg(&imported)
        .arg(&ckpt)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let photo = root().join("tests/data/coffee_256.png");
    let mut outs = Vec::new();
    for (i, m) in [&ckpt, &imported].iter().enumerate() {
        let out = dir.join(format!("out{i}.png"));
        let o = gst_launch(
            &format!(
                "filesrc location={} ! decodebin ! videoconvert ! pix2pixtranslate model-location={} ! videoconvert ! video/x-raw,format=RGB ! pngenc ! filesink location={}",
                photo.display(), m.display(), out.display()
            ),
            &dir,
        );
        assert!(o.status.success(), "{}", text(&o));
        outs.push(image::open(&out).unwrap().to_rgb8());
    }
    assert_eq!(
        outs[0].as_raw(),
        outs[1].as_raw(),
        ".pth and imported file give the same pixels"
    );
}

#[test]
fn trainer_commands_have_help() {
    for sub in [
        vec!["--help"],
        vec!["init", "--help"],
        vec!["import", "--help"],
        vec!["info", "--help"],
        vec!["translate", "--help"],
    ] {
        let o = Command::new(trainer()).args(&sub).output().unwrap();
        assert!(o.status.success(), "{sub:?}");
        assert!(text(&o).contains("Usage"), "{sub:?}");
    }
}

#[test]
fn translate_command_writes_images() {
    let dir = tmpdir("translate");
    let m = model(&dir, &[]);
    let out = dir.join("out");
    let o = Command::new(trainer())
        .args(["translate", "--resize-mode", "pad", "-m"])
        .arg(&m)
        .arg(root().join("tests/data"))
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    for name in ["chelsea_256.png", "coffee_256.png"] {
        let img = image::open(out.join(name)).unwrap();
        assert_eq!((img.width(), img.height()), (256, 256));
    }
}

#[test]
fn demo_script_writes_clip_and_contact_sheet() {
    let dir = tmpdir("demo");
    let m = model(&dir, &["--input-nc", "1"]);
    let o = gst_command("bash", &dir)
        .arg(root().join("scripts/demo.sh"))
        .arg(&dir)
        .env("MODEL", &m)
        .output()
        .unwrap();
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("frames per second"), "{t}");
    assert!(t.contains("colorizing 217 frames"), "{t}");
    let sheet = image::open(dir.join("demo/contact_sheet.png")).unwrap();
    assert_eq!(sheet.width(), 3 * (320 + 6) + 6, "three columns");
    assert!(sheet.height() > 3 * 240, "several frames");
    assert!(dir.join("demo/cup_colorized.mp4").exists());
}

#[test]
fn exported_model_gives_the_same_pixels_in_the_element_and_the_trainer() {
    let dir = tmpdir("export");
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    for i in 0..3u32 {
        image::RgbImage::from_fn(256, 128, |x, y| {
            image::Rgb([(x * 2 + i) as u8, (y * 2) as u8, ((x + y) % 256) as u8])
        })
        .save(data.join(format!("{i}.png")))
        .unwrap();
    }
    let run = dir.join("run");
    let o = Command::new(trainer())
        .args(["--threads", "1", "train"])
        .arg(&data)
        .arg("-o")
        .arg(&run)
        .args([
            "--netg",
            "unet_128",
            "--ngf",
            "8",
            "--ndf",
            "8",
            "--load-size",
            "128",
            "--crop-size",
            "128",
            "--max-steps",
            "4",
            "--quiet",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let model = dir.join("exported.safetensors");
    let o = Command::new(trainer())
        .arg("export")
        .arg(run.join("checkpoints/latest.safetensors"))
        .arg("-o")
        .arg(&model)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    // A 128x128 input: the model's own size, so both run the plain eval forward.
    let input = dir.join("in.png");
    image::RgbImage::from_fn(128, 128, |x, y| {
        image::Rgb([(x * 2) as u8, (y * 2) as u8, ((x * y) % 256) as u8])
    })
    .save(&input)
    .unwrap();
    let by_trainer = dir.join("trainer.png");
    let o = Command::new(trainer())
        .args(["translate", "-m"])
        .arg(&model)
        .arg(&input)
        .arg("-o")
        .arg(&by_trainer)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let by_element = dir.join("element.png");
    let o = gst_launch(
        &format!(
            "filesrc location={} ! decodebin ! videoconvert ! video/x-raw,format=RGB ! pix2pixtranslate model-location={} ! video/x-raw,format=RGB ! pngenc ! filesink location={}",
            input.display(), model.display(), by_element.display()
        ),
        &dir,
    );
    assert!(o.status.success(), "{}", text(&o));
    let a = image::open(&by_trainer).unwrap().to_rgb8();
    let b = image::open(&by_element).unwrap().to_rgb8();
    assert_eq!(a.dimensions(), b.dimensions());
    assert_eq!(a.as_raw(), b.as_raw(), "element and trainer differ");
}
