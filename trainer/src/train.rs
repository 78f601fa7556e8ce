//! The pix2pix conditional GAN training loop with fused losses.
//!
//! Fused (default):
//! - discriminator: ONE forward pass over the batch-concatenation of real pairs
//!   (A,B) and detached generated pairs (A,G(A)); loss 0.5·(GAN(real,true) +
//!   GAN(fake,false)) from the two halves; one backward; one step.
//! - generator: one discriminator pass over (A,G(A)); loss GAN(fake,true) +
//!   λ·L1(G(A),B); one backward; one step.
//!
//! `separate` runs the reference's passes (fake and real through the
//! discriminator one after the other) for comparison. With batch norm in the
//! discriminator, the fused pass normalises real and fake together (one set of
//! batch statistics for both halves); instance norm avoids that difference.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use pix2pix_model::tch::{self, Device, Kind, Reduction, Tensor};
use pix2pix_model::{
    file, Mode, ModelInfo, PatchGan, PatchGanConfig, StoragePrecision, UnetConfig, UnetGenerator,
};
use serde::{Deserialize, Serialize};

use crate::adam::Adam;
use crate::data::{DataConfig, Dataset, Direction, Loader, Preprocess, Rng, Task};
use crate::metrics::Scores;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum GanMode {
    /// Binary cross-entropy on logits.
    Vanilla,
    /// Least squares.
    Lsgan,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LrPolicy {
    /// Constant for n-epochs, then linearly to zero over n-epochs-decay.
    Linear,
    /// Multiply by 0.1 every lr-decay-iters epochs.
    Step,
}

/// Everything that defines a run; saved in every checkpoint and as `config.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TrainConfig {
    pub dataroot: PathBuf,
    pub task: Option<Task>,
    pub direction: Direction,
    pub data: DataConfig,
    pub generator: UnetConfig,
    pub discriminator: PatchGanConfig,
    pub gan_mode: GanMode,
    pub lambda_l1: f64,
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub lr_policy: LrPolicy,
    pub n_epochs: u64,
    pub n_epochs_decay: u64,
    pub lr_decay_iters: u64,
    pub batch_size: usize,
    pub seed: u64,
    pub separate: bool,
    pub device: String,
    /// Stop after this many steps in total (for short runs and tests).
    pub max_steps: Option<u64>,
    pub sample_every: u64,
    pub checkpoint_every: u64,
    pub val_dir: Option<PathBuf>,
    pub val_every: u64,
    pub workers: usize,
    pub num_samples: usize,
}

impl TrainConfig {
    /// Learning rate for a (0-based) epoch, as the reference's schedulers.
    pub fn lr_at(&self, epoch: u64) -> f64 {
        match self.lr_policy {
            LrPolicy::Linear => {
                // Reference: 1 - max(0, epoch + epoch_count - n_epochs) / (n_epochs_decay + 1), epoch_count = 1.
                let over = (epoch + 1).saturating_sub(self.n_epochs) as f64;
                self.lr * (1.0 - over / (self.n_epochs_decay as f64 + 1.0)).max(0.0)
            }
            LrPolicy::Step => self.lr * 0.1f64.powi((epoch / self.lr_decay_iters.max(1)) as i32),
        }
    }

    pub fn total_epochs(&self) -> u64 {
        self.n_epochs + self.n_epochs_decay
    }
}

/// Losses of one step.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Losses {
    pub d_real: f64,
    pub d_fake: f64,
    pub g_gan: f64,
    pub g_l1: f64,
}

/// Where a run stands; saved in checkpoints.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Progress {
    pub step: u64,
    pub epoch: u64,
    /// Position within the epoch's order (samples consumed).
    pub epoch_pos: usize,
    pub lr: f64,
    pub adam_g_t: u64,
    pub adam_d_t: u64,
    pub best_val_l1: Option<f64>,
    pub skipped_images: usize,
}

