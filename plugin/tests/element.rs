//! `pix2pixtranslate` in real GStreamer pipelines with real libtorch and small
//! generated models.

use std::path::{Path, PathBuf};
use std::sync::Once;

use gst::prelude::*;
use gst_check::Harness;
use pix2pix_model::image::{image_to_tensor, tensor_to_image, ImageRef, PixelLayout};
use pix2pix_model::tch::Device;
use pix2pix_model::{
    file, ModelInfo, Norm, StoragePrecision, TranslateOptions, Translator, UnetConfig,
    UnetGenerator,
};

fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        // Our own registry file, so a stale cache never blacklists anything.
        let reg =
            std::env::temp_dir().join(format!("pix2pix-plugin-test-{}.bin", std::process::id()));
        std::env::set_var("GST_REGISTRY", reg);
        gst::init().unwrap();
        gstpix2pix::plugin_register_static().expect("register plugin");
    });
}

fn tmp() -> PathBuf {
    let d = std::env::temp_dir().join(format!("pix2pix-plugin-tests-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A small generator saved as a model file, with non-trivial BatchNorm statistics.
fn make_model(
    name: &str,
    num_downs: u32,
    ngf: i64,
    input_nc: i64,
    output_nc: i64,
    size: i64,
    seed: i64,
) -> PathBuf {
    let p = tmp().join(format!("{name}.safetensors"));
    if p.exists() {
        return p;
    }
    pix2pix_model::tch::manual_seed(seed);
    let cfg = UnetConfig {
        num_downs,
        ngf,
        input_nc,
        output_nc,
        norm: Norm::Batch,
        dropout: true,
    };
    let g = UnetGenerator::new(&cfg, Device::Cpu).unwrap();
    // Stronger weights than the N(0, 0.02) init so outputs are far from flat gray.
    for (n, mut v) in g.var_store().variables() {
        pix2pix_model::tch::no_grad(|| {
            if n.ends_with("weight") && v.dim() == 4 {
                let _ = v.g_mul_scalar_(8.0);
            }
            if n.ends_with("running_var") {
                let _ = v.uniform_(0.5, 2.0);
            }
        });
    }
    let mut info = ModelInfo::new(cfg, size);
    info.task = name.into();
    // Written atomically: tests running in parallel may make the same model.
    file::save_generator(&g, &info, &p, StoragePrecision::F32).unwrap();
    p
}

fn model_rgb() -> PathBuf {
    make_model("rgb128", 7, 8, 3, 3, 128, 11)
}

fn harness(model: &Path, extra: &str) -> Harness {
    init();
    // One frame in, one frame out: the push-and-pull tests run unpipelined;
    // `pipelined_output_keeps_order_drains_and_flushes` covers the pipelined mode.
    let extra = if extra.contains("pipelined=") {
        extra.to_string()
    } else {
        format!("pipelined=false {extra}")
    };
    Harness::new_parse(&format!(
        "pix2pixtranslate name=p2p model-location={} {extra}",
        model.display()
    ))
}

/// The element inside the harness's bin.
fn el(h: &mut Harness) -> gst::Element {
    h.find_element("pix2pixtranslate")
        .expect("element in harness")
}

fn frame(info: &gst_video::VideoInfo, seed: u32) -> gst::Buffer {
    let mut s = seed.wrapping_mul(747796405).wrapping_add(1);
    let data: Vec<u8> = (0..info.size())
        .map(|i| {
            // Smooth gradients plus noise: content the networks react to.
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            ((i % 251) as u32 + (s & 31)) as u8
        })
        .collect();
    gst::Buffer::from_mut_slice(data)
}

fn video_info(format: gst_video::VideoFormat, w: u32, h: u32) -> gst_video::VideoInfo {
    init();
    gst_video::VideoInfo::builder(format, w, h)
        .fps(gst::Fraction::new(25, 1))
        .build()
        .unwrap()
}

fn out_info(h: &Harness) -> gst_video::VideoInfo {
    let caps = h.sinkpad().unwrap().current_caps().expect("negotiated");
    gst_video::VideoInfo::from_caps(&caps).unwrap()
}

#[test]
fn negotiates_every_format_with_odd_widths_and_padded_strides() {
    let model = model_rgb();
    for format in [
        "RGB", "BGR", "RGBx", "BGRx", "xRGB", "xBGR", "RGBA", "BGRA", "ARGB", "ABGR", "GRAY8",
    ] {
        let fmt = gst_video::VideoFormat::from_string(format);
        let info = video_info(fmt, 37, 23);
        let mut h = harness(&model, "");
        h.set_src_caps(info.to_caps().unwrap());
        let out = h.push_and_pull(frame(&info, 1)).unwrap();
        let oi = out_info(&h);
        assert_eq!((oi.width(), oi.height()), (37, 23), "{format}");
        let expected = if format == "GRAY8" {
            gst_video::VideoFormat::Rgb
        } else {
            fmt
        };
        assert_eq!(
            oi.format(),
            expected,
            "3-channel model keeps {format} when it can"
        );
        assert_eq!(
            out.size(),
            oi.size(),
            "{format}: buffer size from padded stride"
        );
        assert!(info.stride()[0] as usize >= 37 * info.format_info().pixel_stride()[0] as usize);
    }
}

#[test]
fn gray_output_model_negotiates_gray8() {
    let model = make_model("gray_out", 7, 8, 3, 1, 128, 5);
    let info = video_info(gst_video::VideoFormat::Rgba, 64, 48);
    let mut h = harness(&model, "");
    h.set_src_caps(info.to_caps().unwrap());
    h.push_and_pull(frame(&info, 2)).unwrap();
    assert_eq!(out_info(&h).format(), gst_video::VideoFormat::Gray8);
}

#[test]
fn output_equals_the_model_crate_forward() {
    let model = model_rgb();
    for (format, layout) in [
        (gst_video::VideoFormat::Rgb, PixelLayout::Rgb),
        (gst_video::VideoFormat::Bgrx, PixelLayout::Bgrx),
    ] {
        // Odd size: exercises resizing and the padded stride too.
        for (w, hgt) in [(128u32, 128u32), (101, 77)] {
            let info = video_info(format, w, hgt);
            let input = frame(&info, 3);
            let mut h = harness(&model, "");
            h.set_src_caps(info.to_caps().unwrap());
            let out = h.push_and_pull(input.clone()).unwrap();

            let (g, minfo) = pix2pix_model::load_generator(&model, Device::Cpu).unwrap();
            let t = Translator::new(g, minfo, Device::Cpu, pix2pix_model::Precision::F32).unwrap();
            let map = input.map_readable().unwrap();
            let img = ImageRef {
                data: map.as_slice(),
                width: w as usize,
                height: hgt as usize,
                stride: info.stride()[0] as usize,
                layout,
            };
            let x = image_to_tensor(&img, 3).unwrap();
            let y = t.translate(&x, &TranslateOptions::default()).unwrap();
            let mut expected = vec![0u8; info.size()];
            tensor_to_image(
                &y,
                &mut expected,
                w as usize,
                hgt as usize,
                info.stride()[0] as usize,
                layout,
            )
            .unwrap();
            let got = out.map_readable().unwrap();
            let bpp = layout.bpp();
            let stride = info.stride()[0] as usize;
            for row in 0..hgt as usize {
                let r = row * stride..row * stride + w as usize * bpp;
                assert_eq!(
                    &got[r.clone()],
                    &expected[r],
                    "{format:?} {w}x{hgt} row {row}"
                );
            }
            // And the translation is not the identity.
            assert_ne!(&got[..64], &map[..64]);
        }
    }
}

#[test]
fn every_resize_mode_gives_the_negotiated_size() {
    let model = make_model("rgb256", 8, 4, 3, 3, 256, 21);
    let cases: &[(&str, u32, u32)] = &[
        ("stretch", 320, 200),
        ("letterbox", 320, 200),
        ("pad", 640, 480),
        ("pad", 1280, 720),
        ("tile", 640, 480),
        ("tile", 1280, 720),
        ("pad", 40, 30), // smaller than the network's minimum: padded, not refused
        ("tile", 40, 30),
    ];
    for &(mode, w, hgt) in cases {
        let info = video_info(gst_video::VideoFormat::Rgb, w, hgt);
        let mut h = harness(&model, &format!("resize-mode={mode}"));
        h.set_src_caps(info.to_caps().unwrap());
        let out = h.push_and_pull(frame(&info, 4)).unwrap();
        let oi = out_info(&h);
        assert_eq!((oi.width(), oi.height()), (w, hgt), "{mode}");
        assert_eq!(out.size(), oi.size());
        let frames: u64 = el(&mut h).property("frames-processed");
        assert_eq!(frames, 1);
    }
}

fn mean_abs_diff(a: &gst::Buffer, b: &gst::Buffer) -> f64 {
    let (a, b) = (a.map_readable().unwrap(), b.map_readable().unwrap());
    a.iter()
        .zip(b.iter())
        .map(|(x, y)| (*x as f64 - *y as f64).abs())
        .sum::<f64>()
        / a.len() as f64
}

#[test]
fn tile_seams_are_blended() {
    // Running at native resolution in one pass (pad) is the seamless reference;
    // overlapping, blended tiles must come closer to it than hard-edged tiles.
    let model = make_model("rgb256", 8, 4, 3, 3, 256, 21);
    let info = video_info(gst_video::VideoFormat::Rgb, 640, 480);
    let input = frame(&info, 12);
    let run = |extra: &str| {
        let mut h = harness(&model, extra);
        h.set_src_caps(info.to_caps().unwrap());
        h.push_and_pull(input.clone()).unwrap()
    };
    let reference = run("resize-mode=pad");
    let hard = run("resize-mode=tile tile-overlap=0.0");
    let blended = run("resize-mode=tile tile-overlap=0.5");
    let (e_hard, e_blend) = (
        mean_abs_diff(&hard, &reference),
        mean_abs_diff(&blended, &reference),
    );
    assert!(
        e_blend < e_hard,
        "blended tiles {e_blend} vs hard tiles {e_hard}"
    );
}

#[test]
fn preserve_luma_keeps_the_input_luma() {
    let model = model_rgb();
    let (w, hgt) = (160u32, 120u32);
    let info = video_info(gst_video::VideoFormat::Rgb, w, hgt);
    let input = frame(&info, 5);
    let mut h = harness(&model, "preserve-luma=true");
    h.set_src_caps(info.to_caps().unwrap());
    let out = h.push_and_pull(input.clone()).unwrap();
    let (a, b) = (input.map_readable().unwrap(), out.map_readable().unwrap());
    let stride = info.stride()[0] as usize;
    let luma = |p: &[u8]| 0.299 * p[0] as f64 + 0.587 * p[1] as f64 + 0.114 * p[2] as f64;
    let mut max_dl: f64 = 0.0;
    let mut chroma_change = 0.0;
    for y in 0..hgt as usize {
        for x in 0..w as usize {
            let o = y * stride + x * 3;
            let (pi, po) = (&a[o..o + 3], &b[o..o + 3]);
            max_dl = max_dl.max((luma(pi) - luma(po)).abs());
            chroma_change +=
                (pi[0] as f64 - po[0] as f64).abs() + (pi[2] as f64 - po[2] as f64).abs();
        }
    }
    assert!(max_dl <= 1.0, "luma changed by {max_dl}");
    let mean_change = chroma_change / (w * hgt) as f64;
    assert!(
        mean_change > 5.0,
        "colour should change, mean R+B change {mean_change}"
    );
}

#[test]
fn mix_zero_returns_the_input() {
    let model = model_rgb();
    let info = video_info(gst_video::VideoFormat::Rgbx, 64, 64);
    let input = frame(&info, 6);
    let mut h = harness(&model, "mix=0.0");
    h.set_src_caps(info.to_caps().unwrap());
    let out = h.push_and_pull(input.clone()).unwrap();
    let (a, b) = (input.map_readable().unwrap(), out.map_readable().unwrap());
    for (i, (x, y)) in a.iter().zip(b.iter()).enumerate() {
        if i % 4 != 3 {
            assert_eq!(x, y, "byte {i}");
        }
    }
}

#[test]
fn alpha_is_carried_over() {
    let model = model_rgb();
    let info = video_info(gst_video::VideoFormat::Rgba, 50, 20);
    let input = frame(&info, 7);
    let mut h = harness(&model, "");
    h.set_src_caps(info.to_caps().unwrap());
    let out = h.push_and_pull(input.clone()).unwrap();
    let (a, b) = (input.map_readable().unwrap(), out.map_readable().unwrap());
    for i in (3..a.len()).step_by(4) {
        assert_eq!(a[i], b[i]);
    }
}

#[test]
fn timestamps_pass_through_and_latency_is_answered() {
    let model = model_rgb();
    let info = video_info(gst_video::VideoFormat::Rgb, 64, 64);
    let mut h = harness(&model, "");
    h.set_src_caps(info.to_caps().unwrap());
    for i in 0..5u64 {
        let mut buf = frame(&info, i as u32);
        {
            let b = buf.get_mut().unwrap();
            b.set_pts(gst::ClockTime::from_mseconds(40 * i + 7));
            b.set_duration(gst::ClockTime::from_mseconds(40));
        }
        let out = h.push_and_pull(buf).unwrap();
        assert_eq!(out.pts(), Some(gst::ClockTime::from_mseconds(40 * i + 7)));
        assert_eq!(out.duration(), Some(gst::ClockTime::from_mseconds(40)));
    }
    let element = el(&mut h);
    assert_eq!(element.property::<u64>("frames-processed"), 5);
    let mean: f64 = element.property("inference-ms-mean");
    assert!(mean > 0.0);
    // The harness answers latency upstream with 0; ours adds the processing time.
    let latency = h.query_latency().expect("latency answered");
    assert!(latency > gst::ClockTime::ZERO, "latency {latency}");
}

#[test]
fn caps_change_mid_stream_replans() {
    let model = model_rgb();
    let mut h = harness(&model, "resize-mode=pad");
    for (w, hgt) in [(64u32, 48u32), (200, 100), (33, 65)] {
        let info = video_info(gst_video::VideoFormat::Rgb, w, hgt);
        h.set_src_caps(info.to_caps().unwrap());
        let out = h.push_and_pull(frame(&info, w)).unwrap();
        let oi = out_info(&h);
        assert_eq!((oi.width(), oi.height()), (w, hgt));
        assert_eq!(out.size(), oi.size());
    }
}

fn run_pipeline(desc: &str) -> (Result<(), String>, Vec<String>) {
    init();
    let pipeline = gst::parse::launch(desc).unwrap();
    let bus = pipeline.bus().unwrap();
    let mut warnings = Vec::new();
    let res = pipeline.set_state(gst::State::Playing);
    let mut result = res.map(|_| ()).map_err(|e| e.to_string());
    if result.is_ok() {
        for msg in bus.iter_timed(gst::ClockTime::from_seconds(60)) {
            match msg.view() {
                gst::MessageView::Eos(..) => break,
                gst::MessageView::Error(e) => {
                    result = Err(format!("{} ({:?})", e.error(), e.debug()));
                    break;
                }
                gst::MessageView::Warning(w) => warnings.push(w.error().to_string()),
                _ => {}
            }
        }
    } else if let Some(msg) = bus.pop_filtered(&[gst::MessageType::Error]) {
        if let gst::MessageView::Error(e) = msg.view() {
            result = Err(format!("{} ({:?})", e.error(), e.debug()));
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
    (result, warnings)
}

#[test]
fn bad_models_give_error_messages_not_crashes() {
    let dir = tmp();
    let corrupt = dir.join("corrupt.safetensors");
    std::fs::write(&corrupt, b"definitely not a model").unwrap();
    for (loc, needle) in [
        (
            "/nonexistent/model.safetensors".to_string(),
            "/nonexistent/model.safetensors",
        ),
        (corrupt.display().to_string(), "not a safetensors file"),
    ] {
        let (res, _) = run_pipeline(&format!(
            "videotestsrc num-buffers=3 ! video/x-raw,width=64,height=64 ! pix2pixtranslate model-location={loc} ! fakesink"
        ));
        let err = res.expect_err("must fail");
        assert!(err.contains(needle), "{err}");
    }
    let (res, _) = run_pipeline("videotestsrc num-buffers=3 ! pix2pixtranslate ! fakesink");
    assert!(res.unwrap_err().contains("model-location"));
    let (res, _) = run_pipeline(&format!(
        "videotestsrc num-buffers=3 ! pix2pixtranslate device=cuda:0 model-location={} ! fakesink",
        model_rgb().display()
    ));
    if !pix2pix_model::tch::Cuda::is_available() {
        assert!(res.unwrap_err().contains("CUDA is not available"));
    }
}

#[test]
fn still_image_pipeline() {
    let out = tmp().join("still.png");
    let photo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/coffee_256.png");
    let (res, _) = run_pipeline(&format!(
        "filesrc location={} ! decodebin ! videoconvert ! pix2pixtranslate model-location={} ! videoconvert ! pngenc ! filesink location={}",
        photo.display(),
        model_rgb().display(),
        out.display()
    ));
    res.unwrap();
    let img = image_dims(&out);
    assert_eq!(img, (256, 256));
}

fn image_dims(p: &Path) -> (u32, u32) {
    let bytes = std::fs::read(p).unwrap();
    assert_eq!(&bytes[1..4], b"PNG");
    let w = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let h = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    (w, h)
}

#[test]
fn hot_swap_while_playing_loses_no_frame() {
    let a = model_rgb();
    let b = make_model("rgb128_b", 7, 8, 3, 3, 128, 99);
    let dir = tmp();
    let broken = dir.join("broken.safetensors");
    std::fs::write(&broken, b"broken").unwrap();
    init();
    let info = video_info(gst_video::VideoFormat::Rgb, 64, 64);
    let mut h = harness(&a, "");
    h.set_src_caps(info.to_caps().unwrap());
    let input = frame(&info, 8);
    let out_a = h.push_and_pull(input.clone()).unwrap();
    let element = el(&mut h);
    let bus = gst::Bus::new();
    element.set_bus(Some(&bus));

    // A broken file: a warning, and model A keeps running.
    element.set_property("model-location", broken.to_str().unwrap());
    let warning = bus.timed_pop_filtered(
        gst::ClockTime::from_seconds(30),
        &[gst::MessageType::Warning],
    );
    let warning = warning.expect("warning posted");
    if let gst::MessageView::Warning(w) = warning.view() {
        assert!(
            w.error().to_string().contains("Keeping the current model"),
            "{}",
            w.error()
        );
    }
    let again = h.push_and_pull(input.clone()).unwrap();
    assert_eq!(
        again.map_readable().unwrap().as_slice(),
        out_a.map_readable().unwrap().as_slice()
    );

    // A good file: swapped in between frames; every pushed frame gives one output.
    element.set_property("model-location", b.to_str().unwrap());
    let mut switched = false;
    for _ in 0..200 {
        let out = h.push_and_pull(input.clone()).unwrap();
        if out.map_readable().unwrap().as_slice() != out_a.map_readable().unwrap().as_slice() {
            switched = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(switched, "model B never swapped in");
}

#[test]
fn late_frames_are_dropped_on_a_live_pipeline() {
    // A model slower than the frame rate: downstream reports lateness (QoS) and
    // the element drops late frames instead of queueing them.
    let model = make_model("slow", 8, 32, 3, 3, 256, 8);
    init();
    let pipeline = gst::parse::launch(&format!(
        "videotestsrc is-live=true num-buffers=90 ! video/x-raw,format=RGB,width=256,height=256,framerate=60/1 ! \
         pix2pixtranslate name=p2p model-location={} ! fakesink sync=true qos=true",
        model.display()
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let bus = pipeline.bus().unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let mut dropped_by_element = 0u64;
    for msg in bus.iter_timed(gst::ClockTime::from_seconds(60)) {
        match msg.view() {
            gst::MessageView::Eos(..) => break,
            gst::MessageView::Error(e) => panic!("{}", e.error()),
            gst::MessageView::Qos(q) if msg.src().is_some_and(|s| s.name() == "p2p") => {
                if let (_, gst::GenericFormattedValue::Buffers(Some(d))) = q.stats() {
                    dropped_by_element = dropped_by_element.max(*d);
                }
            }
            _ => {}
        }
    }
    let p2p = pipeline.by_name("p2p").unwrap();
    let processed: u64 = p2p.property("frames-processed");
    pipeline.set_state(gst::State::Null).unwrap();
    assert!(
        dropped_by_element > 0,
        "the element reported no dropped frame"
    );
    assert!(
        processed < 90,
        "all {processed} frames were translated although late"
    );
    assert_eq!(
        processed + dropped_by_element,
        90,
        "every frame is either translated or dropped"
    );
}

#[test]
fn pipelined_output_keeps_order_drains_and_flushes() {
    let model = model_rgb();
    let info = video_info(gst_video::VideoFormat::Rgb, 64, 48);
    let mut h = harness(&model, "pipelined=true");
    h.set_src_caps(info.to_caps().unwrap());
    let stamped = |i: u64| {
        let mut b = frame(&info, i as u32);
        b.get_mut()
            .unwrap()
            .set_pts(gst::ClockTime::from_mseconds(40 * i));
        b
    };
    // Reference output of each frame, unpipelined.
    let mut reference = harness(&model, "pipelined=false");
    reference.set_src_caps(info.to_caps().unwrap());
    let expected: Vec<Vec<u8>> = (0..4)
        .map(|i| {
            reference
                .push_and_pull(stamped(i))
                .unwrap()
                .map_readable()
                .unwrap()
                .to_vec()
        })
        .collect();

    for i in 0..3 {
        h.push(stamped(i)).unwrap();
    }
    // One frame stays in flight until the next arrives or the stream ends.
    assert_eq!(h.buffers_in_queue(), 2);
    assert!(h.push_event(gst::event::Eos::new()));
    assert_eq!(h.buffers_in_queue(), 3, "EOS drains");
    for (i, exp) in expected.iter().take(3).enumerate() {
        let out = h.pull().unwrap();
        assert_eq!(
            out.pts(),
            Some(gst::ClockTime::from_mseconds(40 * i as u64)),
            "order"
        );
        assert_eq!(
            out.map_readable().unwrap().as_slice(),
            exp.as_slice(),
            "frame {i}"
        );
    }

    // A flush discards what is in flight.
    let mut h = harness(&model, "pipelined=true");
    h.set_src_caps(info.to_caps().unwrap());
    h.push(stamped(0)).unwrap();
    h.push(stamped(1)).unwrap();
    assert_eq!(h.buffers_in_queue(), 1);
    assert!(h.push_event(gst::event::FlushStart::new()));
    assert!(h.push_event(gst::event::FlushStop::new(true)));
    h.set_src_caps(info.to_caps().unwrap());
    h.push_event(gst::event::Segment::new(&gst::FormattedSegment::<
        gst::ClockTime,
    >::new()));
    h.push(stamped(3)).unwrap();
    assert!(h.push_event(gst::event::Eos::new()));
    let _first = h.pull().unwrap();
    let out = h.pull().unwrap();
    assert_eq!(
        out.pts(),
        Some(gst::ClockTime::from_mseconds(120)),
        "frame 1 was discarded"
    );
    assert_eq!(
        out.map_readable().unwrap().as_slice(),
        expected[3].as_slice()
    );
}
