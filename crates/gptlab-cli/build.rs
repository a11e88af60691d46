// The same as gptlab-train's build script (the golden parity test there runs on CUDA too).
include!("../gptlab-train/build.rs");
