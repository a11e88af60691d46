//! PPO with the pretraining mix (InstructGPT step 3, "PPO-ptx"). RL has its own data path:
//! a rollout buffer instead of a dataset, so this file drives its own iterations while reusing
//! the shared pieces (AdamW, schedule, checkpoints, metrics, plots, the engine's KV cache).
//!
//! Implemented, per iteration:
//! 1. rollout: `rollout_batch` prompts (chat format, generation prompt) → the policy samples a
//!    response each with the KV cache (temperature `temperature`, stop at `<|end|>`);
//! 2. scoring: the frozen reward model reads the response's last token; an optional penalty for
//!    responses without `<|end|>`; per-token KL to the frozen SFT reference (k3 by default,
//!    never negative; k1 = log-ratio optional), reward r_t = −β·KL_t, plus the score on the last
//!    token; optional reward whitening;
//! 3. advantages: values from the value model (initialised from the reward model), GAE(γ, λ),
//!    whitened advantages;
//! 4. `ppo_epochs` × shuffled minibatches: clipped policy loss, clipped value loss (separate
//!    optimizer), and the ptx term γ·E[−log π(x)] on windows of pretraining text;
//! 5. adaptive KL controller (optional), EMA of policy weights (optional), TRL's metric names.
//!
//! Speed: the rollout's old log-probs are the sampler's own (no second policy forward, as in
//! TRL); minibatches are cut to their longest prompt and response; the trunk runs only the
//! real tokens of a padded batch (see `Gpt::hidden`), and its last block only the response
//! positions (`Gpt::hidden_window`); on the CPU the policy's and the value
//! model's minibatch steps run side by side, each on half the threads (`crate::par`).
//!
//! `gptlab ppo --resume` (in the CLI) continues a stopped run bit-for-bit from `last/`.
//!
//! Not implemented: multiple samples per prompt, reward clipping, and a shared policy/value
//! trunk (they are separate models, as in InstructGPT).

use crate::optim::AdamW;
use crate::Result;
use gptlab_core::rng::Rng;
use gptlab_engine::{generate, SampleConfig};
use gptlab_model::heads::ScalarHead;
use gptlab_model::{ops, rl, Gpt};
use gptlab_tokenizer::Tokenizer;
use serde_json::{Map, Value};
use tch::{Kind, Tensor};

/// A model with a scalar head (reward or value).
pub struct Scalar {
    pub gpt: Gpt,
    pub head: ScalarHead,
}

/// One rollout, queries left-padded to `q` tokens, responses right-padded to `r` tokens.
pub struct Rollout {
    pub x: Tensor,
    pub key_mask: Tensor,
    pub resp_mask: Tensor,
    pub q: i64,
    pub r: i64,
    pub old_logp: Tensor,
    pub ref_logp: Tensor,
    pub old_values: Tensor,
    pub scores: Tensor,
    pub adv: Tensor,
    pub ret: Tensor,
    pub kl: Tensor,
    pub ended: f64,
    pub mean_len: f64,
    /// Real (unpadded) prompt and response length of each row.
    pub prompt_lens: Vec<i64>,
    pub resp_lens: Vec<i64>,
}

#[derive(Clone)]
pub struct Settings {
    pub kl_coef: f64,
    pub k3: bool,
    pub max_new_tokens: usize,
    pub temperature: f64,
    pub gamma: f64,
    pub lam: f64,
    pub whiten_rewards: bool,
    pub missing_eos_penalty: Option<f64>,
}

/// Hidden-state positions that predict the response tokens: q−1 .. q+r−2.
fn response_hidden(model: &Gpt, ro_x: &Tensor, mask: &Tensor, q: i64, r: i64, train: bool) -> Result<Tensor> {
    Ok(model.hidden_window(ro_x, train, Some(mask), q - 1, r)?)
}

/// Log-probs `[B, r]` of the response tokens and the logits they came from.
pub fn response_logprobs(model: &Gpt, ro: &Rollout, train: bool) -> Result<(Tensor, Tensor)> {
    let h = response_hidden(model, &ro.x, &ro.key_mask, ro.q, ro.r, train)?;
    let logits = model.lm_head(&h);
    let targets = ro.x.narrow(1, ro.q, ro.r);
    Ok((ops::token_logprobs(&logits, &targets), logits))
}

