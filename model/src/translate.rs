//! Running a generator on whole images of any size: resizing strategies,
//! luma preservation, blending, precision and device handling.
//!
//! This is the tensor side of the GStreamer element (and of the trainer's
//! `translate` command): it takes a frame as a `1 x C x H x W` tensor in
//! [-1, 1] and returns the translated frame at the same size.

use std::panic::{catch_unwind, AssertUnwindSafe};

use tch::{Device, Kind, Tensor};

use crate::config::ModelInfo;
use crate::layers::Mode;
use crate::unet::UnetGenerator;
use crate::{Error, Result};

/// How a frame of arbitrary size is fitted to the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ResizeMode {
    /// Scale to the model's training size and back (aspect not kept).
    #[default]
    Stretch,
    /// Scale to fit the training size keeping the aspect ratio, pad, crop back, scale back.
    Letterbox,
    /// Run at native resolution, padded to a multiple of 2^num_downs, crop back.
    Pad,
    /// Model-size tiles with overlap and blended seams, at native resolution.
    Tile,
}

/// Arithmetic precision of inference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precision {
    #[default]
    F32,
    F16,
    BF16,
}

impl Precision {
    pub fn kind(self) -> Kind {
        match self {
            Precision::F32 => Kind::Float,
            Precision::F16 => Kind::Half,
            Precision::BF16 => Kind::BFloat16,
        }
    }
}

/// Per-frame options.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TranslateOptions {
    pub resize: ResizeMode,
    /// [`Mode::Eval`] or [`Mode::Paper`].
    pub mode: Mode,
    /// Keep the input's luma (BT.601) and take only colour from the model.
    pub preserve_luma: bool,
    /// 1.0: only the translation; 0.0: only the input.
    pub mix: f32,
    /// Overlap between tiles in [`ResizeMode::Tile`], as a fraction of the tile size.
    pub tile_overlap: f64,
}

impl Default for TranslateOptions {
    fn default() -> Self {
        TranslateOptions {
            resize: ResizeMode::Stretch,
            mode: Mode::Eval,
            preserve_luma: false,
            mix: 1.0,
            tile_overlap: 0.25,
        }
    }
}

/// A generator ready for inference on one device in one precision.
pub struct Translator {
    generator: UnetGenerator,
    /// BatchNorm-folded, channels-last form used in eval mode.
    fused: Option<crate::fused::FusedUnet>,
    info: ModelInfo,
    device: Device,
    precision: Precision,
}

// SAFETY: a Translator only ever reads its parameters (eval and paper modes do
// not update BatchNorm statistics, and nothing hands out mutable access), and
// libtorch allows concurrent read-only use of tensors from several threads.
unsafe impl Sync for Translator {}

impl std::fmt::Debug for Translator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Translator")
            .field("info", &self.info)
            .field("device", &self.device)
            .field("precision", &self.precision)
            .finish()
    }
}

fn guarded<T>(what: &str, f: impl FnOnce() -> T) -> Result<T> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|p| {
        let msg = p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "unknown libtorch failure".into());
        let msg = msg.lines().next().unwrap_or("").to_string();
        Error::Inference(format!("{what}: {msg}"))
    })
}

/// Resizes an NCHW float tensor with antialiased bilinear filtering.
pub fn resize(x: &Tensor, h: i64, w: i64) -> Tensor {
    let s = x.size();
    if s[2] == h && s[3] == w {
        return x.shallow_clone();
    }
    if x.kind() == Kind::Float {
        x.internal_upsample_bilinear2d_aa([h, w], false, None, None)
    } else {
        x.to_kind(Kind::Float)
            .internal_upsample_bilinear2d_aa([h, w], false, None, None)
            .to_kind(x.kind())
    }
}

/// BT.601 luma of a 1x3xHxW tensor in [-1, 1] (stays in [-1, 1]).
pub fn luma_of(x: &Tensor) -> Tensor {
    let c = x.size()[1];
    if c == 1 {
        return x.shallow_clone();
    }
    x.narrow(1, 0, 1) * 0.299 + x.narrow(1, 1, 1) * 0.587 + x.narrow(1, 2, 1) * 0.114
}

/// Adapts the channel count: replicate gray to 3 channels, or take luma for 1.
pub fn adapt_channels(x: &Tensor, channels: i64) -> Tensor {
    let c = x.size()[1];
    if c == channels {
        x.shallow_clone()
    } else if channels == 1 {
        luma_of(x)
    } else {
        x.narrow(1, 0, 1)
            .expand([-1, channels, -1, -1], false)
            .contiguous()
    }
}

