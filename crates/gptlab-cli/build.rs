// With the `cuda` feature: keep libtorch's CUDA backend linked into `gptlab-torch` (the reason
// is in gptlab-train's build script, which does the same for that crate's tests). Only that
// executable: `gptlab` links no libtorch at all (src/main.rs).
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var_os("CARGO_FEATURE_CUDA").is_some() && std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        for arg in ["-Wl,--no-as-needed", "-ltorch", "-Wl,--as-needed"] {
            println!("cargo:rustc-link-arg-bin=gptlab-torch={arg}");
        }
    }
}