/// Values `[B, r]`: the value of the state before each response token.
pub fn response_values(v: &Scalar, ro: &Rollout, train: bool) -> Result<Tensor> {
    let h = response_hidden(&v.gpt, &ro.x, &ro.key_mask, ro.q, ro.r, train)?;
    Ok(v.head.forward(&h))
}

/// Samples responses and scores them: steps 1–3 of the module docs.
#[allow(clippy::too_many_arguments)]
pub fn rollout(policy: &Gpt, reference: &Gpt, value: &Scalar, reward: &Scalar, tok: &Tokenizer, prompts: &[Vec<u32>], s: &Settings, seed: u64) -> Result<Rollout> {
    let dev = policy.device();
    let sc = SampleConfig { max_new_tokens: s.max_new_tokens, temperature: s.temperature, seed, ..Default::default() };
    let gens = generate(policy, Some(tok), prompts, &sc).map_err(|e| crate::Error::Data(format!("rollout: {e}")))?;
    let b = prompts.len();
    let q = prompts.iter().map(Vec::len).max().unwrap_or(1) as i64;
    let r = gens.iter().map(|g| g.tokens.len()).max().unwrap_or(1).max(1) as i64;
    let (mut x, mut km, mut rm) = (vec![tok.end as i64; b * (q + r) as usize], vec![false; b * (q + r) as usize], vec![0f32; b * r as usize]);
    let mut old_logp = vec![0f32; b * r as usize];
    let mut last = vec![0i64; b];
    let mut ended = 0usize;
    for (i, (p, g)) in prompts.iter().zip(&gens).enumerate() {
        let row = i * (q + r) as usize;
        let off = q as usize - p.len();
        for (j, &t) in p.iter().enumerate() {
            x[row + off + j] = t as i64;
            km[row + off + j] = true;
        }
        for (j, &t) in g.tokens.iter().enumerate() {
            x[row + q as usize + j] = t as i64;
            km[row + q as usize + j] = true;
            rm[i * r as usize + j] = 1.0;
        }
        old_logp[i * r as usize..i * r as usize + g.logprobs.len()].copy_from_slice(&g.logprobs);
        last[i] = q + g.tokens.len().max(1) as i64 - 1;
        ended += usize::from(g.tokens.last() == Some(&tok.end));
    }
    let shape = [b as i64, q + r];
    let mut ro = Rollout {
        x: Tensor::from_slice(&x).view(shape).to_device(dev),
        key_mask: Tensor::from_slice(&km).view(shape).to_device(dev),
        resp_mask: Tensor::from_slice(&rm).view([b as i64, r]).to_device(dev),
        q,
        r,
        // the sampler's log-probs (temperature 1, the policy's own distribution, as
        // `response_logprobs` computes it): no second policy forward, as TRL does
        old_logp: Tensor::from_slice(&old_logp).view([b as i64, r]).to_device(dev),
        ref_logp: Tensor::new(),
        old_values: Tensor::new(),
        scores: Tensor::new(),
        adv: Tensor::new(),
        ret: Tensor::new(),
        kl: Tensor::new(),
        ended: ended as f64 / b as f64,
        mean_len: gens.iter().map(|g| g.tokens.len()).sum::<usize>() as f64 / b as f64,
        prompt_lens: prompts.iter().map(|p| p.len() as i64).collect(),
        resp_lens: gens.iter().map(|g| g.tokens.len() as i64).collect(),
    };
    tch::no_grad(|| -> Result<()> {
        ro.ref_logp = response_logprobs(reference, &ro, false)?.0;
        ro.old_values = response_values(value, &ro, false)? * &ro.resp_mask;
        // the score is read at each response's last token, inside the response columns
        let h = reward.gpt.hidden_window(&ro.x, false, Some(&ro.key_mask), q, r)?;
        let all = reward.head.forward(&h);
        let last_t = Tensor::from_slice(&last).to_device(dev);
        let mut scores = all.gather(1, &(&last_t - q).unsqueeze(1), false).squeeze_dim(1);
        if let Some(pen) = s.missing_eos_penalty {
            let no_end: Vec<f32> = gens.iter().map(|g| if g.tokens.last() == Some(&tok.end) { 0.0 } else { pen as f32 }).collect();
            scores -= Tensor::from_slice(&no_end).to_device(dev);
        }
        let kl = if s.k3 { rl::kl_k3(&ro.old_logp, &ro.ref_logp) } else { rl::kl_k1(&ro.old_logp, &ro.ref_logp) } * &ro.resp_mask;
        let mut rewards = &kl * (-s.kl_coef);
        let idx = (last_t - q).unsqueeze(1);
        rewards = rewards.scatter_add(1, &idx, &scores.unsqueeze(1));
        if s.whiten_rewards {
            rewards = rl::whiten(&rewards, &ro.resp_mask, false);
        }
        let (adv, ret) = rl::gae(&rewards, &ro.old_values, &ro.resp_mask, s.gamma, s.lam);
        ro.adv = rl::whiten(&adv, &ro.resp_mask, true);
        ro.ret = ret;
        ro.kl = kl;
        ro.scores = scores;
        Ok(())
    })?;
    Ok(ro)
}

