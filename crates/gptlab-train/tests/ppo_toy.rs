//! PPO on a toy reward with a known optimum: the reward is the number of `a` tokens in the
//! response. The real steps run (sample → reference log-probs, values → advantages → PPO
//! update); only the reward model is replaced by the count. PPO must raise the reward, and
//! the KL penalty must hold the policy nearer the reference the larger β is.

use gptlab_core::rng::Rng;
use gptlab_data::chat::Message;
use gptlab_model::heads::ScalarHead;
use gptlab_model::roles::Scalar;
use gptlab_model::{Gpt, GptConfig};
use gptlab_tokenizer::{Kind as TokKind, Tokenizer};
use gptlab_train::optim::{AdamW, OptimConfig};
use gptlab_train::rl::ppo::{self, Update, ValueStep};
use gptlab_train::rl::rollout::{advantages, response_logprobs, response_values, sample, Scored};
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
    let vs_v = nn::VarStore::new(Device::Cpu);
    let mut value = Scalar { gpt: Gpt::new(&vs_v.root(), &cfg.as_scalar_model()).expect("value"), head: ScalarHead::new(&vs_v.root(), 16) };
    let optim = OptimConfig { lr: 3e-3, min_lr: 3e-3, weight_decay: 0.0, ..OptimConfig::default() };
    let mut popt = AdamW::new(&vs_p, optim, gptlab_model::gpt::decays).expect("opt");
    let mut vopt = AdamW::new(&vs_v, optim, gptlab_model::gpt::decays).expect("opt");
    let prompt = tok.render_chat(&[Message::user("ab")], true).expect("prompt").ids;
    let mut rng = Rng::new(1);
    let (mut rewards, mut kls) = (vec![], vec![]);
    for _ in 0..iters {
        let s = sample(&policy, &tok, &vec![prompt.clone(); 16], 8, 1.0, rng.next_u64()).expect("sample");
        let sc = tch::no_grad(|| {
            let ref_logp = response_logprobs(&reference, &s, false).expect("ref").0;
            let old_values = response_values(&value, &s, false).expect("values") * &s.resp_mask;
            let responses = s.x.narrow(1, s.q, s.r);
            let scores = (responses.eq(a).to_kind(Kind::Float) * &s.resp_mask).sum_dim_intlist(1, false, Kind::Float);
            let kl = gptlab_model::rl::kl_k1(&s.old_logp, &ref_logp) * &s.resp_mask;
            Scored { ref_logp, old_values, scores, kl }
        });
        rewards.push(sc.scores.mean(Kind::Float).double_value(&[]));
        kls.push(sc.kl.sum_dim_intlist(1, false, Kind::Float).mean(Kind::Float).double_value(&[]));
        let ro = advantages(s, sc, beta, 1.0, 0.95, false);
        let value = Some(ValueStep { model: &mut value, opt: &mut vopt, lr: 3e-3, cliprange: 0.2, vf_coef: 0.1 });
        let mut u = Update { policy: &policy, policy_opt: &mut popt, lr: 3e-3, cliprange: 0.2, value, kl_loss: None, ptx: None, dist: None };
        ppo::update(&mut u, &ro, 4, 8, &mut rng).expect("update");
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    ((mean(&rewards[..5]), mean(&kls[..5])), (mean(&rewards[iters - 5..]), mean(&kls[iters - 5..])))
}

#[test]
fn ppo_raises_a_toy_reward_and_the_kl_penalty_bounds_the_drift() {
    let ((r0, _), (r_free, kl_free)) = run(0.01, 40);
    assert!(r_free > r0 + 1.0, "the count of `a` rises under PPO: {r0:.2} → {r_free:.2}");
    let ((_, _), (r_tight, kl_tight)) = run(1.0, 40);
    assert!(kl_tight < 0.5 * kl_free, "a larger β keeps the policy nearer the reference: KL {kl_tight:.3} at β 1 vs {kl_free:.3} at β 0.01");
    assert!(r_tight < r_free, "and buys less reward: {r_tight:.2} vs {r_free:.2}");
}
