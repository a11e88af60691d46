//! Checkpoints in Hugging Face GPT-2 format: `model.safetensors` (HF tensor names, Conv1D
//! layout, `{"format": "pt"}` metadata, tied `lm_head` omitted) and `config.json`.
//! `transformers.GPT2LMHeadModel.from_pretrained(dir)` loads them, and [`load_model`] loads
//! theirs (with or without the `transformer.` prefix; HF's `attn.bias` buffers are skipped).
//!
//! Every file is written atomically (temp file + rename). Loading checks each tensor's shape
//! against `config.json` and names the file and tensor on any mismatch.

use crate::{Error, Gpt, GptConfig, Result};
use safetensors::{Dtype, SafeTensors};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use tch::{nn, Device, Kind, Tensor};

pub const MODEL_FILE: &str = "model.safetensors";
pub const CONFIG_FILE: &str = "config.json";

fn ck(path: &Path, msg: impl Into<String>) -> Error {
    Error::Checkpoint { path: path.to_path_buf(), msg: msg.into() }
}

/// Writes named tensors as a safetensors file (f32, or the tensor's kind when it is
/// f16/bf16/i64), atomically.
pub fn write_tensors(path: &Path, tensors: &[(String, Tensor)]) -> Result<()> {
    let mut owned: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = Vec::with_capacity(tensors.len());
    for (name, t) in tensors {
        let t = t.detach().to_device(Device::Cpu).contiguous();
        let (dtype, t) = match t.kind() {
            Kind::Half => (Dtype::F16, t),
            Kind::BFloat16 => (Dtype::BF16, t),
            Kind::Int64 => (Dtype::I64, t),
            _ => (Dtype::F32, t.to_kind(Kind::Float)),
        };
        let shape: Vec<usize> = t.size().iter().map(|&d| d as usize).collect();
        let nbytes = t.numel() * t.kind().elt_size_in_bytes();
        let mut bytes = vec![0u8; nbytes];
        t.f_copy_data_u8(&mut bytes, t.numel())?;
        owned.push((name.clone(), dtype, shape, bytes));
    }
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = owned
        .iter()
        .map(|(n, d, s, b)| {
            safetensors::tensor::TensorView::new(*d, s.clone(), b)
                .map(|v| (n.clone(), v))
                .map_err(|e| ck(path, format!("tensor {n}: {e}")))
        })
        .collect::<Result<_>>()?;
    let meta = HashMap::from([("format".to_string(), "pt".to_string())]);
    let bytes = safetensors::serialize(views, Some(meta)).map_err(|e| ck(path, e.to_string()))?;
    gptlab_core::fsio::write_atomic(path, &bytes)?;
    Ok(())
}

/// Reads every tensor of a safetensors file (floats converted to f32), keyed by name.
pub fn read_tensors(path: &Path) -> Result<BTreeMap<String, Tensor>> {
    let bytes = std::fs::read(path).map_err(|e| gptlab_core::Error::io(path, e))?;
    let st = SafeTensors::deserialize(&bytes).map_err(|e| ck(path, format!("not a valid safetensors file: {e}")))?;
    let mut out = BTreeMap::new();
    for (name, view) in st.tensors() {
        let kind = match view.dtype() {
            Dtype::F32 => Kind::Float,
            Dtype::F16 => Kind::Half,
            Dtype::BF16 => Kind::BFloat16,
            Dtype::F64 => Kind::Double,
            Dtype::I64 => Kind::Int64,
            other => return Err(ck(path, format!("tensor {name}: unsupported dtype {other:?}"))),
        };
        let shape: Vec<i64> = view.shape().iter().map(|&d| d as i64).collect();
        let t = Tensor::f_from_data_size(view.data(), &shape, kind).map_err(|e| ck(path, format!("tensor {name}: {e}")))?;
        let t = if matches!(kind, Kind::Int64) { t } else { t.to_kind(Kind::Float) };
        out.insert(name, t);
    }
    Ok(out)
}

/// Reads and validates `dir/config.json`.
pub fn load_config(dir: &Path) -> Result<GptConfig> {
    let path = dir.join(CONFIG_FILE);
    let text = gptlab_core::fsio::read_text(&path)?;
    let cfg: GptConfig = serde_json::from_str(&text).map_err(|e| ck(&path, format!("invalid config: {e}")))?;
    cfg.validate().map_err(|e| ck(&path, e.to_string()))?;
    Ok(cfg)
}

/// Writes `config.json` and `model.safetensors` for the model's variables in `vs`.
/// A bias-free model is exported with zero biases so HF GPT-2 loads it.
pub fn save_model(dir: &Path, vs: &nn::VarStore, cfg: &GptConfig) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| gptlab_core::Error::io(dir, e))?;
    let vars = vs.variables();
    let mut tensors: Vec<(String, Tensor)> =
        vars.iter().filter(|(n, _)| n.starts_with("transformer.") || n.starts_with("score.")).map(|(n, t)| (n.clone(), t.shallow_clone())).collect();
    if !cfg.bias {
        for (name, shape) in expected_shapes(&GptConfig { bias: true, ..cfg.clone() }) {
            if name.ends_with(".bias") && !vars.contains_key(&name) {
                tensors.push((name, Tensor::zeros(&shape, (Kind::Float, Device::Cpu))));
            }
        }
    }
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    write_tensors(&dir.join(MODEL_FILE), &tensors)?;
    gptlab_core::fsio::write_json_atomic(&dir.join(CONFIG_FILE), cfg)?;
    Ok(())
}

