//! ZeRO stage 1 in AdamW, across real processes on loopback: this test binary re-runs itself as
//! the ranks (the role is chosen by GPTLAB_ZERO_TEST_ROLE), with the environment a launcher
//! sets. A sharded optimizer must end exactly where an unsharded one does on the same averaged
//! gradients: the same element-wise update, only split by slice.

use gptlab_train::optim::{AdamW, OptimConfig};
use std::process::Output;
use std::sync::Arc;
use std::time::Duration;
use tch::{nn, Device, Kind, Tensor};

const ROLE: &str = "GPTLAB_ZERO_TEST_ROLE";

fn spawn(test: &str, world: usize) -> Vec<Output> {
    let port = gptlab_dist::launch::free_port().expect("port");
    let exe = std::env::current_exe().expect("test binary");
    let args: Vec<String> = [test, "--exact", "--nocapture", "--test-threads=1"].map(String::from).to_vec();
    let ranks: Vec<usize> = (0..world).collect();
    gptlab_dist::launch::run_ranks(&exe, &args, &ranks, world, port, &[(ROLE, "rank")]).expect("run ranks")
}

/// A model of 4 parameter tensors, 47 elements, laid out in the flat buffer as w, x_unused (the
/// decay group), b, ln: the slices of 2 or 3 ranks cut through tensors, 3 ranks' end in
/// padding, and `x_unused`, which never gets a gradient and so must not decay either, straddles
/// the second and third ranks' slices of 16.
fn model(vs: &nn::VarStore) -> [Tensor; 4] {
    let p = vs.root();
    let w = p.var("w", &[5, 6], nn::Init::Randn { mean: 0.0, stdev: 1.0 });
    let b = p.var("b", &[6], nn::Init::Randn { mean: 0.0, stdev: 1.0 });
    let unused = p.var("x_unused", &[7], nn::Init::Randn { mean: 0.0, stdev: 1.0 });
    let ln = p.var("ln", &[4], nn::Init::Randn { mean: 0.0, stdev: 1.0 });
    [w, b, unused, ln]
}

fn loss(m: &[Tensor; 4], step: i64) -> Tensor {
    let x = Tensor::arange(5, (Kind::Float, Device::Cpu)).view([1, 5]) * (0.3 + 0.1 * step as f64);
    let h = (x.matmul(&m[0]) + &m[1]).tanh();
    (h.sum(Kind::Float) + (&m[3] * &m[3]).sum(Kind::Float) * 0.5).square()
}

/// A saved optimizer state's f32 tensors, by name.
type Saved = Vec<(String, Vec<f32>)>;

/// Optimizer state with non-zero moments for every parameter of `vs`, written as
/// `AdamW::save` writes it, so that a parameter without a gradient has moments to keep.
fn prior_state(vs: &nn::VarStore, file: &std::path::Path) {
    let mut t: Vec<(String, Tensor)> = vec![];
    let mut vars: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, var) in vars {
        t.push((format!("exp_avg.{name}"), Tensor::randn(var.size(), (Kind::Float, Device::Cpu)) * 0.01));
        t.push((format!("exp_avg_sq.{name}"), Tensor::rand(var.size(), (Kind::Float, Device::Cpu)) * 0.01));
    }
    t.push(("step".into(), Tensor::from_slice(&[3i64])));
    Tensor::write_safetensors(&t, file).expect("write state");
}

/// Four steps from `prior_state` with the gradients averaged across the ranks, the optimizer
/// sharded or not: the parameters, and (where this rank can save) the saved moments.
fn train(d: &Arc<gptlab_dist::Dist>, zero: bool) -> (Vec<f32>, Option<Saved>) {
    tch::manual_seed(7);
    let vs = nn::VarStore::new(Device::Cpu);
    let m = model(&vs);
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("optimizer.safetensors");
    prior_state(&vs, &file);
    let cfg = OptimConfig { lr: 0.05, weight_decay: 0.1, ..OptimConfig::default() };
    let mut opt = AdamW::new(&vs, cfg, |name, _| name == "w" || name == "x_unused").expect("optimizer");
    opt.load(&file).expect("load");
    if zero {
        opt.shard(d.clone()).expect("shard");
    }
    for step in 0..4 {
        opt.zero_grad();
        loss(&m, step).backward();
        opt.average_grads(d).expect("average");
        opt.clip_and_step(0.05).expect("step");
    }
    let params: Vec<f32> = m.iter().flat_map(|t| Vec::<f32>::try_from(t.detach().view([-1])).expect("values")).collect();
    opt.gather_state().expect("gather");
    if zero && !d.is_main() {
        assert!(opt.save(&file).is_err(), "only rank 0 keeps the gathered state");
        return (params, None);
    }
    opt.save(&file).expect("save");
    opt.release_state();
    let mut state: Vec<(String, Vec<f32>)> =
        Tensor::read_safetensors(&file).expect("read").into_iter().filter(|(_, t)| t.kind() == Kind::Float).map(|(n, t)| (n, Vec::<f32>::try_from(t.view([-1])).expect("values"))).collect();
    state.sort_by(|a, b| a.0.cmp(&b.0));
    (params, Some(state))
}

