//! Launcher for `shaders/matmul.wgsl` and, on CPU adapters with 8-lane
//! subgroups, `shaders/matmul_subgroup.wgsl`.

use crate::batch::Params;
use crate::device::{AdapterClass, Gpu};
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
    if s.k > 0 && takes_subgroup_kernel(gpu, &s) {
        return matmul_subgroup(gpu, a, b, c, s);
    }
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

/// Whether [`matmul`] runs `shaders/matmul_subgroup.wgsl` for this shape: on
/// a CPU adapter with 8-lane subgroups, when K, N and both batch strides are
/// multiples of 4 (the kernel reads A, B and C as vec4). Elsewhere the 8×8
/// register-tile kernel runs.
pub fn takes_subgroup_kernel(gpu: &Gpu, s: &MatmulShape) -> bool {
    gpu.class() == AdapterClass::Cpu
        && gpu.fixed_subgroup_size() == Some(8)
        && [s.k, s.n, s.a_batch_stride, s.b_batch_stride]
            .iter()
            .all(|v| v % 4 == 0)
}

/// The subgroup kernel: a 16×64 tile of C per subgroup of 8 lanes.
fn matmul_subgroup(gpu: &Gpu, a: View, b: View, c: View, s: MatmulShape) -> Result<()> {
    let op = "matmul";
    let (n4, k4) = (s.n / 4, s.k / 4);
    let (tm, tn) = (s.m.div_ceil(16), n4.div_ceil(16));
    let p = Params::new(&[
        u32_of(op, s.m)?,
        u32_of(op, n4)?,
        u32_of(op, k4)?,
        u32_of(op, s.batch)?,
        u32_of(op, s.a_batch_stride / 4)?,
        u32_of(op, s.b_batch_stride / 4)?,
        u32_of(op, tm)?,
        u32_of(op, tn)?,
    ]);
    gpu.launch(
        op,
        Kernel::new(Shader::MatmulSubgroup, "matmul_sg"),
        &p,
        &[a.read(1), b.read(2), c.write(3)],
        (s.batch * tm * tn * 8) as u64,
    )
}
