pub mod bench;
pub mod demo;
pub mod eval;
pub mod eval_code;
pub mod pretrain;
pub mod sample;
pub mod sft;
pub mod tok;
