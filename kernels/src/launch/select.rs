//! Launchers for `shaders/select.wgsl`: top-k along rows and its backward.

use crate::batch::Params;
use crate::device::Gpu;
use crate::error::{Error, Result};
use crate::launch::{layout, scan};
use crate::pipeline::Kernel;
use crate::shaders::Shader;
use crate::view::{View, loop_bound, u32_of};

/// Entries each invocation of the count and write passes walks.
const CHUNK: usize = 256;

/// Shape of a top-k selection: `k` of the `n` entries of each of `rows` rows.
#[derive(Clone, Copy, Debug)]
pub struct TopK {
    /// Rows selected independently.
    pub rows: usize,
    /// Entries per row.
    pub n: usize,
    /// Entries kept per row (1 ≤ k ≤ n).
    pub k: usize,
    /// Keep the smallest entries instead of the largest.
    pub smallest: bool,
}

impl TopK {
    fn check(&self, op: &'static str) -> Result<()> {
        if self.k == 0 || self.k > self.n {
            return Err(Error::invalid(
                op,
                format!("k = {} must lie in 1..={} (the row length)", self.k, self.n),
            ));
        }
        loop_bound(op, "a chunk", CHUNK)
    }

    fn params(&self, op: &'static str) -> Result<Params> {
        let chunks = self.n.div_ceil(CHUNK);
        Ok(Params::new(&[
            u32_of(op, self.rows)?,
            u32_of(op, self.n)?,
            u32_of(op, self.k)?,
            self.smallest as u32,
            0,
            0,
            CHUNK as u32,
            u32_of(op, chunks)?,
        ]))
    }
}

/// values, indices ← the `k` largest (or smallest) entries of each row of
/// `x` [rows, n] and their column indices, [rows, k] each, in index order;
/// ties at the k-th value are taken lowest index first.
pub fn topk(gpu: &Gpu, x: View, s: TopK, values: View, indices: View) -> Result<()> {
    let op = "topk";
    s.check(op)?;
    let p = s.params(op)?;
    let kernel = |e: &'static str| Kernel::new(Shader::Select, e);
    let state = gpu.alloc(s.rows as u64 * 8)?;
    let sv = View::new(&state, s.rows * 2);
    let hist = gpu.alloc(s.rows as u64 * 256 * 4)?;
    let hv = View::new(&hist, s.rows * 256);
    layout::fill(gpu, hv, 0)?;
    gpu.launch(op, kernel("topk_init"), &p, &[sv.write(2)], s.rows as u64)?;
    for round in 0..4u32 {
        let pr = p.u(4, 24 - 8 * round).u(5, (round == 0) as u32);
        gpu.launch(
            op,
            kernel("topk_hist"),
            &pr,
            &[x.read(1), sv.write(2), hv.write(3)],
            (s.rows * s.n) as u64,
        )?;
        gpu.launch(
            op,
            kernel("topk_pick"),
            &pr,
            &[sv.write(2), hv.write(3)],
            s.rows as u64,
        )?;
    }
    let cells = s.rows * s.n.div_ceil(CHUNK);
    let gt = gpu.alloc((cells as u64 + 1) * 4)?;
    let eq = gpu.alloc((cells as u64 + 1) * 4)?;
    let (gv, ev) = (View::new(&gt, cells + 1), View::new(&eq, cells + 1));
    layout::fill(gpu, gv, 0)?;
    layout::fill(gpu, ev, 0)?;
    gpu.launch(
        op,
        kernel("topk_count"),
        &p,
        &[x.read(1), sv.write(2), gv.write(4), ev.write(5)],
        cells as u64,
    )?;
    scan::exclusive_scan(gpu, gv)?;
    scan::exclusive_scan(gpu, ev)?;
    gpu.launch(
        op,
        kernel("topk_write"),
        &p,
        &[
            x.read(1),
            sv.write(2),
            gv.write(4),
            ev.write(5),
            values.write(6),
            indices.write(7),
        ],
        cells as u64,
    )
}

/// grad_in [rows, n] ← the gradient `grad` [rows, k] of top-k's values sent
/// back to the entries `indices` [rows, k] picked; zero elsewhere.
pub fn topk_backward(gpu: &Gpu, grad: View, indices: View, s: TopK, grad_in: View) -> Result<()> {
    let op = "topk_backward";
    s.check(op)?;
    layout::fill(gpu, grad_in, 0)?;
    gpu.launch(
        op,
        Kernel::new(Shader::Select, "topk_scatter"),
        &s.params(op)?,
        &[grad.read(1), indices.read(7), grad_in.write(8)],
        (s.rows * s.k) as u64,
    )
}
