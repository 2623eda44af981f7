//! One typed launcher per kernel: each checks its operands, fills the
//! parameter block and records the dispatch. Signatures mirror the CPU
//! references in [`crate::cpu`].

pub mod affinity;
pub mod cam;
pub mod clicks;
pub mod cluster;
pub mod conv;
pub mod elementwise;
pub mod half;
pub mod lattice;
pub mod layout;
pub mod loss;
pub mod matmul;
pub mod norm;
pub mod optim;
pub mod pool;
pub mod random;
pub mod reduce;
pub mod resize;
pub mod scan;
pub mod select;
pub mod superpixel;
