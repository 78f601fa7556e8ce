//! `train`, `eval` and `export`.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::Args;
use pix2pix_model::{file, tch, Mode, Norm, PatchGanConfig, UnetConfig};
use pix2pix_train::data::{DataConfig, Dataset, Direction, Preprocess, Task};
use pix2pix_train::train::{self, GanMode, LrPolicy, RunDir, TrainConfig, Trainer};

use crate::StorageArg;

#[derive(Args)]
pub struct TrainArgs {
    /// Dataset folder: aligned A|B images, `A/` + `B/` folders, or plain photos with --task.
    #[arg(required_unless_present = "resume")]
    pub dataroot: Option<PathBuf>,
    /// Run folder for checkpoints, samples, losses and index.html.
    #[arg(short, long, default_value = "runs/pix2pix")]
    pub out: PathBuf,
    /// Continue the run in --out from its latest checkpoint (other options come from it;
    /// --max-steps and --device may be given anew).
    #[arg(long)]
    pub resume: bool,
    /// Make pairs from plain photos: colorize (gray → colour) or edges (edge map → photo).
    #[arg(long, value_enum)]
    pub task: Option<Task>,
    /// For aligned or paired data: which side is the input.
    #[arg(long, value_enum, default_value = "AtoB")]
    pub direction: Direction,
    #[arg(long, value_enum, default_value = "resize_and_crop")]
    pub preprocess: Preprocess,
    #[arg(long, default_value_t = 286)]
    pub load_size: u32,
    #[arg(long, default_value_t = 256)]
    pub crop_size: u32,
    /// No random horizontal flip.
    #[arg(long)]
    pub no_flip: bool,
    /// Generator: unet_128 or unet_256.
    #[arg(long, default_value = "unet_256")]
    pub netg: String,
    #[arg(long, default_value_t = 64)]
    pub ngf: i64,
    #[arg(long, default_value_t = 64)]
    pub ndf: i64,
    /// Discriminator conv layers (3 = 70x70 PatchGAN).
    #[arg(long, default_value_t = 3)]
    pub n_layers: u32,
    #[arg(long, default_value = "batch")]
    pub norm: String,
    #[arg(long)]
    pub no_dropout: bool,
    /// Input channels (default: 1 for --task, else 3).
    #[arg(long)]
    pub input_nc: Option<i64>,
    #[arg(long, default_value_t = 3)]
    pub output_nc: i64,
    #[arg(long, value_enum, default_value = "vanilla")]
    pub gan_mode: GanMode,
    /// Weight of the L1 term.
    #[arg(long, default_value_t = 100.0)]
    pub lambda_l1: f64,
    #[arg(long, default_value_t = 2e-4)]
    pub lr: f64,
    #[arg(long, default_value_t = 0.5)]
    pub beta1: f64,
    #[arg(long, value_enum, default_value = "linear")]
    pub lr_policy: LrPolicy,
    /// Epochs at the initial learning rate.
    #[arg(long, default_value_t = 100)]
    pub n_epochs: u64,
    /// Epochs of linear decay to zero.
    #[arg(long, default_value_t = 100)]
    pub n_epochs_decay: u64,
    /// For --lr-policy step: epochs between decays.
    #[arg(long, default_value_t = 50)]
    pub lr_decay_iters: u64,
    #[arg(long, default_value_t = 1)]
    pub batch_size: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// The reference's separate discriminator passes instead of the fused pass.
    #[arg(long)]
    pub separate: bool,
    /// cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Stop after this many steps in total.
    #[arg(long)]
    pub max_steps: Option<u64>,
    /// Save a sample grid every N steps.
    #[arg(long, default_value_t = 200)]
    pub sample_every: u64,
    /// Save a checkpoint every N steps.
    #[arg(long, default_value_t = 500)]
    pub checkpoint_every: u64,
    /// Held-out set (same layout as the dataset): L1, PSNR, SSIM every --val-every steps; best checkpoint kept.
    #[arg(long)]
    pub val: Option<PathBuf>,
    #[arg(long, default_value_t = 500)]
    pub val_every: u64,
    /// Data loading threads.
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
    /// Images in the sample grid.
    #[arg(long, default_value_t = 4)]
    pub num_samples: usize,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

fn config_from(a: &TrainArgs) -> Result<TrainConfig> {
    let dataroot = a.dataroot.clone().context("a dataset folder is required")?;
    let input_nc = a.input_nc.unwrap_or(if a.task.is_some() { 1 } else { 3 });
    let norm: Norm = a.norm.parse()?;
    let generator = UnetConfig {
        input_nc,
        output_nc: a.output_nc,
        ngf: a.ngf,
        norm,
        dropout: !a.no_dropout,
        ..UnetConfig::from_netg(&a.netg)?
    };
    let m = generator.size_multiple() as u32;
    if a.crop_size % m != 0 {
        bail!(
            "--crop-size {} must be a multiple of {m} for {}",
            a.crop_size,
            a.netg
        );
    }
    Ok(TrainConfig {
        dataroot,
        task: a.task,
        direction: a.direction,
        data: DataConfig {
            preprocess: a.preprocess,
            load_size: a.load_size,
            crop_size: a.crop_size,
            flip: !a.no_flip,
            input_nc,
            output_nc: a.output_nc,
        },
        generator,
        discriminator: PatchGanConfig {
            input_nc: input_nc + a.output_nc,
            ndf: a.ndf,
            n_layers: a.n_layers,
            norm,
        },
        gan_mode: a.gan_mode,
        lambda_l1: a.lambda_l1,
        lr: a.lr,
        beta1: a.beta1,
        beta2: 0.999,
        lr_policy: a.lr_policy,
        n_epochs: a.n_epochs,
        n_epochs_decay: a.n_epochs_decay,
        lr_decay_iters: a.lr_decay_iters,
        batch_size: a.batch_size.max(1),
        seed: a.seed,
        separate: a.separate,
        device: a.device.clone(),
        max_steps: a.max_steps,
        sample_every: a.sample_every,
        checkpoint_every: a.checkpoint_every,
        val_dir: a.val.clone(),
        val_every: a.val_every,
        workers: a.workers,
        num_samples: a.num_samples,
    })
}

pub fn train(a: TrainArgs) -> Result<()> {
    let run = RunDir {
        root: a.out.clone(),
    };
    let mut trainer = if a.resume {
        let latest = run.latest();
        if !latest.exists() {
            bail!("nothing to resume: {} does not exist", latest.display());
        }
        let device = (a.device != "cpu").then_some(a.device.as_str());
        let mut t = Trainer::load_checkpoint(&latest, device)?;
        if a.max_steps.is_some() {
            t.config.max_steps = a.max_steps;
        }
        eprintln!(
            "resuming {} at step {} (epoch {})",
            run.root.display(),
            t.progress.step,
            t.progress.epoch + 1
        );
        t
    } else {
        if run.latest().exists() {
            bail!(
                "{} already holds a run: use --resume to continue it or choose another --out",
                run.root.display()
            );
        }
        Trainer::new(config_from(&a)?)?
    };
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        ctrlc::set_handler(move || {
            if stop.swap(true, Ordering::SeqCst) {
                eprintln!("\nsecond Ctrl-C: exiting without a checkpoint");
                std::process::exit(130);
            }
            eprintln!("\nCtrl-C: saving a checkpoint after this step (press again to abort)");
        })
        .context("installing the Ctrl-C handler")?;
    }
    eprintln!(
        "training {} on {} ({}, {} threads), run folder {}",
        trainer.config.generator.describe(),
        trainer.config.dataroot.display(),
        trainer.config.device,
        pix2pix_model::runtime::threads(),
        run.root.display()
    );
    let summary = train::run(&mut trainer, &run, stop, a.quiet)?;
    eprintln!(
        "{} at step {} (epoch {}) after {:.1} s: {:.2} steps/s, data wait {:.1} % of the time",
        if summary.interrupted {
            "interrupted"
        } else {
            "finished"
        },
        summary.steps,
        summary.epochs,
        summary.wall.as_secs_f64(),
        if summary.wall.as_secs_f64() > 0.0 {
            summary.steps_this_run as f64 / summary.wall.as_secs_f64()
        } else {
            0.0
        },
        summary.data_wait_share() * 100.0
    );
    let l = summary.last_losses;
    eprintln!(
        "last losses: D real {:.3} D fake {:.3} G GAN {:.3} L1 {:.4}",
        l.d_real, l.d_fake, l.g_gan, l.g_l1
    );
    if let Some(v) = summary.val {
        eprintln!(
            "validation: L1 {:.4}  PSNR {:.2} dB  SSIM {:.4} on {} images",
            v.l1, v.psnr, v.ssim, v.images
        );
    }
    if !summary.skipped.is_empty() {
        eprintln!("skipped {} unreadable image(s):", summary.skipped.len());
        for s in &summary.skipped {
            eprintln!("  {s}");
        }
    }
    eprintln!(
        "checkpoint {}; report {}",
        run.latest().display(),
        run.root.join("index.html").display()
    );
    Ok(())
}

