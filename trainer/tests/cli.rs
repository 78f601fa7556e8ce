//! The `pix2pix-train` binary: checkpoints survive kills, Ctrl-C saves, export works.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_pix2pix-train")
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("pix2pix-train-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn dataset(dir: &Path, n: usize) {
    std::fs::create_dir_all(dir).unwrap();
    for i in 0..n {
        let img = image::RgbImage::from_fn(256, 128, |x, y| {
            let v = ((x * 3 + y * 5 + i as u32 * 17) % 256) as u8;
            if x < 128 {
                image::Rgb([v, 255 - v, 128])
            } else {
                image::Rgb([255 - v, v, 127])
            }
        });
        img.save(dir.join(format!("{i}.png"))).unwrap();
    }
}

fn train_cmd(data: &Path, out: &Path, checkpoint_every: u32) -> Command {
    let mut c = Command::new(bin());
    c.args(["--threads", "1", "train"])
        .arg(data)
        .arg("-o")
        .arg(out)
        .args([
            "--netg",
            "unet_128",
            "--ngf",
            "8",
            "--ndf",
            "8",
            "--load-size",
            "136",
            "--crop-size",
            "128",
            "--sample-every",
            "1000",
            "--n-epochs",
            "50",
            "--n-epochs-decay",
            "0",
            "--quiet",
        ])
        .args(["--checkpoint-every", &checkpoint_every.to_string()]);
    c
}

fn loads(path: &Path) -> Result<u64, String> {
    pix2pix_train::train::Trainer::load_checkpoint(path, None)
        .map(|t| t.progress.step)
        .map_err(|e| e.to_string())
}

#[test]
fn checkpoint_survives_kills_during_writes() {
    let dir = tmp("kill");
    dataset(&dir.join("data"), 4);
    let out = dir.join("run");
    let mut last_step = 0;
    let mut resume = false;
    for round in 0..4u64 {
        let mut c = train_cmd(&dir.join("data"), &out, 1);
        if resume {
            c.arg("--resume");
        }
        let mut child = c
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Wait until the run has a checkpoint, then kill at an arbitrary moment.
        let started = Instant::now();
        while !out.join("checkpoints/latest.safetensors").exists()
            && started.elapsed() < Duration::from_secs(60)
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(150 + round * 137));
        child.kill().unwrap(); // SIGKILL: no chance to clean up
        child.wait().unwrap();
        let step = loads(&out.join("checkpoints/latest.safetensors"))
            .unwrap_or_else(|e| panic!("round {round}: checkpoint unreadable after kill: {e}"));
        assert!(step >= last_step, "progress went backwards");
        last_step = step;
        resume = true;
    }
    assert!(last_step > 0);
}

#[test]
fn ctrl_c_saves_a_checkpoint_and_exits_cleanly() {
    let dir = tmp("sigint");
    dataset(&dir.join("data"), 3);
    let out = dir.join("run");
    let mut c = train_cmd(&dir.join("data"), &out, 100_000);
    let child = c
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let losses = out.join("losses.jsonl");
    let started = Instant::now();
    while std::fs::read_to_string(&losses)
        .map(|s| s.lines().count())
        .unwrap_or(0)
        < 3
    {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "training did not start"
        );
        assert!(child.id() > 0);
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{err}");
    assert!(err.contains("interrupted"), "{err}");
    let step = loads(&out.join("checkpoints/latest.safetensors")).unwrap();
    assert!(step >= 3);
}

#[test]
fn export_eval_and_help() {
    let dir = tmp("export");
    dataset(&dir.join("data"), 3);
    let out = dir.join("run");
    let o = train_cmd(&dir.join("data"), &out, 1)
        .args(["--max-steps", "3"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let model = dir.join("m.safetensors");
    let o = Command::new(bin())
        .args(["export", "--storage", "fp16", "-o"])
        .arg(&model)
        .arg(out.join("checkpoints/latest.safetensors"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let info = pix2pix_model::file::read_info(&model).unwrap();
    assert_eq!(info.image_size, 128);
    assert!(info.source.contains("3 steps"), "{}", info.source);
    let o = Command::new(bin())
        .args(["eval", "-m"])
        .arg(&model)
        .arg(dir.join("data"))
        .arg("-o")
        .arg(dir.join("eval"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(text.contains("PSNR") && text.contains("SSIM"), "{text}");
    assert!(dir.join("eval/grid.png").exists());
    for sub in [
        "train",
        "eval",
        "export",
        "import",
        "translate",
        "init",
        "info",
    ] {
        let o = Command::new(bin()).args([sub, "--help"]).output().unwrap();
        assert!(o.status.success(), "{sub} --help");
    }
    // An empty dataset is a clear error, not a panic.
    std::fs::create_dir_all(dir.join("empty")).unwrap();
    let o = train_cmd(&dir.join("empty"), &dir.join("run2"), 1)
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("holds no images"));
}
