//! Image quality figures on [-1, 1] tensors, reported on the [0, 1] scale:
//! L1 (mean absolute error), PSNR (dB) and SSIM (Gaussian window 11, sigma 1.5,
//! per channel, as Wang et al. 2004).

use pix2pix_model::tch::{Kind, Tensor};

fn to_unit(x: &Tensor) -> Tensor {
    ((x.to_kind(Kind::Float) + 1.0) / 2.0).clamp(0.0, 1.0)
}

/// Mean absolute error on [0, 1].
pub fn l1(a: &Tensor, b: &Tensor) -> f64 {
    f64::try_from((to_unit(a) - to_unit(b)).abs().mean(Kind::Float)).unwrap()
}

/// PSNR in dB on [0, 1] (per image, averaged over the batch).
pub fn psnr(a: &Tensor, b: &Tensor) -> f64 {
    let d = to_unit(a) - to_unit(b);
    let mse = (&d * &d).mean_dim([1i64, 2, 3].as_slice(), false, Kind::Float);
    let p = (mse.clamp_min(1e-10).log10() * -10.0).mean(Kind::Float);
    f64::try_from(p).unwrap()
}

fn gaussian_window(channels: i64, device: pix2pix_model::tch::Device) -> Tensor {
    let size = 11;
    let sigma = 1.5f64;
    let g: Vec<f32> = (0..size)
        .map(|i| {
            let x = (i - size / 2) as f64;
            (-(x * x) / (2.0 * sigma * sigma)).exp() as f32
        })
        .collect();
    let s: f32 = g.iter().sum();
    let g = Tensor::from_slice(&g.iter().map(|v| v / s).collect::<Vec<_>>()).to_device(device);
    let w = g.view([size, 1]) * g.view([1, size]);
    w.view([1, 1, size, size]).repeat([channels, 1, 1, 1])
}

/// Mean SSIM on [0, 1].
pub fn ssim(a: &Tensor, b: &Tensor) -> f64 {
    let (x, y) = (to_unit(a), to_unit(b));
    let c = x.size()[1];
    let w = gaussian_window(c, x.device());
    let conv = |t: &Tensor| t.conv2d(&w, None::<Tensor>, [1, 1], [0, 0], [1, 1], c);
    let (mx, my) = (conv(&x), conv(&y));
    let sxx = conv(&(&x * &x)) - &mx * &mx;
    let syy = conv(&(&y * &y)) - &my * &my;
    let sxy = conv(&(&x * &y)) - &mx * &my;
    let (c1, c2) = (0.01f64.powi(2), 0.03f64.powi(2));
    let num = (&mx * &my * 2.0 + c1) * (sxy * 2.0 + c2);
    let den = (&mx * &mx + &my * &my + c1) * (sxx + syy + c2);
    f64::try_from((num / den).mean(Kind::Float)).unwrap()
}

/// Running means of the three figures over a held-out set.
#[derive(Debug, Default, Clone, Copy, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct Scores {
    pub l1: f64,
    pub psnr: f64,
    pub ssim: f64,
    pub images: usize,
}

impl Scores {
    pub fn add(&mut self, fake: &Tensor, real: &Tensor) {
        let n = fake.size()[0] as usize;
        for i in 0..n as i64 {
            let (f, r) = (fake.narrow(0, i, 1), real.narrow(0, i, 1));
            let k = self.images as f64;
            self.l1 = (self.l1 * k + l1(&f, &r)) / (k + 1.0);
            self.psnr = (self.psnr * k + psnr(&f, &r)) / (k + 1.0);
            self.ssim = (self.ssim * k + ssim(&f, &r)) / (k + 1.0);
            self.images += 1;
        }
    }
}
