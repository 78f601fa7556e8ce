//! Steps per second of `pix2pix-train` in fused and separate mode on the
//! reference networks (unet_256, 70x70 PatchGAN, batch norm), batch 1, 256x256.
//! `cargo run --release -p pix2pix-train --example train_bench -- [threads] [steps] [rounds]`
use std::time::Instant;

use pix2pix_model::tch::{Device, Kind, Tensor};
use pix2pix_model::{Norm, PatchGanConfig, UnetConfig};
use pix2pix_train::data::{DataConfig, Direction, Preprocess};
use pix2pix_train::train::{GanMode, LrPolicy, TrainConfig, Trainer};

fn config(separate: bool) -> TrainConfig {
    TrainConfig {
        dataroot: "unused".into(),
        task: None,
        direction: Direction::AtoB,
        data: DataConfig {
            preprocess: Preprocess::ResizeAndCrop,
            load_size: 286,
            crop_size: 256,
            flip: true,
            input_nc: 3,
            output_nc: 3,
        },
        generator: UnetConfig::default(),
        discriminator: PatchGanConfig {
            norm: Norm::Batch,
            ..Default::default()
        },
        gan_mode: GanMode::Vanilla,
        lambda_l1: 100.0,
        lr: 2e-4,
        beta1: 0.5,
        beta2: 0.999,
        lr_policy: LrPolicy::Linear,
        n_epochs: 100,
        n_epochs_decay: 100,
        lr_decay_iters: 50,
        batch_size: 1,
        seed: 0,
        separate,
        device: "cpu".into(),
        max_steps: None,
        sample_every: 0,
        checkpoint_every: 0,
        val_dir: None,
        val_every: 0,
        workers: 1,
        num_samples: 0,
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let threads: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let steps: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(5);
    let rounds: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(3);
    pix2pix_model::runtime::set_threads(threads);
    pix2pix_model::runtime::tune_allocator();
    let a = Tensor::rand([1, 3, 256, 256], (Kind::Float, Device::Cpu)) * 2 - 1;
    let b = Tensor::rand([1, 3, 256, 256], (Kind::Float, Device::Cpu)) * 2 - 1;
    let mut fused = Trainer::new(config(false)).unwrap();
    let mut separate = Trainer::new(config(true)).unwrap();
    let mut best = [0f64; 2];
    for round in 0..rounds {
        // Alternate which mode goes first: on a shared machine the first of a
        // pair is measurably slower.
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for i in order {
            let t = if i == 0 { &mut fused } else { &mut separate };
            t.step(&a, &b).unwrap();
            let started = Instant::now();
            for _ in 0..steps {
                t.step(&a, &b).unwrap();
            }
            let sps = steps as f64 / started.elapsed().as_secs_f64();
            best[i] = best[i].max(sps);
        }
    }
    println!("{:.4} {:.4}", best[0], best[1]);
}
