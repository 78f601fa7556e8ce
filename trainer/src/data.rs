//! Training data: aligned A|B images, paired folders, and self-supervised pairs
//! made on the fly from plain photos (colorize, edges). Decoding and
//! augmentation run on worker threads ahead of the training step.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use image::imageops::FilterType;
use image::{GrayImage, RgbImage};
use serde::{Deserialize, Serialize};

use crate::imageio::list_images;

/// Which half of an aligned image is the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
pub enum Direction {
    #[serde(rename = "AtoB")]
    #[value(name = "AtoB")]
    AtoB,
    #[serde(rename = "BtoA")]
    #[value(name = "BtoA")]
    BtoA,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::AtoB => "AtoB",
            Direction::BtoA => "BtoA",
        }
    }
}

/// Self-supervised tasks made from plain photos.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    /// Grayscale (BT.601 luma) → colour.
    Colorize,
    /// Edge map (black edges on white) → photo.
    Edges,
}

/// Preprocessing, as the reference's `--preprocess`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Preprocess {
    /// Resize to load-size (photos: short side), random crop of crop-size.
    #[value(name = "resize_and_crop")]
    ResizeAndCrop,
    /// Random crop of crop-size at the original scale.
    Crop,
    /// Scale to a width of load-size keeping the aspect ratio, random crop of crop-size.
    #[value(name = "scale_width")]
    ScaleWidth,
    /// Resize to crop-size exactly (no random crop).
    None,
}

/// What the dataset folder holds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub enum SourceKind {
    /// Each image holds A and B side by side.
    Aligned { direction: Direction },
    /// `A/` and `B/` subfolders with the same file names.
    Paired { direction: Direction },
    /// Plain photos; pairs made on the fly.
    Photos { task: Task },
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DataConfig {
    pub preprocess: Preprocess,
    pub load_size: u32,
    pub crop_size: u32,
    pub flip: bool,
    pub input_nc: i64,
    pub output_nc: i64,
}

/// One training pair as planar floats in [-1, 1].
#[derive(Debug, Clone)]
pub struct Sample {
    pub a: Vec<f32>,
    pub b: Vec<f32>,
    pub index: usize,
}

/// A small, fast, seedable RNG (SplitMix64). Each sample's augmentation is drawn
/// from an RNG seeded by (seed, epoch, index), so it does not depend on which
/// worker thread handles it: runs are reproducible and resumable.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }
    pub fn for_sample(seed: u64, epoch: u64, index: u64) -> Self {
        let mut r = Rng::new(seed);
        r.0 ^= epoch.wrapping_mul(0xD1B5_4A32_D192_ED03);
        r.next_u64();
        r.0 ^= index.wrapping_mul(0x8CB9_2BA7_2F3D_8DD7);
        r.next_u64();
        r
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in 0..n (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n <= 1 {
            0
        } else {
            self.next_u64() % n
        }
    }
    pub fn coin(&mut self) -> bool {
        self.next_u64() & 1 == 1
    }
    /// Fisher-Yates shuffle.
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            v.swap(i, j);
        }
    }
}

/// Decoded images kept in memory (up to a byte budget) so that each epoch does
/// not decode large photos again. Large photos are stored pre-shrunk to what
/// the preprocessing can use.
struct Cache {
    images: Mutex<HashMap<usize, Arc<RgbImage>>>,
    bytes: AtomicUsize,
    budget: usize,
}

pub struct Dataset {
    kind: SourceKind,
    files: Vec<PathBuf>,
    b_files: Vec<PathBuf>,
    config: DataConfig,
    cache: Cache,
}

impl std::fmt::Debug for Dataset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dataset")
            .field("kind", &self.kind)
            .field("len", &self.files.len())
            .finish()
    }
}

