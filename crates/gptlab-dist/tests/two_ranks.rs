//! Collectives across real processes on loopback: each test re-runs this test binary as the
//! ranks of a small run (the child role is chosen by GPTLAB_DIST_TEST_ROLE), with the standard
//! environment variables set as a launcher would.

use gptlab_dist::{Dist, DistEnv, Error, GradReducer, ReduceOp};
use std::process::Output;
use std::time::{Duration, Instant};
use tch::{Device, Kind, Tensor};

const ROLE: &str = "GPTLAB_DIST_TEST_ROLE";

fn free_port() -> u16 {
    gptlab_dist::launch::free_port().expect("port")
}

/// Runs `test` of this binary as ranks `ranks` of a `world`-process run, all at once, with
/// as many Gloo lanes as ranks (so that the 3-rank run splits large tensors unevenly).
fn spawn(test: &str, role: &str, world: usize, ranks: &[usize]) -> Vec<Output> {
    spawn_at(test, role, world, ranks, free_port(), &world.to_string())
}

fn spawn_at(test: &str, role: &str, world: usize, ranks: &[usize], port: u16, lanes: &str) -> Vec<Output> {
    let exe = std::env::current_exe().expect("test binary");
    let args: Vec<String> = [test, "--exact", "--nocapture", "--test-threads=1"].map(String::from).to_vec();
    gptlab_dist::launch::run_ranks(&exe, &args, ranks, world, port, &[(ROLE, role), ("GPTLAB_GLOO_LANES", lanes)]).expect("run ranks")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn join(timeout: Duration) -> Dist {
    Dist::from_env(Device::Cpu, timeout).expect("join").expect("distributed env is set")
}

fn values(t: &Tensor) -> Vec<f64> {
    Vec::<f64>::try_from(t.to_kind(Kind::Double).reshape([-1])).expect("values")
}

fn rank_body() {
    let d = join(Duration::from_secs(60));
    let (r, w) = (d.rank() as f64, d.world_size() as f64);
    assert_eq!(d.backend(), "gloo");
    // sum and mean of (rank + 1) over the ranks
    let t = Tensor::full([5], r + 1.0, (Kind::Float, Device::Cpu));
    d.all_reduce(std::slice::from_ref(&t), ReduceOp::Sum).expect("sum");
    assert_eq!(values(&t), vec![w * (w + 1.0) / 2.0; 5]);
    let t = Tensor::full([3], r + 1.0, (Kind::Float, Device::Cpu));
    d.all_reduce(std::slice::from_ref(&t), ReduceOp::Avg).expect("avg");
    assert_eq!(values(&t), vec![(w + 1.0) / 2.0; 3]);
    let t = Tensor::full([2], r, (Kind::Float, Device::Cpu));
    d.all_reduce(std::slice::from_ref(&t), ReduceOp::Max).expect("max");
    assert_eq!(values(&t), vec![w - 1.0; 2]);
    // a tensor large enough to go as one piece per Gloo lane: every element summed, at the
    // pieces' boundaries too (exact: integers below 2^24)
    let rows = (gptlab_dist::SPLIT_MIN_BYTES / 4 / 5 + 1) as i64;
    let big = Tensor::arange(rows * 5, (Kind::Float, Device::Cpu)).view([rows, 5]) + r;
    d.all_reduce(std::slice::from_ref(&big), ReduceOp::Sum).expect("large sum");
    assert_eq!(big.size(), vec![rows, 5]);
    let got = values(&big);
    let bad = got.iter().enumerate().find(|(p, &v)| v != w * *p as f64 + w * (w - 1.0) / 2.0);
    assert!(bad.is_none(), "element {bad:?} of {}", got.len());
    // broadcast from the last rank
    let ts = [Tensor::full([4], r * 7.0, (Kind::Float, Device::Cpu)), Tensor::full([2, 2], r, (Kind::Int64, Device::Cpu))];
    d.broadcast(&ts, d.world_size() - 1).expect("broadcast");
    assert_eq!(values(&ts[0]), vec![(w - 1.0) * 7.0; 4]);
    assert_eq!(values(&ts[1]), vec![w - 1.0; 4]);
    // all-gather in rank order
    let g = d.all_gather(&Tensor::from_slice(&[r * 10.0, r * 10.0 + 1.0])).expect("gather");
    let got: Vec<Vec<f64>> = g.iter().map(values).collect();
    let want: Vec<Vec<f64>> = (0..d.world_size()).map(|k| vec![k as f64 * 10.0, k as f64 * 10.0 + 1.0]).collect();
    assert_eq!(got, want);
    // bucketed mean of tensors of several shapes, in buckets of 64 bytes (several buckets,
    // one tensor larger than a bucket): tensor i holds rank * (i + 1) + position
    let shapes: [&[i64]; 4] = [&[3], &[4, 5], &[1], &[2, 3, 2]];
    let grads: Vec<Tensor> = shapes.iter().enumerate().map(|(i, s)| Tensor::arange(s.iter().product::<i64>(), (Kind::Float, Device::Cpu)).view(*s) + r * (i as f64 + 1.0)).collect();
    d.all_reduce_bucketed(&grads, ReduceOp::Avg, 64).expect("bucketed");
    for (i, (g, s)) in grads.iter().zip(shapes).enumerate() {
        assert_eq!(g.size(), s.to_vec());
        let mean_rank = (w - 1.0) / 2.0;
        let want: Vec<f64> = (0..s.iter().product::<i64>()).map(|p| p as f64 + mean_rank * (i as f64 + 1.0)).collect();
        assert_eq!(values(g), want, "tensor {i}");
    }
    d.barrier().expect("barrier");
    println!("rank {} ok", d.rank());
}

/// Gradients averaged by a [`GradReducer`] while the backward pass runs: parameter i's
/// gradient on rank r is (r + 1)(i + 1) everywhere, so the mean is (w + 1)/2 · (i + 1); on the
/// third step parameter 2 gets no gradient (its bucket goes out when the pass is over).
fn reducer_body() {
    let d = join(Duration::from_secs(60));
    let (r, w) = (d.rank() as f64, d.world_size() as f64);
    let shapes: [&[i64]; 4] = [&[3], &[4, 5], &[1], &[2, 3]];
    let params: Vec<Tensor> = shapes.iter().map(|s| Tensor::zeros(*s, (Kind::Float, Device::Cpu)).set_requires_grad(true)).collect();
    // rank 1 builds its loss in the other order, so its gradients become ready in another
    // order than rank 0's: the buckets must still start in one shared order
    let loss = |skip: Option<usize>| -> Tensor {
        let mut l = Tensor::zeros([], (Kind::Float, Device::Cpu));
        let mut idx: Vec<usize> = (0..params.len()).filter(|&i| Some(i) != skip).collect();
        if d.rank() == 1 {
            idx.reverse();
        }
        for i in idx {
            l = l + params[i].sum(Kind::Float) * ((r + 1.0) * (i as f64 + 1.0));
        }
        l
    };
    // the first backward creates the gradients; they become views of one flat buffer, as the
    // optimizer binds them
    loss(None).backward();
    let total: i64 = params.iter().map(|p| p.numel() as i64).sum();
    let mut flat = Tensor::zeros([total], (Kind::Float, Device::Cpu));
    let mut at = vec![];
    let mut off = 0i64;
    tch::no_grad(|| {
        for p in &params {
            let n = p.numel() as i64;
            let mut view = flat.narrow(0, off, n).view(p.size().as_slice());
            view.copy_(&p.grad());
            p.grad().set_data(&view);
            at.push(off);
            off += n;
        }
    });
    let spec: Vec<(&Tensor, i64, i64)> = params.iter().zip(&at).map(|(p, &o)| (p, o, p.numel() as i64)).collect();
    // 8-byte buckets: three (parameters 0 and 1 alone, 2 and 3 together)
    let mut red = GradReducer::new(&d, &flat, &spec, 8).expect("reducer");
    assert!(red.buckets() >= 3, "{} buckets", red.buckets());
    for step in 0..4 {
        let _ = flat.zero_();
        let skip = (step == 2).then_some(2);
        // step 3 accumulates two micro-batches, only the second armed
        let micro = if step == 3 { 2.0 } else { 1.0 };
        if step == 3 {
            loss(None).backward();
        }
        red.arm().expect("arm");
        assert!(red.arm().is_err(), "armed twice");
        loss(skip).backward();
        let started = red.started_in_backward();
        red.finish(&d).expect("finish");
        // the hooks saw every bucket complete but the one holding the parameter left out, and
        // started all three during the pass when every parameter had a gradient
        assert_eq!(red.ready_in_backward(), if skip.is_some() { 2 } else { 3 }, "step {step}");
        if skip.is_none() {
            assert_eq!(started, 3, "step {step}");
        }
        for (i, p) in params.iter().enumerate() {
            let want = if skip == Some(i) { 0.0 } else { micro * (w + 1.0) / 2.0 * (i as f64 + 1.0) };
            assert_eq!(values(&p.grad()), vec![want; p.numel()], "step {step}, parameter {i}");
        }
    }
    // a gradient that is not its view of the buffer is refused
    let stray = Tensor::zeros([3], (Kind::Float, Device::Cpu)).set_requires_grad(true);
    stray.sum(Kind::Float).backward();
    let e = GradReducer::new(&d, &Tensor::zeros([3], (Kind::Float, Device::Cpu)), &[(&stray, 0, 3)], 16).expect_err("not a view");
    assert!(e.to_string().contains("not its view"), "{e}");
    d.barrier().expect("barrier");
    println!("rank {} ok", d.rank());
}

fn dies_body() {
    let d = join(Duration::from_secs(60));
    if d.rank() == 1 {
        std::process::exit(3);
    }
    let t0 = Instant::now();
    let t = Tensor::ones([4], (Kind::Float, Device::Cpu));
    // the first collective may still find the peer's socket open; one of a few must fail
    let mut err = None;
    for _ in 0..50 {
        if let Err(e) = d.all_reduce(std::slice::from_ref(&t), ReduceOp::Sum) {
            err = Some(e);
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let e = err.expect("a collective with a dead peer must fail");
    assert!(matches!(e, Error::Collective { .. }), "{e}");
    println!("PEER-ERROR after {:.1}s: {e}", t0.elapsed().as_secs_f64());
}

fn alone_body() {
    let t0 = Instant::now();
    let e = Dist::from_env(Device::Cpu, Duration::from_secs(3)).expect_err("nobody else arrives");
    assert!(matches!(e, Error::Rendezvous { .. }), "{e}");
    println!("ALONE-ERROR after {:.1}s: {e}", t0.elapsed().as_secs_f64());
}

#[test]
fn two_ranks_agree_on_every_collective() {
    match std::env::var(ROLE).as_deref() {
        Ok("collectives") => return rank_body(),
        Ok(_) => return,
        Err(_) => {}
    }
    for o in spawn("two_ranks_agree_on_every_collective", "collectives", 2, &[0, 1]) {
        assert!(o.status.success(), "{}", text(&o));
        assert!(text(&o).contains(" ok"), "{}", text(&o));
    }
}

#[test]
fn three_ranks_agree_on_every_collective() {
    match std::env::var(ROLE).as_deref() {
        Ok("collectives3") => return rank_body(),
        Ok(_) => return,
        Err(_) => {}
    }
    for o in spawn("three_ranks_agree_on_every_collective", "collectives3", 3, &[0, 1, 2]) {
        assert!(o.status.success(), "{}", text(&o));
    }
}

#[test]
fn gradients_are_averaged_while_the_backward_pass_runs() {
    match std::env::var(ROLE).as_deref() {
        Ok("reducer") => return reducer_body(),
        Ok(_) => return,
        Err(_) => {}
    }
    for o in spawn("gradients_are_averaged_while_the_backward_pass_runs", "reducer", 2, &[0, 1]) {
        assert!(o.status.success(), "{}", text(&o));
        assert!(text(&o).contains(" ok"), "{}", text(&o));
    }
}

#[test]
fn a_dead_peer_is_an_error_not_a_hang() {
    match std::env::var(ROLE).as_deref() {
        Ok("dies") => return dies_body(),
        Ok(_) => return,
        Err(_) => {}
    }
    let t0 = Instant::now();
    let outs = spawn("a_dead_peer_is_an_error_not_a_hang", "dies", 2, &[0, 1]);
    assert_eq!(outs[1].status.code(), Some(3), "{}", text(&outs[1]));
    let t = text(&outs[0]);
    assert!(outs[0].status.success() && t.contains("PEER-ERROR") && t.contains("all-reduce failed on rank 0 of 2"), "{t}");
    assert!(t0.elapsed() < Duration::from_secs(50), "took {:?}", t0.elapsed());
}

#[test]
fn a_peer_that_never_arrives_times_out_with_a_clear_error() {
    match std::env::var(ROLE).as_deref() {
        Ok("alone") => return alone_body(),
        Ok(_) => return,
        Err(_) => {}
    }
    let t0 = Instant::now();
    let outs = spawn("a_peer_that_never_arrives_times_out_with_a_clear_error", "alone", 2, &[0]);
    let t = text(&outs[0]);
    assert!(outs[0].status.success() && t.contains("ALONE-ERROR") && t.contains("could not join the run at 127.0.0.1"), "{t}");
    assert!(t0.elapsed() < Duration::from_secs(30), "took {:?}", t0.elapsed());
}

/// Ranks that would open different numbers of Gloo connection sets stop at once with an
/// error naming the variable, instead of waiting out the timeout.
#[test]
fn ranks_with_different_lanes_stop_with_a_clear_error() {
    match std::env::var(ROLE).as_deref() {
        Ok("lanes") => {
            let t0 = Instant::now();
            match Dist::from_env(Device::Cpu, Duration::from_secs(60)) {
                Ok(_) => println!("LANES-JOINED"),
                Err(e) => println!("LANES-ERROR after {:.1}s: {e}", t0.elapsed().as_secs_f64()),
            }
            return;
        }
        Ok(_) => return,
        Err(_) => {}
    }
    let port = free_port();
    let test = "ranks_with_different_lanes_stop_with_a_clear_error";
    let other = std::thread::spawn(move || spawn_at(test, "lanes", 2, &[1], port, "1"));
    let mut outs = spawn_at(test, "lanes", 2, &[0], port, "2");
    outs.extend(other.join().expect("rank 1"));
    for o in &outs {
        let t = text(o);
        assert!(t.contains("LANES-ERROR") && t.contains("GPTLAB_GLOO_LANES") && t.contains("differ"), "{t}");
        let secs: f64 = t.split("LANES-ERROR after ").nth(1).and_then(|r| r.split('s').next()).and_then(|x| x.parse().ok()).expect("elapsed");
        assert!(secs < 30.0, "{t}");
    }
}

#[test]
fn cuda_without_nccl_and_bad_env_are_errors() {
    if std::env::var(ROLE).is_ok() {
        return;
    }
    let env = DistEnv { rank: 0, world_size: 1, local_rank: 0, master_addr: "127.0.0.1".into(), master_port: free_port(), agent_store: false, gloo_lanes: 2 };
    if !cfg!(feature = "nccl") {
        let e = Dist::new(env.clone(), Device::Cuda(0), Duration::from_secs(5)).expect_err("no nccl").to_string();
        assert!(e.contains("--features cuda,nccl"), "{e}");
    } else if tch::Cuda::device_count() == 0 {
        // NCCL compiled in, no GPU on this host: refused before any rendezvous
        let e = Dist::new(env.clone(), Device::Cuda(0), Duration::from_secs(5)).expect_err("no gpu").to_string();
        assert!(e.contains("sees 0 CUDA device"), "{e}");
    }
    // a world of one needs no peer
    let d = Dist::new(env, Device::Cpu, Duration::from_secs(5)).expect("world of one");
    let t = Tensor::from_slice(&[1.0f32, 2.0]);
    d.all_reduce(std::slice::from_ref(&t), ReduceOp::Avg).expect("avg of one");
    assert_eq!(values(&t), vec![1.0, 2.0]);
}
