//! `pix2pix-train`: train pix2pix models and work with model files.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use pix2pix_model::{runtime, Mode, Norm, StoragePrecision, TranslateOptions, UnetConfig};
use pix2pix_train::tools;

mod commands;
use commands::{EvalArgs, ExportArgs, TrainArgs};

#[derive(Parser)]
#[command(name = "pix2pix-train", version, about = "Train pix2pix image-to-image translation models and work with model files", long_about = None)]
struct Cli {
    /// libtorch intra-op threads (0 = all cores).
    #[arg(long, global = true, default_value_t = 0)]
    threads: usize,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a pix2pix model (U-Net generator, PatchGAN discriminator, fused GAN + L1 losses).
    Train(Box<TrainArgs>),
    /// Measure a model or checkpoint on a held-out set: L1, PSNR, SSIM, and an image grid.
    Eval(EvalArgs),
    /// Export the generator of a checkpoint as the model file the element loads.
    Export(ExportArgs),
    /// Write a freshly initialised (untrained) generator as a model file.
    Init(InitArgs),
    /// Convert an official PyTorch generator checkpoint (latest_net_G.pth) to a model file.
    Import(ImportArgs),
    /// Print what a model file says about itself.
    Info {
        /// Model file (.safetensors) or PyTorch checkpoint (.pth).
        model: PathBuf,
    },
    /// Translate one image or a folder of images through a model.
    Translate(TranslateArgs),
    /// Put folders of images side by side as labelled columns of one PNG.
    ContactSheet {
        /// Folders, one per column; their images in name order are the rows.
        #[arg(required = true)]
        columns: Vec<PathBuf>,
        /// Column labels, comma-separated (upper-case letters, digits).
        #[arg(long, default_value = "")]
        labels: String,
        /// Output PNG.
        #[arg(short, long)]
        out: PathBuf,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum NetG {
    #[value(name = "unet_128")]
    Unet128,
    #[value(name = "unet_256")]
    Unet256,
}

#[derive(Clone, Copy, ValueEnum)]
enum NormArg {
    Batch,
    Instance,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum StorageArg {
    Fp32,
    Fp16,
    Bf16,
}

impl From<StorageArg> for StoragePrecision {
    fn from(s: StorageArg) -> Self {
        match s {
            StorageArg::Fp32 => StoragePrecision::F32,
            StorageArg::Fp16 => StoragePrecision::F16,
            StorageArg::Bf16 => StoragePrecision::BF16,
        }
    }
}

#[derive(Args)]
struct ArchArgs {
    /// Generator architecture.
    #[arg(long, value_enum, default_value = "unet_256")]
    netg: NetG,
    /// Filters in the generator's outermost layer.
    #[arg(long, default_value_t = 64)]
    ngf: i64,
    /// Input channels (1 for grayscale input, 3 for colour).
    #[arg(long, default_value_t = 3)]
    input_nc: i64,
    /// Output channels.
    #[arg(long, default_value_t = 3)]
    output_nc: i64,
    /// Normalisation layers.
    #[arg(long, value_enum, default_value = "batch")]
    norm: NormArg,
    /// No dropout in the generator.
    #[arg(long)]
    no_dropout: bool,
}

impl ArchArgs {
    fn config(&self) -> UnetConfig {
        UnetConfig {
            num_downs: match self.netg {
                NetG::Unet128 => 7,
                NetG::Unet256 => 8,
            },
            ngf: self.ngf,
            input_nc: self.input_nc,
            output_nc: self.output_nc,
            norm: match self.norm {
                NormArg::Batch => Norm::Batch,
                NormArg::Instance => Norm::Instance,
            },
            dropout: !self.no_dropout,
        }
    }
}

#[derive(Args)]
struct InitArgs {
    #[command(flatten)]
    arch: ArchArgs,
    /// Image size the model is meant for.
    #[arg(long, default_value_t = 256)]
    image_size: i64,
    /// Task name stored in the file.
    #[arg(long, default_value = "untrained")]
    task: String,
    #[arg(long, default_value_t = 0)]
    seed: i64,
    /// Storage precision of the tensors in the file.
    #[arg(long, value_enum, default_value = "fp32")]
    storage: StorageArg,
    /// Output model file.
    #[arg(short, long)]
    out: PathBuf,
}

#[derive(Args)]
struct ImportArgs {
    /// The PyTorch checkpoint (a generator state_dict saved with torch.save).
    checkpoint: PathBuf,
    /// Output model file.
    #[arg(short, long)]
    out: PathBuf,
    /// Architecture options as given to the reference (--netG, --ngf, --norm, ...);
    /// inferred from the tensors when --infer is set.
    #[command(flatten)]
    arch: ArchArgs,
    /// Infer the architecture from the checkpoint instead of the options.
    #[arg(long)]
    infer: bool,
    /// Image size the model was trained at (default: 256 for unet_256, 128 for unet_128).
    #[arg(long)]
    image_size: Option<i64>,
    /// Task name stored in the file (e.g. label2photo).
    #[arg(long, default_value = "unknown")]
    task: String,
    /// AtoB or BtoA.
    #[arg(long, default_value = "AtoB")]
    direction: String,
    #[arg(long, value_enum, default_value = "fp32")]
    storage: StorageArg,
}

#[derive(Clone, Copy, ValueEnum)]
enum ResizeArg {
    Stretch,
    Letterbox,
    Pad,
    Tile,
}

#[derive(Clone, Copy, ValueEnum)]
enum ModeArg {
    Eval,
    Paper,
}

#[derive(Args)]
struct TranslateArgs {
    /// Model file or PyTorch checkpoint.
    #[arg(short, long)]
    model: PathBuf,
    /// An image file or a folder of images.
    input: PathBuf,
    /// Output image file, or folder when the input is a folder.
    #[arg(short, long)]
    out: PathBuf,
    /// cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    device: String,
    #[arg(long, value_enum, default_value = "stretch")]
    resize_mode: ResizeArg,
    /// eval: deterministic; paper: batch statistics and dropout (original test-time setting).
    #[arg(long, value_enum, default_value = "eval")]
    mode: ModeArg,
    /// Seed for --mode paper.
    #[arg(long, default_value_t = 0)]
    seed: i64,
    /// Keep the input's luma, take colour from the model.
    #[arg(long)]
    preserve_luma: bool,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    runtime::set_threads(cli.threads);
    runtime::tune_allocator();
    match cli.command {
        Command::Train(a) => commands::train(*a)?,
        Command::Eval(a) => commands::eval(a)?,
        Command::Export(a) => commands::export(a)?,
        Command::Init(a) => {
            let info = tools::init_model(
                &a.arch.config(),
                a.image_size,
                &a.task,
                a.seed,
                &a.out,
                a.storage.into(),
            )?;
            eprintln!("wrote {} ({})", a.out.display(), info.generator.describe());
        }
        Command::Import(a) => {
            let cfg = a.arch.config();
            let info = tools::import_checkpoint(
                &a.checkpoint,
                (!a.infer).then_some(&cfg),
                a.image_size,
                &a.task,
                &a.direction,
                &a.out,
                a.storage.into(),
            )?;
            eprintln!("wrote {} ({})", a.out.display(), info.generator.describe());
        }
        Command::ContactSheet {
            columns,
            labels,
            out,
        } => {
            let labels: Vec<String> = labels
                .split(',')
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect();
            let (w, h) = tools::contact_sheet(&columns, &labels, &out)?;
            eprintln!("wrote {} ({w}x{h})", out.display());
        }
        Command::Info { model } => {
            let (g, info) =
                pix2pix_model::load_any_generator(&model, pix2pix_model::tch::Device::Cpu)
                    .with_context(|| format!("reading {}", model.display()))?;
            println!("{}", serde_json::to_string_pretty(&info)?);
            println!("architecture: {}", info.generator.describe());
            println!("parameters: {}", g.num_parameters());
        }
        Command::Translate(a) => {
            let device = runtime::parse_device(&a.device)?;
            if matches!(a.mode, ModeArg::Paper) {
                pix2pix_model::tch::manual_seed(a.seed);
            }
            let opts = TranslateOptions {
                resize: match a.resize_mode {
                    ResizeArg::Stretch => pix2pix_model::ResizeMode::Stretch,
                    ResizeArg::Letterbox => pix2pix_model::ResizeMode::Letterbox,
                    ResizeArg::Pad => pix2pix_model::ResizeMode::Pad,
                    ResizeArg::Tile => pix2pix_model::ResizeMode::Tile,
                },
                mode: match a.mode {
                    ModeArg::Eval => Mode::Eval,
                    ModeArg::Paper => Mode::Paper,
                },
                preserve_luma: a.preserve_luma,
                ..Default::default()
            };
            let written = tools::translate_paths(&a.model, &a.input, &a.out, device, &opts)?;
            eprintln!("wrote {} image(s) to {}", written.len(), a.out.display());
        }
    }
    Ok(())
}
