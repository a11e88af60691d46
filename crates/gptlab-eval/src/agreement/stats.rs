//! The statistics behind [`super`]: rankings as positions, agreement of two rankings on output
//! pairs, Kendall's τ-b, and Krippendorff's α from a coincidence matrix (Krippendorff 2011,
//! "Computing Krippendorff's Alpha-Reliability").

use serde::Serialize;
use std::cmp::Ordering;

/// Each output's tie-group index (0 = best group) when `ranking` partitions `0..k` into
/// non-empty groups; `None` otherwise.
pub fn group_index(ranking: &[Vec<usize>], k: usize) -> Option<Vec<usize>> {
    let mut pos = vec![usize::MAX; k];
    for (g, group) in ranking.iter().enumerate() {
        if group.is_empty() {
            return None;
        }
        for &i in group {
            match pos.get_mut(i) {
                Some(p) if *p == usize::MAX => *p = g,
                _ => return None,
            }
        }
    }
    pos.iter().all(|&p| p != usize::MAX).then_some(pos)
}

/// Twice each output's average rank (ranks 1-based, best = 1): a group of `t` tied outputs
/// after `s` better ones shares the ranks `s+1..=s+t`, whose mean is `s + (t+1)/2`; doubled it
/// is the integer `2s + t + 1`. Indices outside `0..k` are ignored.
pub fn doubled_average_ranks(ranking: &[Vec<usize>], k: usize) -> Vec<usize> {
    let mut out = vec![0; k];
    let mut s = 0;
    for group in ranking {
        for &i in group {
            if let Some(o) = out.get_mut(i) {
                *o = 2 * s + group.len() + 1;
            }
        }
        s += group.len();
    }
    out
}

/// Agreement of two rankings (given as [`group_index`]es of the same outputs) over the output
/// pairs `i < j`, each judged as "i better", "tie" or "j better": returns (pairs with the same
/// judgement, the same with a tie against a strict order counting ½, number of pairs).
pub fn pair_agreement(a: &[usize], b: &[usize]) -> (f64, f64, usize) {
    let (mut strict, mut half, mut n) = (0.0, 0.0, 0);
    let k = a.len().min(b.len());
    for i in 0..k {
        for j in i + 1..k {
            let (x, y) = (a[i].cmp(&a[j]), b[i].cmp(&b[j]));
            n += 1;
            if x == y {
                strict += 1.0;
                half += 1.0;
            } else if x == Ordering::Equal || y == Ordering::Equal {
                half += 0.5;
            }
        }
    }
    (strict, half, n)
}

/// Kendall's τ-b of two paired samples: (C − D) / sqrt((n0 − n1)(n0 − n2)), with C and D the
/// concordant and discordant pairs, n0 = n(n−1)/2 and n1, n2 the pairs tied in `x`, in `y`
/// (a pair tied in either is neither concordant nor discordant). `None` when a sample is all
/// one value (the denominator is 0).
pub fn kendall_tau_b(x: &[f64], y: &[f64]) -> Option<f64> {
    let n = x.len().min(y.len());
    let (mut c, mut d, mut tied_x, mut tied_y) = (0i64, 0i64, 0i64, 0i64);
    for i in 0..n {
        for j in i + 1..n {
            let (sx, sy) = (x[i].total_cmp(&x[j]), y[i].total_cmp(&y[j]));
            tied_x += i64::from(sx == Ordering::Equal);
            tied_y += i64::from(sy == Ordering::Equal);
            match (sx, sy) {
                (Ordering::Equal, _) | (_, Ordering::Equal) => {}
                (p, q) if p == q => c += 1,
                _ => d += 1,
            }
        }
    }
    let n0 = (n * n.saturating_sub(1) / 2) as i64;
    let denom = ((n0 - tied_x) as f64 * (n0 - tied_y) as f64).sqrt();
    (denom > 0.0).then(|| (c - d) as f64 / denom)
}

/// Krippendorff's difference functions δ²(c, k) (levels of measurement).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// 0 for equal values, 1 otherwise.
    Nominal,
    /// (Σ_{g=c..k} n_g − (n_c + n_k)/2)²: how many pairable values lie between c and k, so
    /// only the values' order and frequencies matter, not their distances.
    Ordinal,
    /// (c − k)².
    Interval,
    /// ((c − k)/(c + k))².
    Ratio,
}

