//! A KV cache with one slot per sequence, for continuous batching: each row holds its own
//! sequence at its own length, a sequence is prefilled into a free row while the others keep
//! decoding, and a finished one leaves at once (the last row moves into its place, so the
//! running rows are always `0..rows`). One decode step feeds every row one token at that
//! row's own position and attends over that row's keys only.
//!
//! The cache also holds the model's output head laid out for these steps: the tied embedding
//! `[V, C]` copied once, transposed to `[C, V]` in the compute precision, so the logits of a
//! batch of rows are a product with a plain right-hand matrix rather than a transposed view
//! (`Gpt::lm_head`), the layout libtorch's CPU matmul (MKL's sgemm) runs slower at batches of
//! rows ("Serving vs HF transformers" in BENCHMARKS.md). In bf16 the copy also saves casting
//! the head at every step.
//!
//! Keys and values are stored in the model's compute precision, or in half precision
//! ([`KvCacheDtype`]): half the memory, and half the bytes a decode step reads, which at a
//! batch of rows on the CPU is most of its attention's time. Computation stays in the compute
//! precision; only what is stored is rounded, as llama.cpp's f16 cache does (vLLM's
//! `kv_cache_dtype` stores fp8 the same way). A prefill's own logits come from its unrounded
//! keys and values; the decode steps after it read the rounded ones.

use crate::decode_attn::F16_MAX;
use crate::gpt::KvAt;
use crate::{Error, Gpt, KvCache, Result};
use tch::{Kind, Tensor};

/// The precision a [`SlotCache`] stores keys and values in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KvCacheDtype {
    /// The model's compute precision: decoding equals the full forward pass up to summation order.
    #[default]
    Auto,
    /// IEEE half precision (each value rounded to the nearest half, past ±65,504 saturated).
    F16,
}

impl KvCacheDtype {
    pub const NAMES: [&'static str; 2] = ["auto", "f16"];

    /// What a server stores keys and values in unless told: half precision where the per-row
    /// CPU attention reads it (a model on the CPU computing in fp32), which makes a batch's
    /// decode step faster; the model's precision elsewhere, where a half cache would be widened
    /// again at every step.
    pub fn serving_default(model: &Gpt) -> Self {
        if model.device() == tch::Device::Cpu && model.compute == Kind::Float {
            Self::F16
        } else {
            Self::Auto
        }
    }

    fn kind(self, compute: Kind) -> Kind {
        match self {
            Self::Auto => compute,
            Self::F16 => Kind::Half,
        }
    }
}

impl std::str::FromStr for KvCacheDtype {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "auto" => Ok(Self::Auto),
            "f16" => Ok(Self::F16),
            _ => Err(Error::Config(format!("unknown KV cache dtype {s:?} (expected one of {})", Self::NAMES.join(", ")))),
        }
    }
}

impl std::fmt::Display for KvCacheDtype {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(Self::NAMES[*self as usize])
    }
}

/// `x` as the cache stores it, in `kind`: half precision saturates at its largest finite value
/// (as the per-row decode path stores it) instead of overflowing to ±∞.
fn to_cache(x: &Tensor, kind: Kind) -> Tensor {
    match kind {
        Kind::Half if x.kind() != Kind::Half => x.clamp(-f64::from(F16_MAX), f64::from(F16_MAX)).to_kind(kind),
        _ => x.to_kind(kind),
    }
}

/// libtorch's path of a decode step's cache update (where the per-row attention does not run):
/// each row's new key and value (`k`, `v`: `[B, H, 1, D]`) stored at that row's own position
/// (`at`: `[B, 1, 1, 1]`) of the caches `kb`, `vb`, and their first `keys` positions returned
/// in `k`'s precision.
pub(crate) fn scatter_rows(kb: &Tensor, vb: &Tensor, at: &Tensor, k: &Tensor, v: &Tensor, keys: i64) -> (Tensor, Tensor) {
    let (b, kind) = (k.size()[0], k.kind());
    let idx = at.expand(k.size(), false);
    let store = |cache: &Tensor, x: &Tensor| {
        let mut rows = cache.narrow(0, 0, b);
        let _ = rows.scatter_(2, &idx, &to_cache(x, cache.kind()));
        rows.narrow(2, 0, keys).to_kind(kind)
    };
    (store(kb, k), store(vb, v))
}

