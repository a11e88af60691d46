pub mod bench;
pub mod demo;
pub mod eval;
pub mod pretrain;
pub mod sample;
pub mod tok;
