//! The GPT trunk (GPT-2 architecture) and its KV cache.
//!
//! Parameters live in a `tch::nn::VarStore` under Hugging Face's GPT-2 names
//! (`transformer.h.0.attn.c_attn.weight`, ...), with HF's Conv1D layout (weight `[in, out]`),
//! so export and import are plain renames-free copies.

use crate::{Error, GptConfig, Result};
use tch::{nn, Device, Kind, Tensor};

/// HF GPT-2's Conv1D: `y = x @ w + b` with `w: [in, out]`.
#[derive(Debug)]
struct Conv1D {
    w: Tensor,
    b: Option<Tensor>,
    /// `w`'s `[in, out]`, kept so that a forward asks libtorch for no shape.
    n_in: i64,
    n_out: i64,
}

impl Conv1D {
    fn new(p: nn::Path, n_in: i64, n_out: i64, std: f64, bias: bool) -> Self {
        let w = p.var("weight", &[n_in, n_out], nn::Init::Randn { mean: 0.0, stdev: std });
        let b = bias.then(|| p.var("bias", &[n_out], nn::Init::Const(0.0)));
        Self { w, b, n_in, n_out }
    }

    /// `kind` is the compute precision (weights are cast to it, as autocast does).
    fn forward(&self, x: &Tensor, kind: Kind) -> Tensor {
        let mut shape = x.size();
        let n_in = self.n_in;
        let y = if kind == Kind::Float {
            // fp32 fast path: no casts (each tch call costs a few µs in KV-cache decoding)
            let x2 = x.reshape([-1, n_in]);
            match &self.b {
                Some(b) => b.addmm(&x2, &self.w),
                None => x2.matmul(&self.w),
            }
        } else {
            let x2 = x.to_kind(kind).reshape([-1, n_in]);
            let w = self.w.to_kind(kind);
            match &self.b {
                Some(b) => b.to_kind(kind).addmm(&x2, &w),
                None => x2.matmul(&w),
            }
        };
        if let Some(last) = shape.last_mut() {
            *last = self.n_out;
        }
        y.reshape(shape)
    }

    /// `gelu(x·w + b)`. In fp32 on the CPU, when autograd tracks none of `x`, `w`, `b` (under
    /// `no_grad`, or all frozen), the bias and GELU (tanh form) go in place over the matmul's
    /// output in one pass (`cpu`).
    fn forward_gelu(&self, x: &Tensor, kind: Kind, approx: &str) -> Tensor {
        // a trainable parameter keeps its flag (and its views theirs) under `no_grad`; the
        // result of an operation on it is tracked only when autograd records
        let tracked = x.requires_grad() || self.b.as_ref().is_some_and(|b| b.requires_grad() && b.narrow(0, 0, 1).neg().requires_grad());
        if approx != "tanh" || kind != Kind::Float || x.device() != Device::Cpu || tracked {
            return self.forward(x, kind).gelu(approx);
        }
        let mut shape = x.size();
        let mut y = x.reshape([-1, self.n_in]).matmul(&self.w);
        // `bias_gelu_` checks everything before it writes: on an error `y` is as the matmul left it
        if !(crate::cpu::applies(&y) && crate::cpu::bias_gelu_(&mut y, self.b.as_ref()).is_ok()) {
            y = self.b.as_ref().map_or(y.shallow_clone(), |b| &y + b).gelu(approx);
        }
        if let Some(last) = shape.last_mut() {
            *last = self.n_out;
        }
        y.reshape(shape)
    }
}

#[derive(Debug)]
pub(crate) struct LayerNorm {
    w: Tensor,
    b: Option<Tensor>,
    eps: f64,
    c: i64,
}

impl LayerNorm {
    fn new(p: nn::Path, c: i64, eps: f64, bias: bool) -> Self {
        let w = p.var("weight", &[c], nn::Init::Const(1.0));
        let b = bias.then(|| p.var("bias", &[c], nn::Init::Const(0.0)));
        Self { w, b, eps, c }
    }

