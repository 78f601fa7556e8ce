//! A long run does not grow memory. Its own test binary, so no other test's
//! allocations show up in this process's resident size.

use gst::prelude::*;

fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn thousand_frames_without_memory_growth() {
    let reg = std::env::temp_dir().join(format!("pix2pix-memory-test-{}.bin", std::process::id()));
    std::env::set_var("GST_REGISTRY", reg);
    gst::init().unwrap();
    gstpix2pix::plugin_register_static().unwrap();
    let dir = std::env::temp_dir().join(format!("pix2pix-memory-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let model = dir.join("tiny.safetensors");
    let cfg = pix2pix_model::UnetConfig {
        num_downs: 7,
        ngf: 4,
        ..Default::default()
    };
    let g = pix2pix_model::UnetGenerator::new(&cfg, pix2pix_model::tch::Device::Cpu).unwrap();
    pix2pix_model::save_generator(
        &g,
        &pix2pix_model::ModelInfo::new(cfg, 128),
        &model,
        pix2pix_model::StoragePrecision::F32,
    )
    .unwrap();
    // 1000 frames through a real pipeline (pipelined, the default), RSS sampled
    // by a probe after 200 frames and at the end.
    let pipeline = gst::parse::launch(&format!(
        "videotestsrc num-buffers=1000 pattern=ball ! video/x-raw,format=RGB,width=96,height=64 ! \
         pix2pixtranslate name=p2p model-location={} ! fakesink name=sink",
        model.display()
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let at_200 = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let count = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    {
        let (at_200, count) = (at_200.clone(), count.clone());
        pipeline
            .by_name("sink")
            .unwrap()
            .static_pad("sink")
            .unwrap()
            .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
                if count.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 199 {
                    at_200.store(rss_kib(), std::sync::atomic::Ordering::SeqCst);
                }
                gst::PadProbeReturn::Ok
            });
    }
    pipeline.set_state(gst::State::Playing).unwrap();
    let bus = pipeline.bus().unwrap();
    for msg in bus.iter_timed(gst::ClockTime::from_seconds(120)) {
        match msg.view() {
            gst::MessageView::Eos(..) => break,
            gst::MessageView::Error(e) => panic!("{}", e.error()),
            _ => {}
        }
    }
    let at_1000 = rss_kib();
    let frames: u64 = pipeline
        .by_name("p2p")
        .unwrap()
        .property("frames-processed");
    pipeline.set_state(gst::State::Null).unwrap();
    assert_eq!(frames, 1000);
    assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 1000);
    let at_200 = at_200.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        at_1000 < at_200 + 8 * 1024,
        "RSS grew from {at_200} KiB to {at_1000} KiB over 800 frames"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
