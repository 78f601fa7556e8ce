// Shared by the build scripts of the crates that link the model crate (plugin,
// trainer, server) through `include!`: their binaries get an rpath to libtorch,
// so they run (and GStreamer loads the plugin) without `LD_LIBRARY_PATH`. The
// directory comes from the model crate's build script (`links = "pix2pix_libtorch"`).

/// Emits the rpath (and, where libtorch has CUDA, keeps `libtorch_cuda` linked).
fn link_libtorch() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=../model/libtorch_rpath.rs");
    println!("cargo:rerun-if-env-changed=DEP_PIX2PIX_LIBTORCH_LIBTORCH_LIB");
    if let Ok(lib) = std::env::var("DEP_PIX2PIX_LIBTORCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
        if std::env::var("DEP_PIX2PIX_LIBTORCH_LIBTORCH_CUDA").is_ok() {
            println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-ltorch_cuda,--as-needed");
        }
    }
}