    pub(crate) fn forward(&self, x: &Tensor) -> Tensor {
        x.layer_norm([self.c], Some(&self.w), self.b.as_ref(), self.eps, true)
    }
}

#[derive(Debug)]
pub(crate) struct Block {
    ln_1: LayerNorm,
    c_attn: Conv1D,
    attn_proj: Conv1D,
    ln_2: LayerNorm,
    c_fc: Conv1D,
    mlp_proj: Conv1D,
}

/// Per-layer key/value buffers for incremental decoding, preallocated to `capacity` positions.
#[derive(Debug)]
pub struct KvCache {
    pub(crate) k: Vec<Tensor>,
    pub(crate) v: Vec<Tensor>,
    /// Number of positions already filled.
    pub len: i64,
    capacity: i64,
}

impl KvCache {
    /// An empty cache for `batch` sequences of up to `capacity` positions. `kind` must be the
    /// model's compute precision (`Gpt::compute`).
    pub fn new(cfg: &GptConfig, batch: i64, capacity: i64, device: Device, kind: Kind) -> Self {
        let shape = [batch, cfg.n_head, capacity, cfg.head_dim()];
        let mk = || (0..cfg.n_layer).map(|_| Tensor::zeros(shape, (kind, device))).collect();
        Self { k: mk(), v: mk(), len: 0, capacity }
    }

    pub fn capacity(&self) -> i64 {
        self.capacity
    }
}

/// Where a block writes the new keys and values into a cache's buffers.
pub(crate) enum KvAt<'a> {
    /// Every row at the same position (the batch shares one length).
    Past(i64),
    /// Each row at its own position (`at`, `[B, 1, 1, 1]`, and `lens` as numbers); attention
    /// reads the first `keys`, or each row's own `lens[b] + 1` where `decode_attn` runs.
    Rows { at: &'a Tensor, keys: i64, lens: &'a [i64] },
}

/// The GPT trunk with its tied LM head.
#[derive(Debug)]
pub struct Gpt {
    pub cfg: GptConfig,
    pub(crate) wte: Tensor,
    pub(crate) wpe: Tensor,
    pub(crate) blocks: Vec<Block>,
    pub(crate) ln_f: LayerNorm,
    /// Precision of matrix multiplies and attention: `Float` (default) or `BFloat16`
    /// (mixed precision: fp32 weights, residual stream, LayerNorm, softmax-loss; bf16 matmuls,
    /// like `torch.autocast(dtype=bfloat16)`).
    pub compute: Kind,
}

impl Gpt {
    /// Builds the model's variables under `root` (normally `vs.root()`), freshly initialised
    /// as GPT-2 does: N(0, 0.02), residual projections scaled by 1/√(2·n_layer), zero biases.
    pub fn new(root: &nn::Path, cfg: &GptConfig) -> Result<Self> {
        cfg.validate()?;
        let c = cfg.n_embd;
        let std = cfg.initializer_range;
        let proj_std = std / (2.0 * cfg.n_layer as f64).sqrt();
        let t = root / "transformer";
        let wte = (&t / "wte").var("weight", &[cfg.vocab_size, c], nn::Init::Randn { mean: 0.0, stdev: std });
        let wpe = (&t / "wpe").var("weight", &[cfg.n_positions, c], nn::Init::Randn { mean: 0.0, stdev: std });
        let blocks = (0..cfg.n_layer)
            .map(|i| {
                let p = &t / "h" / i;
                Block {
                    ln_1: LayerNorm::new(&p / "ln_1", c, cfg.layer_norm_epsilon, cfg.bias),
                    c_attn: Conv1D::new(&p / "attn" / "c_attn", c, 3 * c, std, cfg.bias),
                    attn_proj: Conv1D::new(&p / "attn" / "c_proj", c, c, proj_std, cfg.bias),
                    ln_2: LayerNorm::new(&p / "ln_2", c, cfg.layer_norm_epsilon, cfg.bias),
                    c_fc: Conv1D::new(&p / "mlp" / "c_fc", c, cfg.inner(), std, cfg.bias),
                    mlp_proj: Conv1D::new(&p / "mlp" / "c_proj", cfg.inner(), c, proj_std, cfg.bias),
                }
            })
            .collect();
        let ln_f = LayerNorm::new(&t / "ln_f", c, cfg.layer_norm_epsilon, cfg.bias);
        Ok(Self { cfg: cfg.clone(), wte, wpe, blocks, ln_f, compute: Kind::Float })
    }

