//! Makes every binary that links libtorch find it without `LD_LIBRARY_PATH`.
//!
//! It also compiles `csrc/ops.cpp` (libtorch ops that tch's bindings cannot
//! call with the arguments pix2pix needs) against libtorch's headers.
//!
//! `torch-sys` tells its direct dependents where libtorch lives
//! (`DEP_TCH_LIBTORCH_LIB`). This crate adds an rpath for its own tests and
//! passes the directory on (`links = "pix2pix_libtorch"`), so that the plugin,
//! the trainer and the test crates read it as `DEP_PIX2PIX_LIBTORCH_LIBTORCH_LIB`.
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=csrc/ops.cpp");
    println!("cargo:rerun-if-env-changed=LIBTORCH_CXX11_ABI");
    let lib = std::env::var("DEP_TCH_LIBTORCH_LIB")
        .expect("torch-sys did not say where libtorch is (DEP_TCH_LIBTORCH_LIB)");
    compile_ops(std::path::Path::new(&lib));
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

/// Builds `csrc/ops.cpp` with the headers that sit beside libtorch's `lib/`.
fn compile_ops(lib: &std::path::Path) {
    let root = lib.parent().expect("libtorch lib dir has a parent");
    let include = root.join("include");
    if !include.join("ATen/core/Tensor.h").exists() {
        panic!(
            "libtorch headers not found in {} (needed to build csrc/ops.cpp)",
            include.display()
        );
    }
    // PyTorch wheels since 2.7 use the C++11 ABI, as torch-sys assumes by default.
    let abi = std::env::var("LIBTORCH_CXX11_ABI").unwrap_or_else(|_| "1".into());
    cc::Build::new()
        .cpp(true)
        .pic(true)
        .warnings(false)
        .include(&include)
        .flag("-std=c++17")
        .flag(format!("-D_GLIBCXX_USE_CXX11_ABI={abi}"))
        .flag("-DGLOG_USE_GLOG_EXPORT")
        .file("csrc/ops.cpp")
        .compile("pix2pix_ops");
}
