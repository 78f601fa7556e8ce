//! GStreamer plugin `pix2pix`: the `pix2pixtranslate` element runs a pix2pix
//! generator (libtorch) on every frame of a raw video or image stream.
#![allow(clippy::non_send_fields_in_send_ty, unused_doc_comments)]

use gst::glib;

pub mod pix2pixtranslate;

fn plugin_init(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    pix2pixtranslate::register(plugin)
}

gst::plugin_define!(
    pix2pix,
    env!("CARGO_PKG_DESCRIPTION"),
    plugin_init,
    env!("CARGO_PKG_VERSION"),
    "MIT/X11",
    "gst-plugin-pix2pix",
    "pix2pix-gst",
    "https://example.invalid/pix2pix-gst",
    env!("BUILD_REL_DATE")
);