    pub fn device(&self) -> Device {
        self.wte.device()
    }

    /// Logits `[B, T, V]` for a batch of token ids `[B, T]` (training or full-sequence scoring).
    pub fn forward(&self, idx: &Tensor, train: bool) -> Result<Tensor> {
        let h = self.hidden(idx, train, None, None)?;
        Ok(self.lm_head(&h))
    }

    /// Mean next-token cross-entropy of `idx` against `targets` (`-1` targets are ignored).
    pub fn loss(&self, idx: &Tensor, targets: &Tensor, train: bool) -> Result<Tensor> {
        let logits = self.forward(idx, train)?;
        Ok(crate::ops::cross_entropy(&logits, targets))
    }

    /// Projects final hidden states `[.., C]` to logits `[.., V]` with the tied embedding.
    pub fn lm_head(&self, h: &Tensor) -> Tensor {
        h.to_kind(self.compute).matmul(&self.wte.to_kind(self.compute).tr())
    }

    /// Sets the compute precision (weights stay fp32).
    pub fn set_precision(&mut self, dtype: crate::Dtype) {
        self.compute = dtype.kind();
    }

    /// Final hidden states `[B, T, C]` (after `ln_f`).
    ///
    /// - `cache`: when given, the `T` new tokens follow the `cache.len` cached positions, their
    ///   keys/values are appended, and attention covers past and new positions.
    /// - `key_mask`: `[B, past + T]` booleans, `false` at padding (left-padded batches of
    ///   prompts). Positions are then counted over non-padding tokens only.
    pub fn hidden(&self, idx: &Tensor, train: bool, cache: Option<&mut KvCache>, key_mask: Option<&Tensor>) -> Result<Tensor> {
        self.trunk(idx, train, cache, key_mask, None)
    }

    /// Final hidden states `[B, len, C]` at positions `from .. from + len` only: the same
    /// values as `hidden(idx, train, None, key_mask).narrow(1, from, len)` at real tokens, for
    /// less work. The last block still computes keys and values at every position, but its
    /// queries, attention output, MLP and `ln_f` only inside the window (PPO reads just the
    /// response positions: ~10% of the trunk's work at a prompt as long as the response).
    /// Padding inside the window holds finite values of no meaning.
    pub fn hidden_window(&self, idx: &Tensor, train: bool, key_mask: Option<&Tensor>, from: i64, len: i64) -> Result<Tensor> {
        let t = idx.size2()?.1;
        if from < 0 || len < 1 || from + len > t {
            return Err(Error::Config(format!("window {from}..{} is not inside the {t} positions", from + len)));
        }
        self.trunk(idx, train, None, key_mask, Some((from, len)))
    }

