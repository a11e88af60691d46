//! `gptlab eval world`: win rate of one checkpoint against another on the world's held-out
//! prompts, judged by the hidden true preference (and, separately, by held-out labelers).

use crate::common;
use anyhow::Result;
use gptlab_core::rng::Rng;
use gptlab_engine::SampleConfig;
use gptlab_eval::world::prefs::true_score;
use std::path::Path;

#[derive(Debug, serde::Serialize)]
pub struct WinRate {
    pub win_rate: f64,
    /// 95% interval (normal approximation).
    pub ci95: (f64, f64),
    pub n: usize,
    pub win_rate_held_out_labelers: f64,
    pub mean_true_score: f64,
    pub mean_true_score_baseline: f64,
}

fn rate(wins: &[f64]) -> (f64, (f64, f64)) {
    let n = wins.len().max(1) as f64;
    let p = wins.iter().sum::<f64>() / n;
    let half = 1.96 * (p * (1.0 - p) / n).sqrt();
    (p, ((p - half).max(0.0), (p + half).min(1.0)))
}

pub fn win_rate(world_dir: &Path, model: &Path, baseline: &Path, prompts: Option<&Path>, limit: usize) -> Result<WinRate> {
    let world = crate::cmd::world::load_world(world_dir)?;
    let device = common::setup("cpu", 0)?;
    let a = common::load_checkpoint(model, device)?;
    let b = common::load_checkpoint(baseline, device)?;
    let path = prompts.map(Path::to_path_buf).unwrap_or_else(|| world_dir.join("prompts_val.jsonl"));
    let texts: Vec<String> = gptlab_tokenizer::chat::read_prompts(&path)?.into_iter().take(limit).collect();
    let sc = SampleConfig { max_new_tokens: 24, temperature: 0.0, ..Default::default() };
    let ra = common::chat_replies(&a.model, &a.tok, &texts, &sc)?;
    let rb = common::chat_replies(&b.model, &b.tok, &texts, &sc)?;
    let held: Vec<_> = world.labelers.iter().filter(|l| l.held_out).collect();
    let mut rng = Rng::new(17);
    let (mut wins, mut lab_wins, mut sa, mut sb) = (vec![], vec![], 0.0, 0.0);
    for (i, t) in texts.iter().enumerate() {
        let Some(p) = world.judge_data(t) else { anyhow::bail!("{}: prompt {} is not from this world", path.display(), i + 1) };
        let (x, y) = (true_score(&p, &ra[i]), true_score(&p, &rb[i]));
        sa += x;
        sb += y;
        wins.push(if x > y { 1.0 } else if x < y { 0.0 } else { 0.5 });
        let l = held[i % held.len().max(1)];
        let (px, py) = (l.perceive(&p, &ra[i], &mut rng), l.perceive(&p, &rb[i], &mut rng));
        lab_wins.push(if px > py { 1.0 } else if px < py { 0.0 } else { 0.5 });
    }
    let (p, ci) = rate(&wins);
    let n = texts.len().max(1) as f64;
    Ok(WinRate { win_rate: p, ci95: ci, n: texts.len(), win_rate_held_out_labelers: rate(&lab_wins).0, mean_true_score: sa / n, mean_true_score_baseline: sb / n })
}
