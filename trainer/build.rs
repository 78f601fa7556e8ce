//! Gives the trainer (and its tests) an rpath to libtorch, so it runs without
//! `LD_LIBRARY_PATH`.
include!("../model/libtorch_rpath.rs");

fn main() {
    link_libtorch();
}