#[derive(Args)]
pub struct EvalArgs {
    /// A model file, an official checkpoint, or a pix2pix-train checkpoint.
    #[arg(short, long)]
    pub model: PathBuf,
    /// Held-out set in the training layout.
    pub data: PathBuf,
    /// Photos → pairs (defaults to the model's task when it is colorize or edges2photo).
    #[arg(long, value_enum)]
    pub task: Option<Task>,
    /// Direction for aligned/paired data (defaults to the model's).
    #[arg(long, value_enum)]
    pub direction: Option<Direction>,
    /// Folder for the image grid and scores.json.
    #[arg(short, long)]
    pub out: Option<PathBuf>,
    /// Images in the grid.
    #[arg(long, default_value_t = 8)]
    pub grid: usize,
    #[arg(long, default_value = "cpu")]
    pub device: String,
}

pub fn eval(a: EvalArgs) -> Result<()> {
    let device = pix2pix_model::runtime::parse_device(&a.device)?;
    let is_ckpt = {
        let head = file::read_safetensors(&a.model).ok();
        head.map(|(_, m)| m.get("format").map(String::as_str) == Some("pix2pix-gst-checkpoint"))
            .unwrap_or(false)
    };
    let (g, info) = if is_ckpt {
        let t = Trainer::load_checkpoint(&a.model, Some(&a.device))?;
        let info = t.model_info();
        (t.g, info)
    } else {
        pix2pix_model::load_any_generator(&a.model, device)
            .with_context(|| format!("loading {}", a.model.display()))?
    };
    let task = a.task.or(match info.task.as_str() {
        "colorize" => Some(Task::Colorize),
        "edges2photo" => Some(Task::Edges),
        _ => None,
    });
    let direction = a.direction.unwrap_or(if info.direction == "BtoA" {
        Direction::BtoA
    } else {
        Direction::AtoB
    });
    let cfg = DataConfig {
        preprocess: Preprocess::None,
        load_size: info.image_size as u32,
        crop_size: info.image_size as u32,
        flip: false,
        input_nc: g.config().input_nc,
        output_nc: g.config().output_nc,
    };
    let data = Arc::new(Dataset::open(&a.data, task, direction, cfg.clone())?);
    let scores = train::evaluate(&g, &data, device);
    println!(
        "L1 {:.4}  PSNR {:.2} dB  SSIM {:.4}  ({} images, {})",
        scores.l1,
        scores.psnr,
        scores.ssim,
        scores.images,
        a.data.display()
    );
    if let Some(out) = &a.out {
        std::fs::create_dir_all(out)?;
        std::fs::write(
            out.join("scores.json"),
            serde_json::to_string_pretty(&scores)?,
        )?;
        let mut samples = Vec::new();
        let mut rng = pix2pix_train::data::Rng::new(0);
        for i in 0..data.len().min(a.grid) {
            if let Ok(s) = data.load(i, &mut rng) {
                samples.push(s);
            }
        }
        if !samples.is_empty() {
            let (x, y) = train::batch_tensors(&samples, &cfg, device);
            let fake = tch::no_grad(|| g.forward(&x, Mode::Eval));
            let grid = train::sample_grid(&x, &fake, &y);
            pix2pix_train::imageio::write_image(&grid, &out.join("grid.png"))?;
            eprintln!(
                "grid (input | generated | target): {}",
                out.join("grid.png").display()
            );
        }
    }
    Ok(())
}