/// Per-layer key/value buffers of `max_rows` sequences of up to `capacity` positions, for one
/// model.
#[derive(Debug)]
pub struct SlotCache {
    k: Vec<Tensor>,
    v: Vec<Tensor>,
    lens: Vec<i64>,
    max_rows: usize,
    capacity: i64,
    /// The output head `[C, V]`: a copy of the model's `wte` in its compute precision, taken
    /// by `new`.
    head: Tensor,
    /// The model's `wte` itself (a view, no copy): a model whose `wte` is other memory, or
    /// whose compute precision is not `head`'s, is refused; holding it keeps its memory from
    /// being handed to another model while this cache lives.
    wte: Tensor,
}

impl SlotCache {
    /// An empty cache for `model`, on its device, keys and values in its compute precision.
    ///
    /// The output head is copied here (`V × C` values in the compute precision, as much again
    /// as the embedding), so the model's weights must not change while the cache is in use; a
    /// serving scheduler owns its model and never changes it. A cache is refused by another
    /// model, by its own on another device or in another precision (`Gpt::set_precision`), and
    /// after its embedding is rebound to new memory (an optimizer's first step). A change made
    /// in place (loading a checkpoint into the same model, later optimizer steps) is not
    /// detected: make a new cache after one.
    pub fn new(model: &Gpt, max_rows: usize, capacity: i64) -> Self {
        Self::with_dtype(model, max_rows, capacity, KvCacheDtype::Auto)
    }

    /// [`SlotCache::new`] with keys and values stored in `dtype`.
    pub fn with_dtype(model: &Gpt, max_rows: usize, capacity: i64, dtype: KvCacheDtype) -> Self {
        let (cfg, kind, device) = (&model.cfg, model.compute, model.device());
        let shape = [max_rows as i64, cfg.n_head, capacity, cfg.head_dim()];
        let mk = || (0..cfg.n_layer).map(|_| Tensor::zeros(shape, (dtype.kind(kind), device))).collect();
        let head = model.wte.detach().to_kind(kind).tr().contiguous();
        Self { k: mk(), v: mk(), lens: vec![], max_rows, capacity, head, wte: model.wte.detach() }
    }

    /// Running sequences.
    pub fn rows(&self) -> usize {
        self.lens.len()
    }

    pub fn is_full(&self) -> bool {
        self.lens.len() == self.max_rows
    }

    /// Positions filled in `row`.
    pub fn len(&self, row: usize) -> i64 {
        self.lens[row]
    }

    pub fn capacity(&self) -> i64 {
        self.capacity
    }

    /// Frees `row`: the last row moves into its place (as `Vec::swap_remove`).
    pub fn remove(&mut self, row: usize) {
        let last = self.lens.len() - 1;
        if row != last {
            let n = self.lens[last];
            for buf in self.k.iter().chain(&self.v) {
                buf.narrow(0, row as i64, 1).narrow(2, 0, n).copy_(&buf.narrow(0, last as i64, 1).narrow(2, 0, n));
            }
        }
        self.lens.swap_remove(row);
    }
}

impl Gpt {
    /// Prefills `prompt` (non-empty) into a new last row of `cache`; returns the logits after
    /// its last token, `[V]` (f32).
    pub fn prefill_row(&self, cache: &mut SlotCache, prompt: &[u32]) -> Result<Tensor> {
        Ok(self.prefill_rows(cache, &[prompt])?.view([-1]))
    }

    /// Whether `prompt` can be prefilled into a row of `cache` (non-empty, within the context).
    pub fn check_prompt(&self, cache: &SlotCache, prompt: &[u32]) -> Result<()> {
        let max = cache.capacity.min(self.cfg.n_positions);
        if prompt.is_empty() {
            return Err(Error::Config("an empty prompt cannot be prefilled".into()));
        }
        if prompt.len() as i64 > max {
            return Err(Error::ContextTooLong { got: prompt.len() as i64, max });
        }
        Ok(())
    }

