//! `pix2pixtranslate`: a pix2pix generator on every frame.
//!
//! ```text
//! gst-launch-1.0 filesrc location=in.mp4 ! decodebin ! videoconvert ! \
//!     pix2pixtranslate model-location=weights/colorize.safetensors preserve-luma=true ! \
//!     videoconvert ! autovideosink
//! ```

use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    pub struct Pix2PixTranslate(ObjectSubclass<imp::Pix2PixTranslate>)
        @extends gst_video::VideoFilter, gst_base::BaseTransform, gst::Element, gst::Object;
}

/// How frames are fitted to the network (`resize-mode`).
#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum, Default)]
#[repr(u32)]
#[enum_type(name = "GstPix2PixResizeMode")]
pub enum ResizeMode {
    #[default]
    #[enum_value(
        name = "Stretch: scale to the model's size and back (aspect ratio not kept)",
        nick = "stretch"
    )]
    Stretch = 0,
    #[enum_value(
        name = "Letterbox: scale to fit keeping the aspect ratio, pad, crop back",
        nick = "letterbox"
    )]
    Letterbox = 1,
    #[enum_value(
        name = "Pad: run at native resolution padded to a multiple of 2^depth, crop back",
        nick = "pad"
    )]
    Pad = 2,
    #[enum_value(
        name = "Tile: model-size tiles with overlap and blended seams (large frames)",
        nick = "tile"
    )]
    Tile = 3,
}

/// Network behaviour at inference (`inference-mode`).
#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum, Default)]
#[repr(u32)]
#[enum_type(name = "GstPix2PixInferenceMode")]
pub enum InferenceMode {
    #[default]
    #[enum_value(
        name = "Eval: running statistics, no dropout; deterministic, no flicker (video)",
        nick = "eval"
    )]
    Eval = 0,
    #[enum_value(
        name = "Paper: batch statistics and dropout on, as the original test-time setting (seeded)",
        nick = "paper"
    )]
    Paper = 1,
}

/// Arithmetic precision (`precision`).
#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum, Default)]
#[repr(u32)]
#[enum_type(name = "GstPix2PixPrecision")]
pub enum Precision {
    #[default]
    #[enum_value(name = "FP32: 32-bit float", nick = "fp32")]
    Fp32 = 0,
    #[enum_value(name = "FP16: 16-bit float (CUDA)", nick = "fp16")]
    Fp16 = 1,
    #[enum_value(name = "BF16: bfloat16 (CUDA, recent CPUs)", nick = "bf16")]
    Bf16 = 2,
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    ResizeMode::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    InferenceMode::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    Precision::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    gst::Element::register(
        Some(plugin),
        "pix2pixtranslate",
        gst::Rank::NONE,
        Pix2PixTranslate::static_type(),
    )
}