pub struct Trainer {
    pub config: TrainConfig,
    pub g: UnetGenerator,
    pub d: PatchGan,
    opt_g: Adam,
    opt_d: Adam,
    pub progress: Progress,
    pub device: Device,
}

fn gan_loss(mode: GanMode, logits: &Tensor, real: bool) -> Tensor {
    let target = if real {
        logits.ones_like()
    } else {
        logits.zeros_like()
    };
    match mode {
        GanMode::Vanilla => logits.binary_cross_entropy_with_logits(
            &target,
            None::<Tensor>,
            None::<Tensor>,
            Reduction::Mean,
        ),
        GanMode::Lsgan => logits.mse_loss(&target, Reduction::Mean),
    }
}

impl Trainer {
    /// Fresh networks initialised as the reference (N(0, 0.02)), seeded.
    pub fn new(config: TrainConfig) -> Result<Trainer> {
        let device = pix2pix_model::runtime::parse_device(&config.device)?;
        tch::manual_seed(config.seed as i64);
        let g = UnetGenerator::new(&config.generator, device)?;
        let d = PatchGan::new(&config.discriminator, device)?;
        let opt_g = Adam::new(g.var_store(), config.lr, config.beta1, config.beta2);
        let opt_d = Adam::new(d.var_store(), config.lr, config.beta1, config.beta2);
        Ok(Trainer {
            progress: Progress {
                step: 0,
                epoch: 0,
                epoch_pos: 0,
                lr: config.lr_at(0),
                adam_g_t: 0,
                adam_d_t: 0,
                best_val_l1: None,
                skipped_images: 0,
            },
            config,
            g,
            d,
            opt_g,
            opt_d,
            device,
        })
    }

    /// One optimisation step on a batch (A, B) already on the device.
    pub fn step(&mut self, a: &Tensor, b: &Tensor) -> Result<Losses> {
        let cfg = &self.config;
        // Dropout masks depend only on (seed, step): resuming is exact.
        tch::manual_seed((cfg.seed as i64).wrapping_mul(1_000_003) ^ self.progress.step as i64);
        let lr = self.progress.lr;
        self.opt_g.lr = lr;
        self.opt_d.lr = lr;
        let n = a.size()[0];
        let fake = self.g.forward(a, Mode::Train);

        // Discriminator.
        self.opt_d.set_requires_grad(true);
        let real_pair = Tensor::cat(&[a, b], 1);
        let fake_pair = Tensor::cat(&[a, &fake.detach()], 1);
        let (pred_real, pred_fake) = if cfg.separate {
            let pf = self.d.forward(&fake_pair, Mode::Train);
            let pr = self.d.forward(&real_pair, Mode::Train);
            (pr, pf)
        } else {
            let both = self
                .d
                .forward(&Tensor::cat(&[&real_pair, &fake_pair], 0), Mode::Train);
            (both.narrow(0, 0, n), both.narrow(0, n, n))
        };
        let loss_d_real = gan_loss(cfg.gan_mode, &pred_real, true);
        let loss_d_fake = gan_loss(cfg.gan_mode, &pred_fake, false);
        let loss_d = (&loss_d_real + &loss_d_fake) * 0.5;
        let grads = self
            .opt_d
            .gradients(&loss_d)
            .context("discriminator backward pass")?;
        self.opt_d.step(&grads);

        // Generator: the discriminator is frozen, as in the reference.
        self.opt_d.set_requires_grad(false);
        let pred = self.d.forward(&Tensor::cat(&[a, &fake], 1), Mode::Train);
        let loss_g_gan = gan_loss(cfg.gan_mode, &pred, true);
        let loss_g_l1 = (&fake - b).abs().mean(Kind::Float) * cfg.lambda_l1;
        let loss_g = &loss_g_gan + &loss_g_l1;
        let grads = self.opt_g.gradients(&loss_g);
        self.opt_d.set_requires_grad(true);
        let grads = grads.context("generator backward pass")?;
        self.opt_g.step(&grads);

        self.progress.step += 1;
        self.progress.adam_g_t = self.opt_g.t;
        self.progress.adam_d_t = self.opt_d.t;
        Ok(Losses {
            d_real: f64::try_from(&loss_d_real).unwrap_or(f64::NAN),
            d_fake: f64::try_from(&loss_d_fake).unwrap_or(f64::NAN),
            g_gan: f64::try_from(&loss_g_gan).unwrap_or(f64::NAN),
            g_l1: f64::try_from(&loss_g_l1).unwrap_or(f64::NAN) / cfg.lambda_l1.max(1e-12),
        })
    }