/// Replaces the luma of `colour` (1x3xHxW) by `luma` (1x1xHxW), keeping its
/// chroma and desaturating only where needed to stay inside the RGB cube, so
/// the result's luma equals `luma` exactly (before 8-bit rounding).
pub fn with_luma(colour: &Tensor, luma: &Tensor) -> Tensor {
    let y_old = luma_of(colour);
    // Chroma offsets d_c = channel - luma; the result is luma + s * d_c.
    let d = colour - &y_old;
    let pos = d.gt(1e-6);
    let neg = d.lt(-1e-6);
    let inf = Tensor::full([1], 1e9, (Kind::Float, d.device()));
    let up: Tensor = (luma.neg() + 1.0) / d.clamp_min(1e-6);
    let down: Tensor = (luma.neg() - 1.0) / d.clamp_max(-1e-6);
    let lim = up.where_self(&pos, &down.where_self(&neg, &inf));
    let s = lim.amin([1], true).clamp(0.0, 1.0);
    (luma + d * s).clamp(-1.0, 1.0)
}

impl Translator {
    /// Moves the generator to `device` in `precision` and checks, with a tiny
    /// forward pass, that the device supports that precision.
    pub fn new(
        mut generator: UnetGenerator,
        info: ModelInfo,
        device: Device,
        precision: Precision,
    ) -> Result<Translator> {
        if generator.device() != device {
            generator.var_store_mut().set_device(device);
        }
        let fused = (std::env::var_os("PIX2PIX_NO_FUSED").is_none())
            .then(|| crate::fused::FusedUnet::new(&generator, precision.kind()));
        if precision != Precision::F32 {
            generator.var_store_mut().set_kind(precision.kind());
        }
        let t = Translator {
            generator,
            fused,
            info,
            device,
            precision,
        };
        let m = t.generator.config().size_multiple();
        let probe = Tensor::zeros(
            [1, t.generator.config().input_nc, m, m],
            (precision.kind(), device),
        );
        let _probe_out = guarded("checking the device", || {
            tch::no_grad(|| t.net(&probe, Mode::Eval))
        })
        .map_err(|e| {
            Error::Device(
                format!("{device:?}"),
                format!("cannot run the model in {precision:?}: {e}"),
            )
        })?;
        Ok(t)
    }

    /// How forward passes compute, in words for a log line.
    pub fn compute_path(&self) -> String {
        match self.fused.as_ref().map(|f| f.packed_status()) {
            None => "the plain network (PIX2PIX_NO_FUSED)".into(),
            Some(Ok(true)) => "the folded eval-mode network on oneDNN weights packed once".into(),
            Some(Ok(false)) => "the folded eval-mode network".into(),
            Some(Err(e)) => format!("the folded eval-mode network, weights unpacked ({e})"),
        }
    }

    /// Whether the packed oneDNN path failed on this machine (the reason), so
    /// that a slower path runs.
    pub fn packing_failure(&self) -> Option<String> {
        self.fused.as_ref().and_then(|f| f.packed_status().err())
    }

    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    pub fn generator(&self) -> &UnetGenerator {
        &self.generator
    }

    pub fn device(&self) -> Device {
        self.device
    }

    pub fn precision(&self) -> Precision {
        self.precision
    }

    pub fn input_channels(&self) -> i64 {
        self.generator.config().input_nc
    }

    pub fn output_channels(&self) -> i64 {
        self.generator.config().output_nc
    }

    /// The network on a batch already at a valid size, in the model's precision.
    fn net(&self, x: &Tensor, mode: Mode) -> Tensor {
        let x = x.to_device(self.device).to_kind(self.precision.kind());
        match (&self.fused, mode) {
            (Some(f), Mode::Eval) => f.forward(&x).to_kind(Kind::Float).contiguous(),
            _ => self.generator.forward(&x, mode).to_kind(Kind::Float),
        }
    }

    /// Translates `frame` (1 x C x H x W in [-1, 1], C = 1 or 3, any device) and
    /// returns 1 x output_nc x H x W in [-1, 1] on the CPU.
    pub fn translate(&self, frame: &Tensor, opts: &TranslateOptions) -> Result<Tensor> {
        let size = frame.size();
        if size.len() != 4 || size[0] != 1 || !(size[1] == 1 || size[1] == 3) {
            return Err(Error::Image(format!(
                "expected a 1 x (1|3) x H x W frame, got {size:?}"
            )));
        }
        if !(0.0..=1.0).contains(&opts.mix) {
            return Err(Error::Config(format!("mix {} outside 0..1", opts.mix)));
        }
        guarded("inference", || {
            tch::no_grad(|| self.translate_unchecked(frame, opts))
        })
    }

    fn translate_unchecked(&self, frame: &Tensor, opts: &TranslateOptions) -> Tensor {
        let (h, w) = (frame.size()[2], frame.size()[3]);
        let frame = frame.to_device(self.device).to_kind(Kind::Float);
        let x = adapt_channels(&frame, self.input_channels());
        let out_nc = self.output_channels();
        let mut y = if opts.mix > 0.0 {
            match opts.resize {
                ResizeMode::Stretch => self.run_stretch(&x, opts.mode),
                ResizeMode::Letterbox => self.run_letterbox(&x, opts.mode),
                ResizeMode::Pad => self.run_pad(&x, opts.mode),
                ResizeMode::Tile => self.run_tile(&x, opts.mode, opts.tile_overlap),
            }
        } else {
            adapt_channels(&frame, out_nc)
        };
        debug_assert_eq!(y.size(), vec![1, out_nc, h, w]);
        if opts.preserve_luma && out_nc == 3 {
            y = with_luma(&y, &luma_of(&frame));
        }
        if opts.mix < 1.0 {
            let orig = adapt_channels(&frame, out_nc);
            y = &y * (opts.mix as f64) + orig * (1.0 - opts.mix as f64);
        }
        y.to_device(Device::Cpu)
    }

