pub mod bench;
pub mod demo;
pub mod eval;
pub mod keys;
pub mod sample;
pub mod serve;
pub mod tok;
pub mod world;
