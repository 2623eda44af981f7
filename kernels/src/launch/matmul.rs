//! Launcher for `shaders/matmul.wgsl`.

use crate::batch::Params;
use crate::device::Gpu;
use crate::error::Result;
use crate::pipeline::Kernel;
use crate::shaders::Shader;
use crate::view::{View, loop_bound, u32_of};

/// Shape of a batched product C[b] (m×n) = A[b] (m×k) · B[b] (k×n).
#[derive(Clone, Copy, Debug)]
pub struct MatmulShape {
    /// Batch count.
    pub batch: usize,
    /// Rows of A and C.
    pub m: usize,
    /// Inner dimension.
    pub k: usize,
    /// Columns of B and C.
    pub n: usize,
    /// Element stride between A matrices (0 broadcasts A).
    pub a_batch_stride: usize,
    /// Element stride between B matrices (0 broadcasts B).
    pub b_batch_stride: usize,
}

/// Records C = A · B for every batch entry.
pub fn matmul(gpu: &Gpu, a: View, b: View, c: View, s: MatmulShape) -> Result<()> {
    let op = "matmul";
    if s.m == 0 || s.n == 0 || s.batch == 0 {
        return Ok(());
    }
    c.need(op, "output", s.batch * s.m * s.n)?;
    loop_bound(op, "an inner dimension", s.k)?;
    let (tm, tn) = (s.m.div_ceil(8), s.n.div_ceil(8));
    let p = Params::new(&[
        u32_of(op, s.m)?,
        u32_of(op, s.n)?,
        u32_of(op, s.k)?,
        u32_of(op, s.batch)?,
        u32_of(op, s.a_batch_stride)?,
        u32_of(op, s.b_batch_stride)?,
        u32_of(op, tm)?,
        u32_of(op, tn)?,
    ]);
    if s.k == 0 {
        return crate::launch::layout::fill(
            gpu,
            View {
                len: s.batch * s.m * s.n,
                ..c
            },
            0,
        );
    }
    let threads = (s.batch * tm * tn) as u64;
    gpu.launch(
        op,
        Kernel::new(Shader::Matmul, "matmul"),
        &p,
        &[a.read(1), b.read(2), c.write(3)],
        threads,
    )
}
