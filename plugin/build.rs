//! Gives the plugin (and its tests) an rpath to libtorch, so GStreamer loads it
//! without `LD_LIBRARY_PATH`.
include!("../model/libtorch_rpath.rs");

fn main() {
    link_libtorch();
    println!("cargo:rustc-env=BUILD_REL_DATE=2026-12-03");
}
