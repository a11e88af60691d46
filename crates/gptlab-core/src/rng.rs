//! A small seeded RNG (SplitMix64) whose whole state is one `u64`, so it can be saved in a
//! checkpoint and a resumed run draws exactly the batches it would have drawn.
//!
//! # Seeds
//! Every random choice of a run comes from its one seed (`train.seed`, `--seed`) through named
//! streams: [`Rng::stream`]`(seed, name)` starts the stream `name` at [`stream_seed`]`(seed,
//! name)`, the seed mixed with the FNV-1a hash of the name by one SplitMix64 step. The same
//! seed and name always give the same stream; different names give unrelated streams. The
//! names in use:
//!
//! | stream | draws |
//! |---|---|
//! | `<stage>/loop` | a training loop's batches (pretrain windows; PPO's prompt order and rollouts) |
//! | `pretrain/eval` | the pretraining validation windows (the same at every evaluation) |
//! | `sft/epoch/<e>`, `rm/epoch/<e>` | the order of epoch `e`'s examples |
//! | `batch/<i>` | the sampling seed of chat batch `i` (`gptlab-engine`) |
//! | `world/data` | a world's corpus, prompts and demonstrations (its knowledge base and labelers come from the world seed itself) |
//! | `label/sample/<j>`, `label/rank` | the j-th sample per prompt for the labelers, their rankings |
//! | `label/tasks/sample/<j>`, `label/tasks/overlap` | `gptlab label tasks`: the j-th output of a ranking task, which tasks are overlap tasks |
//! | `demo/label/<round>` | the seed of the demo's comparison round |
//! | `eval/sample/<j>`, `eval/labelers` | win-rate replies, the held-out labelers' perception |
//! | `eval/tasks/text`, `eval/tasks/choices` | the public tasks' held-out sentences, their distractors and answer positions (`gptlab-eval`'s `world::tasks`) |
//! | `code/<task>/<n>` | the sampling seed of a problem's completions from the n-th on |
//! | `data/split` | the users' order when a prompt dataset is split by user |
//! | `data/tasks/<family>`, `data/tasks/<family>/test` | a task family's training and test problems (`gptlab data tasks`) |
//! | `rm/split` | the prompts' order when the RM's comparisons are split by prompt |
//! | `label/agreement` | the other labelers' rankings when agreement with recorded ones is measured |
//! | `label/agreement/bootstrap/<group>` | the item resamples of an agreement report's intervals, `<group>` = `labelers`, `held_out`, `all` (`gptlab-eval`'s `agreement`) |
//! | `choice/<k>` | the sampling seed of choice `k` of a served request, from the request's `seed` (`gptlab-serve`) |
//! | `serve/seed` | a served request's seed when it gives none (from the clock and a counter) |
//! | `ppo/reward/unit_tests`, `code/reward/<call>/<i>` | the unit-test reward's seed, and the nonce that marks sample `i`'s assert count in reward call `call` (`gptlab-code`'s `reward`) |
//! | `codex/code_sample`, `codex/sft_split` | the Codex demo's sample of code files, and its Codex-S train/validation split |
//! | `detect/make-set/<decoding>/<batch>` | the sampling seed of a detection set's model texts (`gptlab detect make-set`) |
//! | `detect/eval/split`, `detect/eval/model-split` | the human texts' split into calibration and test, and model texts without `prefix_of` (`gptlab detect eval`) |
//! | `detect/eval/bootstrap` | the resamples of a detector evaluation's AUROC intervals, restarted for every cell (`gptlab-eval`'s `detect_eval`) |
//! | `codex/<tag>` | the sampling seed of the Codex demo's samples file `<tag>` (e.g. `codex_s_t0.8`) |
//! | `detect/test/monte_carlo` | the Monte-Carlo samples that check Fast-DetectGPT's analytic criterion (`gptlab-eval`'s `detect` tests) |
//! | `watermark/<KEY>` | with seed 0: the hash key of the green-list watermark keyed by the string `KEY` (`gptlab-engine`'s `watermark`; `--watermark KEY`) |
//!
//! | `rank/<r>` of a draw | PPO's rollout sampling seed on data-parallel rank `r` > 0: the stream `rank/<r>` of the seed the shared loop stream drew (rank 0 samples with the draw itself) |
//! | `torch/rank/<r>` | the seed of libtorch's generator (dropout) on data-parallel rank `r` > 0, set after the weights are broadcast from rank 0 (`gptlab-train`'s `dist`) |
//!
//! libtorch's own generator (weight initialisation, dropout) is seeded with the run seed
//! itself (`tch::manual_seed`). Data-parallel ranks share every stream above: each draws the
//! same global batch and keeps its own part (see `gptlab-train`'s `dist`).

/// The seed of stream `name` of a run seeded `seed` (see the module docs).
pub fn stream_seed(seed: u64, name: &str) -> u64 {
    let mut h: u64 = 0xCBF2_9CE4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01B3);
    }
    Rng::new(seed ^ h).next_u64()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Rng {
    pub state: u64,
}

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self { state: seed ^ 0x9E37_79B9_7F4A_7C15 }
    }

    /// The named stream `name` of the run seeded `seed`.
    pub fn stream(seed: u64, name: &str) -> Self {
        Self::new(stream_seed(seed, name))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0), by rejection so there is no modulo bias.
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "Rng::below(0)");
        let zone = u64::MAX - (u64::MAX % n);
        loop {
            let x = self.next_u64();
            if x < zone {
                return x % n;
            }
        }
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Fisher–Yates shuffle.
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            v.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_resumable() {
        let mut a = Rng::new(7);
        let _ = a.next_u64();
        let saved = a;
        let x: Vec<u64> = (0..5).map(|_| a.below(10)).collect();
        let mut b = saved;
        let y: Vec<u64> = (0..5).map(|_| b.below(10)).collect();
        assert_eq!(x, y);
        assert!(x.iter().all(|&v| v < 10));
        let mut c = Rng::new(1);
        let mean = (0..10_000).map(|_| c.uniform()).sum::<f64>() / 10_000.0;
        assert!((mean - 0.5).abs() < 0.02, "{mean}");
    }

    #[test]
    fn named_streams_are_reproducible_and_distinct() {
        assert_eq!(Rng::stream(3, "sft/epoch/0"), Rng::stream(3, "sft/epoch/0"));
        let seeds: std::collections::HashSet<u64> = [(3, "a"), (3, "b"), (4, "a"), (3, "sft/epoch/1"), (3, "sft/epoch/10")].iter().map(|&(s, n)| stream_seed(s, n)).collect();
        assert_eq!(seeds.len(), 5, "different seeds or names give different streams");
        // the first draws of neighbouring streams are unrelated
        let (mut a, mut b) = (Rng::stream(0, "batch/0"), Rng::stream(0, "batch/1"));
        let same = (0..64).filter(|_| a.below(2) == b.below(2)).count();
        assert!((16..=48).contains(&same), "{same} of 64 coin flips agree");
    }
}
