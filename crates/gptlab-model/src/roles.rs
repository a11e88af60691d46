//! One way to build the model in each role, with the same checks everywhere.
//!
//! A checkpoint directory holds `config.json`, `model.safetensors` and `tokenizer.json`. The
//! roles:
//! - [`lm`]: a language model (pretraining, SFT, the PPO policy and its KL reference, sampling);
//! - [`scalar`]: a model with a scalar head saved as one (`num_labels = 1`: a reward or value
//!   model);
//! - [`scalar_from_lm`]: a language model's trunk under a fresh scalar head (a reward model
//!   starting from SFT, as InstructGPT's did).
//!
//! Each loads the tokenizer beside the weights and checks that every token id it can produce
//! has an embedding row. [`Mode::Frozen`] turns off gradients (reference, reward model, eval).

use crate::checkpoint::{self, MODEL_FILE};
use crate::heads::ScalarHead;
use crate::{Error, Gpt, GptConfig, Result};
use gptlab_tokenizer::Tokenizer;
use std::path::Path;
use tch::nn::VarStore;

pub const TOKENIZER_FILE: &str = "tokenizer.json";

/// Whether the loaded weights train.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Trainable,
    Frozen,
}

/// A model with a scalar head (reward or value).
pub struct Scalar {
    pub gpt: Gpt,
    pub head: ScalarHead,
}

/// A model in a role, its variables and its tokenizer.
pub struct Loaded<M> {
    pub vs: VarStore,
    pub model: M,
    pub tok: Tokenizer,
}

fn ck(dir: &Path, msg: impl Into<String>) -> Error {
    Error::Checkpoint { path: dir.to_path_buf(), msg: msg.into() }
}

/// The tokenizer of checkpoint `dir`, checked against `cfg`'s vocabulary.
fn tokenizer(dir: &Path, cfg: &GptConfig) -> Result<Tokenizer> {
    if !dir.is_dir() {
        return Err(ck(dir, "checkpoint directory does not exist"));
    }
    let path = dir.join(TOKENIZER_FILE);
    let tok = Tokenizer::load(&path)?;
    if tok.vocab_size() as i64 > cfg.vocab_size {
        return Err(ck(&path, format!("tokenizer has {} tokens but the model's vocab_size is {}", tok.vocab_size(), cfg.vocab_size)));
    }
    Ok(tok)
}

fn config(dir: &Path) -> Result<GptConfig> {
    if !dir.is_dir() {
        return Err(ck(dir, "checkpoint directory does not exist"));
    }
    checkpoint::load_config(dir)
}

fn finish(mut vs: VarStore, mode: Mode) -> VarStore {
    if mode == Mode::Frozen {
        vs.freeze();
    }
    vs
}

/// A language model from `dir`.
pub fn lm(dir: &Path, device: tch::Device, mode: Mode) -> Result<Loaded<Gpt>> {
    lm_with(dir, device, mode, |_| {})
}

/// A language model from `dir`, with `edit` applied to its config before the weights load
/// (settings that change no shape, e.g. SFT's residual dropout).
pub fn lm_with(dir: &Path, device: tch::Device, mode: Mode, edit: impl FnOnce(&mut GptConfig)) -> Result<Loaded<Gpt>> {
    let mut cfg = config(dir)?;
    if cfg.is_scalar_model() {
        return Err(ck(dir, "a reward/value model (a scalar `score` head: num_labels = 1 in config.json), not a language model"));
    }
    edit(&mut cfg);
    let tok = tokenizer(dir, &cfg)?;
    let vs = VarStore::new(device);
    let model = Gpt::new(&vs.root(), &cfg)?;
    checkpoint::load_weights(&vs, &dir.join(MODEL_FILE))?;
    Ok(Loaded { vs: finish(vs, mode), model, tok })
}

/// A language model from an HF GPT-2 checkpoint that has no tokenizer beside it (weights
/// only: benchmarks and parity tests feed it token ids).
pub fn lm_weights_only(dir: &Path, device: tch::Device, mode: Mode) -> Result<(VarStore, Gpt)> {
    config(dir)?;
    let (vs, model) = checkpoint::load_model(dir, device)?;
    Ok((finish(vs, mode), model))
}

