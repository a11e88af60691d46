//! Token streams for language-model training: a corpus encoded once, split by position into
//! train and validation (first 1 − f / last f, as nanoGPT does), and random windows drawn
//! from it with a seeded RNG.

use crate::{Error, Result};
use gptlab_core::rng::Rng;
use tch::{Device, Kind, Tensor};

pub struct TokenSplit {
    pub train: Tensor,
    pub val: Tensor,
}

impl TokenSplit {
    /// Splits `ids` at `1 − val_fraction`. Each split must hold at least one window of
    /// `block + 1` tokens.
    pub fn new(ids: &[u32], val_fraction: f64, block: i64, device: Device) -> Result<Self> {
        if !(0.0..1.0).contains(&val_fraction) || val_fraction == 0.0 {
            return Err(Error::Data(format!("val_fraction must be in (0, 1), got {val_fraction}")));
        }
        let n = ids.len();
        let cut = ((n as f64) * (1.0 - val_fraction)) as usize;
        let need = block as usize + 1;
        if cut < need || n - cut < need {
            return Err(Error::Data(format!(
                "corpus has {n} tokens: too short for train/val windows of {need} tokens (val_fraction {val_fraction})"
            )));
        }
        let all: Vec<i64> = ids.iter().map(|&i| i as i64).collect();
        let t = Tensor::from_slice(&all).to_device(device);
        Ok(Self { train: t.narrow(0, 0, cut as i64), val: t.narrow(0, cut as i64, (n - cut) as i64) })
    }
}

/// `batch` random windows of `block + 1` tokens: inputs `[B, T]` and next-token targets `[B, T]`.
pub fn random_windows(data: &Tensor, batch: usize, block: i64, rng: &mut Rng) -> (Tensor, Tensor) {
    shard_windows(data, batch, block, rng, 0..batch)
}

/// Windows `keep` of `batch` random windows: `rng` advances over all `batch` draws (every
/// data-parallel rank draws the same global batch and keeps its own part of it).
pub fn shard_windows(data: &Tensor, batch: usize, block: i64, rng: &mut Rng, keep: std::ops::Range<usize>) -> (Tensor, Tensor) {
    let n = data.size()[0];
    let max_start = (n - block - 1).max(0) as u64 + 1;
    let all: Vec<i64> = (0..batch).map(|_| rng.below(max_start) as i64).collect();
    let starts = &all[keep];
    let batch = starts.len();
    let dev = data.device();
    let offs = Tensor::arange(block + 1, (Kind::Int64, dev)).unsqueeze(0);
    let idx = Tensor::from_slice(starts).to_device(dev).unsqueeze(1) + offs;
    let w = data.index_select(0, &idx.view([-1])).view([batch as i64, block + 1]);
    (w.narrow(1, 0, block), w.narrow(1, 1, block))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_and_windows() {
        let ids: Vec<u32> = (0..100).collect();
        let s = TokenSplit::new(&ids, 0.1, 4, Device::Cpu).expect("split");
        assert_eq!(s.train.size(), [90]);
        assert_eq!(s.val.int64_value(&[0]), 90);
        let mut rng = Rng::new(0);
        let (x, y) = random_windows(&s.train, 3, 4, &mut rng);
        assert_eq!(x.size(), [3, 4]);
        for b in 0..3 {
            for t in 0..4 {
                assert_eq!(y.int64_value(&[b, t]), x.int64_value(&[b, t]) + 1);
            }
        }
        assert!(TokenSplit::new(&ids[..8], 0.1, 4, Device::Cpu).is_err());
    }
}
