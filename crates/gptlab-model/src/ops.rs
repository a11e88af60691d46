//! Tensor math that more than one objective needs, each with a test against a slow reference.

use tch::{Kind, Reduction, Tensor};

/// Index used for positions that take no part in a loss.
pub const IGNORE: i64 = -1;

/// Mean cross-entropy of logits `[.., V]` against targets `[..]`, skipping [`IGNORE`] targets.
pub fn cross_entropy(logits: &Tensor, targets: &Tensor) -> Tensor {
    let v = logits.size().last().copied().unwrap_or(1);
    logits
        .reshape([-1, v])
        .to_kind(Kind::Float)
        .cross_entropy_loss::<Tensor>(&targets.reshape([-1]), None, Reduction::Mean, IGNORE, 0.0)
}

/// Log-probability of each given token: `log softmax(logits)[.., targets]`, shape of `targets`.
/// Ignored targets (`-1`) get 0.
pub fn token_logprobs(logits: &Tensor, targets: &Tensor) -> Tensor {
    let lp = logits.to_kind(Kind::Float).log_softmax(-1, Kind::Float);
    let safe = targets.clamp_min(0);
    let out = lp.gather(-1, &safe.unsqueeze(-1), false).squeeze_dim(-1);
    out * targets.ge(0).to_kind(Kind::Float)
}

/// Mean of `x` over positions where `mask` is 1 (all positions when the mask is empty → 0).
pub fn masked_mean(x: &Tensor, mask: &Tensor) -> Tensor {
    let m = mask.to_kind(Kind::Float);
    (x * &m).sum(Kind::Float) / m.sum(Kind::Float).clamp_min(1.0)
}

/// Entropy of the categorical distribution given by logits `[.., V]`, shape `[..]`.
pub fn entropy(logits: &Tensor) -> Tensor {
    let lp = logits.to_kind(Kind::Float).log_softmax(-1, Kind::Float);
    -(lp.exp() * &lp).sum_dim_intlist(-1, false, Kind::Float)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logprobs_match_slow_reference() {
        tch::manual_seed(1);
        let logits = Tensor::randn([2, 3, 5], (Kind::Float, tch::Device::Cpu));
        let targets = Tensor::from_slice(&[0i64, 4, 2, 1, -1, 3]).view([2, 3]);
        let fast = token_logprobs(&logits, &targets);
        for b in 0..2 {
            for t in 0..3 {
                let tgt = targets.int64_value(&[b, t]);
                let row: Vec<f64> = (0..5).map(|v| logits.double_value(&[b, t, v])).collect();
                let lse = row.iter().map(|x| x.exp()).sum::<f64>().ln();
                let want = if tgt < 0 { 0.0 } else { row[tgt as usize] - lse };
                assert!((fast.double_value(&[b, t]) - want).abs() < 1e-5);
            }
        }
        // cross-entropy is minus the mean over non-ignored targets
        let ce = cross_entropy(&logits, &targets).double_value(&[]);
        let mean = -fast.sum(Kind::Float).double_value(&[]) / 5.0;
        assert!((ce - mean).abs() < 1e-5);
    }

    #[test]
    fn masked_mean_and_entropy() {
        let x = Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0]);
        let m = Tensor::from_slice(&[1.0f32, 0.0, 1.0, 0.0]);
        assert!((masked_mean(&x, &m).double_value(&[]) - 2.0).abs() < 1e-6);
        let uniform = Tensor::zeros([4], (Kind::Float, tch::Device::Cpu));
        assert!((entropy(&uniform).double_value(&[]) - 4f64.ln()).abs() < 1e-6);
    }
}
