//! GRPO on the toy reward of `ppo_toy.rs` (the number of `a` tokens in the response): four
//! prompts, each sampled four times, group-baseline advantages, no value model, and the k3 KL
//! loss term. The group update must raise the reward, and the KL term must hold the policy
//! nearer the reference the larger β is.

use gptlab_core::rng::Rng;
use gptlab_data::chat::Message;
use gptlab_model::{Gpt, GptConfig};
use gptlab_tokenizer::{Kind as TokKind, Tokenizer};
use gptlab_train::optim::{AdamW, OptimConfig};
use gptlab_train::rl::group;
use gptlab_train::rl::ppo::{self, Update};
use gptlab_train::rl::rollout::{response_logprobs, sample, Scored};
use tch::{nn, Device, Kind};

/// Mean reward and mean summed KL of the first and last five of `iters` iterations.
fn run(beta: f64, iters: usize) -> ((f64, f64), (f64, f64)) {
    tch::manual_seed(0);
    let tok = Tokenizer::train(&["ab ".repeat(20)], TokKind::Char, 0).expect("tok");
    let a = i64::from(tok.token_to_id("a").expect("a"));
    let cfg = GptConfig::new(tok.vocab_size() as i64, 32, 1, 2, 16);
    let vs_p = nn::VarStore::new(Device::Cpu);
    let policy = Gpt::new(&vs_p.root(), &cfg).expect("policy");
    let mut vs_r = nn::VarStore::new(Device::Cpu);
    let reference = Gpt::new(&vs_r.root(), &cfg).expect("reference");
    vs_r.copy(&vs_p).expect("copy");
    vs_r.freeze();
    let optim = OptimConfig { lr: 3e-3, min_lr: 3e-3, weight_decay: 0.0, ..OptimConfig::default() };
    let mut popt = AdamW::new(&vs_p, optim, gptlab_model::gpt::decays).expect("opt");
    let prompts: Vec<Vec<u32>> = ["ab", "ba", "a b", "b"].iter().map(|p| tok.render_chat(&[Message::user(p)], true).expect("prompt").ids).collect();
    let g = 4;
    let batch: Vec<Vec<u32>> = prompts.iter().flat_map(|p| std::iter::repeat(p.clone()).take(g)).collect();
    let mut rng = Rng::new(1);
    let (mut rewards, mut kls) = (vec![], vec![]);
    for _ in 0..iters {
        let s = sample(&policy, &tok, &batch, 8, 1.0, rng.next_u64()).expect("sample");
        let sc = tch::no_grad(|| {
            let ref_logp = response_logprobs(&reference, &s, false).expect("ref").0;
            let responses = s.x.narrow(1, s.q, s.r);
            let scores = (responses.eq(a).to_kind(Kind::Float) * &s.resp_mask).sum_dim_intlist(1, false, Kind::Float);
            let kl = gptlab_model::rl::kl_k1(&s.old_logp, &ref_logp) * &s.resp_mask;
            Scored { ref_logp, old_values: s.resp_mask.zeros_like(), scores, kl }
        });
        rewards.push(sc.scores.mean(Kind::Float).double_value(&[]));
        kls.push(sc.kl.sum_dim_intlist(1, false, Kind::Float).mean(Kind::Float).double_value(&[]));
        let ro = group::advantages(s, sc, g, true);
        let mut u = Update { policy: &policy, policy_opt: &mut popt, lr: 3e-3, cliprange: 0.2, value: None, kl_loss: Some(beta), ptx: None, dist: None };
        ppo::update(&mut u, &ro, 4, 8, &mut rng).expect("update");
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    ((mean(&rewards[..5]), mean(&kls[..5])), (mean(&rewards[iters - 5..]), mean(&kls[iters - 5..])))
}

#[test]
fn the_group_baseline_raises_a_toy_reward_and_the_kl_term_bounds_the_drift() {
    let ((r0, _), (r_free, kl_free)) = run(0.01, 40);
    assert!(r_free > r0 + 1.0, "the count of `a` rises under GRPO: {r0:.2} → {r_free:.2}");
    let ((_, _), (r_tight, kl_tight)) = run(2.0, 40);
    assert!(kl_tight < 0.5 * kl_free, "a larger β keeps the policy nearer the reference: KL {kl_tight:.3} at β 2 vs {kl_free:.3} at β 0.01");
    assert!(r_tight < r_free, "and buys less reward: {r_tight:.2} vs {r_free:.2}");
}