    fn trunk(&self, idx: &Tensor, train: bool, mut cache: Option<&mut KvCache>, key_mask: Option<&Tensor>, window: Option<(i64, i64)>) -> Result<Tensor> {
        let (b, t) = idx.size2()?;
        let past = cache.as_ref().map_or(0, |c| c.len);
        let total = past + t;
        if total > self.cfg.n_positions {
            return Err(Error::ContextTooLong { got: total, max: self.cfg.n_positions });
        }
        if let Some(c) = cache.as_ref() {
            if total > c.capacity {
                return Err(Error::ContextTooLong { got: total, max: c.capacity });
            }
        }
        let dev = idx.device();
        let positions = match key_mask {
            Some(m) => {
                let cum = m.to_kind(Kind::Int64).cumsum(1, Kind::Int64) - 1;
                cum.narrow(1, past, t).clamp_min(0)
            }
            None => Tensor::arange_start(past, total, (Kind::Int64, dev)).unsqueeze(0),
        };
        let mask = if key_mask.is_some() || (past > 0 && t > 1) {
            Some(attention_mask(key_mask, b, past, t, dev))
        } else {
            None
        };
        // Padding-free: with a key mask and no cache, only the real tokens go through the
        // position-wise layers (LayerNorm, matmuls, MLP) as one `[N, C]` batch; they are
        // scattered into `[B, T, ·]` just for attention. Padding rows come out as zeros.
        let pack = match (key_mask, cache.is_none()) {
            (Some(m), true) => Some(Pack { idx: m.to_kind(Kind::Bool).reshape([-1]).nonzero().view([-1]), b, t }),
            _ => None,
        };
        let (idx_in, pos_in) = match &pack {
            Some(p) => (p.pack(&idx.unsqueeze(2)).view([-1]), p.pack(&positions.expand([b, t], false).unsqueeze(2)).view([-1])),
            None => (idx.shallow_clone(), positions),
        };
        let mut x = Tensor::embedding(&self.wte, &idx_in, -1, false, false) + Tensor::embedding(&self.wpe, &pos_in, -1, false, false);
        x = dropout(x, self.cfg.embd_pdrop, train);
        let n = self.blocks.len();
        for (i, blk) in self.blocks.iter().enumerate() {
            let kv = cache.as_deref_mut().map(|c| (&c.k[i], &c.v[i], KvAt::Past(past)));
            let win = window.filter(|_| i + 1 == n);
            x = self.block(blk, &x, train, kv, mask.as_ref(), pack.as_ref(), win);
        }
        if let Some(c) = cache {
            c.len = total;
        }
        let h = self.ln_f.forward(&x);
        Ok(match (&pack, window) {
            (Some(p), None) => p.unpack(&h),
            _ => h,
        })
    }