    /// Writes a checkpoint atomically: a kill at any moment leaves the
    /// previous file loadable.
    pub fn save_checkpoint(&self, path: &Path) -> Result<()> {
        let mut tensors: Vec<(String, Tensor)> = Vec::new();
        for (n, t) in self.g.var_store().variables() {
            tensors.push((format!("G.{n}"), t));
        }
        for (n, t) in self.d.var_store().variables() {
            tensors.push((format!("D.{n}"), t));
        }
        tensors.extend(self.opt_g.state("optG"));
        tensors.extend(self.opt_d.state("optD"));
        let mut meta = HashMap::new();
        meta.insert("format".into(), "pix2pix-gst-checkpoint".into());
        meta.insert("config".into(), serde_json::to_string(&self.config)?);
        meta.insert("progress".into(), serde_json::to_string(&self.progress)?);
        let bytes =
            tch::no_grad(|| file::tensors_to_safetensors(&tensors, StoragePrecision::F32, meta))?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        file::atomic_write(path, &bytes)
            .with_context(|| format!("writing checkpoint {}", path.display()))?;
        Ok(())
    }

    /// Restores a run from a checkpoint; `device` overrides the saved one.
    pub fn load_checkpoint(path: &Path, device: Option<&str>) -> Result<Trainer> {
        let (tensors, meta) = file::read_safetensors(path)
            .with_context(|| format!("reading checkpoint {}", path.display()))?;
        if meta.get("format").map(String::as_str) != Some("pix2pix-gst-checkpoint") {
            bail!("{} is not a pix2pix-train checkpoint", path.display());
        }
        let mut config: TrainConfig =
            serde_json::from_str(meta.get("config").context("checkpoint has no config")?)?;
        if let Some(d) = device {
            config.device = d.to_string();
        }
        let progress: Progress =
            serde_json::from_str(meta.get("progress").context("checkpoint has no progress")?)?;
        let mut t = Trainer::new(config)?;
        let split = |prefix: &str| -> HashMap<String, Tensor> {
            tensors
                .iter()
                .filter_map(|(k, v)| {
                    k.strip_prefix(prefix)
                        .map(|n| (n.to_string(), v.to_device(t.device)))
                })
                .collect()
        };
        let arch = t.config.generator.describe();
        file::load_into_var_store(t.g.var_store_mut(), split("G."), path, &arch)?;
        file::load_into_var_store(t.d.var_store_mut(), split("D."), path, "discriminator")?;
        t.opt_g
            .load_state("optG", &tensors, progress.adam_g_t)
            .map_err(anyhow::Error::msg)?;
        t.opt_d
            .load_state("optD", &tensors, progress.adam_d_t)
            .map_err(anyhow::Error::msg)?;
        t.progress = progress;
        Ok(t)
    }

    /// The generator as the self-describing model file the element loads.
    pub fn model_info(&self) -> ModelInfo {
        let mut info = ModelInfo::new(
            self.config.generator.clone(),
            self.config.data.crop_size as i64,
        );
        info.task = match self.config.task {
            Some(Task::Colorize) => "colorize".into(),
            Some(Task::Edges) => "edges2photo".into(),
            None => self
                .config
                .dataroot
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "translate".into()),
        };
        info.direction = self.config.direction.as_str().into();
        // The dataset's last two path components: where it came from, without
        // the trainer machine's own folders.
        let comps: Vec<String> = self
            .config
            .dataroot
            .components()
            .rev()
            .take(2)
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        let data: Vec<&str> = comps.iter().rev().map(String::as_str).collect();
        info.source = format!(
            "pix2pix-train, {} steps ({} epochs) on {}",
            self.progress.step,
            self.progress.epoch,
            data.join("/")
        );
        info
    }
}

