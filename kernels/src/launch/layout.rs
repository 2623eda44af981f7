//! Launchers for `shaders/layout.wgsl`.

use crate::batch::Params;
use crate::device::Gpu;
use crate::error::{Error, Result};
use crate::pipeline::Kernel;
use crate::shaders::Shader;
use crate::view::{MAX_RANK, View, collapse_axes, u32_of};

/// A copy over an iteration shape, reading and writing through signed strides.
#[derive(Clone, Debug)]
pub struct Strided {
    /// Iteration shape.
    pub shape: Vec<usize>,
    /// Source element offset.
    pub src_offset: i64,
    /// Source element strides (negative flips an axis).
    pub src_strides: Vec<i64>,
    /// Destination element offset.
    pub dst_offset: i64,
    /// Destination element strides.
    pub dst_strides: Vec<i64>,
}

fn i32_of(v: i64) -> Result<i32> {
    i32::try_from(v).map_err(|_| Error::Limit {
        op: "strided_copy",
        msg: format!("offset {v} exceeds 32-bit indexing"),
    })
}

/// dst[dst_offset + Σ i·dst_stride] = src[src_offset + Σ i·src_stride].
pub fn strided_copy(gpu: &Gpu, src: View, dst: View, s: &Strided) -> Result<()> {
    let rank = s.shape.len();
    if rank > MAX_RANK || s.src_strides.len() != rank || s.dst_strides.len() != rank {
        return Err(Error::invalid(
            "strided_copy",
            format!("rank {rank} with mismatched strides or above {MAX_RANK}"),
        ));
    }
    let n: usize = s.shape.iter().product();
    let (shape, st) = collapse_axes(&s.shape, &[&s.src_strides, &s.dst_strides]);
    let mut p = Params::new(&[u32_of("strided_copy", n)?, shape.len() as u32])
        .i(2, i32_of(s.src_offset)?)
        .i(3, i32_of(s.dst_offset)?);
    for (i, &d) in shape.iter().enumerate() {
        p = p
            .u(4 + i, u32_of("strided_copy", d)?)
            .i(10 + i, i32_of(st[0][i])?)
            .i(16 + i, i32_of(st[1][i])?);
    }
    gpu.launch(
        "strided_copy",
        Kernel::new(Shader::Layout, "strided_copy"),
        &p,
        &[src.read(1), dst.write(2)],
        n as u64,
    )
}

/// dst = src over `dst`'s length: vec4 moves for the bulk, single words for
/// the remainder (the bandwidth benchmark's kernel; tensors copy through
/// [`strided_copy`]).
pub fn copy(gpu: &Gpu, src: View, dst: View) -> Result<()> {
    let op = "copy";
    src.need(op, "source", dst.len)?;
    let bulk = dst.len / 4 * 4;
    if bulk > 0 {
        let (s4, d4) = (View { len: bulk, ..src }, View { len: bulk, ..dst });
        gpu.launch(
            op,
            Kernel::new(Shader::Layout, "copy_vec4"),
            &Params::new(&[u32_of(op, bulk / 4)?]),
            &[s4.read(6), d4.write(7)],
            (bulk / 4) as u64,
        )?;
    }
    let tail = dst.len - bulk;
    if tail > 0 {
        gpu.launch(
            op,
            Kernel::new(Shader::Layout, "copy_words"),
            &Params::new(&[tail as u32, u32_of(op, bulk)?]),
            &[src.read(1), dst.write(2)],
            tail as u64,
        )?;
    }
    Ok(())
}

/// Fills `dst` with a 32-bit pattern (f32::to_bits for floats).
pub fn fill(gpu: &Gpu, dst: View, bits: u32) -> Result<()> {
    let p = Params::new(&[u32_of("fill", dst.len)?, bits]);
    gpu.launch(
        "fill",
        Kernel::new(Shader::Layout, "fill"),
        &p,
        &[dst.write(2)],
        dst.len as u64,
    )
}

/// Geometry of gather/scatter: the source is [outer, l, inner], the index
/// [j] (1-D, index_select) or [outer, j, inner] (gather along the axis).
#[derive(Clone, Copy, Debug)]
pub struct Gather {
    /// Product of the axes before the indexed one.
    pub outer: usize,
    /// Length of the index along the axis.
    pub j: usize,
    /// Product of the axes after the indexed one.
    pub inner: usize,
    /// Length of the indexed axis in the source.
    pub l: usize,
    /// Whether the index is 1-D.
    pub index_1d: bool,
}

impl Gather {
    fn params(&self, op: &'static str) -> Result<(Params, usize)> {
        let n = self.outer * self.j * self.inner;
        let p = Params::new(&[
            u32_of(op, n)?,
            u32_of(op, self.j)?,
            u32_of(op, self.inner)?,
            u32_of(op, self.l)?,
            self.index_1d as u32,
        ]);
        Ok((p, n))
    }
}

/// dst[o, j, i] = src[o, index, i]; out-of-range indices give 0.
pub fn gather(gpu: &Gpu, src: View, index: View, dst: View, g: &Gather) -> Result<()> {
    let (p, n) = g.params("gather")?;
    dst.need("gather", "output", n)?;
    gpu.launch(
        "gather",
        Kernel::new(Shader::Layout, "gather"),
        &p,
        &[src.read(1), dst.write(2), index.read(3)],
        n as u64,
    )
}

/// acc[o, index, i] += val[o, j, i] (compare-exchange float adds).
pub fn scatter_add(gpu: &Gpu, acc: View, index: View, val: View, g: &Gather) -> Result<()> {
    let (p, n) = g.params("scatter_add")?;
    val.need("scatter_add", "values", n)?;
    gpu.launch(
        "scatter_add",
        Kernel::new(Shader::Layout, "scatter_add"),
        &p,
        &[index.read(3), acc.write(4), val.read(5)],
        n as u64,
    )
}