impl Rollout {
    /// A second handle on the same tensors (no copy), for work on another thread.
    pub fn share(&self) -> Rollout {
        Rollout {
            x: self.x.shallow_clone(),
            key_mask: self.key_mask.shallow_clone(),
            resp_mask: self.resp_mask.shallow_clone(),
            q: self.q,
            r: self.r,
            old_logp: self.old_logp.shallow_clone(),
            ref_logp: self.ref_logp.shallow_clone(),
            old_values: self.old_values.shallow_clone(),
            scores: self.scores.shallow_clone(),
            adv: self.adv.shallow_clone(),
            ret: self.ret.shallow_clone(),
            kl: self.kl.shallow_clone(),
            ended: self.ended,
            mean_len: self.mean_len,
            prompt_lens: self.prompt_lens.clone(),
            resp_lens: self.resp_lens.clone(),
        }
    }
}

/// Selects rows of a rollout (a minibatch), cut to the longest prompt and the longest
/// response among them: padding columns no row of the minibatch needs are not computed.
/// Positions come from the key mask, so the model sees the same inputs.
pub fn rows(ro: &Rollout, idx: &[i64]) -> Rollout {
    let pick = |v: &[i64]| -> Vec<i64> { idx.iter().map(|&i| v[i as usize]).collect() };
    let (prompt_lens, resp_lens) = (pick(&ro.prompt_lens), pick(&ro.resp_lens));
    let q = prompt_lens.iter().copied().max().unwrap_or(1).clamp(1, ro.q);
    let r = resp_lens.iter().copied().max().unwrap_or(1).clamp(1, ro.r);
    let i = Tensor::from_slice(idx).to_device(ro.x.device());
    let seq = |t: &Tensor| t.index_select(0, &i).narrow(1, ro.q - q, q + r);
    let resp = |t: &Tensor| t.index_select(0, &i).narrow(1, 0, r);
    Rollout {
        x: seq(&ro.x),
        key_mask: seq(&ro.key_mask),
        resp_mask: resp(&ro.resp_mask),
        q,
        r,
        old_logp: resp(&ro.old_logp),
        ref_logp: resp(&ro.ref_logp),
        old_values: resp(&ro.old_values),
        scores: ro.scores.index_select(0, &i),
        adv: resp(&ro.adv),
        ret: resp(&ro.ret),
        kl: resp(&ro.kl),
        ended: ro.ended,
        mean_len: ro.mean_len,
        prompt_lens,
        resp_lens,
    }
}

/// Everything one PPO update needs.
pub struct Update<'a> {
    pub policy: &'a Gpt,
    pub value: &'a mut Scalar,
    pub policy_opt: &'a mut AdamW,
    pub value_opt: &'a mut AdamW,
    pub lr: f64,
    pub cliprange: f64,
    pub cliprange_value: f64,
    pub vf_coef: f64,
    pub ptx: Option<(&'a Tensor, usize, i64, f64)>,
}

