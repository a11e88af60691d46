//! The RL data path, as separate steps: [`sample`] (the policy answers a batch of prompts with
//! the engine's KV cache) → a reward ([`crate::rl::reward`]) and [`score`] (KL reference, value
//! model) → [`advantages`] (per-token rewards, GAE) or [`crate::rl::group::advantages`] (group
//! baseline) → a [`Rollout`] that an objective's update reads.
//!
//! Layout: queries left-padded to `q` tokens, responses right-padded to `r` tokens, so every
//! row's response starts at column `q`. Response tensors are `[B, r]`.

use crate::Result;
use gptlab_engine::{generate, Finish, SampleConfig};
use gptlab_model::roles::Scalar;
use gptlab_model::{ops, rl, Gpt};
use gptlab_tokenizer::Tokenizer;
use tch::{Kind, Tensor};

/// Sampled responses and what the sampler knew about them.
pub struct Samples {
    /// Tokens `[B, q + r]`.
    pub x: Tensor,
    /// `[B, q + r]`, false at padding.
    pub key_mask: Tensor,
    /// `[B, r]`, 1 at response tokens.
    pub resp_mask: Tensor,
    pub q: i64,
    pub r: i64,
    /// Log-probabilities `[B, r]` of the response tokens under the distribution they were
    /// sampled from (the policy's logits divided by `temperature`).
    pub old_logp: Tensor,
    /// The sampling temperature (1 for greedy samples, whose log-probs are not used): PPO's
    /// ratio and KL use the log-probs of this distribution, for the policy and the reference.
    pub temperature: f64,
    /// Real (unpadded) prompt and response length of each row.
    pub prompt_lens: Vec<i64>,
    pub resp_lens: Vec<i64>,
    /// Whether each response ended (at the end token or a stop sequence) rather than ran
    /// out of tokens.
    pub ended: Vec<bool>,
    /// Each response as text, cut before a stop sequence and without the end token: what a
    /// reward other than a reward model scores.
    pub texts: Vec<String>,
}

impl Samples {
    /// Column (in `0..r`) of each row's last response token.
    pub fn last_col(&self) -> Tensor {
        let v: Vec<i64> = self.resp_lens.iter().map(|&n| n.max(1) - 1).collect();
        Tensor::from_slice(&v).to_device(self.x.device())
    }

    pub fn ended_frac(&self) -> f64 {
        self.ended.iter().filter(|&&e| e).count() as f64 / self.ended.len().max(1) as f64
    }

    pub fn mean_len(&self) -> f64 {
        self.resp_lens.iter().sum::<i64>() as f64 / self.resp_lens.len().max(1) as f64
    }
}

/// Step 1: the policy samples one response per prompt (stopping at `<|end|>`). The sampler
/// returns the log-probs at temperature 1; at another temperature they are recomputed from
/// the sampling distribution.
pub fn sample(policy: &Gpt, tok: &Tokenizer, prompts: &[Vec<u32>], max_new_tokens: usize, temperature: f64, seed: u64) -> Result<Samples> {
    sample_until(policy, tok, prompts, max_new_tokens, temperature, &[], seed)
}

