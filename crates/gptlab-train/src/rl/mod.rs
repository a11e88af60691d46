//! Reinforcement learning from a reward model, unit tests or a command. RL has its own data
//! path: a rollout buffer instead of a dataset. [`rollout`] gathers it in separate steps
//! (sample → [`reward`] and reference → advantages, GAE or the [`group`] baseline); [`ppo`]
//! is the objective that updates on it; [`prompts`] encodes the prompts (chat or raw
//! completion). The loop that keeps the run is the `ppo` stage ([`crate::stages::ppo`]), on
//! the run directory every stage shares.

pub mod group;
pub mod ppo;
pub mod prompts;
pub mod reward;
pub mod rollout;