/// `epochs` passes of shuffled minibatches over a rollout; returns averaged metrics.
pub fn update(u: &mut Update, ro: &Rollout, epochs: usize, minibatch: usize, rng: &mut Rng) -> Result<Map<String, Value>> {
    let b = ro.x.size()[0];
    let mut acc: std::collections::BTreeMap<&str, (f64, usize)> = Default::default();
    let mut add = |k: &'static str, v: f64| {
        let e = acc.entry(k).or_insert((0.0, 0));
        e.0 += v;
        e.1 += 1;
    };
    let dev = ro.x.device();
    for _ in 0..epochs.max(1) {
        let mut order: Vec<i64> = (0..b).collect();
        rng.shuffle(&mut order);
        for mb in order.chunks(minibatch.max(1)) {
            let m = rows(ro, mb);
            let vm = m.share();
            let (value, value_opt) = (&mut *u.value, &mut *u.value_opt);
            let (lr, clip_v, vf_coef) = (u.lr, u.cliprange_value, u.vf_coef);
            // the policy and the value model are separate: their steps run side by side
            let (pol, val) = crate::par::side_by_side(
                dev,
                || -> Result<Vec<(&'static str, f64)>> {
                    let (logp, logits) = response_logprobs(u.policy, &m, false)?;
                    let (pg, clipfrac, approxkl) = rl::policy_loss(&logp, &m.old_logp, &m.adv, &m.resp_mask, u.cliprange);
                    let ent = tch::no_grad(|| ops::masked_mean(&ops::entropy(&logits.detach()), &m.resp_mask));
                    let mut out = vec![("loss/policy_avg", pg.double_value(&[]))];
                    let mut loss = pg;
                    if let Some((data, n, block, coef)) = u.ptx {
                        let (x, y) = crate::data::random_windows(data, n, block, rng);
                        let ce = u.policy.loss(&x, &y, false)?;
                        out.push(("loss/ptx_avg", ce.double_value(&[])));
                        loss += ce * coef;
                    }
                    u.policy_opt.zero_grad();
                    loss.backward();
                    u.policy_opt.clip_and_step(u.lr);
                    out.push(("policy/clipfrac_avg", clipfrac.double_value(&[])));
                    out.push(("policy/approxkl_avg", approxkl.double_value(&[])));
                    out.push(("policy/entropy_avg", ent.double_value(&[])));
                    Ok(out)
                },
                move || -> Result<Vec<(&'static str, f64)>> {
                    let v = response_values(value, &vm, false)?;
                    let (vl, vclip) = rl::value_loss(&v, &vm.old_values, &vm.ret, &vm.resp_mask, clip_v);
                    value_opt.zero_grad();
                    (&vl * vf_coef).backward();
                    value_opt.clip_and_step(lr);
                    Ok(vec![("loss/value_avg", vl.double_value(&[])), ("val/clipfrac_avg", vclip.double_value(&[]))])
                },
            );
            for (k, v) in pol?.into_iter().chain(val?) {
                add(k, v);
            }
        }
    }
    Ok(acc.into_iter().map(|(k, (s, n))| (k.to_string(), Value::from(s / n.max(1) as f64))).collect())
}

/// Rollout-level metrics under TRL's names.
pub fn rollout_metrics(ro: &Rollout, kl_coef: f64) -> Map<String, Value> {
    let mask = &ro.resp_mask;
    let kl_sum = ro.kl.sum_dim_intlist(1, false, Kind::Float);
    let mean = |t: &Tensor| t.mean(Kind::Float).double_value(&[]);
    let mut m = Map::new();
    m.insert("objective/scores".into(), mean(&ro.scores).into());
    m.insert("objective/kl".into(), mean(&kl_sum).into());
    m.insert("objective/rlhf_reward".into(), mean(&(&ro.scores - &kl_sum * kl_coef)).into());
    let ent = -(&ro.old_logp * mask).sum_dim_intlist(1, false, Kind::Float);
    m.insert("objective/entropy".into(), mean(&ent).into());
    m.insert("val/ended_frac".into(), ro.ended.into());
    m.insert("val/mean_len".into(), ro.mean_len.into());
    m.insert("kl_coef".into(), kl_coef.into());
    m
}

/// Ziegler et al.'s adaptive KL controller: β ← β·(1 + clip(KL/target − 1, ±0.2)·n/horizon).
pub fn adapt_kl(beta: f64, kl: f64, target: f64, n: f64, horizon: f64) -> f64 {
    let err = (kl / target - 1.0).clamp(-0.2, 0.2);
    beta * (1.0 + err * n / horizon)
}

/// EMA of weights: ema ← d·ema + (1−d)·w.
pub fn ema_update(ema: &mut [Tensor], vars: &[Tensor], decay: f64) {
    tch::no_grad(|| {
        for (e, v) in ema.iter_mut().zip(vars) {
            let _ = e.g_mul_scalar_(decay);
            let _ = e.g_add_(&(v * (1.0 - decay)));
        }
    });
}

