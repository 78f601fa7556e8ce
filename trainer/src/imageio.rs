//! Image files ↔ tensors in [-1, 1].

use std::path::Path;

use anyhow::{Context, Result};
use pix2pix_model::image::{image_to_tensor, tensor_to_image, ImageRef, PixelLayout};
use pix2pix_model::tch::Tensor;

/// Reads an image file as a 1x3xHxW tensor in [-1, 1].
pub fn read_rgb(path: &Path) -> Result<Tensor> {
    let img = image::open(path)
        .with_context(|| format!("cannot decode image {}", path.display()))?
        .to_rgb8();
    let (w, h) = img.dimensions();
    let r = ImageRef {
        data: img.as_raw(),
        width: w as usize,
        height: h as usize,
        stride: w as usize * 3,
        layout: PixelLayout::Rgb,
    };
    Ok(image_to_tensor(&r, 3)?)
}

/// Writes a 1xCxHxW tensor in [-1, 1] (C = 1 or 3) as an 8-bit PNG/JPEG (by extension).
pub fn write_image(t: &Tensor, path: &Path) -> Result<()> {
    let size = t.size();
    let (c, h, w) = (size[1], size[2] as usize, size[3] as usize);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create folder {}", dir.display()))?;
    }
    if c == 1 {
        let mut buf = vec![0u8; w * h];
        tensor_to_image(t, &mut buf, w, h, w, PixelLayout::Gray8)?;
        image::GrayImage::from_raw(w as u32, h as u32, buf)
            .context("image buffer")?
            .save(path)
            .with_context(|| format!("cannot write {}", path.display()))?;
    } else {
        let mut buf = vec![0u8; w * h * 3];
        tensor_to_image(t, &mut buf, w, h, w * 3, PixelLayout::Rgb)?;
        image::RgbImage::from_raw(w as u32, h as u32, buf)
            .context("image buffer")?
            .save(path)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// Image file extensions the trainer reads.
pub const IMAGE_EXTENSIONS: [&str; 6] = ["png", "jpg", "jpeg", "bmp", "ppm", "webp"];

pub fn is_image(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .map(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
        .unwrap_or(false)
}

/// Image files directly in `dir`, sorted by name.
pub fn list_images(dir: &Path) -> Result<Vec<std::path::PathBuf>> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read folder {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && is_image(p))
        .collect();
    v.sort();
    Ok(v)
}