/// A coincidence matrix over the sorted distinct `values`: `o[c·V + k]` sums, over units with
/// m ≥ 2 values, the ordered pairs of values (c, k) from different observers weighted
/// 1/(m − 1), so each pairable value contributes 1 to its row's total.
#[derive(Debug, Clone, PartialEq)]
pub struct Coincidences {
    pub values: Vec<f64>,
    pub o: Vec<f64>,
}

impl Coincidences {
    pub fn new(values: Vec<f64>) -> Self {
        let v = values.len();
        Self { values, o: vec![0.0; v * v] }
    }

    /// A matrix of reliability data: one list of values per unit (missing values left out).
    pub fn from_units(units: &[Vec<f64>]) -> Self {
        let mut values: Vec<f64> = units.iter().flatten().copied().collect();
        values.sort_by(f64::total_cmp);
        values.dedup();
        let mut m = Self::new(values);
        for unit in units {
            let idx: Vec<usize> = unit.iter().filter_map(|x| m.values.binary_search_by(|v| v.total_cmp(x)).ok()).collect();
            m.add_unit(&idx);
        }
        m
    }

    /// Adds one unit, given as indices into `values` of its values; a unit with fewer than 2
    /// values is not pairable and adds nothing. Indices out of range are ignored.
    pub fn add_unit(&mut self, idx: &[usize]) {
        let (v, m) = (self.values.len(), idx.len());
        if m < 2 || idx.iter().any(|&i| i >= v) {
            return;
        }
        let w = 1.0 / (m - 1) as f64;
        for (a, &c) in idx.iter().enumerate() {
            for (b, &k) in idx.iter().enumerate() {
                if a != b {
                    self.o[c * v + k] += w;
                }
            }
        }
    }

    /// n.., the number of pairable values.
    pub fn pairable(&self) -> f64 {
        self.o.iter().sum()
    }

    /// α = 1 − D_o/D_e with D_o = Σ o_ck δ²_ck / n and D_e = Σ n_c n_k δ²_ck / (n(n − 1)),
    /// n_c the row totals and n = n..; `None` when fewer than 2 values are pairable or D_e = 0
    /// (all pairable values equal).
    pub fn alpha(&self, metric: Metric) -> Option<f64> {
        let v = self.values.len();
        let marg: Vec<f64> = (0..v).map(|c| self.o[c * v..(c + 1) * v].iter().sum()).collect();
        let n: f64 = marg.iter().sum();
        if n < 2.0 {
            return None;
        }
        let (mut observed, mut expected) = (0.0, 0.0);
        for c in 0..v {
            for k in 0..v {
                let d = self.delta2(metric, &marg, c, k);
                observed += self.o[c * v + k] * d;
                expected += marg[c] * marg[k] * d;
            }
        }
        let expected = expected / (n - 1.0);
        (expected > 0.0).then(|| 1.0 - observed / expected)
    }

    fn delta2(&self, metric: Metric, marg: &[f64], c: usize, k: usize) -> f64 {
        let (x, y) = (self.values[c], self.values[k]);
        match metric {
            Metric::Nominal => f64::from(u8::from(c != k)),
            Metric::Ordinal => {
                let (lo, hi) = (c.min(k), c.max(k));
                let between: f64 = marg[lo..=hi].iter().sum::<f64>() - (marg[lo] + marg[hi]) / 2.0;
                between * between
            }
            Metric::Interval => (x - y) * (x - y),
            Metric::Ratio if x + y == 0.0 => 0.0,
            Metric::Ratio => ((x - y) / (x + y)).powi(2),
        }
    }
}