/// Batches of samples → (A, B) tensors on `device`.
pub fn batch_tensors(
    samples: &[crate::data::Sample],
    cfg: &DataConfig,
    device: Device,
) -> (Tensor, Tensor) {
    let s = cfg.crop_size as i64;
    let n = samples.len() as i64;
    let a: Vec<f32> = samples.iter().flat_map(|x| x.a.iter().copied()).collect();
    let b: Vec<f32> = samples.iter().flat_map(|x| x.b.iter().copied()).collect();
    (
        Tensor::from_slice(&a)
            .view([n, cfg.input_nc, s, s])
            .to_device(device),
        Tensor::from_slice(&b)
            .view([n, cfg.output_nc, s, s])
            .to_device(device),
    )
}

/// A grid image: one row per sample, columns input | generated | target.
pub fn sample_grid(a: &Tensor, fake: &Tensor, b: &Tensor) -> Tensor {
    let to3 = |t: &Tensor| {
        if t.size()[1] == 1 {
            t.repeat([1, 3, 1, 1])
        } else {
            t.shallow_clone()
        }
    };
    let rows: Vec<Tensor> = (0..a.size()[0])
        .map(|i| {
            Tensor::cat(
                &[
                    to3(&a.narrow(0, i, 1)),
                    to3(&fake.narrow(0, i, 1)),
                    to3(&b.narrow(0, i, 1)),
                ],
                3,
            )
        })
        .collect();
    Tensor::cat(&rows, 2).to_device(Device::Cpu)
}

/// Files of a run folder.
pub struct RunDir {
    pub root: PathBuf,
}