/// [`sample`], also stopping at any of `stop`. A response's tokens run up to the one that
/// completed the stop sequence (generation halts there, so no token after it is in the
/// response mask or the loss); its text is cut before the stop sequence.
pub fn sample_until(policy: &Gpt, tok: &Tokenizer, prompts: &[Vec<u32>], max_new_tokens: usize, temperature: f64, stop: &[String], seed: u64) -> Result<Samples> {
    let dev = policy.device();
    let sc = SampleConfig { max_new_tokens, temperature, seed, stop: stop.to_vec(), ..Default::default() };
    let gens = generate(policy, Some(tok), prompts, &sc).map_err(|e| crate::Error::Data(format!("rollout: {e}")))?;
    let b = prompts.len();
    let q = prompts.iter().map(Vec::len).max().unwrap_or(1) as i64;
    let r = gens.iter().map(|g| g.tokens.len()).max().unwrap_or(1).max(1) as i64;
    let (mut x, mut km, mut rm) = (vec![tok.end as i64; b * (q + r) as usize], vec![false; b * (q + r) as usize], vec![0f32; b * r as usize]);
    let mut old_logp = vec![0f32; b * r as usize];
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
    }
    let shape = [b as i64, q + r];
    let mut s = Samples {
        x: Tensor::from_slice(&x).view(shape).to_device(dev),
        key_mask: Tensor::from_slice(&km).view(shape).to_device(dev),
        resp_mask: Tensor::from_slice(&rm).view([b as i64, r]).to_device(dev),
        q,
        r,
        old_logp: Tensor::from_slice(&old_logp).view([b as i64, r]).to_device(dev),
        prompt_lens: prompts.iter().map(|p| p.len() as i64).collect(),
        resp_lens: gens.iter().map(|g| g.tokens.len() as i64).collect(),
        ended: gens.iter().map(|g| g.finish == Finish::Stop).collect(),
        texts: gens.into_iter().map(|g| g.text).collect(),
        temperature: if temperature > 0.0 { temperature } else { 1.0 },
    };
    if s.temperature != 1.0 {
        s.old_logp = tch::no_grad(|| response_logprobs(policy, &s, false))?.0 * &s.resp_mask;
    }
    Ok(s)
}

/// Log-probs `[B, r]` of the response tokens of `s` under `model` at the samples'
/// temperature, and the (temperature-scaled) logits they came from.
pub fn response_logprobs(model: &Gpt, s: &Samples, train: bool) -> Result<(Tensor, Tensor)> {
    let h = model.hidden_window(&s.x, train, Some(&s.key_mask), s.q - 1, s.r)?;
    let mut logits = model.lm_head(&h);
    if s.temperature != 1.0 {
        logits /= s.temperature;
    }
    let targets = s.x.narrow(1, s.q, s.r);
    Ok((ops::token_logprobs(&logits, &targets), logits))
}

/// Values `[B, r]`: the value of the state before each response token.
pub fn response_values(v: &Scalar, s: &Samples, train: bool) -> Result<Tensor> {
    let h = v.gpt.hidden_window(&s.x, train, Some(&s.key_mask), s.q - 1, s.r)?;
    Ok(v.head.forward(&h))
}

/// The reward model's score of each response, read at its last token, minus
/// `missing_eos_penalty` for a response that did not end with `<|end|>`.
pub fn final_scores(reward: &Scalar, s: &Samples, missing_eos_penalty: Option<f64>) -> Result<Tensor> {
    let h = reward.gpt.hidden_window(&s.x, false, Some(&s.key_mask), s.q, s.r)?;
    let all = reward.head.forward(&h);
    let mut scores = all.gather(1, &s.last_col().unsqueeze(1), false).squeeze_dim(1);
    if let Some(pen) = missing_eos_penalty {
        let no_end: Vec<f32> = s.ended.iter().map(|&e| if e { 0.0 } else { pen as f32 }).collect();
        scores -= Tensor::from_slice(&no_end).to_device(scores.device());
    }
    Ok(scores)
}

/// What the frozen models say about the samples.
pub struct Scored {
    pub ref_logp: Tensor,
    pub old_values: Tensor,
    pub scores: Tensor,
    /// Per-token log-ratio log π(a) − log π_ref(a) `[B, r]` (0 at padding): the KL penalty of
    /// InstructGPT's reward (k1; its expectation under π is KL(π‖π_ref)).
    pub kl: Tensor,
}

/// Step 2: reference log-probs and the per-token penalty, and the value model's values (zero
/// without one), beside the episodes' `scores` `[B]` from the reward.
///
/// The penalty is k1, the log-ratio. PPO treats each reward as a constant, so what it
/// follows is E_π[r(a)·∇log π(a)]; with r = −β·k1 that is exactly −β·∇KL(π‖π_ref). The
/// non-negative k3 estimate has an unbiased value but not that gradient (a test below
/// measures both), so as a reward it serves only as a reported estimate.
pub fn score(s: &Samples, reference: &Gpt, value: Option<&Scalar>, scores: Tensor) -> Result<Scored> {
    tch::no_grad(|| {
        let ref_logp = response_logprobs(reference, s, false)?.0;
        let old_values = match value {
            Some(v) => response_values(v, s, false)? * &s.resp_mask,
            None => s.resp_mask.zeros_like(),
        };
        let kl = rl::kl_k1(&s.old_logp, &ref_logp) * &s.resp_mask;
        Ok(Scored { ref_logp, old_values, scores, kl })
    })
}

