//! Times the generator's forward pass: the plain network in eval mode against
//! the folded channels-last form, at 256x256, default unet_256.
//! `cargo run --release -p pix2pix-model --example forward_bench [threads] [iters]`
use std::time::Instant;

use pix2pix_model::fused::FusedUnet;
use pix2pix_model::tch::{self, Device, Kind, Tensor};
use pix2pix_model::{Mode, UnetConfig, UnetGenerator};

fn time(iters: usize, mut f: impl FnMut()) -> f64 {
    for _ in 0..2 {
        f();
    }
    let t = Instant::now();
    for _ in 0..iters {
        f();
    }
    t.elapsed().as_secs_f64() * 1e3 / iters as f64
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let threads: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let iters: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(8);
    pix2pix_model::runtime::set_threads(threads);
    if std::env::var_os("TUNE").is_some() {
        pix2pix_model::runtime::tune_allocator();
    }
    let g = UnetGenerator::new(&UnetConfig::default(), Device::Cpu).unwrap();
    let x = Tensor::rand([1, 3, 256, 256], (Kind::Float, Device::Cpu)) * 2 - 1;
    let fused = FusedUnet::new(&g, Kind::Float);
    let fused_bf16 = FusedUnet::new(&g, Kind::BFloat16);
    let _guard = tch::no_grad_guard();
    let a = g.forward(&x, Mode::Eval);
    let b = fused.forward(&x);
    println!(
        "max |plain - fused| = {:e}",
        f64::try_from((&a - &b).abs().max()).unwrap()
    );
    let info = pix2pix_model::ModelInfo::new(UnetConfig::default(), 256);
    let g2 = UnetGenerator::new(&UnetConfig::default(), Device::Cpu).unwrap();
    let tr = pix2pix_model::Translator::new(g2, info, Device::Cpu, pix2pix_model::Precision::F32)
        .unwrap();
    let opts = pix2pix_model::TranslateOptions::default();
    let rgb: Vec<u8> = (0..256 * 256 * 3).map(|i| (i % 251) as u8).collect();
    let mut out = vec![0u8; 256 * 256 * 3];
    let img = pix2pix_model::image::ImageRef {
        data: &rgb,
        width: 256,
        height: 256,
        stride: 768,
        layout: pix2pix_model::image::PixelLayout::Rgb,
    };
    let conv_in = time(50, || {
        let _ = pix2pix_model::image::image_to_tensor(&img, 3).unwrap();
    });
    let t = pix2pix_model::image::image_to_tensor(&img, 3).unwrap();
    let conv_out = time(50, || {
        pix2pix_model::image::tensor_to_image(
            &t,
            &mut out,
            256,
            256,
            768,
            pix2pix_model::image::PixelLayout::Rgb,
        )
        .unwrap();
    });
    let translate = time(iters, || {
        let _ = tr.translate(&t, &opts).unwrap();
    });
    let fused2 = FusedUnet::new(tr.generator(), Kind::Float);
    let via_fused2 = time(iters, || {
        let _ = fused2.forward(&t);
    });
    let direct = time(iters, || {
        let _ = tr.generator().forward(&t, Mode::Eval);
    });
    println!(
        "fused from translator's generator {via_fused2:.1} ms, its plain forward {direct:.1} ms"
    );
    for _ in 0..3 {
        let a = time(iters, || {
            let _ = fused2.forward(&t);
        });
        let b = time(iters, || {
            let _ = tr.translate(&t, &opts).unwrap();
        });
        let c = time(iters, || {
            let _ = tch::no_grad(|| fused2.forward(&t));
        });
        let d = time(iters, || {
            let _ = std::panic::catch_unwind(|| fused2.forward(&t));
        });
        println!(
            "fused2 {a:.1} translate {b:.1} fused2-in-no_grad {c:.1} fused2-in-catch_unwind {d:.1}"
        );
    }
    println!("to tensor {conv_in:.2} ms, to pixels {conv_out:.2} ms, Translator::translate {translate:.1} ms");
    for round in 0..3 {
        let plain = time(iters, || {
            let _ = g.forward(&x, Mode::Eval);
        });
        let f32ms = time(iters, || {
            let _ = fused.forward(&x);
        });
        let bf = time(iters, || {
            let _ = fused_bf16.forward(&x);
        });
        println!(
            "round {round}: plain {plain:.1} ms, fused fp32 {f32ms:.1} ms, fused bf16 {bf:.1} ms"
        );
    }
}