    /// Prefills several prompts (each non-empty) in one forward pass into new last rows of
    /// `cache`, in order; returns the logits after each one's last token, `[n, V]` (f32).
    /// The prompts are right-padded to the longest: a real position only attends to the
    /// positions before it, which are real too, so padding needs no mask and is never read
    /// (only each prompt's own positions are copied into its row).
    pub fn prefill_rows(&self, cache: &mut SlotCache, prompts: &[&[u32]]) -> Result<Tensor> {
        self.check_cache(cache)?;
        let n = prompts.len();
        for p in prompts {
            self.check_prompt(cache, p)?;
        }
        if n == 0 || cache.lens.len() + n > cache.max_rows {
            return Err(Error::Config(format!("{n} prompts for {} free cache rows (of {})", cache.max_rows - cache.lens.len(), cache.max_rows)));
        }
        let t = prompts.iter().map(|p| p.len()).max().unwrap_or(0) as i64;
        let dev = self.device();
        let mut ids = vec![0i64; n * t as usize];
        for (i, p) in prompts.iter().enumerate() {
            ids[i * t as usize..i * t as usize + p.len()].iter_mut().zip(p.iter()).for_each(|(d, &x)| *d = x as i64);
        }
        let input = Tensor::from_slice(&ids).view([n as i64, t]).to_device(dev);
        let mut kv = KvCache::new(&self.cfg, n as i64, t, dev, self.compute);
        let h = self.hidden(&input, false, Some(&mut kv), None)?;
        let mut last = Vec::with_capacity(n);
        for (i, p) in prompts.iter().enumerate() {
            let (len, row) = (p.len() as i64, cache.lens.len() as i64);
            for (dst, src) in cache.k.iter().zip(&kv.k).chain(cache.v.iter().zip(&kv.v)) {
                dst.narrow(0, row, 1).narrow(2, 0, len).copy_(&to_cache(&src.narrow(0, i as i64, 1).narrow(2, 0, len), dst.kind()));
            }
            cache.lens.push(len);
            last.push(i as i64 * t + len - 1);
        }
        let at = Tensor::from_slice(&last).to_device(dev);
        let c = self.cfg.n_embd;
        Ok(self.slot_head(cache, &h.reshape([-1, c]).index_select(0, &at)).to_kind(Kind::Float))
    }

    /// One decode step: `tokens[r]` appended to row `r` of `cache` for every running row;
    /// returns the logits after each, `[rows, V]` (f32).
    pub fn decode_rows(&self, cache: &mut SlotCache, tokens: &[u32]) -> Result<Tensor> {
        self.check_cache(cache)?;
        let b = cache.rows();
        if tokens.len() != b || b == 0 {
            return Err(Error::Config(format!("{} tokens for {b} running rows", tokens.len())));
        }
        let longest = cache.lens.iter().copied().max().unwrap_or(0);
        if longest + 1 > cache.capacity.min(self.cfg.n_positions) {
            return Err(Error::ContextTooLong { got: longest + 1, max: cache.capacity.min(self.cfg.n_positions) });
        }
        let dev = self.device();
        let b = b as i64;
        let ids: Vec<i64> = tokens.iter().map(|&x| x as i64).collect();
        let idx = Tensor::from_slice(&ids).view([b, 1]).to_device(dev);
        let pos = Tensor::from_slice(&cache.lens).view([b, 1]).to_device(dev);
        let keys = longest + 1;
        let at = pos.view([b, 1, 1, 1]);
        let mut x = Tensor::embedding(&self.wte, &idx, -1, false, false) + Tensor::embedding(&self.wpe, &pos, -1, false, false);
        for (i, blk) in self.blocks.iter().enumerate() {
            x = self.block(blk, &x, false, Some((&cache.k[i], &cache.v[i], KvAt::Rows { at: &at, keys, lens: &cache.lens })), None, None, None);
        }
        cache.lens.iter_mut().for_each(|l| *l += 1);
        Ok(self.slot_head(cache, &self.ln_f.forward(&x)).view([b, -1]).to_kind(Kind::Float))
    }

    fn check_cache(&self, cache: &SlotCache) -> Result<()> {
        if cache.wte.data_ptr() != self.wte.data_ptr() || cache.head.kind() != self.compute {
            return Err(Error::Config("this slot cache was made for another model, or for this one on another device, in another precision or before its weights were rebound; make a new cache".into()));
        }
        Ok(())
    }

    /// Logits `[N, V]` of hidden states `[N, C]` through the cache's copy of the head; through
    /// `lm_head` when autograd tracks `h` (the copy carries no gradient to `wte`, and `h` is
    /// tracked whenever `wte` would be).
    fn slot_head(&self, cache: &SlotCache, h: &Tensor) -> Tensor {
        if h.requires_grad() {
            return self.lm_head(h);
        }
        h.to_kind(self.compute).matmul(&cache.head)
    }
}

