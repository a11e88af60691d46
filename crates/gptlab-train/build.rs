// With the `cuda` feature: keep libtorch's CUDA backend linked. libtorch.so pulls in
// libtorch_cuda.so, whose static initialisers register CUDA with ATen, but nothing in the
// binary calls into it, so the linker's default `--as-needed` drops it and `--device cuda`
// finds no CUDA ("Cannot initialize CUDA without ATen_cuda library"). tch's own examples link
// with the same flags. Off by default: loading the CUDA libraries costs every start of a
// CPU-only run (see bench/gpu_build.sh, which builds with it).
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var_os("CARGO_FEATURE_CUDA").is_some() && std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
        println!("cargo:rustc-link-arg=-ltorch");
        println!("cargo:rustc-link-arg=-Wl,--as-needed");
    }
}