/// The tensor names and shapes a config implies (HF names).
pub fn expected_shapes(cfg: &GptConfig) -> Vec<(String, Vec<i64>)> {
    let vs = nn::VarStore::new(Device::Cpu);
    let _ = tch::no_grad(|| Gpt::new(&vs.root(), cfg));
    let mut v: Vec<_> = vs.variables().into_iter().map(|(n, t)| (n, t.size())).collect();
    v.sort();
    v
}

/// Copies tensors from a safetensors file into the model variables of `vs`, checking names
/// and shapes. Accepts HF GPT-2 files with or without the `transformer.` prefix.
pub fn load_weights(vs: &nn::VarStore, path: &Path) -> Result<()> {
    load_weights_except(vs, path, false)
}

/// Like [`load_weights`], but a scalar head (`score.*`) missing from the file keeps its fresh
/// initialisation: a reward model starting from an SFT checkpoint.
pub fn load_trunk(vs: &nn::VarStore, path: &Path) -> Result<()> {
    load_weights_except(vs, path, true)
}

fn load_weights_except(vs: &nn::VarStore, path: &Path, fresh_head: bool) -> Result<()> {
    let file = read_tensors(path)?;
    let mut vars = vs.variables();
    let mut seen = 0usize;
    for (raw_name, t) in &file {
        let name = if raw_name.starts_with("transformer.") || raw_name.starts_with("lm_head.") || raw_name.starts_with("score.") {
            raw_name.clone()
        } else {
            format!("transformer.{raw_name}")
        };
        if name.ends_with(".attn.bias") || name.ends_with(".attn.masked_bias") || name == "lm_head.weight" {
            continue; // HF's causal-mask buffers; the tied LM head
        }
        let Some(var) = vars.remove(&name) else {
            if name.ends_with(".bias") && vs.variables().keys().all(|k| !k.ends_with(".bias")) {
                continue; // bias-free model: exported zero biases are dropped
            }
            return Err(ck(path, format!("unexpected tensor `{raw_name}` (not part of this model's config)")));
        };
        if var.size() != t.size() {
            return Err(ck(path, format!("tensor `{name}` has shape {:?} but the config implies {:?}", t.size(), var.size())));
        }
        let mut v = var;
        tch::no_grad(|| {
            v.copy_(&t.to_kind(v.kind()).to_device(v.device()));
        });
        seen += 1;
    }
    let mut missing: Vec<_> = vars
        .keys()
        .filter(|k| k.starts_with("transformer.") || (k.starts_with("score.") && !fresh_head))
        .cloned()
        .collect();
    if !missing.is_empty() {
        missing.sort();
        return Err(ck(path, format!("missing tensors: {}", missing.join(", "))));
    }
    if seen == 0 {
        return Err(ck(path, "no model tensors in file"));
    }
    Ok(())
}

/// Loads `config.json` + `model.safetensors` from `dir` onto `device`.
pub fn load_model(dir: &Path, device: Device) -> Result<(nn::VarStore, Gpt)> {
    let cfg = load_config(dir)?;
    let vs = nn::VarStore::new(device);
    let gpt = Gpt::new(&vs.root(), &cfg)?;
    load_weights(&vs, &dir.join(MODEL_FILE))?;
    Ok((vs, gpt))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_load_round_trip_and_errors() {
        let dir = tempfile::tempdir().expect("tmp");
        tch::manual_seed(3);
        let vs = nn::VarStore::new(Device::Cpu);
        let cfg = GptConfig::new(11, 8, 1, 2, 4);
        let m = Gpt::new(&vs.root(), &cfg).expect("m");
        save_model(dir.path(), &vs, &cfg).expect("save");
        let (_vs2, m2) = load_model(dir.path(), Device::Cpu).expect("load");
        let idx = Tensor::from_slice(&[1i64, 2, 3]).view([1, 3]);
        let d = (m.forward(&idx, false).expect("a") - m2.forward(&idx, false).expect("b")).abs().max().double_value(&[]);
        assert_eq!(d, 0.0);
        // config/weights disagreement
        let bigger = GptConfig::new(11, 8, 1, 2, 8);
        gptlab_core::fsio::write_json_atomic(&dir.path().join(CONFIG_FILE), &bigger).expect("w");
        let e = load_model(dir.path(), Device::Cpu).expect_err("shape").to_string();
        assert!(e.contains("model.safetensors") && e.contains("shape"), "{e}");
        // corrupt weights
        std::fs::write(dir.path().join(MODEL_FILE), b"garbage").expect("w");
        let e = load_model(dir.path(), Device::Cpu).expect_err("corrupt").to_string();
        assert!(e.contains("model.safetensors"), "{e}");
        // corrupt config
        std::fs::write(dir.path().join(CONFIG_FILE), b"{").expect("w");
        let e = load_model(dir.path(), Device::Cpu).expect_err("cfg").to_string();
        assert!(e.contains("config.json"), "{e}");
    }

    #[test]
    fn bias_free_model_exports_zero_biases() {
        let dir = tempfile::tempdir().expect("tmp");
        let vs = nn::VarStore::new(Device::Cpu);
        let mut cfg = GptConfig::new(11, 8, 1, 2, 4);
        cfg.bias = false;
        let _m = Gpt::new(&vs.root(), &cfg).expect("m");
        save_model(dir.path(), &vs, &cfg).expect("save");
        let t = read_tensors(&dir.path().join(MODEL_FILE)).expect("read");
        assert!(t.contains_key("transformer.h.0.attn.c_attn.bias"));
        load_model(dir.path(), Device::Cpu).expect("reload");
    }
}
