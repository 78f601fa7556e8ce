//! How a Rust media app uses `pix2pixtranslate`: `gst::parse::launch` with an appsink.
//!
//! ```text
//! cargo run --release -p gst-plugin-pix2pix --example appsink -- IN.mp4 MODEL.safetensors [FRAMES]
//! ```
//!
//! Decodes a video, translates each frame and pulls the RGB results from the
//! appsink: prints each frame's timestamp and mean colour, then the element's
//! timing statistics. The plugin is registered statically, so no
//! GST_PLUGIN_PATH is needed.
use anyhow::{bail, Context, Result};
use gst::prelude::*;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        bail!("usage: appsink IN.mp4 MODEL.safetensors [FRAMES]");
    }
    let frames: usize = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(10);
    gst::init()?;
    gstpix2pix::plugin_register_static()?;
    let pipeline = gst::parse::launch(&format!(
        "filesrc location=\"{}\" ! decodebin ! videoconvert ! videoscale ! video/x-raw,width=320,height=240 ! \
         videoconvert ! pix2pixtranslate name=p2p model-location=\"{}\" preserve-luma=true ! \
         videoconvert ! video/x-raw,format=RGB ! appsink name=sink sync=false max-buffers=4",
        args[1], args[2]
    ))?
    .downcast::<gst::Pipeline>()
    .map_err(|_| anyhow::anyhow!("not a pipeline"))?;
    let sink = pipeline
        .by_name("sink")
        .context("appsink")?
        .downcast::<gst_app::AppSink>()
        .map_err(|_| anyhow::anyhow!("not an appsink"))?;
    pipeline.set_state(gst::State::Playing)?;
    let bus = pipeline.bus().context("bus")?;
    let mut got = 0;
    while got < frames {
        let Some(sample) = sink.try_pull_sample(gst::ClockTime::from_seconds(10)) else {
            // No more frames: say why if the pipeline failed.
            if let Some(msg) = bus.pop_filtered(&[gst::MessageType::Error]) {
                if let gst::MessageView::Error(e) = msg.view() {
                    pipeline.set_state(gst::State::Null)?;
                    bail!("{} ({:?})", e.error(), e.debug());
                }
            }
            break;
        };
        let buffer = sample.buffer().context("sample without buffer")?;
        let map = buffer.map_readable()?;
        let n = map.len() / 3;
        let mut sum = [0u64; 3];
        for px in map.chunks_exact(3) {
            for c in 0..3 {
                sum[c] += px[c] as u64;
            }
        }
        println!(
            "frame {got}: pts {:.3} s, mean RGB {:.1} {:.1} {:.1}",
            buffer.pts().map(|t| t.seconds_f64()).unwrap_or(0.0),
            sum[0] as f64 / n as f64,
            sum[1] as f64 / n as f64,
            sum[2] as f64 / n as f64
        );
        got += 1;
    }
    let p2p = pipeline.by_name("p2p").context("element")?;
    println!(
        "frames processed: {}, mean inference: {:.1} ms",
        p2p.property::<u64>("frames-processed"),
        p2p.property::<f64>("inference-ms-mean")
    );
    pipeline.set_state(gst::State::Null)?;
    if got == 0 {
        bail!("no frame came out");
    }
    Ok(())
}
