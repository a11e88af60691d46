//! Two independent pieces of tensor work side by side on the CPU.
//!
//! PPO trains two separate models on each minibatch (the policy and the value model), and
//! scores each rollout with three (reference, value, reward). At the sizes gptlab trains on a
//! CPU these ops are small: libtorch's intra-op threads (OpenMP) split each matmul and each
//! elementwise op and meet at a barrier after it, so two threads on one small op do well
//! short of twice the work of one. Running the two models at once, each on its share of the
//! threads, keeps every core busy on its own model instead (BENCHMARKS.md, "PPO vs TRL").
//!
//! The split applies on the CPU with at least two libtorch threads; otherwise the two pieces
//! run one after the other. Either way each piece computes exactly what it would
//! alone: they share no tensors that either writes.

use tch::Device;

/// Runs `a` on this thread and `b` on a second one at once, each with half of libtorch's
/// CPU threads, then restores the thread count; sequentially (`a` then `b`) when `device`
/// is not the CPU or libtorch has fewer than two threads. A panic in `b` is re-raised here.
///
/// Grad mode is per thread in libtorch: `b` starts with gradients enabled, so a `b` that
/// must not record them wraps itself in `tch::no_grad`.
pub fn side_by_side<A, B, RA, RB>(device: Device, a: A, b: B) -> (RA, RB)
where
    A: FnOnce() -> RA,
    B: FnOnce() -> RB + Send,
    RB: Send,
{
    let n = tch::get_num_threads();
    if device != Device::Cpu || n < 2 {
        let ra = a();
        return (ra, b());
    }
    tch::set_num_threads(n / 2);
    let out = std::thread::scope(|s| {
        let hb = s.spawn(move || {
            // a fresh thread picks up the process-wide count on its first op; set it here so
            // its first matmul (MKL) and OpenMP region already see it
            tch::set_num_threads(n / 2);
            b()
        });
        let ra = a();
        (ra, hb.join())
    });
    tch::set_num_threads(n);
    match out {
        (ra, Ok(rb)) => (ra, rb),
        (_, Err(panic)) => std::panic::resume_unwind(panic),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Kind, Tensor};

    #[test]
    fn pieces_compute_what_they_compute_alone_panics_propagate_threads_are_restored() {
        let before = tch::get_num_threads();
        tch::manual_seed(3);
        let x = Tensor::randn([64, 96], (Kind::Float, Device::Cpu));
        let w = Tensor::randn([96, 32], (Kind::Float, Device::Cpu));
        let want_a = x.matmul(&w).sum(Kind::Float).double_value(&[]);
        let want_b = x.tanh().mean(Kind::Float).double_value(&[]);
        let xb = x.shallow_clone();
        let (a, b) = side_by_side(Device::Cpu, || x.matmul(&w).sum(Kind::Float).double_value(&[]), move || xb.tanh().mean(Kind::Float).double_value(&[]));
        assert!((a - want_a).abs() <= 1e-6 * want_a.abs().max(1.0), "{a} vs {want_a}");
        assert!((b - want_b).abs() <= 1e-9, "{b} vs {want_b}");
        assert_eq!(tch::get_num_threads(), before);
        // gradients recorded on the second thread are its own
        let p = Tensor::ones([3], (Kind::Float, Device::Cpu)).set_requires_grad(true);
        let p2 = p.shallow_clone();
        let ((), g) = side_by_side(
            Device::Cpu,
            || (),
            move || {
                (&p2 * 2.0).sum(Kind::Float).backward();
                p2.grad().sum(Kind::Float).double_value(&[])
            },
        );
        assert_eq!(g, 6.0);
        // a panic on the second thread reaches the caller, the thread count restored
        // (one test: the count is process-wide, and tests run at once)
        let r = std::panic::catch_unwind(|| side_by_side(Device::Cpu, || 1, || -> i32 { panic!("b failed") }));
        assert!(r.is_err());
        assert_eq!(tch::get_num_threads(), before);
    }
}
