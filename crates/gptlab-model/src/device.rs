//! Where and in what precision a model runs: the `train.device` and `train.dtype` config keys
//! as closed sets, and libtorch's thread setup.

use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::fmt;

/// `cpu`, `cuda` (device 0), `cuda:N`, or `auto` (CUDA when libtorch sees one, else CPU).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum DeviceSpec {
    #[default]
    Cpu,
    Cuda(usize),
    Auto,
}

impl std::str::FromStr for DeviceSpec {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "cpu" => Ok(Self::Cpu),
            "auto" => Ok(Self::Auto),
            "cuda" | "gpu" => Ok(Self::Cuda(0)),
            _ => match s.strip_prefix("cuda:").map(str::parse::<usize>) {
                Some(Ok(i)) => Ok(Self::Cuda(i)),
                _ => Err(Error::Device(format!("unknown device `{s}` (expected cpu, cuda, cuda:N or auto)"))),
            },
        }
    }
}

impl TryFrom<String> for DeviceSpec {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl From<DeviceSpec> for String {
    fn from(d: DeviceSpec) -> String {
        d.to_string()
    }
}

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Cpu => f.write_str("cpu"),
            Self::Cuda(i) => write!(f, "cuda:{i}"),
            Self::Auto => f.write_str("auto"),
        }
    }
}

impl DeviceSpec {
    /// The libtorch device; an error when CUDA is asked for and absent.
    pub fn resolve(self) -> Result<tch::Device> {
        match self {
            Self::Cpu => Ok(tch::Device::Cpu),
            Self::Auto => Ok(tch::Device::cuda_if_available()),
            Self::Cuda(i) => {
                if !tch::Cuda::is_available() {
                    return Err(Error::Device("CUDA was requested but libtorch sees no CUDA device".into()));
                }
                if i >= tch::Cuda::device_count() as usize {
                    return Err(Error::Device(format!("cuda:{i} requested but only {} CUDA devices exist", tch::Cuda::device_count())));
                }
                Ok(tch::Device::Cuda(i))
            }
        }
    }
}

/// Compute precision: `fp32`, or `bf16` mixed precision (fp32 master weights, bf16 matmuls
/// and attention).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dtype {
    #[default]
    Fp32,
    Bf16,
}

impl std::str::FromStr for Dtype {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "fp32" => Ok(Self::Fp32),
            "bf16" => Ok(Self::Bf16),
            _ => Err(Error::Config(format!("dtype `{s}` is not supported (fp32, bf16)"))),
        }
    }
}

impl Dtype {
    pub fn kind(self) -> tch::Kind {
        match self {
            Self::Fp32 => tch::Kind::Float,
            Self::Bf16 => tch::Kind::BFloat16,
        }
    }
}

/// Sets libtorch's CPU threads (0 = all cores; one inter-op thread) and resolves the device.
pub fn setup(device: DeviceSpec, threads: usize) -> Result<tch::Device> {
    let n = if threads == 0 { std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) } else { threads };
    tch::set_num_threads(n as i32);
    static INTEROP: std::sync::Once = std::sync::Once::new();
    INTEROP.call_once(|| tch::set_num_interop_threads(1));
    device.resolve()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_and_dtype_parse_and_round_trip() {
        for (s, d) in [("cpu", DeviceSpec::Cpu), ("auto", DeviceSpec::Auto), ("cuda", DeviceSpec::Cuda(0)), ("cuda:3", DeviceSpec::Cuda(3))] {
            assert_eq!(s.parse::<DeviceSpec>().expect("parse"), d);
        }
        assert_eq!(DeviceSpec::Cuda(2).to_string().parse::<DeviceSpec>().expect("again"), DeviceSpec::Cuda(2));
        let e = "tpu".parse::<DeviceSpec>().expect_err("tpu").to_string();
        assert!(e.contains("tpu") && e.contains("cuda:N"), "{e}");
        #[derive(Deserialize)]
        struct T {
            dtype: Dtype,
        }
        assert_eq!(serde_json::from_str::<T>(r#"{"dtype":"bf16"}"#).expect("bf16").dtype, Dtype::Bf16);
        assert!(serde_json::from_str::<T>(r#"{"dtype":"fp16"}"#).is_err());
    }
}
