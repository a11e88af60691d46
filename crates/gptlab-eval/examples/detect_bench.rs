//! The gptlab side of `bench/detect_speed.py`: Fast-DetectGPT scoring speed on a checkpoint,
//! one JSON line (`gptlab_eval::detect::bench::bench`).
//!
//!     detect_bench MODEL_DIR [DEVICE=cpu] [THREADS=2] [TEXTS=32] [TOKENS=256] [REPEATS=3]

use gptlab_model::DeviceSpec;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a: Vec<String> = std::env::args().collect();
    let dir = a.get(1).ok_or("usage: detect_bench MODEL_DIR [DEVICE] [THREADS] [TEXTS] [TOKENS] [REPEATS]")?;
    let arg = |i: usize, d: usize| -> Result<usize, Box<dyn std::error::Error>> { Ok(a.get(i).map(|s| s.parse()).transpose()?.unwrap_or(d)) };
    let device: DeviceSpec = a.get(2).map(|s| s.parse()).transpose()?.unwrap_or(DeviceSpec::Cpu);
    let r = gptlab_eval::detect::bench::bench(std::path::Path::new(dir), device, arg(3, 2)?, arg(4, 32)?, arg(5, 256)?, arg(6, 3)?)?;
    println!("{}", serde_json::to_string(&r)?);
    Ok(())
}
