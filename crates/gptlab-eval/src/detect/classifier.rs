//! The trained detector's score ([`super::Method::Classifier`]): a scalar model from `gptlab
//! detect train` (gptlab-train's `detect` stage), whose head at a text's last token is the
//! logit of "model-written" (the score; higher is more likely model text). A text longer than
//! the context is read in the windows of the zero-shot scores (`stats`' module docs: full
//! contexts, starting every half context, the last ending at the text's end) and scores the
//! mean of its windows' logits.

use super::stats::windows;
use super::{Scored, MIN_TOKENS};
use crate::Result;
use gptlab_model::roles::{Loaded, Scalar};
use gptlab_model::heads::pack_rows;
use tch::Kind;

/// Windows scored per forward pass.
const BATCH: usize = 32;

/// The classifier's score of each text (too short: a per-record error).
pub fn score_classifier(l: &Loaded<Scalar>, texts: &[String]) -> Result<Vec<Scored>> {
    let ctx = l.model.gpt.cfg.n_positions as usize;
    let seqs: Vec<Vec<u32>> = texts.iter().map(|t| l.tok.encode(t)).collect::<std::result::Result<_, _>>()?;
    // (text, window) of every text long enough
    let mut rows: Vec<(usize, &[u32])> = vec![];
    for (i, s) in seqs.iter().enumerate().filter(|(_, s)| s.len() >= MIN_TOKENS) {
        rows.extend(windows(s.len(), ctx).into_iter().map(|(start, _)| (i, &s[start..(start + ctx).min(s.len())])));
    }
    let mut sums = vec![(0.0, 0usize); seqs.len()];
    tch::no_grad(|| -> Result<()> {
        for chunk in rows.chunks(BATCH) {
            let ids: Vec<&[u32]> = chunk.iter().map(|r| r.1).collect();
            let (x, last) = pack_rows(&ids, l.tok.end, l.model.gpt.device());
            let z = l.model.head.at_last(&l.model.gpt, &x, &last, false)?.to_kind(Kind::Double).to_device(tch::Device::Cpu);
            for (&(i, _), z) in chunk.iter().zip(Vec::<f64>::try_from(z)?) {
                sums[i].0 += z;
                sums[i].1 += 1;
            }
        }
        Ok(())
    })?;
    Ok(seqs
        .iter()
        .zip(sums)
        .map(|(s, (sum, k))| match k {
            0 => Scored::err(format!("text too short: {} tokens; classifier needs at least {MIN_TOKENS}", s.len()), s.len()),
            _ => Scored::ok(sum / k as f64, s.len()),
        })
        .collect())
}
