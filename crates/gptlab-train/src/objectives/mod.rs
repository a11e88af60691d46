//! One file per stage objective. Each header says what it implements and what it leaves out.

pub mod detect;
pub mod pretrain;
pub mod rm;
pub mod sft;
