//! Gives the server (and its tests) an rpath to libtorch, so it runs
//! without `LD_LIBRARY_PATH`. The directory comes from the model crate.
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=DEP_PIX2PIX_LIBTORCH_LIBTORCH_LIB");
    if let Ok(lib) = std::env::var("DEP_PIX2PIX_LIBTORCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
        if std::env::var("DEP_PIX2PIX_LIBTORCH_LIBTORCH_CUDA").is_ok() {
            println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-ltorch_cuda,--as-needed");
        }
    }
}