impl RunDir {
    pub fn latest(&self) -> PathBuf {
        self.root.join("checkpoints/latest.safetensors")
    }
    pub fn best(&self) -> PathBuf {
        self.root.join("checkpoints/best.safetensors")
    }
    pub fn losses(&self) -> PathBuf {
        self.root.join("losses.jsonl")
    }
    pub fn validation(&self) -> PathBuf {
        self.root.join("validation.jsonl")
    }
    pub fn samples(&self) -> PathBuf {
        self.root.join("samples")
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct LossRecord {
    step: u64,
    epoch: u64,
    lr: f64,
    #[serde(flatten)]
    losses: Losses,
    step_ms: f64,
}

#[derive(Debug, Serialize, Deserialize)]
struct ValRecord {
    step: u64,
    #[serde(flatten)]
    scores: Scores,
}

/// What a finished (or interrupted) run reports.
#[derive(Debug, Clone)]
pub struct Summary {
    pub steps: u64,
    /// Steps taken by this invocation (a resumed run starts above zero).
    pub steps_this_run: u64,
    pub epochs: u64,
    pub wall: Duration,
    pub data_wait: Duration,
    pub skipped: Vec<String>,
    pub interrupted: bool,
    pub last_losses: Losses,
    pub val: Option<Scores>,
}

impl Summary {
    pub fn data_wait_share(&self) -> f64 {
        if self.wall.is_zero() {
            0.0
        } else {
            self.data_wait.as_secs_f64() / self.wall.as_secs_f64()
        }
    }
}

/// Evaluates the generator (eval mode) on every image of `data`.
pub fn evaluate(g: &UnetGenerator, data: &Arc<Dataset>, device: Device) -> Scores {
    let mut scores = Scores::default();
    let order: Vec<usize> = (0..data.len()).collect();
    let mut loader = Loader::start(data.clone(), order, 0, 0, 2, 4);
    while let Some(s) = loader.next_sample() {
        let (a, b) = batch_tensors(std::slice::from_ref(&s), data.config(), device);
        let fake = tch::no_grad(|| g.forward(&a, Mode::Eval));
        scores.add(&fake, &b);
    }
    scores
}

/// A held-out data configuration: no random crop or flip.
pub fn eval_data_config(train: &DataConfig) -> DataConfig {
    DataConfig {
        preprocess: Preprocess::None,
        flip: false,
        ..train.clone()
    }
}

/// Runs (or resumes) training until the configured epochs or `max_steps`,
/// writing checkpoints, samples, losses and `index.html` into `run`.
pub fn run(
    trainer: &mut Trainer,
    run: &RunDir,
    stop: Arc<AtomicBool>,
    quiet: bool,
) -> Result<Summary> {
    let cfg = trainer.config.clone();
    std::fs::create_dir_all(run.samples())?;
    std::fs::write(
        run.root.join("config.json"),
        serde_json::to_string_pretty(&cfg)?,
    )?;
    let data = Arc::new(Dataset::open(
        &cfg.dataroot,
        cfg.task,
        cfg.direction,
        cfg.data.clone(),
    )?);
    let val = match &cfg.val_dir {
        Some(dir) => Some(Arc::new(Dataset::open(
            dir,
            cfg.task,
            cfg.direction,
            eval_data_config(&cfg.data),
        )?)),
        None => None,
    };
    // A fixed set of images to watch: the first few, without random crop or flip.
    let fixed = {
        let eval_ds = Dataset::open(
            &cfg.dataroot,
            cfg.task,
            cfg.direction,
            eval_data_config(&cfg.data),
        )?;
        // Spread over the dataset, so the grid shows different kinds of images.
        let mut v = Vec::new();
        let mut rng = Rng::new(0);
        let n = cfg.num_samples.min(eval_ds.len());
        for k in 0..n {
            let i = k * eval_ds.len() / n.max(1);
            if let Ok(s) = eval_ds.load(i, &mut rng) {
                v.push(s);
            }
        }
        v
    };
    let steps_per_epoch = data.len().div_ceil(cfg.batch_size) as u64;
    let total_steps = cfg
        .max_steps
        .unwrap_or(u64::MAX)
        .min(cfg.total_epochs() * steps_per_epoch);
    let bar = crate::progress::bar(total_steps, "training");
    if quiet {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    bar.set_position(trainer.progress.step);
    bar.reset_eta();
    let mut losses_log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(run.losses())?;
    let started = Instant::now();
    let first_step = trainer.progress.step;
    let mut data_wait = Duration::ZERO;
    let mut skipped = Vec::new();
    let mut last = Losses::default();
    let mut interrupted = false;
    let mut last_val = None;

    'epochs: while trainer.progress.epoch < cfg.total_epochs()
        && trainer.progress.step < total_steps
    {
        let epoch = trainer.progress.epoch;
        trainer.progress.lr = cfg.lr_at(epoch);
        let mut order: Vec<usize> = (0..data.len()).collect();
        Rng::new(cfg.seed ^ (epoch.wrapping_mul(0x9E37_79B9))).shuffle(&mut order);
        let start_pos = trainer.progress.epoch_pos.min(order.len());
        let order_rest = order[start_pos..].to_vec();
        let workers = cfg.workers.max(1);
        let mut loader = Loader::start(
            data.clone(),
            order_rest,
            cfg.seed,
            epoch,
            workers,
            2 * cfg.batch_size + 2,
        );
        loop {
            let mut batch = Vec::with_capacity(cfg.batch_size);
            let mut consumed = 0usize;
            while batch.len() < cfg.batch_size {
                let before = loader.stats.skipped.len();
                match loader.next_sample() {
                    Some(s) => {
                        consumed += 1 + loader.stats.skipped.len() - before;
                        batch.push(s)
                    }
                    None => {
                        consumed += loader.stats.skipped.len() - before;
                        break;
                    }
                }
            }
            trainer.progress.epoch_pos += consumed;
            if batch.is_empty() {
                break;
            }
            let step_started = Instant::now();
            let (a, b) = batch_tensors(&batch, &cfg.data, trainer.device);
            last = trainer.step(&a, &b)?;
            let step_ms = step_started.elapsed().as_secs_f64() * 1e3;
            let step = trainer.progress.step;
            writeln!(
                losses_log,
                "{}",
                serde_json::to_string(&LossRecord {
                    step,
                    epoch,
                    lr: trainer.progress.lr,
                    losses: last,
                    step_ms
                })?
            )?;
            bar.set_position(step);
            bar.set_message(format!(
                "epoch {}/{} D {:.3}/{:.3} G {:.3} L1 {:.3}",
                epoch + 1,
                cfg.total_epochs(),
                last.d_real,
                last.d_fake,
                last.g_gan,
                last.g_l1
            ));
            if !last.g_l1.is_finite() || !last.d_real.is_finite() {
                bail!("training diverged at step {step} (non-finite loss)");
            }
            if cfg.sample_every > 0 && (step % cfg.sample_every == 0 || step == 1) {
                write_samples(trainer, &fixed, run, step)?;
            }
            if let (Some(v), true) = (&val, cfg.val_every > 0 && step % cfg.val_every == 0) {
                let scores = evaluate(&trainer.g, v, trainer.device);
                record_validation(trainer, run, &scores)?;
                last_val = Some(scores);
            }
            let stopping = stop.load(Ordering::SeqCst);
            if (cfg.checkpoint_every > 0 && step % cfg.checkpoint_every == 0) || stopping {
                trainer.save_checkpoint(&run.latest())?;
                write_report(run, &cfg)?;
            }
            if stopping {
                interrupted = true;
                data_wait += loader.stats.wait;
                skipped.append(&mut loader.stats.skipped);
                break 'epochs;
            }
            if step >= total_steps {
                data_wait += loader.stats.wait;
                skipped.append(&mut loader.stats.skipped);
                if trainer.progress.epoch_pos >= data.len() {
                    trainer.progress.epoch += 1;
                    trainer.progress.epoch_pos = 0;
                }
                break 'epochs;
            }
        }
        data_wait += loader.stats.wait;
        skipped.append(&mut loader.stats.skipped);
        trainer.progress.epoch += 1;
        trainer.progress.epoch_pos = 0;
    }
    trainer.progress.skipped_images += skipped.len();
    if trainer.progress.step > 0
        && (cfg.sample_every == 0 || trainer.progress.step % cfg.sample_every != 0)
    {
        write_samples(trainer, &fixed, run, trainer.progress.step)?;
    }
    if let (Some(v), false) = (&val, interrupted) {
        let scores = evaluate(&trainer.g, v, trainer.device);
        record_validation(trainer, run, &scores)?;
        last_val = Some(scores);
    }
    trainer.save_checkpoint(&run.latest())?;
    write_report(run, &cfg)?;
    bar.finish_and_clear();
    Ok(Summary {
        steps: trainer.progress.step,
        steps_this_run: trainer.progress.step - first_step,
        epochs: trainer.progress.epoch,
        wall: started.elapsed(),
        data_wait,
        skipped,
        interrupted,
        last_losses: last,
        val: last_val,
    })
}

fn record_validation(trainer: &mut Trainer, run: &RunDir, scores: &Scores) -> Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(run.validation())?;
    writeln!(
        f,
        "{}",
        serde_json::to_string(&ValRecord {
            step: trainer.progress.step,
            scores: *scores
        })?
    )?;
    let better = trainer.progress.best_val_l1.is_none_or(|b| scores.l1 < b);
    if better {
        trainer.progress.best_val_l1 = Some(scores.l1);
        trainer.save_checkpoint(&run.best())?;
    }
    Ok(())
}

fn write_samples(
    trainer: &Trainer,
    fixed: &[crate::data::Sample],
    run: &RunDir,
    step: u64,
) -> Result<()> {
    if fixed.is_empty() {
        return Ok(());
    }
    let (a, b) = batch_tensors(fixed, &trainer.config.data, trainer.device);
    let fake = tch::no_grad(|| trainer.g.forward(&a, Mode::Eval));
    let grid = sample_grid(&a, &fake, &b);
    crate::imageio::write_image(&grid, &run.samples().join(format!("step_{step:07}.png")))
}

/// Writes the loss curve and `index.html` (samples by step, validation figures).
pub fn write_report(run: &RunDir, cfg: &TrainConfig) -> Result<()> {
    let text = std::fs::read_to_string(run.losses()).unwrap_or_default();
    let recs: Vec<LossRecord> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    if !recs.is_empty() {
        use crate::plot::{chart, smooth, Series};
        let pts = |f: &dyn Fn(&LossRecord) -> f64| -> Vec<(f64, f64)> {
            let raw: Vec<(f64, f64)> = recs.iter().map(|r| (r.step as f64, f(r))).collect();
            smooth(&raw, if raw.len() > 50 { 0.05 } else { 1.0 })
        };
        let panels = vec![
            vec![
                Series {
                    name: "D REAL",
                    color: image::Rgb([31, 119, 180]),
                    points: pts(&|r| r.losses.d_real),
                },
                Series {
                    name: "D FAKE",
                    color: image::Rgb([255, 127, 14]),
                    points: pts(&|r| r.losses.d_fake),
                },
                Series {
                    name: "G GAN",
                    color: image::Rgb([44, 160, 44]),
                    points: pts(&|r| r.losses.g_gan),
                },
            ],
            vec![Series {
                name: "G L1",
                color: image::Rgb([214, 39, 40]),
                points: pts(&|r| r.losses.g_l1),
            }],
        ];
        chart(&panels, 900, 260).save(run.root.join("loss_curve.png"))?;
    }
    let mut samples: Vec<String> = std::fs::read_dir(run.samples())
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".png"))
                .collect()
        })
        .unwrap_or_default();
    samples.sort();
    samples.reverse();
    let val_text = std::fs::read_to_string(run.validation()).unwrap_or_default();
    let vals: Vec<ValRecord> = val_text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let mut html = String::new();
    html.push_str("<!doctype html><html><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"60\">");
    html.push_str("<title>pix2pix-train run</title><style>body{font-family:sans-serif;margin:2em}img{max-width:100%;image-rendering:pixelated}td,th{padding:2px 10px;text-align:right}</style></head><body>");
    html.push_str(&format!(
        "<h1>pix2pix-train: {}</h1><p>{} | {} | {} | {} epochs + {} decay | batch {} | {}</p>",
        html_escape(&run.root.display().to_string()),
        html_escape(&cfg.dataroot.display().to_string()),
        cfg.generator.describe(),
        if cfg.separate {
            "separate passes"
        } else {
            "fused losses"
        },
        cfg.n_epochs,
        cfg.n_epochs_decay,
        cfg.batch_size,
        cfg.device
    ));
    html.push_str("<h2>Losses</h2><img src=\"loss_curve.png\" alt=\"loss curve\">");
    if !vals.is_empty() {
        html.push_str("<h2>Validation (eval mode)</h2><table><tr><th>step</th><th>L1</th><th>PSNR (dB)</th><th>SSIM</th><th>images</th></tr>");
        for v in &vals {
            html.push_str(&format!(
                "<tr><td>{}</td><td>{:.4}</td><td>{:.2}</td><td>{:.4}</td><td>{}</td></tr>",
                v.step, v.scores.l1, v.scores.psnr, v.scores.ssim, v.scores.images
            ));
        }
        html.push_str("</table>");
    }
    html.push_str("<h2>Samples: input | generated | target</h2>");
    for s in &samples {
        let step = s
            .trim_start_matches("step_")
            .trim_end_matches(".png")
            .trim_start_matches('0');
        html.push_str(&format!(
            "<h3>step {}</h3><img src=\"samples/{s}\" alt=\"{s}\">",
            if step.is_empty() { "0" } else { step }
        ));
    }
    html.push_str("</body></html>\n");
    file::atomic_write(&run.root.join("index.html"), html.as_bytes())?;
    Ok(())
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