    /// One transformer block on `x`: `[B, T, C]`, or `[N, C]` real tokens when `pack` is given.
    /// With `win = (from, len)` (no cache) it returns only those positions, `[B, len, C]`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn block(&self, blk: &Block, x: &Tensor, train: bool, kv: Option<(&Tensor, &Tensor, KvAt)>, mask: Option<&Tensor>, pack: Option<&Pack>, win: Option<(i64, i64)>) -> Tensor {
        let (nh, hd) = (self.cfg.n_head, self.cfg.head_dim());
        let c = self.cfg.n_embd;
        let kind = self.compute;
        let qkv = blk.c_attn.forward(&blk.ln_1.forward(x), kind);
        let qkv = match pack {
            Some(p) => p.unpack(&qkv),
            None => qkv,
        };
        let (b, t, _) = qkv.size3().unwrap_or((0, 0, 0));
        let parts = qkv.split(c, 2);
        let heads = |z: &Tensor| z.view([b, t, nh, hd]).transpose(1, 2);
        let (mut q, mut k, mut v) = (heads(&parts[0]), heads(&parts[1]), heads(&parts[2]));
        let mut causal = mask.is_none() && t > 1;
        let (mut direct, mut row_mask) = (None, None);
        match kv {
            Some((kb, vb, KvAt::Past(past))) => {
                kb.narrow(2, past, t).copy_(&k);
                vb.narrow(2, past, t).copy_(&v);
                k = kb.narrow(2, 0, past + t);
                v = vb.narrow(2, 0, past + t);
                causal = causal && past == 0;
            }
            Some((kb, vb, KvAt::Rows { at, keys, lens })) => {
                // at CPU inference each row stores its new key and value and reads only its own
                // keys (no padding to the longest); it refuses only shapes `decode_rows` never
                // makes, and libtorch's path (which stores the same values again) is the fallback
                if !train && t == 1 && pack.is_none() && win.is_none() && crate::decode_attn::applies(&qkv, kb, vb) {
                    direct = crate::decode_attn::store_and_attend(&qkv, kb, vb, lens).inspect_err(|e| debug_assert!(false, "{e}")).ok();
                }
                if direct.is_none() {
                    row_mask = crate::slots::rows_mask(at, keys, lens);
                    (k, v) = crate::slots::scatter_rows(kb, vb, at, &k, &v, keys);
                }
                causal = false;
            }
            None => {}
        }
        // a window keeps the queries (and the residual stream) of its positions only; SDPA's
        // `is_causal` aligns a short query block to the top left, so the mask is explicit
        let (mut x, mut mask, mut pack, mut tq) = (x.shallow_clone(), mask.map(Tensor::shallow_clone).or(row_mask), pack, t);
        if let Some((from, len)) = win {
            q = q.narrow(2, from, len);
            let full = mask.unwrap_or_else(|| attention_mask(None, b, 0, t, x.device()));
            mask = Some(full.narrow(2, from, len));
            causal = false;
            x = pack.map_or(x.shallow_clone(), |p| p.unpack(&x)).narrow(1, from, len);
            (pack, tq) = (None, len);
        }
        let p = if train { self.cfg.attn_pdrop } else { 0.0 };
        let y = match direct {
            Some(y) => y,
            None => Tensor::scaled_dot_product_attention(&q, &k, &v, mask.as_ref(), p, causal, None, false).transpose(1, 2).contiguous().view([b, tq, c]),
        };
        let y = match pack {
            Some(p) => p.pack(&y),
            None => y,
        };
        let x = x + dropout(blk.attn_proj.forward(&y, kind), self.cfg.resid_pdrop, train);
        let approx = if self.cfg.activation_function == "gelu" { "none" } else { "tanh" };
        let hmid = blk.c_fc.forward_gelu(&blk.ln_2.forward(&x), kind, approx);
        let h = blk.mlp_proj.forward(&hmid, kind);
        &x + dropout(h, self.cfg.resid_pdrop, train)
    }
}

/// The real (unmasked) positions of a `[B, T]` batch, flattened: `pack` gathers them into
/// `[N, ·]`, `unpack` scatters them back into `[B, T, ·]` with zeros at padding. Both are
/// differentiable (gather ↔ scatter-add).
pub(crate) struct Pack {
    idx: Tensor,
    b: i64,
    t: i64,
}

impl Pack {
    fn pack(&self, z: &Tensor) -> Tensor {
        let w = z.size()[2];
        z.reshape([self.b * self.t, w]).index_select(0, &self.idx)
    }

    fn unpack(&self, z: &Tensor) -> Tensor {
        let w = z.size()[1];
        Tensor::zeros([self.b * self.t, w], (z.kind(), z.device())).index_copy(0, &self.idx, z).view([self.b, self.t, w])
    }
}

fn dropout(x: Tensor, p: f64, train: bool) -> Tensor {
    if train && p > 0.0 {
        x.dropout(p, true)
    } else {
        x
    }
}

