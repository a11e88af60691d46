// Link-time settings for `gptlab-torch`, the executable that links libtorch (`gptlab` links no
// libtorch at all, src/main.rs), and the libtorch version its `--version` names.
//
// rpath: libtorch is a set of shared libraries outside the system's library path (PyPI's torch
// wheel in .venv, or an unpacked libtorch), so without help the dynamic loader finds them only
// through LD_LIBRARY_PATH. We record the directory this build linked against in the executable
// (DT_RUNPATH), so `target/release/gptlab` and a `cargo install`ed copy run as they are. The
// directory comes from torch-sys's build script, which found it (LIBTORCH_USE_PYTORCH, LIBTORCH,
// LIBTORCH_LIB or the download feature) and publishes it as `cargo:libtorch_lib=...` under its
// `links = "tch"` key; cargo hands that to the build scripts of packages that depend on
// torch-sys directly, as DEP_TCH_LIBTORCH_LIB, which is why Cargo.toml names torch-sys beside
// tch. Only the libraries the executable itself needs are looked up through this entry
// (RUNPATH is not inherited); libtorch's own libraries find each other through their $ORIGIN
// rpath. LD_LIBRARY_PATH still takes precedence over RUNPATH, so a user can point a build at
// another copy of the same libtorch. Moving or deleting that libtorch breaks the executable,
// as it would any program linked against a library that is then removed.
//
// With the `cuda` feature: keep libtorch's CUDA backend linked (the reason is in gptlab-train's
// build script, which does the same for that crate's tests).
use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let linux = std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux");
    let macos = std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("macos");
    let lib = std::env::var_os("DEP_TCH_LIBTORCH_LIB").map(PathBuf::from);
    match &lib {
        Some(lib) if linux || macos => {
            println!("cargo:rustc-link-arg-bin=gptlab-torch=-Wl,-rpath,{}", lib.display());
        }
        Some(_) => {}
        None => println!("cargo:warning=torch-sys gave no libtorch directory (DEP_TCH_LIBTORCH_LIB): gptlab-torch will need LD_LIBRARY_PATH"),
    }
    if std::env::var_os("CARGO_FEATURE_CUDA").is_some() && linux {
        for arg in ["-Wl,--no-as-needed", "-ltorch", "-Wl,--as-needed"] {
            println!("cargo:rustc-link-arg-bin=gptlab-torch={arg}");
        }
    }
    let version = lib.as_deref().and_then(libtorch_version).unwrap_or_else(|| {
        println!("cargo:warning=cannot tell the libtorch version; `gptlab --version` will say 'unknown'");
        "unknown".to_owned()
    });
    println!("cargo:rustc-env=GPTLAB_LIBTORCH_VERSION={version}");
}

/// The version of the libtorch in `lib` (its `lib` directory), e.g. `2.13.0+cpu`, from whichever
/// record that installation has: an unpacked libtorch's `build-version` file, the torch wheel's
/// `version.py` (`__version__ = '...'`), or the C++ headers' TORCH_VERSION.
fn libtorch_version(lib: &Path) -> Option<String> {
    let root = lib.parent()?;
    let read = |p: PathBuf| -> Option<String> {
        let text = std::fs::read_to_string(&p).ok()?;
        println!("cargo:rerun-if-changed={}", p.display());
        Some(text)
    };
    if let Some(v) = read(root.join("build-version")) {
        let v = v.trim();
        if !v.is_empty() {
            return Some(v.to_owned());
        }
    }
    if let Some(text) = read(root.join("version.py")) {
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("__version__") {
                let v = rest.trim_start().trim_start_matches('=').trim().trim_matches(|c| c == '\'' || c == '"');
                if !v.is_empty() {
                    return Some(v.to_owned());
                }
            }
        }
    }
    for header in ["include/torch/headeronly/version.h", "include/torch/version.h"] {
        if let Some(text) = read(root.join(header)) {
            // `#define TORCH_VERSION "2.13.0"`, possibly with the string on the next line
            if let Some(at) = text.find("#define TORCH_VERSION ") {
                let v = text[at..].split('"').nth(1)?;
                return Some(v.to_owned());
            }
        }
    }
    None
}
