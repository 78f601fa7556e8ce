//! Every script in pipelines/ runs on a few frames and writes a valid file.

use std::path::{Path, PathBuf};

use pix2pix_e2e::*;

fn model(dir: &Path, name: &str, input_nc: &str) -> PathBuf {
    small_model(dir, name, &["--input-nc", input_nc])
}

/// gst-discoverer-1.0's view of a file: (width, height, has audio).
fn discover(path: &Path, dir: &Path) -> (u32, u32, bool) {
    let o = gst_command("gst-discoverer-1.0", dir)
        .arg(path)
        .output()
        .unwrap();
    let t = text(&o);
    assert!(
        o.status.success() && t.contains("Width"),
        "{}: {t}",
        path.display()
    );
    let num = |key: &str| -> u32 {
        t.lines()
            .find_map(|l| l.trim().strip_prefix(key))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("{key} missing in {t}"))
    };
    (num("Width:"), num("Height:"), t.contains("audio #"))
}

/// Decoded video frames in a file.
fn frame_count(path: &Path, dir: &Path) -> usize {
    let frames = dir.join(format!(
        "frames-{}",
        path.file_stem().unwrap().to_string_lossy()
    ));
    let _ = std::fs::remove_dir_all(&frames);
    std::fs::create_dir_all(&frames).unwrap();
    let o = gst_launch(
        &format!(
            "filesrc location={} ! decodebin ! videoconvert ! videoscale ! video/x-raw,width=32,height=24 ! pngenc ! multifilesink location={}/%05d.png",
            path.display(),
            frames.display()
        ),
        dir,
    );
    assert!(o.status.success(), "{}", text(&o));
    std::fs::read_dir(&frames).unwrap().count()
}

/// A 10-frame 320x240 H.264 clip at 25 fps with an AAC audio track.
fn test_clip(dir: &Path) -> PathBuf {
    let clip = dir.join("clip.mp4");
    let o = gst_launch(
        &format!(
            "-e videotestsrc num-buffers=10 pattern=ball ! video/x-raw,width=320,height=240,framerate=25/1 ! videoconvert ! \
             x264enc ! h264parse ! mp4mux name=mux ! filesink location={} \
             audiotestsrc num-buffers=20 samplesperbuffer=1024 ! audioconvert ! avenc_aac ! aacparse ! mux.",
            clip.display()
        ),
        dir,
    );
    assert!(o.status.success(), "{}", text(&o));
    clip
}

#[test]
fn colorize_video_keeps_size_frames_and_audio() {
    let dir = tmpdir("pipe-video");
    let m = model(&dir, "gray2rgb", "1");
    let clip = test_clip(&dir);
    assert_eq!(frame_count(&clip, &dir), 10);
    let out = dir.join("out.mp4");
    let o = pipeline_script("colorize-video.sh", &dir, Some(&m), &[&clip, &out]);
    assert!(o.status.success(), "{}", text(&o));
    let (w, h, audio) = discover(&out, &dir);
    assert_eq!((w, h), (320, 240));
    assert!(audio, "the input's audio is kept");
    assert_eq!(
        frame_count(&out, &dir),
        10,
        "one output frame per input frame"
    );
    // The real sample clip (640x480 with audio) goes through too.
    let out = dir.join("cup.mp4");
    let o = pipeline_script(
        "colorize-video.sh",
        &dir,
        Some(&m),
        &[&root().join("pipelines/media/cup.mp4"), &out],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(discover(&out, &dir), (640, 480, true));
}

#[test]
fn side_by_side_video() {
    let dir = tmpdir("pipe-sbs");
    let m = model(&dir, "gray2rgb", "1");
    let out = dir.join("sbs.mp4");
    let clip = test_clip(&dir);
    let o = gst_command("bash", &dir)
        .arg(root().join("pipelines/side-by-side.sh"))
        .arg(&clip)
        .arg(&out)
        .env("MODEL", &m)
        .env("WIDTH", "320")
        .env("HEIGHT", "240")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(discover(&out, &dir), (640, 240, false));
    assert_eq!(frame_count(&out, &dir), 10);
}

#[test]
fn image_scripts() {
    let dir = tmpdir("pipe-image");
    let gray = model(&dir, "gray2rgb", "1");
    let rgb = model(&dir, "rgb2rgb", "3");
    for (name, m) in [("colorize-image.sh", &gray), ("facades.sh", &rgb)] {
        let out = dir.join(format!("{name}.png"));
        let o = pipeline_script(
            name,
            &dir,
            Some(m),
            &[&root().join("tests/data/chelsea_256.png"), &out],
        );
        assert!(o.status.success(), "{name}: {}", text(&o));
        let img = image::open(&out).unwrap();
        assert_eq!((img.width(), img.height()), (256, 256), "{name}");
    }
}

#[test]
fn camera_script_reports_a_missing_camera() {
    let dir = tmpdir("pipe-cam");
    let m = model(&dir, "gray2rgb", "1");
    let o = pipeline_script(
        "camera.sh",
        &dir,
        Some(&m),
        &[Path::new("/dev/no-such-camera")],
    );
    assert!(!o.status.success());
    assert!(text(&o).contains("no camera"), "{}", text(&o));
}

#[test]
fn application_examples_pull_translated_frames() {
    let dir = tmpdir("pipe-apps");
    let m = model(&dir, "gray2rgb", "1");
    let clip = root().join("pipelines/media/cup.mp4");
    let o = gst_command("/usr/bin/python3", &dir)
        .arg(root().join("pipelines/app.py"))
        .arg(&clip)
        .arg(&m)
        .arg("3")
        .output()
        .unwrap();
    assert!(o.status.success(), "app.py: {}", text(&o));
    assert!(text(&o).contains("frames processed: "), "{}", text(&o));
    assert_eq!(text(&o).matches("mean RGB").count(), 3);
    let example = target_dir().join("examples/appsink");
    assert!(example.exists(), "{} not built", example.display());
    let o = gst_command(example.to_str().unwrap(), &dir)
        .arg(&clip)
        .arg(&m)
        .arg("3")
        .output()
        .unwrap();
    assert!(o.status.success(), "appsink example: {}", text(&o));
    assert_eq!(text(&o).matches("mean RGB").count(), 3);
}
