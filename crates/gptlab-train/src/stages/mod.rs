//! The training stages as library functions: each takes its resolved config and returns a
//! typed report. The CLI, the demo pipeline and anything else that trains call these.
//!
//! - [`pretrain`]: a GPT on a text corpus (from scratch or from a checkpoint);
//! - [`sft`]: supervised fine-tuning on demonstrations (InstructGPT step 1);
//! - [`rm`]: a reward model on ranked comparisons (step 2);
//! - [`ppo`]: PPO, and PPO-ptx, against the reward model (step 3);
//! - [`detect`]: the trained detector of model-written text (`gptlab detect train`).

pub mod detect;
pub mod ppo;
pub mod pretrain;
pub mod rm;
pub mod sft;

use crate::{Error, Result};
use std::path::Path;

/// How a stage runs, besides its config.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// The resolved config (TOML), saved beside every checkpoint.
    pub resolved_toml: String,
    /// Continue from `<out_dir>/last`.
    pub resume: bool,
    /// Show a progress bar.
    pub progress: bool,
}

/// Holds out the last `fraction` of `items` (at least one) for validation.
pub fn hold_out<T>(items: &mut Vec<T>, fraction: f64, origin: &Path) -> Result<Vec<T>> {
    let n_val = ((items.len() as f64) * fraction).round().max(1.0) as usize;
    if n_val >= items.len() {
        return Err(Error::Data(format!("{}: {} records are too few to hold out {n_val} for validation", origin.display(), items.len())));
    }
    Ok(items.split_off(items.len() - n_val))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hold_out_takes_the_tail_and_refuses_too_few() {
        let mut v: Vec<u32> = (0..10).collect();
        assert_eq!(hold_out(&mut v, 0.2, Path::new("f")).expect("split"), vec![8, 9]);
        assert_eq!(v.len(), 8);
        let mut one = vec![1];
        let e = hold_out(&mut one, 0.5, Path::new("f.jsonl")).expect_err("too few").to_string();
        assert!(e.contains("f.jsonl") && e.contains("too few"), "{e}");
    }
}
