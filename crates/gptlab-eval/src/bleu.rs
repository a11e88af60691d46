//! BLEU of code samples against a reference solution, and how well it separates correct from
//! incorrect samples (Codex, §3.4 and Figure 14: functionally correct and incorrect samples
//! have overlapping BLEU distributions, so a match-based score misses functional
//! correctness).
//!
//! The score is the `bleuscore` crate's BLEU-4 (Papineni et al. 2002, the 13a tokenizer and
//! HF `evaluate`'s add-one smoothing of the 2- to 4-gram precisions, so a short sample does not
//! score 0 for want of one 4-gram match), one sample against one reference.

use serde::Serialize;

/// Sentence-level BLEU-4 of `candidate` against `reference`, in [0, 1]; 0 for an empty
/// candidate.
pub fn sentence_bleu(candidate: &str, reference: &str) -> f64 {
    if candidate.trim().is_empty() || reference.trim().is_empty() {
        return 0.0;
    }
    let s = bleuscore::compute_score(&[vec![reference.to_string()]], &[candidate.to_string()], 4, true, bleuscore::RefLenMethod::Shortest);
    if s.bleu.is_finite() { s.bleu } else { 0.0 }
}

/// BLEU of the passing and the failing samples side by side.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BleuVsPass {
    pub passed: usize,
    pub failed: usize,
    pub mean_bleu_passed: f64,
    pub mean_bleu_failed: f64,
    /// The probability that a random passing sample has a higher BLEU than a random failing one
    /// of the same problem (ties count half), over problems with both: 0.5 means BLEU does not
    /// tell them apart, 1.0 that it always does.
    pub auc_within_problem: f64,
    /// Problems with both passing and failing samples (those the AUC covers).
    pub problems_with_both: usize,
    /// Share of samples per BLEU decile (`[0, 0.1)`, …, `[0.9, 1]`), passing and failing.
    pub histogram_passed: Vec<f64>,
    pub histogram_failed: Vec<f64>,
}

/// Summarises (problem, BLEU, passed) triples.
pub fn bleu_vs_pass(samples: &[(String, f64, bool)]) -> BleuVsPass {
    let mean = |pass: bool| {
        let v: Vec<f64> = samples.iter().filter(|s| s.2 == pass).map(|s| s.1).collect();
        if v.is_empty() { f64::NAN } else { v.iter().sum::<f64>() / v.len() as f64 }
    };
    let hist = |pass: bool| {
        let mut h = vec![0.0; 10];
        let n = samples.iter().filter(|s| s.2 == pass).count();
        for s in samples.iter().filter(|s| s.2 == pass) {
            h[((s.1 * 10.0).floor() as usize).min(9)] += 1.0 / n as f64;
        }
        h
    };
    let mut by_problem: std::collections::BTreeMap<&str, (Vec<f64>, Vec<f64>)> = Default::default();
    for (p, b, ok) in samples {
        let e = by_problem.entry(p.as_str()).or_default();
        if *ok { e.0.push(*b) } else { e.1.push(*b) }
    }
    let aucs: Vec<f64> = by_problem
        .values()
        .filter(|(p, f)| !p.is_empty() && !f.is_empty())
        .map(|(p, f)| {
            let wins: f64 = p.iter().flat_map(|x| f.iter().map(move |y| if x > y { 1.0 } else if x == y { 0.5 } else { 0.0 })).sum();
            wins / (p.len() * f.len()) as f64
        })
        .collect();
    BleuVsPass {
        passed: samples.iter().filter(|s| s.2).count(),
        failed: samples.iter().filter(|s| !s.2).count(),
        mean_bleu_passed: mean(true),
        mean_bleu_failed: mean(false),
        auc_within_problem: if aucs.is_empty() { f64::NAN } else { aucs.iter().sum::<f64>() / aucs.len() as f64 },
        problems_with_both: aucs.len(),
        histogram_passed: hist(true),
        histogram_failed: hist(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_text_scores_one_and_unrelated_text_near_zero() {
        let r = "    return sum(x for x in numbers if x % 2 == 0)\n";
        assert!((sentence_bleu(r, r) - 1.0).abs() < 1e-9);
        let near = sentence_bleu("    return sum(x for x in numbers if x % 2 == 1)\n", r);
        let far = sentence_bleu("    while True:\n        pass\n", r);
        assert!(near > 0.5 && near < 1.0, "{near}");
        assert!(far < 0.1, "{far}");
        assert_eq!(sentence_bleu("", r), 0.0);
    }

    #[test]
    fn auc_counts_within_problem_pairs() {
        let s = |p: &str, b: f64, ok: bool| (p.to_string(), b, ok);
        // problem A: passing 0.9 beats failing 0.1 and 0.5 → 1.0; problem B: 0.2 vs 0.8 → 0.0
        let v = vec![s("A", 0.9, true), s("A", 0.1, false), s("A", 0.5, false), s("B", 0.2, true), s("B", 0.8, false), s("C", 0.3, false)];
        let r = bleu_vs_pass(&v);
        assert_eq!((r.passed, r.failed, r.problems_with_both), (2, 4, 2));
        assert!((r.auc_within_problem - 0.5).abs() < 1e-12);
        assert!((r.mean_bleu_passed - 0.55).abs() < 1e-12);
        assert!((r.histogram_passed.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!((r.histogram_failed[1] - 0.25).abs() < 1e-12);
        let tie = bleu_vs_pass(&[s("A", 0.4, true), s("A", 0.4, false)]);
        assert_eq!(tie.auc_within_problem, 0.5);
    }
}
