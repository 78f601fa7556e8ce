//! Helpers for the end-to-end suites: locate the built plugin and binaries and
//! run the real command-line tools with a private GStreamer registry.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .unwrap()
}

/// `target/release` (or `target/debug`), where the plugin and the binaries are.
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/<test-binary>
    exe.parent().and_then(|p| p.parent()).unwrap().to_path_buf()
}

/// A file the workspace build puts in [`target_dir`], checked to exist.
pub fn built(name: &str) -> PathBuf {
    let p = target_dir().join(name);
    assert!(
        p.exists(),
        "{} not built: run `cargo test --workspace`",
        p.display()
    );
    p
}

pub fn plugin_path() -> PathBuf {
    built("libgstpix2pix.so")
}

pub fn trainer() -> PathBuf {
    built("pix2pix-train")
}

pub fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("pix2pix-e2e-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A command with the plugin on GST_PLUGIN_PATH, a private registry and no
/// LD_LIBRARY_PATH (the plugin must find libtorch by itself).
pub fn gst_command(program: &str, registry_dir: &Path) -> Command {
    let mut c = Command::new(program);
    c.env("GST_PLUGIN_PATH", plugin_path().parent().unwrap())
        .env("GST_REGISTRY", registry_dir.join("registry.bin"))
        .env_remove("LD_LIBRARY_PATH");
    c
}

/// Runs `pipelines/<name>` with `args` through bash, with the plugin of this
/// build; `model` sets the script's `MODEL`, `None` leaves its default model.
pub fn pipeline_script(name: &str, dir: &Path, model: Option<&Path>, args: &[&Path]) -> Output {
    let mut c = gst_command("bash", dir);
    c.arg(root().join("pipelines").join(name)).args(args);
    match model {
        Some(m) => c.env("MODEL", m),
        None => c.env_remove("MODEL"),
    };
    c.output().expect("bash runs")
}

/// Runs `gst-launch-1.0` with a pipeline description split into words.
pub fn gst_launch(pipeline: &str, dir: &Path) -> Output {
    gst_command("gst-launch-1.0", dir)
        .arg("-q")
        .args(pipeline.split_whitespace().filter(|w| *w != "\\"))
        .output()
        .expect("gst-launch-1.0 runs")
}

pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The project's Python with PyTorch (see `./run`).
pub fn python() -> PathBuf {
    if let Ok(p) = std::env::var("PIX2PIX_PYTHON") {
        return PathBuf::from(p);
    }
    let p =
        PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/pix2pix-gst/venv/bin/python");
    assert!(p.exists(), "{} missing: run `./run test`", p.display());
    p
}

/// A small untrained generator (unet_128, ngf 8) written by `pix2pix-train init`
/// into `dir/<name>.safetensors`; `extra` adds options such as `--input-nc 1`.
pub fn small_model(dir: &Path, name: &str, extra: &[&str]) -> PathBuf {
    let out = dir.join(format!("{name}.safetensors"));
    let o = Command::new(trainer())
        .args([
            "init",
            "--netg",
            "unet_128",
            "--ngf",
            "8",
            "--image-size",
            "128",
            "--seed",
            "4",
        ])
        .args(extra)
        .arg("--out")
        .arg(&out)
        .output()
        .expect("pix2pix-train runs");
    assert!(o.status.success(), "{}", text(&o));
    out
}

pub mod http;
pub mod serve;
