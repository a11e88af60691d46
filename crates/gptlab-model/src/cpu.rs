//! The MLP's bias and GELU applied in place, in one pass, to the output of its first matmul,
//! on the CPU at inference. libtorch would write the bias into the output before the GEMM
//! (`addmm`), then read it back and write a new tensor for the GELU (Sleef's `tanh`): three
//! passes over the widest activation of the model instead of one. The loop is plain Rust over
//! [`gptlab_core::vecmath::gelu_tanh`], compiled for the baseline, AVX2 + FMA and AVX-512 and
//! picked at run time (calling those builds is the `unsafe` here); the rows are split among
//! libtorch's own intra-op threads (`gptlab_dist::for_rows_mut`, which also hands out the
//! tensor's memory in place).

use gptlab_core::vecmath::gelu_tanh;
use tch::{Device, Kind, Tensor};

/// Elements per task on libtorch's thread pool: below this the pass runs on the calling thread.
const PARALLEL_MIN: usize = 1 << 16;

/// Whether [`bias_gelu_`] can run on `y`: a contiguous fp32 CPU tensor that autograd does not
/// track (under `no_grad`, or from inputs that need no gradient).
pub(crate) fn applies(y: &Tensor) -> bool {
    y.device() == Device::Cpu && y.kind() == Kind::Float && !y.requires_grad() && y.is_contiguous()
}

#[inline(always)]
fn rows_any(y: &mut [f32], bias: Option<&[f32]>) {
    match bias {
        Some(b) => {
            for row in y.chunks_exact_mut(b.len()) {
                for (v, &c) in row.iter_mut().zip(b) {
                    *v = gelu_tanh(*v + c);
                }
            }
        }
        None => y.iter_mut().for_each(|v| *v = gelu_tanh(*v)),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn rows_avx2(y: &mut [f32], bias: Option<&[f32]>) {
    rows_any(y, bias)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
fn rows_avx512(y: &mut [f32], bias: Option<&[f32]>) {
    rows_any(y, bias)
}

#[allow(unsafe_code)]
fn rows(y: &mut [f32], bias: Option<&[f32]>) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: as below, for AVX-512F (with AVX2 and FMA), all three checked just here.
        return unsafe { rows_avx512(y, bias) };
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: `rows_avx2` is safe code compiled for AVX2 and FMA, and this CPU has both
        // (checked just above); a `#[target_feature]` function may only be called where that holds.
        return unsafe { rows_avx2(y, bias) };
    }
    rows_any(y, bias)
}

/// `y ← gelu_tanh(y + bias)` in place, `y` `[N, W]` (any leading shape) and `bias` `[W]`, on a
/// tensor for which [`applies`] holds (a fresh matmul output).
pub(crate) fn bias_gelu_(y: &mut Tensor, bias: Option<&Tensor>) -> crate::Result<()> {
    let width = y.size().last().copied().unwrap_or(1).max(1) as usize;
    let bias: Option<Vec<f32>> = bias.map(|b| Vec::<f32>::try_from(b.to_kind(Kind::Float).reshape([-1]))).transpose()?;
    let bias = bias.as_deref();
    if bias.is_some_and(|b| b.len() != width) {
        return Err(crate::Error::Config(format!("a bias of {} elements for rows of {width}", bias.map_or(0, <[f32]>::len))));
    }
    gptlab_dist::for_rows_mut(y, width, (PARALLEL_MIN / width).max(1), &|part| rows(part, bias)).map_err(|e| crate::Error::Config(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(x: &Tensor, b: &Tensor) -> Tensor {
        (x + b).gelu("tanh")
    }

    /// Against libtorch's bias add and tanh GELU, on one thread and on three, with and without
    /// a bias, on a width that is not a multiple of the vector length.
    #[test]
    fn bias_gelu_equals_libtorch() {
        tch::manual_seed(3);
        for (rows, width) in [(1, 7), (5, 37), (700, 301)] {
            let x = Tensor::randn([rows, width], (Kind::Float, Device::Cpu)) * 4.0;
            let b = Tensor::randn([width], (Kind::Float, Device::Cpu));
            for threads in [1, 3] {
                tch::set_num_threads(threads);
                for bias in [Some(&b), None] {
                    let mut y = x.copy();
                    assert!(applies(&y));
                    bias_gelu_(&mut y, bias).expect("a contiguous fp32 tensor");
                    let want = reference(&x, &bias.map_or_else(|| Tensor::zeros([width], (Kind::Float, Device::Cpu)), Tensor::shallow_clone));
                    let err = f64::try_from((&y - &want).abs().max()).expect("a scalar");
                    assert!(err < 1e-5, "{rows}x{width}, {threads} threads, bias {}: {err:e}", bias.is_some());
                }
            }
        }
    }

    /// Every compiled variant this CPU can run gives the baseline's bits (Rust neither fuses
    /// nor reorders float operations).
    #[test]
    #[allow(unsafe_code)]
    fn the_dispatched_kernels_equal_the_baseline_one() {
        let x: Vec<f32> = (0..1000).map(|i| ((i * 7919) % 1000) as f32 * 0.02 - 10.0).collect();
        let b: Vec<f32> = (0..100).map(|i| i as f32 * 0.01 - 0.5).collect();
        let mut base = x.clone();
        rows_any(&mut base, Some(&b));
        let mut y = x.clone();
        rows(&mut y, Some(&b));
        assert_eq!(y, base);
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
                let mut y = x.clone();
                // SAFETY: this CPU has AVX2 and FMA (checked just above).
                unsafe { rows_avx2(&mut y, Some(&b)) };
                assert_eq!(y, base);
            }
            if std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
                let mut y = x.clone();
                // SAFETY: this CPU has AVX-512F, AVX2 and FMA (checked just above).
                unsafe { rows_avx512(&mut y, Some(&b)) };
                assert_eq!(y, base);
            }
        }
    }

    #[test]
    fn a_tracked_or_strided_tensor_is_left_to_libtorch() {
        let x = Tensor::randn([4, 6], (Kind::Float, Device::Cpu));
        assert!(!applies(&x.tr()));
        assert!(!applies(&x.to_kind(Kind::Double)));
        assert!(!applies(&x.set_requires_grad(true)));
    }
}
