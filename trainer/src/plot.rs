//! A small line-chart renderer for loss curves (PNG), with a built-in 5x7 font
//! so it needs no font files.

use image::{Rgb, RgbImage};

const GLYPHS: &[(char, [u8; 7])] = &[
    ('0', [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E]),
    ('1', [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E]),
    ('2', [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F]),
    ('3', [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E]),
    ('4', [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02]),
    ('5', [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E]),
    ('6', [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E]),
    ('7', [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08]),
    ('8', [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E]),
    ('9', [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C]),
    ('.', [0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C]),
    ('-', [0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00]),
    (':', [0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x0C, 0x00]),
    ('A', [0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11]),
    ('D', [0x1E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x1E]),
    ('E', [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F]),
    ('G', [0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F]),
    ('L', [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F]),
    ('N', [0x11, 0x19, 0x15, 0x13, 0x11, 0x11, 0x11]),
    ('O', [0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E]),
    ('P', [0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10]),
    ('S', [0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E]),
    ('T', [0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04]),
    ('X', [0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11]),
    ('B', [0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E]),
    ('C', [0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E]),
    ('F', [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10]),
    ('H', [0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11]),
    ('I', [0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E]),
    ('K', [0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11]),
    ('M', [0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11]),
    ('R', [0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11]),
    ('U', [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E]),
    ('V', [0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04]),
    ('W', [0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A]),
    ('Y', [0x11, 0x11, 0x0A, 0x04, 0x04, 0x04, 0x04]),
    ('Z', [0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F]),
    ('J', [0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C]),
    ('Q', [0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D]),
    ('|', [0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04]),
    ('/', [0x01, 0x01, 0x02, 0x04, 0x08, 0x10, 0x10]),
    (' ', [0; 7]),
];

/// Draws `text` (upper case, digits and `.-:`) at (x, y), scaled by `scale`.
pub fn draw_text(img: &mut RgbImage, x: i64, y: i64, text: &str, scale: i64, color: Rgb<u8>) {
    let mut cx = x;
    for ch in text.chars() {
        let ch = ch.to_ascii_uppercase();
        if let Some((_, rows)) = GLYPHS.iter().find(|(c, _)| *c == ch) {
            for (ry, bits) in rows.iter().enumerate() {
                for rx in 0..5 {
                    if bits & (0x10 >> rx) != 0 {
                        fill(
                            img,
                            cx + rx * scale,
                            y + ry as i64 * scale,
                            scale,
                            scale,
                            color,
                        );
                    }
                }
            }
        }
        cx += 6 * scale;
    }
}

fn fill(img: &mut RgbImage, x: i64, y: i64, w: i64, h: i64, c: Rgb<u8>) {
    for yy in y.max(0)..(y + h).min(img.height() as i64) {
        for xx in x.max(0)..(x + w).min(img.width() as i64) {
            img.put_pixel(xx as u32, yy as u32, c);
        }
    }
}

fn line(img: &mut RgbImage, (x0, y0): (f64, f64), (x1, y1): (f64, f64), c: Rgb<u8>) {
    let n = ((x1 - x0).abs().max((y1 - y0).abs()).ceil() as i64).max(1);
    for i in 0..=n {
        let t = i as f64 / n as f64;
        let (x, y) = (x0 + (x1 - x0) * t, y0 + (y1 - y0) * t);
        fill(img, x.round() as i64, y.round() as i64, 2, 2, c);
    }
}

/// A named series of (x, y) points.
pub struct Series<'a> {
    pub name: &'a str,
    pub color: Rgb<u8>,
    pub points: Vec<(f64, f64)>,
}

/// Exponential moving average, to make noisy GAN losses readable.
pub fn smooth(points: &[(f64, f64)], alpha: f64) -> Vec<(f64, f64)> {
    let mut out = Vec::with_capacity(points.len());
    let mut s = None;
    for &(x, y) in points {
        let v = match s {
            None => y,
            Some(p) => p * (1.0 - alpha) + y * alpha,
        };
        s = Some(v);
        out.push((x, v));
    }
    out
}

fn fmt_num(v: f64) -> String {
    if v.abs() >= 1000.0 {
        format!("{:.0}", v)
    } else if v.abs() >= 10.0 {
        format!("{:.1}", v)
    } else {
        format!("{:.2}", v)
    }
}

/// Renders panels (one per series group) stacked vertically, each with its own
/// y axis, sharing the x axis (steps).
pub fn chart(panels: &[Vec<Series>], width: u32, panel_height: u32) -> RgbImage {
    let (ml, mr, mt, mb) = (70i64, 20i64, 24i64, 30i64);
    let height = panel_height * panels.len() as u32;
    let mut img = RgbImage::from_pixel(width, height, Rgb([255, 255, 255]));
    let axis = Rgb([60, 60, 60]);
    let grid = Rgb([225, 225, 225]);
    for (pi, series) in panels.iter().enumerate() {
        let top = pi as i64 * panel_height as i64;
        let (x0, x1) = (ml, width as i64 - mr);
        let (y0, y1) = (top + mt, top + panel_height as i64 - mb);
        let pts = series.iter().flat_map(|s| s.points.iter());
        let (mut xmin, mut xmax, mut ymin, mut ymax) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
        for &(x, y) in pts {
            if y.is_finite() {
                xmin = xmin.min(x);
                xmax = xmax.max(x);
                ymin = ymin.min(y);
                ymax = ymax.max(y);
            }
        }
        if xmin > xmax {
            continue;
        }
        if xmax == xmin {
            xmax = xmin + 1.0;
        }
        if ymax - ymin < 1e-9 {
            ymax = ymin + 1.0;
        }
        let pad = (ymax - ymin) * 0.05;
        let (ymin, ymax) = (ymin - pad, ymax + pad);
        let sx = |x: f64| x0 as f64 + (x - xmin) / (xmax - xmin) * (x1 - x0) as f64;
        let sy = |y: f64| y1 as f64 - (y - ymin) / (ymax - ymin) * (y1 - y0) as f64;
        for k in 0..=4 {
            let v = ymin + (ymax - ymin) * k as f64 / 4.0;
            let y = sy(v).round() as i64;
            fill(&mut img, x0, y, x1 - x0, 1, grid);
            draw_text(&mut img, 4, y - 3, &fmt_num(v), 1, axis);
        }
        for k in 0..=4 {
            let v = xmin + (xmax - xmin) * k as f64 / 4.0;
            let x = sx(v).round() as i64;
            fill(&mut img, x, y0, 1, y1 - y0, grid);
            draw_text(&mut img, x - 12, y1 + 6, &format!("{:.0}", v), 1, axis);
        }
        fill(&mut img, x0, y0, 1, y1 - y0, axis);
        fill(&mut img, x0, y1, x1 - x0, 1, axis);
        let mut lx = x0 + 8;
        for s in series {
            for w in s.points.windows(2) {
                if w[0].1.is_finite() && w[1].1.is_finite() {
                    line(
                        &mut img,
                        (sx(w[0].0), sy(w[0].1)),
                        (sx(w[1].0), sy(w[1].1)),
                        s.color,
                    );
                }
            }
            fill(&mut img, lx, top + 6, 14, 8, s.color);
            draw_text(&mut img, lx + 18, top + 6, s.name, 1, axis);
            lx += 26 + 6 * s.name.len() as i64 + 12;
        }
        draw_text(&mut img, x1 - 30, y1 + 18, "STEP", 1, axis);
    }
    img
}
