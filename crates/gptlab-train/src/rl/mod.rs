//! Reinforcement learning from a reward model. RL has its own data path: a rollout buffer
//! instead of a dataset. [`rollout`] gathers it in separate steps (sample → score →
//! advantages); [`ppo`] is the objective that updates on it. The loop that keeps the run is
//! the `ppo` stage ([`crate::stages::ppo`]), on the run directory every stage shares.

pub mod ppo;
pub mod rollout;
