//! Packed 8-bit pixels ↔ NCHW float tensors in [-1, 1].
//!
//! `x / 127.5 - 1` on the way in and `round((y + 1) * 127.5)` clamped to
//! 0..=255 on the way out, so a round trip of any 8-bit value is exact.

use tch::{Kind, Tensor};

use crate::{Error, Result};

/// Memory layout of one packed 8-bit pixel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PixelLayout {
    Rgb,
    Bgr,
    Rgbx,
    Bgrx,
    Xrgb,
    Xbgr,
    Rgba,
    Bgra,
    Argb,
    Abgr,
    Gray8,
}

impl PixelLayout {
    pub const ALL: [PixelLayout; 11] = [
        PixelLayout::Rgb,
        PixelLayout::Bgr,
        PixelLayout::Rgbx,
        PixelLayout::Bgrx,
        PixelLayout::Xrgb,
        PixelLayout::Xbgr,
        PixelLayout::Rgba,
        PixelLayout::Bgra,
        PixelLayout::Argb,
        PixelLayout::Abgr,
        PixelLayout::Gray8,
    ];

    /// Bytes per pixel.
    pub fn bpp(self) -> usize {
        match self {
            PixelLayout::Rgb | PixelLayout::Bgr => 3,
            PixelLayout::Gray8 => 1,
            _ => 4,
        }
    }

    /// Byte offsets of R, G and B within a pixel (`None` for gray).
    pub fn rgb_offsets(self) -> Option<[usize; 3]> {
        Some(match self {
            PixelLayout::Rgb | PixelLayout::Rgbx | PixelLayout::Rgba => [0, 1, 2],
            PixelLayout::Bgr | PixelLayout::Bgrx | PixelLayout::Bgra => [2, 1, 0],
            PixelLayout::Xrgb | PixelLayout::Argb => [1, 2, 3],
            PixelLayout::Xbgr | PixelLayout::Abgr => [3, 2, 1],
            PixelLayout::Gray8 => return None,
        })
    }

    /// Byte offset of the alpha channel, if the layout has one.
    pub fn alpha_offset(self) -> Option<usize> {
        match self {
            PixelLayout::Rgba | PixelLayout::Bgra => Some(3),
            PixelLayout::Argb | PixelLayout::Abgr => Some(0),
            _ => None,
        }
    }

    /// Byte offset of the padding byte (x) if any.
    pub fn padding_offset(self) -> Option<usize> {
        match self {
            PixelLayout::Rgbx | PixelLayout::Bgrx => Some(3),
            PixelLayout::Xrgb | PixelLayout::Xbgr => Some(0),
            _ => None,
        }
    }
}

/// A borrowed packed 8-bit image: `height` rows of `stride` bytes.
#[derive(Debug, Clone, Copy)]
pub struct ImageRef<'a> {
    pub data: &'a [u8],
    pub width: usize,
    pub height: usize,
    pub stride: usize,
    pub layout: PixelLayout,
}

impl ImageRef<'_> {
    fn check(&self) -> Result<()> {
        check_dims(
            self.data.len(),
            self.width,
            self.height,
            self.stride,
            self.layout,
        )
    }
}

fn check_dims(len: usize, w: usize, h: usize, stride: usize, layout: PixelLayout) -> Result<()> {
    if w == 0 || h == 0 {
        return Err(Error::Image(format!("empty image {w}x{h}")));
    }
    if stride < w * layout.bpp() {
        return Err(Error::Image(format!(
            "stride {stride} is smaller than a row of {w} {layout:?} pixels"
        )));
    }
    let needed = stride * (h - 1) + w * layout.bpp();
    if len < needed {
        return Err(Error::Image(format!(
            "buffer of {len} bytes is too small for {w}x{h} {layout:?} with stride {stride} (needs {needed})"
        )));
    }
    Ok(())
}

/// ITU-R BT.601 luma of an 8-bit RGB triple, as a float in 0..=255.
#[inline]
pub fn luma(r: f32, g: f32, b: f32) -> f32 {
    0.299 * r + 0.587 * g + 0.114 * b
}

/// Converts packed pixels into planar floats in [-1, 1] with `channels`
/// channels (3: RGB order; 1: luma). Gray input is replicated into 3 channels;
/// colour input is reduced to BT.601 luma for 1 channel. Writes `channels*h*w`
/// values into `out`.
pub fn pixels_to_planar(img: &ImageRef<'_>, channels: usize, out: &mut [f32]) -> Result<()> {
    img.check()?;
    let (w, h) = (img.width, img.height);
    let plane = w * h;
    if channels != 1 && channels != 3 {
        return Err(Error::Image(format!(
            "{channels} channels requested; only 1 and 3 are supported"
        )));
    }
    if out.len() < channels * plane {
        return Err(Error::Image("output buffer too small".into()));
    }
    let bpp = img.layout.bpp();
    const S: f32 = 1.0 / 127.5;
    match (img.layout.rgb_offsets(), channels) {
        (Some([ro, go, bo]), 3) => {
            let (r_pl, rest) = out.split_at_mut(plane);
            let (g_pl, b_pl) = rest.split_at_mut(plane);
            for y in 0..h {
                let row = &img.data[y * img.stride..y * img.stride + w * bpp];
                let o = y * w;
                for (x, px) in row.chunks_exact(bpp).enumerate() {
                    r_pl[o + x] = px[ro] as f32 * S - 1.0;
                    g_pl[o + x] = px[go] as f32 * S - 1.0;
                    b_pl[o + x] = px[bo] as f32 * S - 1.0;
                }
            }
        }
        (Some([ro, go, bo]), _) => {
            for y in 0..h {
                let row = &img.data[y * img.stride..y * img.stride + w * bpp];
                for (x, px) in row.chunks_exact(bpp).enumerate() {
                    let l = luma(px[ro] as f32, px[go] as f32, px[bo] as f32);
                    out[y * w + x] = l * S - 1.0;
                }
            }
        }
        (None, c) => {
            for y in 0..h {
                let row = &img.data[y * img.stride..y * img.stride + w];
                for (x, &v) in row.iter().enumerate() {
                    let f = v as f32 * S - 1.0;
                    for ch in 0..c {
                        out[ch * plane + y * w + x] = f;
                    }
                }
            }
        }
    }
    Ok(())
}