/// A reward or value model saved as one.
pub fn scalar(dir: &Path, device: tch::Device, mode: Mode) -> Result<Loaded<Scalar>> {
    let cfg = config(dir)?;
    if !cfg.is_scalar_model() {
        return Err(ck(dir, "not a reward/value model (config.json has no num_labels = 1); train one with `gptlab rm`"));
    }
    build_scalar(dir, cfg, device, mode, checkpoint::load_weights)
}

/// A language model's trunk under a fresh scalar head (its LM head is dropped).
pub fn scalar_from_lm(dir: &Path, device: tch::Device, mode: Mode) -> Result<Loaded<Scalar>> {
    build_scalar(dir, config(dir)?.as_scalar_model(), device, mode, checkpoint::load_trunk)
}

/// A trunk and scalar head of `cfg` whose weights `load` reads from `dir`.
fn build_scalar(dir: &Path, cfg: GptConfig, device: tch::Device, mode: Mode, load: fn(&VarStore, &Path) -> Result<()>) -> Result<Loaded<Scalar>> {
    let tok = tokenizer(dir, &cfg)?;
    let vs = VarStore::new(device);
    let gpt = Gpt::new(&vs.root(), &cfg)?;
    let head = ScalarHead::new(&vs.root(), cfg.n_embd);
    load(&vs, &dir.join(MODEL_FILE))?;
    Ok(Loaded { vs: finish(vs, mode), model: Scalar { gpt, head }, tok })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    fn save(dir: &Path, cfg: &GptConfig, with_head: bool, tok: &Tokenizer) {
        let vs = VarStore::new(Device::Cpu);
        let _g = Gpt::new(&vs.root(), cfg).expect("gpt");
        if with_head {
            let _h = ScalarHead::new(&vs.root(), cfg.n_embd);
        }
        checkpoint::save_model(dir, &vs, cfg).expect("save");
        tok.save(&dir.join(TOKENIZER_FILE)).expect("tok");
    }

    #[test]
    fn every_role_loads_with_the_same_checks() {
        let tmp = tempfile::tempdir().expect("tmp");
        let tok = Tokenizer::train(&["abcdefgh".into()], gptlab_tokenizer::Kind::Char, 0).expect("tok");
        let v = tok.vocab_size() as i64;
        let lm_dir = tmp.path().join("lm");
        save(&lm_dir, &GptConfig::new(v, 8, 1, 2, 8), false, &tok);
        let rm_dir = tmp.path().join("rm");
        save(&rm_dir, &GptConfig::new(v, 8, 1, 2, 8).as_scalar_model(), true, &tok);

        let l = lm(&lm_dir, Device::Cpu, Mode::Frozen).expect("lm");
        assert!(l.vs.trainable_variables().iter().all(|t| !t.requires_grad()), "frozen");
        assert!(lm(&lm_dir, Device::Cpu, Mode::Trainable).expect("lm").vs.trainable_variables().iter().all(|t| t.requires_grad()));
        let d = lm_with(&lm_dir, Device::Cpu, Mode::Trainable, |c| c.resid_pdrop = 0.2).expect("edit");
        assert_eq!(d.model.cfg.resid_pdrop, 0.2);
        scalar(&rm_dir, Device::Cpu, Mode::Frozen).expect("scalar");
        let s = scalar_from_lm(&lm_dir, Device::Cpu, Mode::Trainable).expect("from lm");
        assert!(s.model.gpt.cfg.is_scalar_model());

        let e = scalar(&lm_dir, Device::Cpu, Mode::Frozen).err().expect("lm is not scalar").to_string();
        assert!(e.contains("not a reward/value model"), "{e}");
        let e = lm(&rm_dir, Device::Cpu, Mode::Frozen).err().expect("scalar is not lm").to_string();
        assert!(e.contains("not a language model"), "{e}");
        let e = lm(&tmp.path().join("none"), Device::Cpu, Mode::Frozen).err().expect("missing").to_string();
        assert!(e.contains("does not exist"), "{e}");
        // a model whose vocabulary is smaller than its tokenizer's, in every role
        let small = tmp.path().join("small");
        save(&small, &GptConfig::new(v - 1, 8, 1, 2, 8), false, &tok);
        for r in [lm(&small, Device::Cpu, Mode::Frozen).err(), scalar_from_lm(&small, Device::Cpu, Mode::Frozen).err()] {
            let e = r.expect("vocab check").to_string();
            assert!(e.contains("tokenizer.json") && e.contains("vocab_size"), "{e}");
        }
    }
}
