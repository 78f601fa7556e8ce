//! The trainer on tiny generated datasets: it learns, resumes exactly, survives
//! kills, skips broken images and refuses empty datasets.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use pix2pix_model::tch::{Device, Kind};
use pix2pix_model::{Norm, PatchGanConfig, UnetConfig};
use pix2pix_train::data::{DataConfig, Dataset, Direction, Preprocess};
use pix2pix_train::train::{self, GanMode, LrPolicy, RunDir, TrainConfig, Trainer};

/// libtorch's random generator and thread pool are process-wide: runs that
/// must be reproducible do not overlap.
static EXCLUSIVE: Mutex<()> = Mutex::new(());

/// Tiny networks gain nothing from more threads, and an OpenMP team that
/// shares its cores with other processes spins at every barrier.
fn single_thread() {
    pix2pix_model::runtime::set_threads(1);
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("pix2pix-train-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Aligned A|B images where B is the colour inversion of A: a learnable mapping.
fn inversion_dataset(dir: &Path, n: usize, size: u32) {
    std::fs::create_dir_all(dir).unwrap();
    for i in 0..n {
        let mut img = image::RgbImage::new(size * 2, size);
        let (cx, cy) = (
            (i * 7 % size as usize) as f32,
            (i * 13 % size as usize) as f32,
        );
        for y in 0..size {
            for x in 0..size {
                let d = ((x as f32 - cx).powi(2) + (y as f32 - cy).powi(2)).sqrt();
                let p = [
                    (x * 255 / size) as u8,
                    (y * 255 / size) as u8,
                    if d < size as f32 / 3.0 {
                        230
                    } else {
                        30 + (i as u8 * 9)
                    },
                ];
                img.put_pixel(x, y, image::Rgb(p));
                img.put_pixel(
                    x + size,
                    y,
                    image::Rgb([255 - p[0], 255 - p[1], 255 - p[2]]),
                );
            }
        }
        img.save(dir.join(format!("{i:03}.png"))).unwrap();
    }
}

fn config(dataroot: &Path, separate: bool) -> TrainConfig {
    TrainConfig {
        dataroot: dataroot.to_owned(),
        task: None,
        direction: Direction::AtoB,
        data: DataConfig {
            preprocess: Preprocess::ResizeAndCrop,
            load_size: 36,
            crop_size: 32,
            flip: true,
            input_nc: 3,
            output_nc: 3,
        },
        generator: UnetConfig {
            num_downs: 5,
            ngf: 8,
            input_nc: 3,
            output_nc: 3,
            norm: Norm::Batch,
            dropout: true,
        },
        discriminator: PatchGanConfig {
            input_nc: 6,
            ndf: 8,
            n_layers: 2,
            norm: Norm::Batch,
        },
        gan_mode: GanMode::Vanilla,
        lambda_l1: 100.0,
        lr: 2e-3,
        beta1: 0.5,
        beta2: 0.999,
        lr_policy: LrPolicy::Linear,
        n_epochs: 1000,
        n_epochs_decay: 0,
        lr_decay_iters: 50,
        batch_size: 4,
        seed: 7,
        separate,
        device: "cpu".into(),
        max_steps: None,
        sample_every: 0,
        checkpoint_every: 0,
        val_dir: None,
        val_every: 0,
        workers: 2,
        num_samples: 2,
    }
}

fn eval_l1(t: &Trainer) -> f64 {
    let cfg = train::eval_data_config(&t.config.data);
    let data = Arc::new(Dataset::open(&t.config.dataroot, None, Direction::AtoB, cfg).unwrap());
    train::evaluate(&t.g, &data, Device::Cpu).l1
}

fn learns(separate: bool) {
    let _x = EXCLUSIVE.lock().unwrap_or_else(|e| e.into_inner());
    single_thread();
    let dir = tmp(if separate { "learn-sep" } else { "learn-fused" });
    inversion_dataset(&dir.join("data"), 16, 32);
    let mut cfg = config(&dir.join("data"), separate);
    cfg.max_steps = Some(300);
    let mut t = Trainer::new(cfg).unwrap();
    let before = eval_l1(&t);
    let run = RunDir {
        root: dir.join("run"),
    };
    let summary = train::run(&mut t, &run, Arc::new(AtomicBool::new(false)), true).unwrap();
    assert_eq!(summary.steps, 300);
    let after = eval_l1(&t);
    eprintln!(
        "{}: L1 {before:.4} -> {after:.4}",
        if separate { "separate" } else { "fused" }
    );
    assert!(
        after < before * 0.5,
        "L1 {before:.4} -> {after:.4} ({})",
        if separate { "separate" } else { "fused" }
    );
    // What a user looks at exists.
    for f in [
        "index.html",
        "loss_curve.png",
        "losses.jsonl",
        "config.json",
        "checkpoints/latest.safetensors",
    ] {
        assert!(run.root.join(f).exists(), "{f}");
    }
    assert!(std::fs::read_dir(run.samples()).unwrap().count() >= 1);
    let html = std::fs::read_to_string(run.root.join("index.html")).unwrap();
    assert!(html.contains("samples/step_") && html.contains("loss_curve.png"));
}

#[test]
fn fused_training_learns_inversion() {
    learns(false);
}

#[test]
fn separate_training_learns_inversion() {
    learns(true);
}

fn weights(t: &Trainer) -> Vec<(String, Vec<f32>)> {
    let mut out = Vec::new();
    for (prefix, vs) in [("G", t.g.var_store()), ("D", t.d.var_store())] {
        let mut vars: Vec<_> = vs.variables().into_iter().collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        for (n, v) in vars {
            let v = v.to_kind(Kind::Float).flatten(0, -1);
            out.push((format!("{prefix}.{n}"), Vec::<f32>::try_from(&v).unwrap()));
        }
    }
    out
}

#[test]
fn resume_is_exact() {
    let _x = EXCLUSIVE.lock().unwrap_or_else(|e| e.into_inner());
    single_thread();
    let dir = tmp("resume");
    inversion_dataset(&dir.join("data"), 6, 32);
    let mut cfg = config(&dir.join("data"), false);
    cfg.batch_size = 1;
    cfg.max_steps = Some(20);
    let stop = || Arc::new(AtomicBool::new(false));

    let mut whole = Trainer::new(cfg.clone()).unwrap();
    train::run(
        &mut whole,
        &RunDir {
            root: dir.join("whole"),
        },
        stop(),
        true,
    )
    .unwrap();

    let mut half = cfg.clone();
    half.max_steps = Some(10);
    let mut first = Trainer::new(half).unwrap();
    let run = RunDir {
        root: dir.join("split"),
    };
    train::run(&mut first, &run, stop(), true).unwrap();
    drop(first);
    let mut resumed = Trainer::load_checkpoint(&run.latest(), None).unwrap();
    assert_eq!(resumed.progress.step, 10);
    resumed.config.max_steps = Some(20);
    train::run(&mut resumed, &run, stop(), true).unwrap();
    assert_eq!(resumed.progress.step, 20);
    assert_eq!(resumed.progress.epoch, whole.progress.epoch);

    let (a, b) = (weights(&whole), weights(&resumed));
    assert_eq!(a.len(), b.len());
    for ((na, va), (_, vb)) in a.iter().zip(b.iter()) {
        assert!(va == vb, "{na} differs after resume");
    }
}

#[test]
fn corrupt_images_are_skipped_and_empty_datasets_refused() {
    let _x = EXCLUSIVE.lock().unwrap_or_else(|e| e.into_inner());
    single_thread();
    let dir = tmp("corrupt");
    let data = dir.join("data");
    inversion_dataset(&data, 4, 32);
    std::fs::write(data.join("002.png"), b"\x89PNG this is not really a png").unwrap();
    let mut cfg = config(&data, false);
    cfg.batch_size = 1;
    cfg.max_steps = Some(6);
    let mut t = Trainer::new(cfg).unwrap();
    let s = train::run(
        &mut t,
        &RunDir {
            root: dir.join("run"),
        },
        Arc::new(AtomicBool::new(false)),
        true,
    )
    .unwrap();
    assert_eq!(s.steps, 6, "training went on");
    assert!(!s.skipped.is_empty());
    assert!(
        s.skipped.iter().all(|m| m.contains("002.png")),
        "{:?}",
        s.skipped
    );

    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    std::fs::write(empty.join("notes.txt"), "no images here").unwrap();
    let err = Dataset::open(&empty, None, Direction::AtoB, config(&empty, false).data).unwrap_err();
    assert!(err.to_string().contains("holds no images"), "{err}");
    let err = Dataset::open(
        &dir.join("missing"),
        None,
        Direction::AtoB,
        config(&empty, false).data,
    )
    .unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");
}

#[test]
fn photos_make_colorize_and_edge_pairs() {
    let dir = tmp("photos");
    let photos = dir.join("photos/sub");
    inversion_dataset(&photos, 3, 48);
    for task in [
        pix2pix_train::data::Task::Colorize,
        pix2pix_train::data::Task::Edges,
    ] {
        let cfg = DataConfig {
            preprocess: Preprocess::ResizeAndCrop,
            load_size: 40,
            crop_size: 32,
            flip: true,
            input_nc: 1,
            output_nc: 3,
        };
        let ds = Dataset::open(&dir.join("photos"), Some(task), Direction::AtoB, cfg).unwrap();
        assert_eq!(ds.len(), 3, "found recursively");
        let s = ds.load(0, &mut pix2pix_train::data::Rng::new(1)).unwrap();
        assert_eq!(s.a.len(), 32 * 32);
        assert_eq!(s.b.len(), 3 * 32 * 32);
        if task == pix2pix_train::data::Task::Edges {
            // Binary: black edges on white.
            assert!(s.a.iter().all(|&v| v == 1.0 || v == -1.0));
            assert!(s.a.contains(&-1.0) && s.a.contains(&1.0));
        } else {
            // Input is the luma of the target.
            let plane = 32 * 32;
            for i in (0..plane).step_by(97) {
                let (r, g, b) = (s.b[i], s.b[plane + i], s.b[2 * plane + i]);
                let y = 0.299 * r + 0.587 * g + 0.114 * b;
                assert!((y - s.a[i]).abs() < 0.01, "{y} vs {}", s.a[i]);
            }
        }
    }
}