#[derive(Args)]
pub struct ExportArgs {
    /// A pix2pix-train checkpoint (e.g. runs/NAME/checkpoints/latest.safetensors).
    pub checkpoint: PathBuf,
    /// Output model file.
    #[arg(short, long)]
    pub out: PathBuf,
    /// Storage precision of the tensors (fp16 halves the file).
    #[arg(long, value_enum, default_value = "fp32")]
    pub storage: StorageArg,
    /// Task name to store (default: from the run).
    #[arg(long)]
    pub task: Option<String>,
    /// Free-form description to store.
    #[arg(long)]
    pub description: Option<String>,
}

pub fn export(a: ExportArgs) -> Result<()> {
    let t = Trainer::load_checkpoint(&a.checkpoint, Some("cpu"))?;
    let mut info = t.model_info();
    if let Some(task) = a.task {
        info.task = task;
    }
    if let Some(d) = a.description {
        info.description = d;
    }
    file::save_generator(&t.g, &info, &a.out, a.storage.into())?;
    let size = std::fs::metadata(&a.out)?.len();
    eprintln!(
        "wrote {} ({}, {:.1} MB, {} steps)",
        a.out.display(),
        info.generator.describe(),
        size as f64 / 1e6,
        t.progress.step
    );
    Ok(())
}