/// Boolean attention mask `[B|1, 1, T, past+T]`: causal, minus padded keys, plus the diagonal
/// (so a padding query still attends to itself and no softmax row is empty, which would
/// produce NaN that leaks into later layers through 0·NaN).
fn attention_mask(key_mask: Option<&Tensor>, b: i64, past: i64, t: i64, dev: Device) -> Tensor {
    let total = past + t;
    let qpos = Tensor::arange_start(past, total, (Kind::Int64, dev)).unsqueeze(1);
    let kpos = Tensor::arange(total, (Kind::Int64, dev)).unsqueeze(0);
    let causal = kpos.le_tensor(&qpos);
    let diag = kpos.eq_tensor(&qpos);
    match key_mask {
        Some(m) => {
            let keys = m.to_kind(Kind::Bool).view([b, 1, 1, total]);
            (causal.view([1, 1, t, total]).logical_and(&keys)).logical_or(&diag.view([1, 1, t, total]))
        }
        None => causal.view([1, 1, t, total]),
    }
}

/// Whether a named parameter gets weight decay: matrices do; biases, norms and embeddings don't.
pub fn decays(name: &str, dims: usize) -> bool {
    dims >= 2 && !name.contains("wte") && !name.contains("wpe")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> (nn::VarStore, Gpt) {
        tch::manual_seed(0);
        let vs = nn::VarStore::new(Device::Cpu);
        let cfg = GptConfig::new(17, 16, 2, 2, 8);
        let m = Gpt::new(&vs.root(), &cfg).expect("model");
        (vs, m)
    }

    /// `forward_gelu` without autograd (in place: `cpu.rs`) computes what libtorch's ops do with
    /// it, for both GELU forms ("none" is the exact one, left to libtorch), on a width that
    /// takes two tasks of the thread pool.
    #[test]
    fn in_place_mlp_equals_the_tracked_one() {
        tch::manual_seed(0);
        tch::set_num_threads(2);
        let vs = nn::VarStore::new(Device::Cpu);
        let fc = Conv1D::new(vs.root() / "fc", 24, 1500, 0.5, true);
        tch::no_grad(|| fc.b.as_ref().map(|b| b.detach().copy_(&(Tensor::randn([1500], (Kind::Float, Device::Cpu)) * 2.0))));
        let x = Tensor::randn([3, 30, 24], (Kind::Float, Device::Cpu));
        for approx in ["tanh", "none"] {
            let tracked = fc.forward(&x, Kind::Float).gelu(approx);
            assert!(tracked.requires_grad());
            let fast = tch::no_grad(|| fc.forward_gelu(&x, Kind::Float, approx));
            assert_eq!(fast.size(), [3, 30, 1500]);
            let d = f64::try_from((&fast - &tracked).abs().max()).expect("a scalar");
            assert!(d < 1e-5, "{approx}: {d:e}");
            assert!(fc.forward_gelu(&x, Kind::Float, approx).requires_grad(), "with autograd on, the graph is kept");
        }
    }

    /// A model whose only trainable tensor is an MLP bias still gets a graph to it.
    #[test]
    fn a_trainable_bias_alone_keeps_the_graph() {
        let (mut vs, m) = tiny();
        vs.freeze();
        let idx = Tensor::from_slice(&[1i64, 5, 3, 9]).view([1, 4]);
        assert!(!m.forward(&idx, false).expect("fwd").requires_grad());
        let _ = vs.variables()["transformer.h.0.mlp.c_fc.bias"].set_requires_grad(true);
        assert!(m.forward(&idx, false).expect("fwd").requires_grad());
        assert!(!tch::no_grad(|| m.forward(&idx, false)).expect("fwd").requires_grad());
    }

    #[test]
    fn param_count_matches_config() {
        let (vs, m) = tiny();
        let n: i64 = vs.trainable_variables().iter().map(|t| t.numel() as i64).sum();
        assert_eq!(n, m.cfg.num_params());
        assert!(vs.variables().contains_key("transformer.h.1.mlp.c_proj.weight"));
    }

    #[test]
    fn cached_logits_equal_uncached() {
        let (_vs, m) = tiny();
        let idx = Tensor::from_slice(&[1i64, 5, 3, 9, 2, 7, 11, 4]).view([2, 4]);
        let full = m.forward(&idx, false).expect("fwd");
        let mut cache = KvCache::new(&m.cfg, 2, 8, Device::Cpu, Kind::Float);
        let h1 = m.hidden(&idx.narrow(1, 0, 2), false, Some(&mut cache), None).expect("prefill");
        let h2 = m.hidden(&idx.narrow(1, 2, 1), false, Some(&mut cache), None).expect("step");
        let h3 = m.hidden(&idx.narrow(1, 3, 1), false, Some(&mut cache), None).expect("step");
        let inc = m.lm_head(&Tensor::cat(&[h1, h2, h3], 1));
        let diff = (full - inc).abs().max().double_value(&[]);
        assert!(diff < 1e-5, "max diff {diff}");
        // multi-token chunk after a prefix uses the explicit offset-causal mask
        let mut cache = KvCache::new(&m.cfg, 2, 8, Device::Cpu, Kind::Float);
        let a = m.hidden(&idx.narrow(1, 0, 1), false, Some(&mut cache), None).expect("a");
        let b = m.hidden(&idx.narrow(1, 1, 3), false, Some(&mut cache), None).expect("b");
        let inc = m.lm_head(&Tensor::cat(&[a, b], 1));
        let diff = (m.forward(&idx, false).expect("f") - inc).abs().max().double_value(&[]);
        assert!(diff < 1e-5, "max diff {diff}");
    }

    #[test]
    fn left_padding_matches_unpadded() {
        let (_vs, m) = tiny();
        let plain = Tensor::from_slice(&[5i64, 3, 9]).view([1, 3]);
        let padded = Tensor::from_slice(&[0i64, 0, 5, 3, 9]).view([1, 5]);
        let mask = Tensor::from_slice(&[false, false, true, true, true]).view([1, 5]);
        let a = m.forward(&plain, false).expect("a");
        let h = m.hidden(&padded, false, None, Some(&mask)).expect("b");
        let b = m.lm_head(&h).narrow(1, 2, 3);
        assert!(b.isnan().any().int64_value(&[]) == 0);
        let diff = (a - b).abs().max().double_value(&[]);
        assert!(diff < 1e-5, "max diff {diff}");
    }

    #[test]
    fn padded_batch_has_the_gradients_of_its_sequences_alone() {
        // The padding-free path (key mask, no cache): a batch with left and right padding
        // must give each sequence's own hidden states, and the summed loss over real tokens
        // the same parameter gradients as running each sequence by itself.
        let (vs, m) = tiny();
        let seqs: [&[i64]; 3] = [&[5, 3, 9, 1], &[2, 7], &[4, 4, 8]];
        let grads = |loss: Tensor| -> Vec<Tensor> {
            for mut v in vs.trainable_variables() {
                v.zero_grad();
            }
            loss.backward();
            vs.trainable_variables().iter().map(|v| v.grad().copy()).collect()
        };
        let mut alone = Tensor::zeros([], (Kind::Float, Device::Cpu));
        let mut outs = Vec::new();
        for s in seqs {
            let h = m.hidden(&Tensor::from_slice(s).view([1, -1]), false, None, None).expect("alone");
            alone += (m.lm_head(&h).log_softmax(-1, Kind::Float).select(2, 1)).sum(Kind::Float);
            outs.push(h);
        }
        let want = grads(alone);
        // rows: [_, 5, 3, 9, 1, _], [_, _, _, 2, 7, _], [_, _, 4, 4, 8, _]
        let ids = Tensor::from_slice(&[0i64, 5, 3, 9, 1, 0, 0, 0, 0, 2, 7, 0, 0, 0, 4, 4, 8, 0]).view([3, 6]);
        let keep = [0, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 0, 0, 0, 1, 1, 1, 0].map(|k| k == 1);
        let mask = Tensor::from_slice(&keep).view([3, 6]);
        let h = m.hidden(&ids, false, None, Some(&mask)).expect("batch");
        for (i, (s, o)) in seqs.iter().zip(&outs).enumerate() {
            let start = 5 - s.len() as i64;
            let d = (h.get(i as i64).narrow(0, start, s.len() as i64) - o.get(0)).abs().max().double_value(&[]);
            assert!(d < 1e-5, "row {i}: hidden states differ by {d}");
        }
        assert_eq!(h.get(1).narrow(0, 0, 3).abs().sum(Kind::Float).double_value(&[]), 0.0, "padding rows are zeros");
        let lp = m.lm_head(&h).log_softmax(-1, Kind::Float).select(2, 1);
        let got = grads((lp * mask.to_kind(Kind::Float)).sum(Kind::Float));
        for (g, w) in got.iter().zip(&want) {
            let d = (g - w).abs().max().double_value(&[]);
            assert!(d < 1e-5, "gradients differ by {d}");
        }
    }

    #[test]
    fn a_window_has_the_values_and_gradients_of_the_full_trunk() {
        let (vs, m) = tiny();
        let grads = |loss: Tensor| -> Vec<Tensor> {
            for mut v in vs.trainable_variables() {
                v.zero_grad();
            }
            loss.backward();
            vs.trainable_variables().iter().map(|v| v.grad().copy()).collect()
        };
        let ids = Tensor::from_slice(&[0i64, 5, 3, 9, 1, 0, 0, 0, 2, 7, 6, 0, 4, 4, 8, 3, 12, 2]).view([3, 6]);
        let keep = [0, 1, 1, 1, 1, 0, 0, 0, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1].map(|k| k == 1);
        let mask = Tensor::from_slice(&keep).view([3, 6]);
        let wmask = mask.narrow(1, 2, 3).to_kind(Kind::Float).unsqueeze(-1);
        for key_mask in [Some(&mask), None] {
            let full = m.hidden(&ids, false, None, key_mask).expect("full").narrow(1, 2, 3);
            let win = m.hidden_window(&ids, false, key_mask, 2, 3).expect("window");
            assert_eq!(win.size(), [3, 3, 8]);
            assert!(win.isfinite().all().int64_value(&[]) == 1, "padding in the window is finite");
            let d = ((&full - &win) * &wmask).abs().max().double_value(&[]);
            assert!(d < 1e-5, "window differs from the full trunk by {d}");
            let loss = |h: &Tensor| (m.lm_head(h).log_softmax(-1, Kind::Float).select(2, 1) * wmask.squeeze_dim(-1)).sum(Kind::Float);
            let want = grads(loss(&m.hidden(&ids, false, None, key_mask).expect("f").narrow(1, 2, 3)));
            let got = grads(loss(&m.hidden_window(&ids, false, key_mask, 2, 3).expect("w")));
            for (g, w) in got.iter().zip(&want) {
                let d = (g - w).abs().max().double_value(&[]);
                assert!(d < 1e-5, "gradients differ by {d}");
            }
        }
        assert!(m.hidden_window(&ids, false, None, 4, 3).is_err(), "a window past the end is an error");
    }

    #[test]
    fn bf16_compute_is_close_to_fp32() {
        let (_vs, mut m) = tiny();
        let idx = Tensor::from_slice(&[1i64, 5, 3, 9, 2, 7]).view([1, 6]);
        let a = m.forward(&idx, false).expect("fp32");
        m.set_precision(crate::Dtype::Bf16);
        let b = m.forward(&idx, false).expect("bf16").to_kind(Kind::Float);
        let d = (a - b).abs().max().double_value(&[]);
        assert!(d > 0.0 && d < 0.05, "bf16 logits differ by {d}");
    }

    #[test]
    fn too_long_context_is_an_error() {
        let (_vs, m) = tiny();
        let idx = Tensor::zeros([1, 17], (Kind::Int64, Device::Cpu));
        assert!(matches!(m.forward(&idx, false), Err(Error::ContextTooLong { got: 17, max: 16 })));
    }
}