impl Dataset {
    /// Opens a dataset folder. With `task` set, the folder holds plain photos;
    /// otherwise `A/` and `B/` subfolders mean paired folders, and anything
    /// else is aligned A|B images.
    pub fn open(
        dir: &Path,
        task: Option<Task>,
        direction: Direction,
        config: DataConfig,
    ) -> Result<Dataset> {
        if !dir.is_dir() {
            bail!("dataset folder {} does not exist", dir.display());
        }
        let (kind, files, b_files) = if let Some(task) = task {
            let files = collect_images_recursive(dir)?;
            (SourceKind::Photos { task }, files, Vec::new())
        } else if dir.join("A").is_dir() && dir.join("B").is_dir() {
            let a = list_images(&dir.join("A"))?;
            let mut pairs_a = Vec::new();
            let mut pairs_b = Vec::new();
            for f in a {
                let name = f.file_name().unwrap();
                let b = dir.join("B").join(name);
                if b.exists() {
                    pairs_a.push(f);
                    pairs_b.push(b);
                } else {
                    eprintln!("warning: {} has no partner in B/, skipped", f.display());
                }
            }
            (SourceKind::Paired { direction }, pairs_a, pairs_b)
        } else {
            (
                SourceKind::Aligned { direction },
                list_images(dir)?,
                Vec::new(),
            )
        };
        if files.is_empty() {
            bail!(
                "dataset {} holds no images (looked for png, jpg, jpeg, bmp, ppm, webp{})",
                dir.display(),
                if task.is_some() { ", recursively" } else { "" }
            );
        }
        let needs_load = !matches!(config.preprocess, Preprocess::None | Preprocess::Crop);
        if config.crop_size == 0 || (needs_load && config.load_size < config.crop_size) {
            bail!(
                "load-size ({}) must be at least crop-size ({}), and crop-size positive",
                config.load_size,
                config.crop_size
            );
        }
        Ok(Dataset {
            kind,
            files,
            b_files,
            config,
            cache: Cache {
                images: Mutex::new(HashMap::new()),
                bytes: AtomicUsize::new(0),
                budget: 3 << 30,
            },
        })
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    pub fn kind(&self) -> &SourceKind {
        &self.kind
    }

    pub fn config(&self) -> &DataConfig {
        &self.config
    }

    pub fn path(&self, index: usize) -> &Path {
        &self.files[index]
    }

    fn decode(&self, path: &Path) -> Result<RgbImage, String> {
        let img = image::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let img = img.to_rgb8();
        if img.width() < 2 || img.height() < 2 {
            return Err(format!("{}: image is too small", path.display()));
        }
        Ok(img)
    }

    /// The decoded image (cached); for photos, shrunk so its short side is at
    /// most twice what preprocessing needs.
    fn image(&self, index: usize, path: &Path, slot: usize) -> Result<Arc<RgbImage>, String> {
        let key = index * 2 + slot;
        if let Some(img) = self.cache.images.lock().unwrap().get(&key) {
            return Ok(img.clone());
        }
        let mut img = self.decode(path)?;
        if matches!(self.kind, SourceKind::Photos { .. }) {
            let need = self.config.load_size.max(self.config.crop_size) * 2;
            let short = img.width().min(img.height());
            if short > need {
                let s = need as f64 / short as f64;
                let (w, h) = (
                    (img.width() as f64 * s).round() as u32,
                    (img.height() as f64 * s).round() as u32,
                );
                img = image::imageops::resize(&img, w, h, FilterType::Triangle);
            }
        }
        let img = Arc::new(img);
        let size = img.as_raw().len();
        if self.cache.bytes.load(Ordering::Relaxed) + size <= self.cache.budget {
            self.cache.bytes.fetch_add(size, Ordering::Relaxed);
            self.cache.images.lock().unwrap().insert(key, img.clone());
        }
        Ok(img)
    }

    /// Loads and augments sample `index`; the error names the broken file.
    pub fn load(&self, index: usize, rng: &mut Rng) -> Result<Sample, String> {
        let cfg = &self.config;
        let (a_img, b_img) = match &self.kind {
            SourceKind::Aligned { direction } => {
                let ab = self.image(index, &self.files[index], 0)?;
                let w2 = ab.width() / 2;
                let left = image::imageops::crop_imm(ab.as_ref(), 0, 0, w2, ab.height()).to_image();
                let right =
                    image::imageops::crop_imm(ab.as_ref(), w2, 0, w2, ab.height()).to_image();
                match direction {
                    Direction::AtoB => (left, right),
                    Direction::BtoA => (right, left),
                }
            }
            SourceKind::Paired { direction } => {
                let a = self.image(index, &self.files[index], 0)?;
                let b = self.image(index, &self.b_files[index], 1)?;
                let b = if b.dimensions() != a.dimensions() {
                    image::imageops::resize(
                        b.as_ref(),
                        a.width(),
                        a.height(),
                        FilterType::CatmullRom,
                    )
                } else {
                    b.as_ref().clone()
                };
                match direction {
                    Direction::AtoB => (a.as_ref().clone(), b),
                    Direction::BtoA => (b, a.as_ref().clone()),
                }
            }
            SourceKind::Photos { .. } => {
                let p = self.image(index, &self.files[index], 0)?;
                (p.as_ref().clone(), p.as_ref().clone())
            }
        };
        let photo = matches!(self.kind, SourceKind::Photos { .. });
        let (a_img, b_img) = augment(&a_img, &b_img, cfg, photo, rng);
        let (a, b) = match self.kind {
            SourceKind::Photos { task } => {
                let gray = luma_image(&b_img);
                let a = match task {
                    Task::Colorize => gray,
                    Task::Edges => edge_map(&gray),
                };
                (
                    gray_to_planar(&a, cfg.input_nc),
                    rgb_to_planar(&b_img, cfg.output_nc),
                )
            }
            _ => (
                rgb_to_planar(&a_img, cfg.input_nc),
                rgb_to_planar(&b_img, cfg.output_nc),
            ),
        };
        Ok(Sample { a, b, index })
    }
}

fn collect_images_recursive(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).with_context(|| format!("reading {}", d.display()))? {
            let p = e?.path();
            if p.is_dir() {
                stack.push(p);
            } else if crate::imageio::is_image(&p) {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The same random geometry for A and B.
fn augment(
    a: &RgbImage,
    b: &RgbImage,
    cfg: &DataConfig,
    photo: bool,
    rng: &mut Rng,
) -> (RgbImage, RgbImage) {
    let crop = cfg.crop_size;
    let filter = FilterType::CatmullRom; // bicubic, as the reference
    let resize_both = |a: &RgbImage, b: &RgbImage, w: u32, h: u32| {
        (
            image::imageops::resize(a, w, h, filter),
            image::imageops::resize(b, w, h, filter),
        )
    };
    let (a, b) = match cfg.preprocess {
        Preprocess::ResizeAndCrop if photo => {
            // Photos keep their aspect ratio: short side to load-size.
            let s = cfg.load_size as f64 / a.width().min(a.height()) as f64;
            let w = ((a.width() as f64 * s).round() as u32).max(cfg.load_size);
            let h = ((a.height() as f64 * s).round() as u32).max(cfg.load_size);
            resize_both(a, b, w, h)
        }
        Preprocess::ResizeAndCrop => resize_both(a, b, cfg.load_size, cfg.load_size),
        Preprocess::ScaleWidth => {
            let h = ((a.height() as f64 * cfg.load_size as f64 / a.width() as f64).round() as u32)
                .max(crop);
            resize_both(a, b, cfg.load_size, h)
        }
        Preprocess::Crop => {
            if a.width() < crop || a.height() < crop {
                let s = crop as f64 / a.width().min(a.height()) as f64;
                let w = ((a.width() as f64 * s).ceil() as u32).max(crop);
                let h = ((a.height() as f64 * s).ceil() as u32).max(crop);
                resize_both(a, b, w, h)
            } else {
                (a.clone(), b.clone())
            }
        }
        Preprocess::None => resize_both(a, b, crop, crop),
    };
    let (x, y) = (
        rng.below((a.width() - crop + 1) as u64) as u32,
        rng.below((a.height() - crop + 1) as u64) as u32,
    );
    let mut a = image::imageops::crop_imm(&a, x, y, crop, crop).to_image();
    let mut b = image::imageops::crop_imm(&b, x, y, crop, crop).to_image();
    if cfg.flip && rng.coin() {
        image::imageops::flip_horizontal_in_place(&mut a);
        image::imageops::flip_horizontal_in_place(&mut b);
    }
    (a, b)
}

/// BT.601 luma, rounded.
pub fn luma_image(img: &RgbImage) -> GrayImage {
    GrayImage::from_fn(img.width(), img.height(), |x, y| {
        let p = img.get_pixel(x, y).0;
        let l = pix2pix_model::image::luma(p[0] as f32, p[1] as f32, p[2] as f32);
        image::Luma([(l + 0.5).clamp(0.0, 255.0) as u8])
    })
}

/// A sketch-like edge map: black lines on white, from the Sobel gradient of a
/// lightly blurred image, thresholded relative to the image's own gradients.
pub fn edge_map(gray: &GrayImage) -> GrayImage {
    let blurred = image::imageops::blur(gray, 1.0);
    let (w, h) = blurred.dimensions();
    let px = |x: i64, y: i64| {
        let x = x.clamp(0, w as i64 - 1) as u32;
        let y = y.clamp(0, h as i64 - 1) as u32;
        blurred.get_pixel(x, y).0[0] as f32
    };
    let mut mag = vec![0f32; (w * h) as usize];
    for y in 0..h as i64 {
        for x in 0..w as i64 {
            let gx = px(x + 1, y - 1) + 2.0 * px(x + 1, y) + px(x + 1, y + 1)
                - px(x - 1, y - 1)
                - 2.0 * px(x - 1, y)
                - px(x - 1, y + 1);
            let gy = px(x - 1, y + 1) + 2.0 * px(x, y + 1) + px(x + 1, y + 1)
                - px(x - 1, y - 1)
                - 2.0 * px(x, y - 1)
                - px(x + 1, y - 1);
            mag[(y as u32 * w + x as u32) as usize] = (gx * gx + gy * gy).sqrt();
        }
    }
    let n = mag.len() as f32;
    let mean = mag.iter().sum::<f32>() / n;
    let std = (mag.iter().map(|m| (m - mean) * (m - mean)).sum::<f32>() / n).sqrt();
    let thr = (mean + std).max(24.0);
    GrayImage::from_fn(w, h, |x, y| {
        image::Luma([if mag[(y * w + x) as usize] > thr {
            0
        } else {
            255
        }])
    })
}

fn rgb_to_planar(img: &RgbImage, channels: i64) -> Vec<f32> {
    let r = pix2pix_model::image::ImageRef {
        data: img.as_raw(),
        width: img.width() as usize,
        height: img.height() as usize,
        stride: img.width() as usize * 3,
        layout: pix2pix_model::image::PixelLayout::Rgb,
    };
    let mut out = vec![0f32; channels as usize * r.width * r.height];
    pix2pix_model::image::pixels_to_planar(&r, channels as usize, &mut out).expect("valid image");
    out
}

fn gray_to_planar(img: &GrayImage, channels: i64) -> Vec<f32> {
    let r = pix2pix_model::image::ImageRef {
        data: img.as_raw(),
        width: img.width() as usize,
        height: img.height() as usize,
        stride: img.width() as usize,
        layout: pix2pix_model::image::PixelLayout::Gray8,
    };
    let mut out = vec![0f32; channels as usize * r.width * r.height];
    pix2pix_model::image::pixels_to_planar(&r, channels as usize, &mut out).expect("valid image");
    out
}

/// Statistics of one pass over the data.
#[derive(Debug, Default, Clone)]
pub struct LoadStats {
    pub skipped: Vec<String>,
    pub wait: Duration,
}

/// Streams the samples of one epoch in a fixed order, decoded and augmented by
/// worker threads ahead of the consumer. Broken files are skipped with a
/// warning and counted.
pub struct Loader {
    rx: Receiver<(usize, Result<Sample, String>)>,
    pending: BTreeMap<usize, Result<Sample, String>>,
    next: usize,
    total: usize,
    pub stats: LoadStats,
}

impl Loader {
    /// `order` lists dataset indices in the order they are wanted.
    pub fn start(
        data: Arc<Dataset>,
        order: Vec<usize>,
        seed: u64,
        epoch: u64,
        workers: usize,
        prefetch: usize,
    ) -> Loader {
        let total = order.len();
        let (tx, rx) = sync_channel(prefetch.max(1));
        let order = Arc::new(order);
        let counter = Arc::new(AtomicUsize::new(0));
        for w in 0..workers.max(1) {
            let (tx, data, order, counter) =
                (tx.clone(), data.clone(), order.clone(), counter.clone());
            std::thread::Builder::new()
                .name(format!("pix2pix-data-{w}"))
                .spawn(move || loop {
                    let pos = counter.fetch_add(1, Ordering::SeqCst);
                    if pos >= order.len() {
                        break;
                    }
                    let idx = order[pos];
                    let mut rng = Rng::for_sample(seed, epoch, idx as u64);
                    let r = data.load(idx, &mut rng);
                    if tx.send((pos, r)).is_err() {
                        break;
                    }
                })
                .expect("spawn data worker");
        }
        Loader {
            rx,
            pending: BTreeMap::new(),
            next: 0,
            total,
            stats: LoadStats::default(),
        }
    }

    /// The next good sample in order, or `None` at the end of the epoch.
    pub fn next_sample(&mut self) -> Option<Sample> {
        loop {
            if self.next >= self.total {
                return None;
            }
            let started = Instant::now();
            while !self.pending.contains_key(&self.next) {
                match self.rx.recv() {
                    Ok((pos, r)) => {
                        self.pending.insert(pos, r);
                    }
                    Err(_) => return None,
                }
            }
            self.stats.wait += started.elapsed();
            let r = self.pending.remove(&self.next).unwrap();
            self.next += 1;
            match r {
                Ok(s) => return Some(s),
                Err(e) => {
                    eprintln!("warning: skipping unreadable image {e}");
                    self.stats.skipped.push(e);
                }
            }
        }
    }
}
