//! Differentiable tensor operations. Each op launches WGSL kernels for its
//! forward pass and records a backward built from kernels too.

pub mod affinity;
pub mod conv;
pub mod dropout;
pub mod elementwise;
pub mod half;
pub mod kmeans;
pub mod layout;
pub mod loss;
pub mod matmul;
pub mod norm;
pub mod pool;
pub mod reduce;
pub mod resize;
pub mod select;
pub mod superpixel;