/// Per-token rewards `[B, r]`: −β·KL at every response token, plus the score at the last.
pub fn token_rewards(kl: &Tensor, scores: &Tensor, last_col: &Tensor, beta: f64) -> Tensor {
    (kl * (-beta)).scatter_add(1, &last_col.unsqueeze(1), &scores.unsqueeze(1))
}

/// A scored rollout with advantages and returns, ready for updates.
pub struct Rollout {
    pub s: Samples,
    pub ref_logp: Tensor,
    pub old_values: Tensor,
    pub scores: Tensor,
    pub kl: Tensor,
    /// Whitened GAE advantages `[B, r]` and value targets.
    pub adv: Tensor,
    pub ret: Tensor,
}

/// Step 3: rewards (optionally whitened), GAE(γ, λ), whitened advantages.
pub fn advantages(s: Samples, sc: Scored, beta: f64, gamma: f64, lam: f64, whiten_rewards: bool) -> Rollout {
    let (adv, ret) = tch::no_grad(|| {
        let mut rewards = token_rewards(&sc.kl, &sc.scores, &s.last_col(), beta);
        if whiten_rewards {
            rewards = rl::whiten(&rewards, &s.resp_mask, false);
        }
        let (adv, ret) = rl::gae(&rewards, &sc.old_values, &s.resp_mask, gamma, lam);
        (rl::whiten(&adv, &s.resp_mask, true), ret)
    });
    Rollout { s, ref_logp: sc.ref_logp, old_values: sc.old_values, scores: sc.scores, kl: sc.kl, adv, ret }
}

impl Samples {
    /// A second handle on the same tensors (no copy), for work on another thread.
    pub fn share(&self) -> Samples {
        Samples {
            x: self.x.shallow_clone(),
            key_mask: self.key_mask.shallow_clone(),
            resp_mask: self.resp_mask.shallow_clone(),
            q: self.q,
            r: self.r,
            old_logp: self.old_logp.shallow_clone(),
            prompt_lens: self.prompt_lens.clone(),
            resp_lens: self.resp_lens.clone(),
            ended: self.ended.clone(),
            texts: self.texts.clone(),
            temperature: self.temperature,
        }
    }
}

impl Rollout {
    pub fn share(&self) -> Rollout {
        Rollout {
            s: self.s.share(),
            ref_logp: self.ref_logp.shallow_clone(),
            old_values: self.old_values.shallow_clone(),
            scores: self.scores.shallow_clone(),
            kl: self.kl.shallow_clone(),
            adv: self.adv.shallow_clone(),
            ret: self.ret.shallow_clone(),
        }
    }

    /// Rows of the rollout (a minibatch), cut to the longest prompt and the longest response
    /// among them: padding columns no row of the minibatch needs are not computed. Positions
    /// come from the key mask, so the model sees the same inputs.
    pub fn rows(&self, idx: &[i64]) -> Rollout {
        let s = &self.s;
        let pick = |v: &[i64]| -> Vec<i64> { idx.iter().map(|&i| v[i as usize]).collect() };
        let (prompt_lens, resp_lens) = (pick(&s.prompt_lens), pick(&s.resp_lens));
        let q = prompt_lens.iter().copied().max().unwrap_or(1).clamp(1, s.q);
        let r = resp_lens.iter().copied().max().unwrap_or(1).clamp(1, s.r);
        let i = Tensor::from_slice(idx).to_device(s.x.device());
        let seq = |t: &Tensor| t.index_select(0, &i).narrow(1, s.q - q, q + r);
        let resp = |t: &Tensor| t.index_select(0, &i).narrow(1, 0, r);
        Rollout {
            s: Samples {
                x: seq(&s.x),
                key_mask: seq(&s.key_mask),
                resp_mask: resp(&s.resp_mask),
                q,
                r,
                old_logp: resp(&s.old_logp),
                prompt_lens,
                resp_lens,
                ended: idx.iter().map(|&j| s.ended[j as usize]).collect(),
                texts: idx.iter().map(|&j| s.texts[j as usize].clone()).collect(),
                temperature: s.temperature,
            },
            ref_logp: resp(&self.ref_logp),
            old_values: resp(&self.old_values),
            scores: self.scores.index_select(0, &i),
            kl: resp(&self.kl),
            adv: resp(&self.adv),
            ret: resp(&self.ret),
        }
    }
}