/// Packed pixels → a `1 x channels x H x W` float CPU tensor in [-1, 1].
pub fn image_to_tensor(img: &ImageRef<'_>, channels: usize) -> Result<Tensor> {
    let mut buf = vec![0f32; channels * img.width * img.height];
    pixels_to_planar(img, channels, &mut buf)?;
    Ok(Tensor::from_slice(&buf).view([1, channels as i64, img.height as i64, img.width as i64]))
}

/// `[-1, 1]` float → 8-bit code value, rounded to nearest and clamped.
#[inline]
pub fn to_u8(v: f32) -> u8 {
    let x = (v + 1.0) * 127.5 + 0.5;
    if x.is_nan() || x <= 0.0 {
        0
    } else if x >= 255.0 {
        255
    } else {
        x as u8
    }
}

/// Writes planar floats in [-1, 1] (`channels` planes of `w*h`) into packed
/// pixels. 1 plane into a colour layout is replicated into R, G and B; 3 planes
/// into gray become BT.601 luma. Padding bytes are set to 255, alpha bytes are
/// left as they are (the caller decides what alpha means).
pub fn planar_to_pixels(
    planes: &[f32],
    channels: usize,
    out: &mut [u8],
    width: usize,
    height: usize,
    stride: usize,
    layout: PixelLayout,
) -> Result<()> {
    check_dims(out.len(), width, height, stride, layout)?;
    let plane = width * height;
    if planes.len() < channels * plane || (channels != 1 && channels != 3) {
        return Err(Error::Image(format!(
            "planar data holds {} values, {channels} x {width} x {height} expected",
            planes.len()
        )));
    }
    let bpp = layout.bpp();
    let pad = layout.padding_offset();
    for y in 0..height {
        let row = &mut out[y * stride..y * stride + width * bpp];
        let o = y * width;
        match (layout.rgb_offsets(), channels) {
            (Some([ro, go, bo]), 3) => {
                for (x, px) in row.chunks_exact_mut(bpp).enumerate() {
                    px[ro] = to_u8(planes[o + x]);
                    px[go] = to_u8(planes[plane + o + x]);
                    px[bo] = to_u8(planes[2 * plane + o + x]);
                    if let Some(p) = pad {
                        px[p] = 255;
                    }
                }
            }
            (Some([ro, go, bo]), _) => {
                for (x, px) in row.chunks_exact_mut(bpp).enumerate() {
                    let v = to_u8(planes[o + x]);
                    px[ro] = v;
                    px[go] = v;
                    px[bo] = v;
                    if let Some(p) = pad {
                        px[p] = 255;
                    }
                }
            }
            (None, 3) => {
                for (x, px) in row.iter_mut().enumerate() {
                    let r = (planes[o + x] + 1.0) * 127.5;
                    let g = (planes[plane + o + x] + 1.0) * 127.5;
                    let b = (planes[2 * plane + o + x] + 1.0) * 127.5;
                    *px = to_u8(luma(r, g, b) / 127.5 - 1.0);
                }
            }
            (None, _) => {
                for (x, px) in row.iter_mut().enumerate() {
                    *px = to_u8(planes[o + x]);
                }
            }
        }
    }
    Ok(())
}

/// A `1 x C x H x W` (or `C x H x W`) float tensor in [-1, 1] → packed pixels.
pub fn tensor_to_image(
    t: &Tensor,
    out: &mut [u8],
    width: usize,
    height: usize,
    stride: usize,
    layout: PixelLayout,
) -> Result<()> {
    let size = t.size();
    let (c, h, w) = match size.as_slice() {
        [1, c, h, w] | [c, h, w] => (*c as usize, *h as usize, *w as usize),
        other => {
            return Err(Error::Image(format!(
                "expected a 1xCxHxW tensor, got {other:?}"
            )))
        }
    };
    if h != height || w != width {
        return Err(Error::Image(format!(
            "tensor is {w}x{h}, image is {width}x{height}"
        )));
    }
    let t = t
        .to_device(tch::Device::Cpu)
        .to_kind(Kind::Float)
        .contiguous();
    let n = c * h * w;
    let mut planes = vec![0f32; n];
    t.f_copy_data(&mut planes, n)?;
    planar_to_pixels(&planes, c, out, width, height, stride, layout)
}
