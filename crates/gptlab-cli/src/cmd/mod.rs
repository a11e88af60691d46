pub mod bench;
pub mod demo;
pub mod eval;
pub mod sample;
pub mod tok;
pub mod world;
