//! CPU references of every kernel, computed in f64: the oracle the kernel
//! tests compare against. Argument conventions mirror [`crate::launch`].

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

/// Offset of flat index `i` of `shape` under `strides`.
pub fn strided_offset(i: usize, shape: &[usize], strides: &[usize]) -> usize {
    let mut rem = i;
    let mut off = 0;
    for ax in (0..shape.len()).rev() {
        off += (rem % shape[ax]) * strides[ax];
        rem /= shape[ax];
    }
    off
}