/// Mean reward-model score of greedy responses to `prompts` (the reward model also stands in
/// for the value model, whose output is not used here).
pub fn mean_score(policy: &Gpt, reward: &Scalar, tok: &Tokenizer, prompts: &[Vec<u32>], max_new: usize) -> Result<f64> {
    let s = Settings { kl_coef: 0.0, k3: true, max_new_tokens: max_new, temperature: 0.0, gamma: 1.0, lam: 1.0, whiten_rewards: false, missing_eos_penalty: None };
    let mut sum = 0.0;
    for chunk in prompts.chunks(16) {
        let ro = rollout(policy, policy, reward, reward, tok, chunk, &s, 0)?;
        sum += ro.scores.sum(Kind::Float).double_value(&[]);
    }
    Ok(sum / prompts.len().max(1) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gptlab_model::GptConfig;
    use tch::{nn, Device};

    /// A random tiny policy and reward model, and a rollout of prompts of lengths 1–5.
    fn tiny_rollout() -> (nn::VarStore, Gpt, Rollout) {
        tch::manual_seed(0);
        let tok = gptlab_tokenizer::Tokenizer::train(&["abcdefghijklmno".into()], gptlab_tokenizer::Kind::Char, 0).expect("tok");
        let vs = nn::VarStore::new(Device::Cpu);
        let cfg = GptConfig::new(tok.vocab_size() as i64, 32, 2, 2, 16);
        let policy = Gpt::new(&(vs.root() / "p"), &cfg).expect("policy");
        let reward = Scalar { gpt: Gpt::new(&(vs.root() / "r"), &cfg).expect("rm"), head: ScalarHead::new(&(vs.root() / "r"), 16) };
        let prompts: Vec<Vec<u32>> = ["abcde", "a", "abc", "de", "bcdea", "ab"].iter().map(|p| tok.encode(p).expect("encode")).collect();
        let s = Settings { kl_coef: 0.1, k3: true, max_new_tokens: 6, temperature: 1.0, gamma: 1.0, lam: 0.95, whiten_rewards: false, missing_eos_penalty: None };
        let ro = rollout(&policy, &policy, &reward, &reward, &tok, &prompts, &s, 7).expect("rollout");
        (vs, policy, ro)
    }

    fn masked_max_diff(a: &Tensor, b: &Tensor, mask: &Tensor) -> f64 {
        ((a - b).abs() * mask).max().double_value(&[])
    }

    #[test]
    fn sampler_logprobs_equal_a_full_forward() {
        let (_vs, policy, ro) = tiny_rollout();
        let full = tch::no_grad(|| response_logprobs(&policy, &ro, false)).expect("forward").0;
        let d = masked_max_diff(&full, &ro.old_logp, &ro.resp_mask);
        assert!(d < 1e-4, "KV-cache sampling and a full forward disagree by {d}");
        assert!(ro.resp_mask.sum(Kind::Float).double_value(&[]) > 6.0, "responses were sampled");
    }

    #[test]
    fn minibatches_are_cut_to_their_own_padding_and_compute_the_same() {
        let (_vs, policy, ro) = tiny_rollout();
        let idx = [1i64, 3, 5]; // prompts of 1, 2 and 2 tokens
        let mb = rows(&ro, &idx);
        assert_eq!(mb.q, 2);
        assert!(mb.q < ro.q && mb.r <= ro.r);
        assert_eq!(mb.r, mb.resp_lens.iter().copied().max().expect("rows"));
        let (cut, full) = tch::no_grad(|| {
            let i = Tensor::from_slice(&idx);
            let full = response_logprobs(&policy, &ro, false).expect("full").0.index_select(0, &i).narrow(1, 0, mb.r);
            (response_logprobs(&policy, &mb, false).expect("cut").0, full)
        });
        let d = masked_max_diff(&cut, &full, &mb.resp_mask);
        assert!(d < 1e-5, "cut minibatch changes log-probs by {d}");
        assert_eq!(mb.resp_mask.sum(Kind::Float).double_value(&[]), idx.iter().map(|&i| ro.resp_lens[i as usize]).sum::<i64>() as f64);
    }

    #[test]
    fn kl_controller_moves_towards_target() {
        assert!(adapt_kl(0.1, 12.0, 6.0, 100.0, 1000.0) > 0.1);
        assert!(adapt_kl(0.1, 1.0, 6.0, 100.0, 1000.0) < 0.1);
        assert!((adapt_kl(0.1, 1e9, 6.0, 1000.0, 1000.0) - 0.12).abs() < 1e-12, "error clipped at +0.2");
    }
}
