#![allow(dead_code)]
use std::path::PathBuf;
use std::process::Command;

/// The Python of the project's virtual environment (with PyTorch 2.11.0),
/// as set up by `./run`; `PIX2PIX_PYTHON` overrides it.
pub fn python() -> PathBuf {
    if let Ok(p) = std::env::var("PIX2PIX_PYTHON") {
        return PathBuf::from(p);
    }
    let home = std::env::var("HOME").expect("HOME");
    let p = PathBuf::from(home).join(".cache/pix2pix-gst/venv/bin/python");
    assert!(
        p.exists(),
        "{} not found: run `./run test` (it sets up the virtual environment) or set PIX2PIX_PYTHON",
        p.display()
    );
    p
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub fn reference_script() -> PathBuf {
    repo().join("tests/python/reference_pix2pix.py")
}

pub fn run_python(args: &[&str]) {
    let out = Command::new(python())
        .arg(reference_script())
        .args(args)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "reference script failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("pix2pix-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Loads a test photo as packed RGB.
pub fn photo(name: &str) -> (Vec<u8>, usize, usize) {
    let img = image::open(repo().join("tests/data").join(name))
        .expect("open test photo")
        .to_rgb8();
    let (w, h) = img.dimensions();
    (img.into_raw(), w as usize, h as usize)
}
