//! The shipped models: they load, the colorize model really colorizes while
//! keeping the input's luma, the facades model turns a label map into a
//! photo-like picture, and the model card's validation figures are reproduced by
//! `pix2pix-train eval` where the held-out images ship with the repository.

use std::process::Command;

use pix2pix_e2e::*;

#[derive(serde::Deserialize)]
struct Card {
    file: String,
    /// Held-out images in the repository; `None` where their licence keeps
    /// them out (the card then gives the command that measures the figures).
    val_dir: Option<String>,
    psnr: f64,
    ssim: f64,
    l1: f64,
}

fn cards() -> Vec<Card> {
    let text =
        std::fs::read_to_string(root().join("weights/models.json")).expect("weights/models.json");
    serde_json::from_str(&text).expect("valid weights/models.json")
}

#[test]
fn model_card_figures_are_reproduced() {
    let cards = cards();
    assert!(cards.len() >= 2);
    let mut evaluated = 0;
    for card in cards {
        let model = root().join("weights").join(&card.file);
        let size = std::fs::metadata(&model)
            .unwrap_or_else(|_| panic!("{} missing", model.display()))
            .len();
        assert!(
            size <= 30_000_000,
            "{} is {size} bytes, over 30 MB",
            card.file
        );
        let Some(val_dir) = &card.val_dir else {
            let o = Command::new(trainer())
                .arg("info")
                .arg(&model)
                .output()
                .unwrap();
            assert!(o.status.success(), "{}", text(&o));
            continue;
        };
        evaluated += 1;
        let o = Command::new(trainer())
            .args(["eval", "-m"])
            .arg(&model)
            .arg(root().join(val_dir))
            .output()
            .unwrap();
        let t = text(&o);
        assert!(o.status.success(), "{t}");
        let num = |key: &str| -> f64 {
            let i = t.find(key).unwrap_or_else(|| panic!("{key} in {t}")) + key.len();
            t[i..].split_whitespace().next().unwrap().parse().unwrap()
        };
        let (psnr, ssim, l1) = (num("PSNR"), num("SSIM"), num("L1"));
        assert!(
            (psnr - card.psnr).abs() <= 0.5,
            "{}: PSNR {psnr} vs card {}",
            card.file,
            card.psnr
        );
        assert!(
            (ssim - card.ssim).abs() <= 0.01,
            "{}: SSIM {ssim} vs card {}",
            card.file,
            card.ssim
        );
        assert!(
            (l1 - card.l1).abs() <= 0.005,
            "{}: L1 {l1} vs card {}",
            card.file,
            card.l1
        );
    }
    assert!(evaluated >= 1);
}

/// BT.601 luma and chroma magnitude of an RGB pixel.
fn luma_chroma(p: &[u8]) -> (f64, f64) {
    let (r, g, b) = (p[0] as f64, p[1] as f64, p[2] as f64);
    let y = 0.299 * r + 0.587 * g + 0.114 * b;
    let cb = -0.168736 * r - 0.331264 * g + 0.5 * b;
    let cr = 0.5 * r - 0.418688 * g - 0.081312 * b;
    (y, (cb * cb + cr * cr).sqrt())
}

#[test]
fn colorize_model_adds_colour_and_keeps_luma() {
    let dir = tmpdir("shipped-colorize");
    let model = root().join("weights/colorize.safetensors");
    for name in ["kodim21.png", "kodim23.png"] {
        // The gray input as GStreamer makes it (videoconvert to GRAY8).
        let input = dir.join(format!("gray-{name}"));
        let o = gst_launch(
            &format!(
                "filesrc location={} ! decodebin ! videoconvert ! video/x-raw,format=GRAY8 ! pngenc ! filesink location={}",
                root().join("tests/data/colorize_val").join(name).display(),
                input.display()
            ),
            &dir,
        );
        assert!(o.status.success(), "{}", text(&o));
        let out = dir.join(name);
        let o = pipeline_script("colorize-image.sh", &dir, Some(&model), &[&input, &out]);
        assert!(o.status.success(), "{}", text(&o));
        let gray = image::open(&input).unwrap().to_luma8();
        let colour = image::open(&out).unwrap().to_rgb8();
        assert_eq!(gray.dimensions(), colour.dimensions());
        let (mut max_dl, mut chroma_in, mut chroma_out) = (0f64, 0f64, 0f64);
        for (a, b) in gray.pixels().zip(colour.pixels()) {
            let g = a.0[0];
            let (yb, cb) = luma_chroma(&b.0);
            max_dl = max_dl.max((g as f64 - yb).abs());
            chroma_out += cb;
            chroma_in += luma_chroma(&[g; 3]).1;
        }
        let n = (gray.width() * gray.height()) as f64;
        let (chroma_in, chroma_out) = (chroma_in / n, chroma_out / n);
        assert!(max_dl <= 2.0, "{name}: luma differs by up to {max_dl}");
        assert!(
            chroma_out > chroma_in + 4.0,
            "{name}: mean chroma {chroma_out:.2} (gray input {chroma_in:.2})"
        );
    }
}

/// HSV-style saturation (max - min) / max of an RGB pixel.
fn saturation(p: &[u8]) -> f64 {
    let mx = *p.iter().max().unwrap() as f64;
    let mn = *p.iter().min().unwrap() as f64;
    if mx > 0.0 {
        (mx - mn) / mx
    } else {
        0.0
    }
}

#[test]
fn facades_model_turns_a_label_map_into_a_photo() {
    // The ready pipeline with its default model (weights/facades_label2photo).
    let dir = tmpdir("shipped-facades");
    let labels_path = root().join("tests/data/facade_labels.png");
    let out = dir.join("facade.png");
    let o = pipeline_script("facades.sh", &dir, None, &[&labels_path, &out]);
    assert!(o.status.success(), "{}", text(&o));
    let labels = image::open(&labels_path).unwrap().to_rgb8();
    let photo = image::open(&out).unwrap().to_rgb8();
    assert_eq!(labels.dimensions(), photo.dimensions());
    // Mean saturation and luma of the photo over the pixels of one label class.
    let stats = |class: [u8; 3]| {
        let (mut n, mut sat, mut luma) = (0f64, 0f64, 0f64);
        for (l, p) in labels.pixels().zip(photo.pixels()) {
            if l.0 == class {
                n += 1.0;
                sat += saturation(&p.0);
                luma += luma_chroma(&p.0).0;
            }
        }
        assert!(n > 500.0, "class {class:?} too small in the label map");
        (sat / n, luma / n)
    };
    let (wall_sat, wall_luma) = stats([0, 0, 255]);
    let (window_sat, window_luma) = stats([0, 85, 255]);
    let (_, shop_luma) = stats([170, 0, 0]);
    eprintln!(
        "facades: wall sat {wall_sat:.2} luma {wall_luma:.1}, windows sat {window_sat:.2} luma {window_luma:.1}, shop luma {shop_luma:.1}"
    );
    // Not the jet colours of the label map (saturation 1.0) but building colours...
    assert!(
        wall_sat < 0.5 && window_sat < 0.5,
        "saturation: wall {wall_sat:.2}, windows {window_sat:.2}"
    );
    // ...with the structure of the drawing: glass is darker than the wall, and
    // so is the shop front's shade at street level.
    assert!(
        window_luma + 8.0 < wall_luma,
        "luma: windows {window_luma:.1}, wall {wall_luma:.1}"
    );
    assert!(
        shop_luma + 8.0 < wall_luma,
        "luma: shop {shop_luma:.1}, wall {wall_luma:.1}"
    );
}