/// Krippendorff's α of reliability data given as one list of values per unit (see
/// [`Coincidences::alpha`]).
pub fn krippendorff_alpha(units: &[Vec<f64>], metric: Metric) -> Option<f64> {
    Coincidences::from_units(units).alpha(metric)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: Option<f64>, b: f64, tol: f64) -> bool {
        a.is_some_and(|a| (a - b).abs() < tol)
    }

    /// Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: 4
    /// observers, 12 units, values 1–5, missing data (unit 12 has one value, so it is not
    /// pairable). Published: nominal .743, ordinal .815, interval .849, ratio .797; the
    /// `krippendorff` Python package (0.8) gives 0.7434, 0.8154, 0.8491, 0.7974 on it.
    #[test]
    fn alpha_matches_krippendorffs_worked_example() {
        let rows: [[f64; 12]; 4] = [
            [1., 2., 3., 3., 2., 1., 4., 1., 2., f64::NAN, f64::NAN, f64::NAN],
            [1., 2., 3., 3., 2., 2., 4., 1., 2., 5., f64::NAN, 3.],
            [f64::NAN, 3., 3., 3., 2., 3., 4., 2., 2., 5., 1., f64::NAN],
            [1., 2., 3., 3., 2., 4., 4., 1., 2., 5., 1., f64::NAN],
        ];
        let units: Vec<Vec<f64>> = (0..12).map(|u| rows.iter().map(|r| r[u]).filter(|x| !x.is_nan()).collect()).collect();
        assert!(close(krippendorff_alpha(&units, Metric::Nominal), 0.743, 5e-4));
        assert!(close(krippendorff_alpha(&units, Metric::Ordinal), 0.815, 5e-4));
        assert!(close(krippendorff_alpha(&units, Metric::Interval), 0.849, 5e-4));
        assert!(close(krippendorff_alpha(&units, Metric::Ratio), 0.797, 5e-4));
        assert_eq!(Coincidences::from_units(&units).pairable(), 40.0);
        // perfect agreement, and nothing to compare
        assert_eq!(krippendorff_alpha(&[vec![1.0, 1.0], vec![2.0, 2.0]], Metric::Ordinal), Some(1.0));
        assert_eq!(krippendorff_alpha(&[vec![1.0, 1.0], vec![1.0]], Metric::Ordinal), None);
    }

    /// Reference values: scipy.stats.kendalltau (scipy 1.17.1, variant 'b') on the average
    /// ranks of the tie groups.
    #[test]
    fn tau_b_matches_scipy_on_tied_rankings() {
        let ranks = |r: &[Vec<usize>], k: usize| -> Vec<f64> { doubled_average_ranks(r, k).iter().map(|&d| d as f64 / 2.0).collect() };
        type Ranking = Vec<Vec<usize>>;
        let cases: [(Ranking, Ranking, f64); 5] = [
            (vec![vec![0], vec![1], vec![2], vec![3]], vec![vec![0], vec![2], vec![1], vec![3]], 0.6666666666666669),
            (vec![vec![0], vec![1, 2], vec![3]], vec![vec![0], vec![1], vec![2], vec![3]], 0.912870929175277),
            (vec![vec![0, 1], vec![2], vec![3]], vec![vec![2, 3], vec![0, 1]], -0.8944271909999159),
            (vec![vec![1], vec![0], vec![2, 3], vec![4]], vec![vec![0], vec![1, 2], vec![3, 4]], 0.5892556509887896),
            (vec![vec![0], vec![1, 2]], vec![vec![0, 1], vec![2]], 0.49999999999999994),
        ];
        for (a, b, want) in cases {
            let k = a.iter().map(Vec::len).sum();
            let got = kendall_tau_b(&ranks(&a, k), &ranks(&b, k));
            assert!(close(got, want, 1e-12), "{a:?} {b:?}: {got:?} vs {want}");
        }
        assert_eq!(kendall_tau_b(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]), Some(-1.0));
        assert_eq!(kendall_tau_b(&[2.0, 2.0, 2.0], &[1.0, 2.0, 3.0]), None, "all one tie: undefined");
    }

    #[test]
    fn positions_and_pair_agreement() {
        assert_eq!(group_index(&[vec![2], vec![0, 1], vec![3]], 4), Some(vec![1, 1, 0, 2]));
        assert_eq!(doubled_average_ranks(&[vec![2], vec![0, 1], vec![3]], 4), vec![5, 5, 2, 8]);
        for bad in [vec![vec![0], vec![0, 1]], vec![vec![0], vec![]], vec![vec![0], vec![2]], vec![vec![0]]] {
            assert_eq!(group_index(&bad, 2), None, "{bad:?}");
        }
        // 0 > 1 > 2 against (0 = 1) > 2: pair (0,1) is a tie against a strict order
        let (a, b) = (vec![0, 1, 2], vec![0, 0, 1]);
        assert_eq!(pair_agreement(&a, &b), (2.0, 2.5, 3));
        // reversed: every pair opposite
        assert_eq!(pair_agreement(&a, &[2, 1, 0]), (0.0, 0.0, 3));
        // both tie a pair: full agreement
        assert_eq!(pair_agreement(&b, &b), (3.0, 3.0, 3));
    }
}
