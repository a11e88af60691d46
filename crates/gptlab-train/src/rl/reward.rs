//! Where an episode's reward comes from (`ppo.reward`), one score per sampled response:
//!
//! - [`Reward::Model`]: a reward model's scalar at the response's last token (InstructGPT);
//! - [`Reward::UnitTests`]: the fraction of the problem's asserts the completion passes, run in
//!   gptlab-code's sandbox ([`gptlab_code::reward`]); the pool of sandboxed workers lives as
//!   long as the run;
//! - [`Reward::Command`]: a user's command, run once per sample with `sh -c`, given
//!   `{"prompt", "completion", "task_id"?}` as one JSON line on stdin; it prints one number.
//!   A non-zero exit, or output that is not one finite number, is an error naming the command
//!   and the sample.
//!
//! Every kind then subtracts `rollout.missing_eos_penalty` from responses that did not end.

use crate::rl::prompts::Prompt;
use crate::rl::rollout::{final_scores, Samples};
use crate::{Error, Result};
use gptlab_code::reward::AssertScorer;
use gptlab_model::roles::Scalar;
use std::io::Write;
use std::process::{Command, Stdio};
use tch::Tensor;

/// The reward of an RL run.
pub enum Reward {
    Model(Scalar),
    UnitTests(AssertScorer),
    Command(String),
}

impl Reward {
    /// One score per row of `s` `[B]` (on the samples' device); `prompts[i]` is row i's prompt.
    pub fn score(&mut self, s: &Samples, prompts: &[&Prompt], missing_eos_penalty: Option<f64>) -> Result<Tensor> {
        let dev = s.x.device();
        let scores = match self {
            Reward::Model(rm) => tch::no_grad(|| final_scores(rm, s, None))?,
            Reward::UnitTests(scorer) => {
                let items = prompts
                    .iter()
                    .zip(&s.texts)
                    .map(|(p, c)| Ok((p.task_id.as_deref().ok_or_else(|| Error::Data(format!("prompt without a task_id: {:?}", snippet(&p.text))))?, c.as_str())))
                    .collect::<Result<Vec<(&str, &str)>>>()?;
                let credit = scorer.score(&items).map_err(|e| Error::Data(format!("unit-test reward: {e}")))?;
                let v: Vec<f32> = credit.iter().map(|c| c.fraction as f32).collect();
                Tensor::from_slice(&v).to_device(dev)
            }
            Reward::Command(cmd) => {
                let v = prompts.iter().zip(&s.texts).map(|(p, c)| run_command(cmd, p, c).map(|x| x as f32)).collect::<Result<Vec<f32>>>()?;
                Tensor::from_slice(&v).to_device(dev)
            }
        };
        Ok(match missing_eos_penalty {
            Some(pen) => {
                let no_end: Vec<f32> = s.ended.iter().map(|&e| if e { 0.0 } else { pen as f32 }).collect();
                scores - Tensor::from_slice(&no_end).to_device(dev)
            }
            None => scores,
        })
    }
}

/// The first characters of a text, for messages.
fn snippet(text: &str) -> String {
    let s: String = text.chars().take(60).collect();
    if s.len() < text.len() {
        format!("{s}…")
    } else {
        s
    }
}

/// Runs the reward command on one sample and reads its number.
pub fn run_command(cmd: &str, p: &Prompt, completion: &str) -> Result<f64> {
    let mut rec = serde_json::json!({"prompt": p.text, "completion": completion});
    if let Some(id) = &p.task_id {
        rec["task_id"] = id.clone().into();
    }
    let line = format!("{rec}\n");
    let sample = match &p.task_id {
        Some(id) => format!("task_id {id}"),
        None => format!("prompt {:?}", snippet(&p.text)),
    };
    let fail = |msg: String| Error::Data(format!("ppo.reward_command `{cmd}` on the sample with {sample}: {msg}"));
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| fail(format!("cannot start: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        // a command that exits without reading its input closes the pipe: not an error here,
        // its exit status and output decide
        let _ = stdin.write_all(line.as_bytes());
    }
    let out = child.wait_with_output().map_err(|e| fail(e.to_string()))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return Err(fail(format!("{} (stderr: {:?})", out.status, snippet(stderr.trim()))));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    match text.trim().parse::<f64>() {
        Ok(x) if x.is_finite() => Ok(x),
        _ => Err(fail(format!("printed {:?}, not one finite number", snippet(text.trim())))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prompt(task: Option<&str>) -> Prompt {
        Prompt { ids: vec![], text: "def f(x):\n".into(), task_id: task.map(str::to_string) }
    }

    #[test]
    fn the_command_reads_the_sample_and_its_number_is_the_reward() {
        // the reward is the completion's length, read from the JSON line on stdin
        let cmd = "python3 -c 'import json, sys; r = json.loads(sys.stdin.readline()); print(len(r[\"completion\"]) + (100 if r.get(\"task_id\") == \"T/1\" else 0))'";
        assert_eq!(run_command(cmd, &prompt(None), "    return x\n").expect("run"), 13.0);
        assert_eq!(run_command(cmd, &prompt(Some("T/1")), "ab").expect("run"), 102.0);
    }

    #[test]
    fn a_failing_or_wordy_command_is_an_error_naming_it_and_the_sample() {
        let e = run_command("echo oops >&2; exit 3", &prompt(Some("T/7")), "x").expect_err("exit").to_string();
        assert!(e.contains("exit 3") && e.contains("T/7") && e.contains("oops") && e.contains("exit status"), "{e}");
        let e = run_command("echo 'a lot'", &prompt(None), "x").expect_err("words").to_string();
        assert!(e.contains("echo 'a lot'") && e.contains("not one finite number") && e.contains("def f(x)"), "{e}");
        assert!(run_command("echo nan", &prompt(None), "x").is_err());
    }
}