/// Mean reward-model score of greedy responses to `prompts`.
pub fn mean_score(policy: &Gpt, reward: &Scalar, tok: &Tokenizer, prompts: &[Vec<u32>], max_new: usize) -> Result<f64> {
    let mut sum = 0.0;
    for chunk in prompts.chunks(16) {
        let s = sample(policy, tok, chunk, max_new, 0.0, 0)?;
        sum += tch::no_grad(|| final_scores(reward, &s, None))?.sum(Kind::Float).double_value(&[]);
    }
    Ok(sum / prompts.len().max(1) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gptlab_model::heads::ScalarHead;
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
        let s = sample(&policy, &tok, &prompts, 6, 1.0, 7).expect("sample");
        let scores = final_scores(&reward, &s, None).expect("rm");
        let sc = score(&s, &policy, Some(&reward), scores).expect("score");
        (vs, policy, advantages(s, sc, 0.1, 1.0, 0.95, false))
    }

    fn masked_max_diff(a: &Tensor, b: &Tensor, mask: &Tensor) -> f64 {
        ((a - b).abs() * mask).max().double_value(&[])
    }

    #[test]
    fn sampler_logprobs_equal_a_full_forward() {
        let (_vs, policy, ro) = tiny_rollout();
        let full = tch::no_grad(|| response_logprobs(&policy, &ro.s, false)).expect("forward").0;
        let d = masked_max_diff(&full, &ro.s.old_logp, &ro.s.resp_mask);
        assert!(d < 1e-4, "KV-cache sampling and a full forward disagree by {d}");
        assert!(ro.s.resp_mask.sum(Kind::Float).double_value(&[]) > 6.0, "responses were sampled");
    }

    #[test]
    fn at_another_temperature_the_logprobs_are_those_of_the_sampling_distribution() {
        tch::manual_seed(0);
        let tok = gptlab_tokenizer::Tokenizer::train(&["abcdefghijklmno".into()], gptlab_tokenizer::Kind::Char, 0).expect("tok");
        let vs = nn::VarStore::new(Device::Cpu);
        let policy = Gpt::new(&vs.root(), &GptConfig::new(tok.vocab_size() as i64, 32, 2, 2, 16)).expect("policy");
        let prompts: Vec<Vec<u32>> = ["abc", "de"].iter().map(|p| tok.encode(p).expect("encode")).collect();
        let s = sample(&policy, &tok, &prompts, 6, 0.5, 3).expect("sample");
        let logits = tch::no_grad(|| policy.lm_head(&policy.hidden_window(&s.x, false, Some(&s.key_mask), s.q - 1, s.r).expect("h")));
        let at_half = ops::token_logprobs(&(logits.shallow_clone() / 0.5), &s.x.narrow(1, s.q, s.r));
        let at_one = ops::token_logprobs(&logits, &s.x.narrow(1, s.q, s.r));
        assert!(masked_max_diff(&at_half, &s.old_logp, &s.resp_mask) < 1e-4, "log-probs of softmax(logits / T)");
        assert!(masked_max_diff(&at_one, &s.old_logp, &s.resp_mask) > 1e-2, "not of the model at T = 1");
    }

    #[test]
    fn minibatches_are_cut_to_their_own_padding_and_compute_the_same() {
        let (_vs, policy, ro) = tiny_rollout();
        let idx = [1i64, 3, 5]; // prompts of 1, 2 and 2 tokens
        let mb = ro.rows(&idx);
        assert_eq!(mb.s.q, 2);
        assert!(mb.s.q < ro.s.q && mb.s.r <= ro.s.r);
        assert_eq!(mb.s.r, mb.s.resp_lens.iter().copied().max().expect("rows"));
        let (cut, full) = tch::no_grad(|| {
            let i = Tensor::from_slice(&idx);
            let full = response_logprobs(&policy, &ro.s, false).expect("full").0.index_select(0, &i).narrow(1, 0, mb.s.r);
            (response_logprobs(&policy, &mb.s, false).expect("cut").0, full)
        });
        let d = masked_max_diff(&cut, &full, &mb.s.resp_mask);
        assert!(d < 1e-5, "cut minibatch changes log-probs by {d}");
        assert_eq!(mb.s.resp_mask.sum(Kind::Float).double_value(&[]), idx.iter().map(|&i| ro.s.resp_lens[i as usize]).sum::<i64>() as f64);
    }

    /// E_{a∼π}[r(a)·∇θ log π(a)] for one-token responses `a` of a softmax policy π = softmax(θ),
    /// with r built by [`token_rewards`] from the per-token estimate `k` (β = 0.1, score 0).
    fn expected_gradient(theta: &Tensor, reference: &Tensor, k: fn(&Tensor, &Tensor) -> Tensor) -> Tensor {
        let logp = theta.log_softmax(0, Kind::Float);
        let v = theta.size()[0];
        let kl = k(&logp.detach().view([v, 1]), &reference.view([v, 1]));
        let r = token_rewards(&kl, &Tensor::zeros([v], (Kind::Float, Device::Cpu)), &Tensor::zeros([v], (Kind::Int64, Device::Cpu)), 0.1).view([v]);
        let objective = (logp.exp().detach() * r * &logp).sum(Kind::Float);
        Tensor::run_backward(&[objective], &[theta], false, false).remove(0)
    }

    #[test]
    fn the_k1_penalty_pulls_the_policy_towards_the_reference_and_k3_does_not() {
        tch::manual_seed(0);
        let cos = |a: &Tensor, b: &Tensor| (a * b).sum(Kind::Float).double_value(&[]) / (a.norm().double_value(&[]) * b.norm().double_value(&[]));
        let (mut k1, mut k3, mut k3_wrong_way) = (0.0, 0.0, 0);
        let draws = 200;
        for _ in 0..draws {
            let theta = Tensor::randn([8], (Kind::Float, Device::Cpu)).set_requires_grad(true);
            let reference = Tensor::randn([8], (Kind::Float, Device::Cpu)).log_softmax(0, Kind::Float);
            let logp = theta.log_softmax(0, Kind::Float);
            let kl = (logp.exp() * (&logp - &reference)).sum(Kind::Float);
            let toward_reference = -Tensor::run_backward(&[kl], &[&theta], false, false).remove(0);
            k1 += cos(&expected_gradient(&theta, &reference, rl::kl_k1), &toward_reference);
            let c3 = cos(&expected_gradient(&theta, &reference, rl::kl_k3), &toward_reference);
            k3 += c3;
            k3_wrong_way += usize::from(c3 < 0.0);
        }
        let (k1, k3) = (k1 / draws as f64, k3 / draws as f64);
        assert!(k1 > 0.999, "with the k1 penalty PPO's expected gradient is −β∇KL: mean cosine {k1}");
        assert!(k3 < 0.9, "k3 as a reward does not follow ∇KL (mean cosine {k3}, {k3_wrong_way} of {draws} the wrong way)");
    }

    #[test]
    fn reward_is_minus_beta_kl_at_every_token_plus_the_score_at_the_last() {
        let kl = Tensor::from_slice(&[0.5f32, 1.0, 2.0, 0.25, 0.0, 0.0]).view([2, 3]);
        let scores = Tensor::from_slice(&[3.0f32, -1.0]);
        let last = Tensor::from_slice(&[2i64, 0]);
        let r: Vec<f32> = Vec::try_from(token_rewards(&kl, &scores, &last, 0.1).view([-1])).expect("r");
        let want = [-0.05, -0.1, -0.2 + 3.0, -0.025 - 1.0, 0.0, 0.0];
        for (a, b) in r.iter().zip(want) {
            assert!((f64::from(*a) - b).abs() < 1e-6, "{r:?} vs {want:?}");
        }
    }
}