/// The mask of a decode step when libtorch's attention runs it: row `r` attends to its own
/// keys `0..=lens[r]` (`at`: `[B, 1, 1, 1]`, the first `keys` read); none when every row has
/// the same length (the cheaper attention path, and the usual case of a single stream).
pub(crate) fn rows_mask(at: &Tensor, keys: i64, lens: &[i64]) -> Option<Tensor> {
    let b = lens.len() as i64;
    lens.iter().any(|&l| l != lens[0]).then(|| Tensor::arange(keys, (Kind::Int64, at.device())).view([1, keys]).le_tensor(&at.view([b, 1])).view([b, 1, 1, keys]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::GptConfig;
    use tch::{nn, Device};

    fn tiny() -> (nn::VarStore, Gpt) {
        tch::manual_seed(3);
        let vs = nn::VarStore::new(Device::Cpu);
        let cfg = GptConfig::new(50, 32, 2, 4, 32);
        let m = Gpt::new(&vs.root(), &cfg).expect("model");
        (vs, m)
    }

    /// The logits of the last position of `seq`, computed without a cache.
    fn reference(m: &Gpt, seq: &[u32]) -> Tensor {
        let ids: Vec<i64> = seq.iter().map(|&x| x as i64).collect();
        let t = ids.len() as i64;
        tch::no_grad(|| m.forward(&Tensor::from_slice(&ids).view([1, t]), false).expect("forward").narrow(1, t - 1, 1).view([-1]))
    }

    #[test]
    fn rows_decode_as_sequences_alone_do_while_others_join_and_leave() {
        let (_vs, m) = tiny();
        let mut cache = SlotCache::new(&m, 3, 32);
        let mut seqs: Vec<Vec<u32>> = vec![vec![1, 2, 3, 4, 5], vec![7, 8]];
        tch::no_grad(|| {
            // the first two in one padded batch
            let refs: Vec<&[u32]> = seqs.iter().map(|s| s.as_slice()).collect();
            let l = m.prefill_rows(&mut cache, &refs).expect("prefill");
            assert_eq!(l.size(), vec![2, 50]);
            for (i, s) in seqs.iter().enumerate() {
                assert!(l.get(i as i64).allclose(&reference(&m, s), 1e-5, 1e-5, false), "prompt {i}");
            }
            for step in 0..6u32 {
                if step == 2 {
                    // a third sequence joins mid-way, another leaves
                    seqs.push(vec![9, 10, 11]);
                    let l = m.prefill_row(&mut cache, &seqs[2]).expect("prefill");
                    assert!(l.allclose(&reference(&m, &seqs[2]), 1e-5, 1e-5, false));
                }
                if step == 4 {
                    cache.remove(0);
                    seqs.swap_remove(0);
                }
                let next: Vec<u32> = (0..seqs.len() as u32).map(|r| (step * 7 + r * 3) % 50).collect();
                let logits = m.decode_rows(&mut cache, &next).expect("decode");
                for (r, s) in seqs.iter_mut().enumerate() {
                    s.push(next[r]);
                    assert_eq!(cache.len(r), s.len() as i64);
                    let want = reference(&m, s);
                    let got = logits.get(r as i64);
                    assert!(got.allclose(&want, 1e-4, 1e-4, false), "row {r} at step {step}: {}", (&got - &want).abs().max().double_value(&[]));
                }
            }
        });
        // rows of one length take the unmasked path
        let mut one = SlotCache::new(&m, 2, 32);
        let mut pair = vec![vec![4u32, 5, 6], vec![7u32, 8, 9]];
        tch::no_grad(|| {
            for s in &pair {
                let _ = m.prefill_row(&mut one, s).expect("prefill");
            }
            for step in 0..3u32 {
                let next = [step + 1, step + 20];
                let logits = m.decode_rows(&mut one, &next).expect("decode");
                for (r, s) in pair.iter_mut().enumerate() {
                    s.push(next[r]);
                    assert!(logits.get(r as i64).allclose(&reference(&m, s), 1e-4, 1e-4, false), "equal rows, row {r}, step {step}");
                }
            }
        });
        assert!(m.prefill_row(&mut SlotCache::new(&m, 1, 32), &[]).is_err());
        // more prompts than free rows
        assert!(m.prefill_rows(&mut SlotCache::new(&m, 1, 32), &[&[1, 2], &[3]]).is_err());
    }

    /// A cache holds its model's head: another model, or its own in another precision, is refused
    /// before anything is written.
    #[test]
    fn a_cache_is_refused_by_a_model_it_was_not_made_for() {
        let (_vs, m) = tiny();
        let (_vs2, mut other) = tiny();
        let mut cache = SlotCache::new(&m, 2, 32);
        tch::no_grad(|| {
            let e = other.prefill_row(&mut cache, &[1, 2]).expect_err("another model");
            assert!(e.to_string().contains("made for another model"), "{e}");
            assert_eq!(cache.rows(), 0);
            let _ = m.prefill_row(&mut cache, &[1, 2]).expect("its own model");
            assert!(other.decode_rows(&mut cache, &[3]).is_err());
            assert_eq!(cache.len(0), 2, "nothing stored by a refused step");
            let _ = m.decode_rows(&mut cache, &[3]).expect("its own model");
            other.set_precision(crate::Dtype::Bf16);
            let mut bf = SlotCache::new(&other, 1, 32);
            other.set_precision(crate::Dtype::Fp32);
            assert!(other.prefill_row(&mut bf, &[1]).is_err(), "made in bf16, used in f32");
        });
    }

    /// In bf16 compute the cache holds the head in bf16 and its rows' logits are the full
    /// forward's, up to bf16 rounding.
    #[test]
    fn rows_decode_in_bf16_as_the_full_forward_does() {
        let (_vs, mut m) = tiny();
        m.set_precision(crate::Dtype::Bf16);
        let mut cache = SlotCache::new(&m, 2, 32);
        assert_eq!(cache.head.kind(), Kind::BFloat16);
        let mut seqs = vec![vec![1u32, 2, 3, 4], vec![5u32, 6]];
        tch::no_grad(|| {
            let refs: Vec<&[u32]> = seqs.iter().map(|s| s.as_slice()).collect();
            let mut logits = m.prefill_rows(&mut cache, &refs).expect("prefill");
            for step in 0..3u32 {
                for (r, s) in seqs.iter().enumerate() {
                    let (got, want) = (logits.get(r as i64), reference(&m, s).to_kind(Kind::Float));
                    let d = f64::try_from((&got - &want).abs().max()).expect("a scalar");
                    let scale = f64::try_from(want.abs().max()).expect("a scalar");
                    assert!(d <= 0.02 * scale + 1e-3, "row {r} before step {step}: {d:e} of {scale:e}");
                }
                let next = [step + 7, step + 9];
                logits = m.decode_rows(&mut cache, &next).expect("decode");
                seqs.iter_mut().zip(next).for_each(|(s, t)| s.push(t));
            }
        });
    }

    /// With no autograd, rows of different lengths take the per-row attention (`decode_attn`,
    /// here at a head width of 64, compiled in whole vectors); with autograd on, libtorch's
    /// masked attention. Both give the same logits, from fp32 caches and from half-precision ones.
    #[test]
    fn per_row_attention_runs_without_autograd_and_equals_libtorchs() {
        tch::manual_seed(4);
        let vs = nn::VarStore::new(Device::Cpu);
        let cfg = GptConfig::new(50, 40, 2, 2, 128);
        let m = Gpt::new(&vs.root(), &cfg).expect("model");
        let prompts: [&[u32]; 3] = [&[1, 2, 3, 4, 5, 6, 7], &[9], &[11, 12, 13]];
        for dtype in [KvCacheDtype::Auto, KvCacheDtype::F16] {
            let run = |no_grad: bool| {
                let mut cache = SlotCache::with_dtype(&m, 3, 40, dtype);
                let step = |cache: &mut SlotCache| {
                    let _ = m.prefill_rows(cache, &prompts).expect("prefill");
                    let before = crate::decode_attn::tests::CALLS.with(std::cell::Cell::get);
                    let out: Vec<Tensor> = (0..4u32).map(|i| m.decode_rows(cache, &[i + 1, i + 2, i + 3]).expect("decode")).collect();
                    (Tensor::stack(&out, 0), crate::decode_attn::tests::CALLS.with(std::cell::Cell::get) - before)
                };
                if no_grad {
                    tch::no_grad(|| step(&mut cache))
                } else {
                    step(&mut cache)
                }
            };
            let (fast, calls) = run(true);
            let (slow, none) = run(false);
            assert!(slow.requires_grad(), "autograd recorded the second run");
            assert_eq!((calls, none), (4 * 2, 0), "one call per layer and step without autograd, none with it ({dtype})");
            let d = f64::try_from((&fast - &slow.detach()).abs().max()).expect("a scalar");
            assert!(d < 1e-5, "{dtype}: {d:e}");
        }
        // with autograd on the logits come through the tied embedding itself: its row for a
        // token no input holds gets a gradient from the head alone (a prefill, and one decode
        // step: a later step rewrites the cache an earlier one saved for its backward pass)
        for decode in [false, true] {
            let mut cache = SlotCache::new(&m, 3, 40);
            let mut logits = m.prefill_rows(&mut cache, &prompts).expect("prefill");
            if decode {
                logits = m.decode_rows(&mut cache, &[1, 2, 3]).expect("decode");
            }
            m.wte.shallow_clone().zero_grad();
            logits.sum(Kind::Float).backward();
            let g = m.wte.grad();
            assert!(g.defined() && f64::try_from(g.get(49).abs().sum(Kind::Float)).expect("a scalar") > 0.0, "no gradient reached the head's weight (decode: {decode})");
        }
    }

    /// Half-precision keys and values: the cache stores halves, and decoding (rows joining at
    /// different lengths, the per-row attention) stays within half precision's rounding of the
    /// full forward pass, while the model's own-precision cache stays within summation order.
    #[test]
    fn rows_decode_from_a_half_precision_cache_within_its_rounding() {
        let (_vs, m) = tiny();
        let mut worst = [0f64; 2];
        for (i, dtype) in [KvCacheDtype::Auto, KvCacheDtype::F16].into_iter().enumerate() {
            let mut cache = SlotCache::with_dtype(&m, 2, 32, dtype);
            assert_eq!(cache.k[0].kind(), [Kind::Float, Kind::Half][i]);
            let mut seqs = vec![vec![1u32, 2, 3, 4, 5], vec![6u32, 7]];
            tch::no_grad(|| {
                let refs: Vec<&[u32]> = seqs.iter().map(|s| s.as_slice()).collect();
                let _ = m.prefill_rows(&mut cache, &refs).expect("prefill");
                for step in 0..8u32 {
                    let next = [(step * 5 + 1) % 50, (step * 3 + 2) % 50];
                    let logits = m.decode_rows(&mut cache, &next).expect("decode");
                    for (r, s) in seqs.iter_mut().enumerate() {
                        s.push(next[r]);
                        let d = f64::try_from((logits.get(r as i64) - reference(&m, s)).abs().max()).expect("a scalar");
                        worst[i] = worst[i].max(d);
                    }
                }
            });
        }
        assert!(worst[0] < 1e-4, "fp32 cache: {:e}", worst[0]);
        assert!(worst[1] > worst[0] && worst[1] < 1e-4, "half cache: {:e} (fp32 {:e})", worst[1], worst[0]);
        // a prefill stores halves as the decode step does: rounded, and saturated past ±65,504
        let x = Tensor::from_slice(&[1e6f32, -7e4, 1.0 / 3.0, 65504.0]);
        let got = Vec::<f32>::try_from(to_cache(&x, Kind::Half).to_kind(Kind::Float)).expect("floats");
        assert_eq!(got, [F16_MAX, -F16_MAX, half::f16::from_f32(1.0 / 3.0).to_f32(), F16_MAX]);
        assert!(to_cache(&x, Kind::Float).equal(&x));
        assert_eq!(KvCacheDtype::serving_default(&m), KvCacheDtype::F16, "a CPU model in fp32");
        let (_vs2, mut bf) = tiny();
        bf.set_precision(crate::Dtype::Bf16);
        assert_eq!(KvCacheDtype::serving_default(&bf), KvCacheDtype::Auto, "a CPU model in bf16");
        assert_eq!("f16".parse::<KvCacheDtype>().expect("a dtype"), KvCacheDtype::F16);
        assert_eq!(KvCacheDtype::F16.to_string(), "f16");
        let e = "fp8".parse::<KvCacheDtype>().expect_err("not a dtype").to_string();
        assert!(e.contains("\"fp8\"") && e.contains("auto, f16"), "{e}");
    }
}