/// A model smaller than the world: some ranks' slices are empty or lie wholly in padding.
fn tiny(d: &Arc<gptlab_dist::Dist>, zero: bool) -> Vec<f32> {
    tch::manual_seed(3);
    let vs = nn::VarStore::new(Device::Cpu);
    let x = vs.root().var("x", &[1], nn::Init::Const(2.0));
    let mut opt = AdamW::new(&vs, OptimConfig::default(), |_, _| true).expect("optimizer");
    if zero {
        opt.shard(d.clone()).expect("shard");
    }
    for _ in 0..3 {
        opt.zero_grad();
        (&x * &x).sum(Kind::Float).backward();
        opt.average_grads(d).expect("average");
        opt.clip_and_step(0.1).expect("step");
    }
    Vec::<f32>::try_from(x.detach()).expect("values")
}

fn rank_body() {
    let d = Arc::new(gptlab_dist::Dist::from_env(Device::Cpu, Duration::from_secs(60)).expect("join").expect("env"));
    let (plain, plain_state) = train(&d, false);
    let (zero, zero_state) = train(&d, true);
    // the same operations on the same values, split by slice: equal bit for bit
    assert_eq!(plain, zero, "rank {}: parameters", d.rank());
    if let Some(z) = zero_state {
        // the parameter without a gradient kept the moments it was loaded with
        tch::manual_seed(7);
        let vs = nn::VarStore::new(Device::Cpu);
        let _ = model(&vs);
        let dir = tempfile::tempdir().expect("tmp");
        prior_state(&vs, &dir.path().join("prior.safetensors"));
        let prior: Vec<(String, Tensor)> = Tensor::read_safetensors(dir.path().join("prior.safetensors")).expect("read");
        for key in ["exp_avg.x_unused", "exp_avg_sq.x_unused"] {
            let want = prior.iter().find(|(n, _)| n == key).map(|(_, t)| Vec::<f32>::try_from(t.view([-1])).expect("values"));
            assert_eq!(z.iter().find(|(n, _)| n == key).map(|(_, v)| v.clone()), want, "{key}");
        }
        assert_eq!(plain_state, Some(z), "rank {}: saved moments", d.rank());
    }
    // the parameter without a gradient kept its initial value (no weight decay)
    tch::manual_seed(7);
    let init = model(&nn::VarStore::new(Device::Cpu));
    assert_eq!(&zero[36..43], Vec::<f32>::try_from(init[2].detach()).expect("values").as_slice());
    assert!(plain[..36] != *Vec::<f32>::try_from(Tensor::cat(&[init[0].view([-1]), init[1].detach()], 0)).expect("values"), "trained");
    assert_eq!(tiny(&d, false), tiny(&d, true), "rank {}: a model smaller than the world", d.rank());
    println!("rank {} ok", d.rank());
}

fn check(outs: Vec<Output>) {
    for (r, o) in outs.iter().enumerate() {
        let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        assert!(o.status.success() && text.contains(&format!("rank {r} ok")), "rank {r}:\n{text}");
    }
}

#[test]
fn two_ranks_with_sharded_moments_step_like_one_optimizer() {
    if std::env::var(ROLE).is_ok() {
        return rank_body();
    }
    check(spawn("two_ranks_with_sharded_moments_step_like_one_optimizer", 2));
}

#[test]
fn three_ranks_with_sharded_moments_step_like_one_optimizer() {
    if std::env::var(ROLE).is_ok() {
        return rank_body();
    }
    check(spawn("three_ranks_with_sharded_moments_step_like_one_optimizer", 3));
}

/// Four ranks for a 1-element model: rank 1's slice is all padding, ranks 2 and 3 start past
/// the end of the parameters.
#[test]
fn four_ranks_with_sharded_moments_step_like_one_optimizer() {
    if std::env::var(ROLE).is_ok() {
        return rank_body();
    }
    check(spawn("four_ranks_with_sharded_moments_step_like_one_optimizer", 4));
}