    fn model_size(&self) -> i64 {
        let m = self.generator.config().size_multiple();
        // Round the training size up to a valid size.
        ((self.info.image_size.max(m) + m - 1) / m) * m
    }

    fn run_stretch(&self, x: &Tensor, mode: Mode) -> Tensor {
        let (h, w) = (x.size()[2], x.size()[3]);
        let s = self.model_size();
        let y = self.net(&resize(x, s, s), mode);
        resize(&y, h, w)
    }

    fn run_letterbox(&self, x: &Tensor, mode: Mode) -> Tensor {
        let (h, w) = (x.size()[2], x.size()[3]);
        let s = self.model_size();
        let scale = s as f64 / h.max(w) as f64;
        let nh = ((h as f64 * scale).round() as i64).clamp(1, s);
        let nw = ((w as f64 * scale).round() as i64).clamp(1, s);
        let small = resize(x, nh, nw);
        let (top, left) = ((s - nh) / 2, (s - nw) / 2);
        let padded = small.replication_pad2d([left, s - nw - left, top, s - nh - top]);
        let y = self.net(&padded, mode);
        let y = y.narrow(2, top, nh).narrow(3, left, nw);
        resize(&y, h, w)
    }

    fn run_pad(&self, x: &Tensor, mode: Mode) -> Tensor {
        let (h, w) = (x.size()[2], x.size()[3]);
        let m = self.generator.config().size_multiple();
        let hp = ((h + m - 1) / m).max(1) * m;
        let wp = ((w + m - 1) / m).max(1) * m;
        let (top, left) = ((hp - h) / 2, (wp - w) / 2);
        let padded = x.replication_pad2d([left, wp - w - left, top, hp - h - top]);
        let y = self.net(&padded, mode);
        y.narrow(2, top, h).narrow(3, left, w)
    }

    fn run_tile(&self, x: &Tensor, mode: Mode, overlap: f64) -> Tensor {
        let (h, w) = (x.size()[2], x.size()[3]);
        let t = self.model_size();
        // Frames smaller than a tile are padded up to one tile.
        let (hp, wp) = (h.max(t), w.max(t));
        let padded = x.replication_pad2d([0, wp - w, 0, hp - h]);
        let ov = ((t as f64 * overlap.clamp(0.0, 0.75)) as i64).max(0);
        let origins = |len: i64| -> Vec<i64> {
            let step = (t - ov).max(1);
            let mut v = Vec::new();
            let mut o = 0;
            loop {
                if o + t >= len {
                    v.push(len - t);
                    break;
                }
                v.push(o);
                o += step;
            }
            v.dedup();
            v
        };
        let (ys, xs) = (origins(hp), origins(wp));
        // Blending window: linear ramps over the overlap, never zero.
        let ramp: Vec<f32> = (0..t)
            .map(|i| {
                if ov == 0 {
                    1.0
                } else {
                    let a = (i as f32 + 0.5) / ov as f32;
                    let b = (t as f32 - i as f32 - 0.5) / ov as f32;
                    a.min(b).clamp(1e-3, 1.0)
                }
            })
            .collect();
        let ramp = Tensor::from_slice(&ramp).to_device(self.device);
        let win = (ramp.view([t, 1]) * ramp.view([1, t])).view([1, 1, t, t]);
        let out_nc = self.output_channels();
        let acc = Tensor::zeros([1, out_nc, hp, wp], (Kind::Float, self.device));
        let wsum = Tensor::zeros([1, 1, hp, wp], (Kind::Float, self.device));
        let coords: Vec<(i64, i64)> = ys
            .iter()
            .flat_map(|&y0| xs.iter().map(move |&x0| (y0, x0)))
            .collect();
        const BATCH: usize = 4;
        for chunk in coords.chunks(BATCH) {
            let tiles: Vec<Tensor> = chunk
                .iter()
                .map(|&(y0, x0)| padded.narrow(2, y0, t).narrow(3, x0, t))
                .collect();
            let out = self.net(&Tensor::cat(&tiles, 0), mode);
            for (i, &(y0, x0)) in chunk.iter().enumerate() {
                let mut a = acc.narrow(2, y0, t).narrow(3, x0, t);
                let _ = a.g_add_(&(out.narrow(0, i as i64, 1) * &win));
                let mut ws = wsum.narrow(2, y0, t).narrow(3, x0, t);
                let _ = ws.g_add_(&win);
            }
        }
        (acc / wsum).narrow(2, 0, h).narrow(3, 0, w)
    }
}
