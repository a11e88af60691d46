// Compiles the C++ shim (cpp/shim.cpp) against the headers of the libtorch that tch links,
// with the flags torch-sys's own build uses for its C++ (-std=c++17, the libstdc++ ABI of
// that libtorch, -DGLOG_USE_GLOG_EXPORT), so both sides agree on every c10/ATen type.
use std::path::PathBuf;
use std::process::Command;

fn python() -> String {
    if std::env::var_os("VIRTUAL_ENV").is_some() {
        "python".into()
    } else {
        "python3".into()
    }
}

/// `_GLIBCXX_USE_CXX11_ABI` of the libtorch in use: LIBTORCH_CXX11_ABI, else (as torch-sys does
/// with LIBTORCH_USE_PYTORCH) what the Python torch reports, else 1 (every current libtorch).
fn cxx11_abi() -> String {
    if let Ok(v) = std::env::var("LIBTORCH_CXX11_ABI") {
        return v;
    }
    if std::env::var_os("LIBTORCH_USE_PYTORCH").is_some() {
        let out = Command::new(python()).args(["-c", "import torch; print(int(torch._C._GLIBCXX_USE_CXX11_ABI))"]).output();
        if let Ok(o) = out {
            let s = String::from_utf8_lossy(&o.stdout).trim().to_string();
            if s == "0" || s == "1" {
                return s;
            }
        }
        panic!("gptlab-dist: LIBTORCH_USE_PYTORCH is set but `{} -c 'import torch'` failed", python());
    }
    "1".into()
}

/// Include directories of CUDA and NCCL for the `nccl` feature: CUDA_HOME/include and
/// NCCL_INCLUDE_DIR when set, and the torch wheel's `nvidia/*/include` packages.
fn cuda_includes(lib: &std::path::Path) -> Vec<PathBuf> {
    let mut v = Vec::new();
    for var in ["CUDA_HOME", "CUDA_PATH"] {
        if let Some(h) = std::env::var_os(var) {
            v.push(PathBuf::from(h).join("include"));
        }
    }
    if let Some(n) = std::env::var_os("NCCL_INCLUDE_DIR") {
        v.push(PathBuf::from(n));
    }
    // <site-packages>/torch/lib -> <site-packages>/nvidia/<pkg>/include
    if let Some(site) = lib.parent().and_then(|t| t.parent()) {
        if let Ok(rd) = std::fs::read_dir(site.join("nvidia")) {
            for e in rd.flatten() {
                let inc = e.path().join("include");
                if inc.join("nccl.h").exists() || inc.join("cuda_runtime_api.h").exists() {
                    v.push(inc);
                }
            }
        }
    }
    v
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=src/ffi.rs");
    println!("cargo:rerun-if-changed=src/parallel.rs");
    println!("cargo:rerun-if-changed=cpp");
    println!("cargo:rerun-if-env-changed=LIBTORCH_CXX11_ABI");
    println!("cargo:rerun-if-env-changed=CUDA_HOME");
    println!("cargo:rerun-if-env-changed=NCCL_INCLUDE_DIR");
    let lib = PathBuf::from(std::env::var("DEP_TCH_LIBTORCH_LIB").expect("torch-sys reports its libtorch directory (DEP_TCH_LIBTORCH_LIB)"));
    let root = lib.parent().expect("libtorch lib directory has a parent").to_path_buf();
    let include = root.join("include");
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let mut b = cxx_build::bridges(["src/ffi.rs", "src/parallel.rs"]);
    b.file("cpp/shim.cpp")
        .file("cpp/parallel.cpp")
        .include(&include)
        .include(include.join("torch/csrc/api/include"))
        .include(manifest.join("cpp/gloo_decls"))
        .flag("-std=c++17")
        .flag(format!("-D_GLIBCXX_USE_CXX11_ABI={}", cxx11_abi()))
        .flag("-DGLOG_USE_GLOG_EXPORT")
        // at::parallel_for (cpp/parallel.cpp) is an OpenMP region in libtorch's headers; its
        // GOMP_* calls resolve to libgomp, which torch-sys links for libtorch already
        .flag("-fopenmp")
        .define("USE_C10D_GLOO", None)
        .flag_if_supported("-Wno-unused-parameter")
        .warnings(false);
    if std::env::var_os("CARGO_FEATURE_NCCL").is_some() {
        b.define("USE_C10D_NCCL", None).define("GPTLAB_NCCL", None);
        for inc in cuda_includes(&lib) {
            b.include(inc);
        }
        // ProcessGroupNCCL lives in libtorch_cuda; name it explicitly so the linker keeps it
        println!("cargo:rustc-link-search=native={}", lib.display());
        println!("cargo:rustc-link-lib=dylib=torch_cuda");
    }
    b.compile("gptlab_dist_shim");
    println!("cargo:rustc-link-search=native={}", lib.display());
    println!("cargo:rustc-link-lib=dylib=torch_cpu");
    println!("cargo:rustc-link-lib=dylib=c10");
}
