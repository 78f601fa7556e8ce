//! Packed pixels ↔ tensors, both directions, every layout, padded strides.

use pix2pix_model::image::{image_to_tensor, tensor_to_image, to_u8, ImageRef, PixelLayout};
use pix2pix_model::tch::{Device, Kind, Tensor};

fn pseudo_random(n: usize, seed: u32) -> Vec<u8> {
    let mut s = seed.wrapping_mul(2654435761).wrapping_add(1);
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s >> 8) as u8
        })
        .collect()
}

#[test]
fn every_layout_round_trips_exactly_with_padded_stride() {
    for (i, layout) in PixelLayout::ALL.into_iter().enumerate() {
        for (w, h) in [(1usize, 1usize), (7, 5), (33, 17)] {
            let stride = w * layout.bpp() + 3 + (i % 4); // padded, odd
            let data = pseudo_random(stride * h, (i * 100 + w) as u32);
            let img = ImageRef {
                data: &data,
                width: w,
                height: h,
                stride,
                layout,
            };
            let channels = if layout == PixelLayout::Gray8 { 1 } else { 3 };
            let t = image_to_tensor(&img, channels).unwrap();
            assert_eq!(t.size(), vec![1, channels as i64, h as i64, w as i64]);
            let mn = f64::try_from(t.min()).unwrap();
            let mx = f64::try_from(t.max()).unwrap();
            assert!((-1.0..=1.0).contains(&mn) && (-1.0..=1.0).contains(&mx));
            let mut out = vec![7u8; stride * h];
            tensor_to_image(&t, &mut out, w, h, stride, layout).unwrap();
            for y in 0..h {
                for x in 0..w {
                    for b in 0..layout.bpp() {
                        let o = y * stride + x * layout.bpp() + b;
                        if Some(b) == layout.padding_offset() {
                            assert_eq!(out[o], 255, "{layout:?} padding byte");
                        } else if Some(b) == layout.alpha_offset() {
                            assert_eq!(out[o], 7, "{layout:?} alpha is left alone");
                        } else {
                            assert_eq!(out[o], data[o], "{layout:?} {w}x{h} at ({x},{y}) byte {b}");
                        }
                    }
                }
                // Row padding is never written.
                let pad = &out[y * stride + w * layout.bpp()..(y + 1) * stride];
                assert!(
                    pad.iter().all(|&b| b == 7),
                    "{layout:?} wrote into row padding"
                );
            }
        }
    }
}

#[test]
fn channel_order_value_mapping_and_rounding() {
    // One BGRx pixel: b=0, g=128, r=255.
    let data = [0u8, 128, 255, 9];
    let img = ImageRef {
        data: &data,
        width: 1,
        height: 1,
        stride: 4,
        layout: PixelLayout::Bgrx,
    };
    let t = image_to_tensor(&img, 3).unwrap();
    let v: Vec<f32> = Vec::try_from(t.flatten(0, -1)).unwrap();
    assert_eq!(v[0], 1.0, "R first");
    assert!((v[1] - (128.0 / 127.5 - 1.0)).abs() < 1e-7);
    assert_eq!(v[2], -1.0, "B last");
    assert_eq!(to_u8(-1.0), 0);
    assert_eq!(to_u8(1.0), 255);
    assert_eq!(to_u8(0.0), 128, "127.5 rounds half up");
    assert_eq!(to_u8(5.0), 255, "clamped");
    assert_eq!(to_u8(-5.0), 0, "clamped");
    assert_eq!(to_u8(f32::NAN), 0);
    assert_eq!(
        to_u8(100.0 / 127.5 - 1.0 + 0.003),
        100,
        "nearest, not truncation"
    );
    assert_eq!(
        to_u8(100.0 / 127.5 - 1.0 - 0.003),
        100,
        "nearest, not truncation"
    );
}

#[test]
fn gray_and_colour_conversions() {
    // Gray input replicated into 3 channels.
    let g = [10u8, 200];
    let img = ImageRef {
        data: &g,
        width: 2,
        height: 1,
        stride: 2,
        layout: PixelLayout::Gray8,
    };
    let t = image_to_tensor(&img, 3).unwrap();
    let chans = t.squeeze_dim(0);
    assert_eq!(
        f64::try_from((chans.get(0) - chans.get(2)).abs().max()).unwrap(),
        0.0
    );
    // Colour input reduced to BT.601 luma.
    let rgb = [255u8, 0, 0];
    let img = ImageRef {
        data: &rgb,
        width: 1,
        height: 1,
        stride: 3,
        layout: PixelLayout::Rgb,
    };
    let t = image_to_tensor(&img, 1).unwrap();
    let mut out = [0u8; 1];
    tensor_to_image(&t, &mut out, 1, 1, 1, PixelLayout::Gray8).unwrap();
    assert_eq!(out[0], 76, "0.299 * 255 = 76.2");
    // One-channel output into RGB is replicated; three channels into gray is luma.
    let t = Tensor::from_slice(&[0.0f32]).view([1, 1, 1, 1]);
    let mut out = [0u8; 3];
    tensor_to_image(&t, &mut out, 1, 1, 3, PixelLayout::Rgb).unwrap();
    assert_eq!(out, [128, 128, 128]);
    let t = Tensor::from_slice(&[1.0f32, 1.0, -1.0]).view([1, 3, 1, 1]);
    let mut out = [0u8; 1];
    tensor_to_image(&t, &mut out, 1, 1, 1, PixelLayout::Gray8).unwrap();
    assert_eq!(out[0], 226, "luma of yellow (255,255,0) = 225.9");
}

#[test]
fn bad_buffers_are_errors_not_panics() {
    let data = [0u8; 10];
    let img = ImageRef {
        data: &data,
        width: 4,
        height: 2,
        stride: 12,
        layout: PixelLayout::Rgb,
    };
    assert!(image_to_tensor(&img, 3).is_err(), "buffer too small");
    let img = ImageRef {
        data: &data,
        width: 4,
        height: 1,
        stride: 2,
        layout: PixelLayout::Rgb,
    };
    assert!(image_to_tensor(&img, 3).is_err(), "stride too small");
    let t = Tensor::zeros([1, 3, 2, 2], (Kind::Float, Device::Cpu));
    let mut out = [0u8; 12];
    assert!(
        tensor_to_image(&t, &mut out, 3, 2, 9, PixelLayout::Rgb).is_err(),
        "size mismatch"
    );
}
