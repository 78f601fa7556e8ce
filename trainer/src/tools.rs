//! Model tools: create, import, inspect, translate.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use pix2pix_model::tch::Device;
use pix2pix_model::{
    file, load_any_generator, load_official_checkpoint, ModelInfo, StoragePrecision,
    TranslateOptions, Translator, UnetConfig, UnetGenerator,
};

use crate::imageio;

/// Writes a freshly initialised generator as a model file.
pub fn init_model(
    config: &UnetConfig,
    image_size: i64,
    task: &str,
    seed: i64,
    out: &Path,
    precision: StoragePrecision,
) -> Result<ModelInfo> {
    pix2pix_model::tch::manual_seed(seed);
    let g = UnetGenerator::new(config, Device::Cpu)?;
    let mut info = ModelInfo::new(config.clone(), image_size);
    info.task = task.into();
    info.source = format!("pix2pix-train init (untrained, seed {seed})");
    file::save_generator(&g, &info, out, precision)
        .with_context(|| format!("writing {}", out.display()))?;
    Ok(info)
}

/// Converts an official PyTorch generator checkpoint into a model file.
#[allow(clippy::too_many_arguments)]
pub fn import_checkpoint(
    checkpoint: &Path,
    config: Option<&UnetConfig>,
    image_size: Option<i64>,
    task: &str,
    direction: &str,
    out: &Path,
    precision: StoragePrecision,
) -> Result<ModelInfo> {
    let g = load_official_checkpoint(checkpoint, config, Device::Cpu)
        .with_context(|| format!("importing {}", checkpoint.display()))?;
    let size = image_size.unwrap_or(if g.config().num_downs == 7 { 128 } else { 256 });
    let mut info = ModelInfo::new(g.config().clone(), size);
    info.task = task.into();
    info.direction = direction.into();
    info.source = format!(
        "imported from PyTorch checkpoint {}",
        checkpoint
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    );
    file::save_generator(&g, &info, out, precision)
        .with_context(|| format!("writing {}", out.display()))?;
    Ok(info)
}

/// Translates one image file or every image in a folder.
/// Returns the written files.
pub fn translate_paths(
    model: &Path,
    input: &Path,
    output: &Path,
    device: Device,
    opts: &TranslateOptions,
) -> Result<Vec<PathBuf>> {
    let (g, info) = load_any_generator(model, Device::Cpu)
        .with_context(|| format!("loading {}", model.display()))?;
    let translator = Translator::new(g, info, device, pix2pix_model::Precision::F32)?;
    let jobs: Vec<(PathBuf, PathBuf)> = if input.is_dir() {
        let files = imageio::list_images(input)?;
        if files.is_empty() {
            bail!("no images in {}", input.display());
        }
        files
            .into_iter()
            .map(|f| {
                let name = f
                    .file_stem()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned();
                (f, output.join(format!("{name}.png")))
            })
            .collect()
    } else {
        vec![(input.to_owned(), output.to_owned())]
    };
    let bar = crate::progress::bar(jobs.len() as u64, "translating");
    let mut written = Vec::new();
    for (src, dst) in jobs {
        let x = imageio::read_rgb(&src)?;
        let y = translator
            .translate(&x, opts)
            .with_context(|| format!("translating {}", src.display()))?;
        imageio::write_image(&y, &dst)?;
        written.push(dst);
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(written)
}

/// A contact sheet: one column per folder (its PNG/JPEG files in name order are
/// the rows), a label above each column. Images are scaled to the first one's size.
pub fn contact_sheet(columns: &[PathBuf], labels: &[String], out: &Path) -> Result<(u32, u32)> {
    if columns.is_empty() {
        bail!("no folders given");
    }
    let lists: Vec<Vec<PathBuf>> = columns
        .iter()
        .map(|d| imageio::list_images(d))
        .collect::<Result<_>>()?;
    let rows = lists.iter().map(|l| l.len()).min().unwrap_or(0);
    if rows == 0 {
        bail!("a folder holds no images");
    }
    let first = image::open(&lists[0][0])
        .with_context(|| format!("cannot read {}", lists[0][0].display()))?
        .to_rgb8();
    let (cw, ch) = first.dimensions();
    let (gap, head) = (6u32, 28u32);
    let width = columns.len() as u32 * (cw + gap) + gap;
    let height = head + rows as u32 * (ch + gap) + gap;
    let mut sheet = image::RgbImage::from_pixel(width, height, image::Rgb([255, 255, 255]));
    for (c, list) in lists.iter().enumerate() {
        let x0 = gap + c as u32 * (cw + gap);
        if let Some(label) = labels.get(c) {
            crate::plot::draw_text(&mut sheet, x0 as i64, 8, label, 2, image::Rgb([30, 30, 30]));
        }
        for (r, path) in list.iter().take(rows).enumerate() {
            let img = image::open(path)
                .with_context(|| format!("cannot read {}", path.display()))?
                .to_rgb8();
            let img = if img.dimensions() != (cw, ch) {
                image::imageops::resize(&img, cw, ch, image::imageops::FilterType::Triangle)
            } else {
                img
            };
            image::imageops::replace(
                &mut sheet,
                &img,
                x0 as i64,
                (head + gap + r as u32 * (ch + gap)) as i64,
            );
        }
    }
    sheet
        .save(out)
        .with_context(|| format!("cannot write {}", out.display()))?;
    Ok((width, height))
}
