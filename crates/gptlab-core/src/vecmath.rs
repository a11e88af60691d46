//! Math for loops the compiler vectorizes: Rust's `f32::exp` is a scalar libm call, which
//! keeps a loop over a row of logits scalar. No crate offers an `exp`
//! that inlines into plain loops on stable Rust, so this is written here.

/// `e^x` for `x ≤ 0` (below −87, where `e^x` leaves the normal range, it returns `e^−87`;
/// NaN stays NaN):
/// `x = n ln 2 + r` with `|r| ≤ ln 2 / 2` (Cody–Waite: ln 2 in two parts), `e^r` by Cephes'
/// `expf` polynomial (evaluated in Estrin's scheme, for a short dependency chain), `2^n` built
/// in the exponent bits. Relative error below 2.4e-7 (tested). Branch-free, so a loop calling
/// it vectorizes.
#[inline(always)]
pub fn exp_le0(x: f32) -> f32 {
    const MAGIC: f32 = 12_582_912.0; // 1.5 · 2^23: adding it rounds to an integer
    let x = if x < -87.0 { -87.0 } else { x };
    let t = x * std::f32::consts::LOG2_E + MAGIC;
    let n = t - MAGIC;
    let r = x - n * 0.693_359_4 + n * 2.121_944_4e-4;
    let r2 = r * r;
    let a = 1.666_666_5e-1 * r + 0.5;
    let b = 8.333_452e-3 * r + 4.166_579_6e-2;
    let c = 1.987_569_1e-4 * r + 1.398_2e-3;
    let p = (c * r2 + b) * r2 + a;
    let y = p * r2 + r + 1.0;
    let k = (t.to_bits() as i32).wrapping_sub(MAGIC.to_bits() as i32);
    y * f32::from_bits(((k + 127) << 23) as u32)
}

/// GELU in GPT-2's tanh form, `x · ½(1 + tanh u)` with `u = √(2/π)(x + 0.044715 x³)`,
/// computed as `x · σ(2u)` (the same function: `½(1 + tanh u) = σ(2u)`), with `σ` from
/// [`exp_le0`] of `−|2u|` so that neither branch cancels. Branch-free, so a loop calling it
/// vectorizes. Absolute error below `2e-6 · (1 + |x|)` against the f64 formula (tested).
#[inline(always)]
pub fn gelu_tanh(x: f32) -> f32 {
    const TWO_SQRT_2_OVER_PI: f32 = 1.595_769_2;
    let z = TWO_SQRT_2_OVER_PI * (x + 0.044_715 * x * x * x);
    let e = exp_le0(-z.abs());
    let s = if z >= 0.0 { 1.0 } else { e } / (1.0 + e);
    // below −88 σ(z) is under f32's normal range, which `exp_le0`'s clamp would keep it at:
    // 0 there, so that the far left tail gives −0 (and −∞ gives NaN, as the tanh form does)
    let s = if z < -88.0 { 0.0 } else { s };
    x * s
}

/// Independent partial sums per loop: two AVX2 registers' worth, so that consecutive adds do
/// not wait on each other.
pub const LANES: usize = 16;

/// The largest element (`−∞` for an empty slice; NaNs are skipped).
#[inline(always)]
pub fn max(x: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; LANES];
    let mut it = x.chunks_exact(LANES);
    for c in &mut it {
        for j in 0..LANES {
            acc[j] = if c[j] > acc[j] { c[j] } else { acc[j] };
        }
    }
    it.remainder().iter().chain(&acc).fold(f32::NEG_INFINITY, |a, &b| a.max(b))
}

/// The value of the IEEE half-precision number with bits `h` (every half is exactly an f32).
/// Branch-free, so a loop calling it vectorizes; `half::f16::to_f32` picks an instruction set
/// at run time for every value, which keeps such a loop scalar.
#[inline(always)]
pub fn f16_to_f32(h: u16) -> f32 {
    let h = u32::from(h);
    let (sign, em) = ((h & 0x8000) << 16, h & 0x7fff);
    // exponent and mantissa moved into f32's fields; times 2^112 the exponent is rebiased
    // (15 → 127), and a subnormal half (then an f32 subnormal) becomes its value
    let finite = (f32::from_bits(em << 13) * f32::from_bits(0x7780_0000)).to_bits();
    // infinities and NaNs: all exponent bits set, the mantissa kept
    let bits = if em >= 0x7c00 { (em << 13) | 0x7f80_0000 } else { finite };
    f32::from_bits(bits | sign)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_within_two_ulps_on_its_range() {
        let mut worst = 0f64;
        let mut x = -87.0f32;
        while x <= 0.0 {
            let want = f64::from(x).exp();
            worst = worst.max(((f64::from(exp_le0(x)) - want) / want).abs());
            x += 1.37e-3;
        }
        assert!(worst < 2.4e-7, "largest relative error {worst:e}");
        assert_eq!(exp_le0(0.0), 1.0);
        assert!(exp_le0(-1000.0) > 0.0 && exp_le0(-1000.0) < 2e-38);
        assert!(exp_le0(f32::NAN).is_nan());
    }

    #[test]
    fn gelu_tanh_matches_the_f64_formula() {
        let gelu = |x: f64| 0.5 * x * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (x + 0.044715 * x.powi(3))).tanh());
        let mut worst = 0f64;
        let mut x = -12.0f32;
        while x <= 12.0 {
            let err = (f64::from(gelu_tanh(x)) - gelu(f64::from(x))).abs() / (1.0 + f64::from(x).abs());
            worst = worst.max(err);
            x += 7.3e-4;
        }
        assert!(worst < 2e-6, "largest error {worst:e}");
        assert_eq!(gelu_tanh(0.0), 0.0);
        assert_eq!(gelu_tanh(30.0), 30.0);
        assert!(gelu_tanh(-30.0).abs() < 1e-30);
        assert!(gelu_tanh(f32::NAN).is_nan());
        assert_eq!(gelu_tanh(f32::INFINITY), f32::INFINITY);
        for x in [-1e36, f32::MIN] {
            assert_eq!(gelu_tanh(x), 0.0, "{x}");
        }
        assert!(gelu_tanh(f32::NEG_INFINITY).is_nan());
    }

    #[test]
    fn max_covers_the_tail() {
        let a: Vec<f32> = (0..37).map(|i| ((i * 13) % 37) as f32 - 18.0).collect();
        assert_eq!(max(&a), 18.0);
        assert_eq!(max(&a[..3]), a[..3].iter().copied().fold(f32::NEG_INFINITY, f32::max));
        assert_eq!(max(&[]), f32::NEG_INFINITY);
    }

    /// Every one of the 65,536 halves, against the `half` crate's conversion.
    #[test]
    fn f16_to_f32_is_exact_for_every_half() {
        for h in 0..=u16::MAX {
            let (got, want) = (f16_to_f32(h), half::f16::from_bits(h).to_f32());
            assert!(got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()), "{h:#06x}: {got:e} against {want:e}");
        }
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24), "the smallest subnormal");
        assert_eq!(f16_to_f32(0xfbff), -65504.0);
    }
}
