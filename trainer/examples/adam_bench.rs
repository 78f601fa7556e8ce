//! Time of one Adam step over the default generator's 54.4 M parameters.
use std::time::Instant;

use pix2pix_model::tch::{Device, Kind, Tensor};
use pix2pix_model::{UnetConfig, UnetGenerator};
use pix2pix_train::adam::Adam;

fn main() {
    let threads: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    pix2pix_model::runtime::set_threads(threads);
    pix2pix_model::runtime::tune_allocator();
    let g = UnetGenerator::new(&UnetConfig::default(), Device::Cpu).unwrap();
    let x = Tensor::rand([1, 3, 256, 256], (Kind::Float, Device::Cpu));
    let y = g.forward(&x, pix2pix_model::Mode::Train);
    let mut opt = Adam::new(g.var_store(), 2e-4, 0.5, 0.999);
    let grads = opt.gradients(&y.mean(Kind::Float)).unwrap();
    for _ in 0..2 {
        opt.step(&grads);
    }
    let t = Instant::now();
    for _ in 0..5 {
        opt.step(&grads);
    }
    println!("adam step: {:.1} ms", t.elapsed().as_secs_f64() * 1e3 / 5.0);
}
