//! Makes every binary that links libtorch find it without `LD_LIBRARY_PATH`.
//!
//! `torch-sys` tells its direct dependents where libtorch lives
//! (`DEP_TCH_LIBTORCH_LIB`). This crate adds an rpath for its own tests and
//! passes the directory on (`links = "pix2pix_libtorch"`), so that the plugin,
//! the trainer and the test crates read it as `DEP_PIX2PIX_LIBTORCH_LIBTORCH_LIB`.
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        // Resolve the `.libtorch` link so binaries point at the real directory.
        let lib = std::fs::canonicalize(&lib)
            .map(|p| p.display().to_string())
            .unwrap_or(lib);
        println!("cargo:libtorch_lib={lib}");
        println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
        // libtorch_cuda only registers the CUDA backend; nothing references
        // its symbols, so `--as-needed` would drop it and CUDA would look absent.
        if std::path::Path::new(&lib).join("libtorch_cuda.so").exists() {
            println!("cargo:libtorch_cuda=1");
            println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-ltorch_cuda,--as-needed");
        }
    }
}
