//! Launchers for `shaders/reduce.wgsl`. Tensors are viewed as [outer, l, inner].

use crate::batch::Params;
use crate::device::Gpu;
use crate::error::Result;
use crate::pipeline::Kernel;
use crate::shaders::Shader;
use crate::view::{View, loop_bound, u32_of};

/// Axis reductions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Reduce {
    /// Σ
    Sum = 0,
    /// mean
    Mean,
    /// max
    Max,
    /// min
    Min,
    /// log Σ exp
    LogSumExp,
}

impl Reduce {
    /// Every reduction in code order: what the WGSL op codes are checked
    /// against.
    pub const ALL: [Reduce; 5] = [
        Reduce::Sum,
        Reduce::Mean,
        Reduce::Max,
        Reduce::Min,
        Reduce::LogSumExp,
    ];
}

/// The [outer, l, inner] view of a reduction.
#[derive(Clone, Copy, Debug)]
pub struct Axis {
    /// Product of the axes before the reduced one.
    pub outer: usize,
    /// Length of the reduced axis.
    pub l: usize,
    /// Product of the axes after it.
    pub inner: usize,
}

impl Axis {
    fn params(&self, op: &'static str, t: f32) -> Result<Params> {
        Ok(Params::new(&[
            u32_of(op, self.outer * self.inner)?,
            u32_of(op, self.l)?,
            u32_of(op, self.inner)?,
        ])
        .f(3, t))
    }

    /// The params of a chunked pass (`reduce_partial`,
    /// `arg_reduce_partial`): one output per chunk of each row.
    fn chunk_params(&self, op: &'static str, chunks: usize) -> Result<Params> {
        Ok(Params::new(&[
            u32_of(op, self.outer * chunks * self.inner)?,
            u32_of(op, self.l)?,
            u32_of(op, self.inner)?,
            0,
            u32_of(op, REDUCE_CHUNK)?,
            u32_of(op, chunks)?,
        ]))
    }

    /// Refuses an axis longer than one shader loop may walk.
    fn within_loop_bound(&self, op: &'static str) -> Result<()> {
        loop_bound(op, "an axis", self.l)
    }
}

/// Longest stretch of an axis one invocation reduces; longer axes are
/// reduced in chunks first, then over the chunks.
const REDUCE_CHUNK: usize = 4096;

/// out[o, i] = reduce over k of x[o, k, i].
pub fn reduce(gpu: &Gpu, op: Reduce, x: View, out: View, ax: Axis) -> Result<()> {
    reduce_scaled(gpu, op, x, out, ax, 1.0 / ax.l.max(1) as f32)
}

/// [`reduce`] with the mean's divisor given (1 / the original length).
fn reduce_scaled(
    gpu: &Gpu,
    op: Reduce,
    x: View,
    out: View,
    ax: Axis,
    mean_scale: f32,
) -> Result<()> {
    let n = ax.outer * ax.inner;
    x.need("reduce", "input", n * ax.l)?;
    out.need("reduce", "output", n)?;
    if ax.l <= REDUCE_CHUNK {
        let k = Kernel::with_op(Shader::Reduce, "reduce", op as u32);
        return gpu.launch(
            "reduce",
            k,
            &ax.params("reduce", mean_scale)?,
            &[x.read(1), out.write(2)],
            n as u64,
        );
    }
    let chunks = ax.l.div_ceil(REDUCE_CHUNK);
    let partial_op = if op == Reduce::Mean { Reduce::Sum } else { op };
    let parts = ax.outer * chunks * ax.inner;
    let part = gpu.alloc((parts * 4) as u64)?;
    let pv = View::new(&part, parts);
    gpu.launch(
        "reduce",
        Kernel::with_op(Shader::Reduce, "reduce_partial", partial_op as u32),
        &ax.chunk_params("reduce", chunks)?,
        &[x.read(1), pv.write(2)],
        parts as u64,
    )?;
    reduce_scaled(
        gpu,
        op,
        pv,
        out,
        Axis {
            outer: ax.outer,
            l: chunks,
            inner: ax.inner,
        },
        mean_scale,
    )
}

/// Values and indices of the max (argmax) or min over the axis; the first
/// index wins ties. Axes longer than a chunk are reduced in chunks first,
/// each keeping its winner's index, then over the chunks.
pub fn arg_reduce(
    gpu: &Gpu,
    argmax: bool,
    x: View,
    values: View,
    index: View,
    ax: Axis,
) -> Result<()> {
    let n = ax.outer * ax.inner;
    let op = if argmax { 0 } else { 1 };
    x.need("arg_reduce", "input", n * ax.l)?;
    values.need("arg_reduce", "values", n)?;
    index.need("arg_reduce", "indices", n)?;
    if ax.l <= REDUCE_CHUNK {
        return gpu.launch(
            "arg_reduce",
            Kernel::with_op(Shader::Reduce, "arg_reduce", op),
            &ax.params("arg_reduce", 1.0)?,
            &[x.read(1), values.write(2), index.write(3)],
            n as u64,
        );
    }
    let chunks = ax.l.div_ceil(REDUCE_CHUNK);
    let over_chunks = Axis {
        outer: ax.outer,
        l: chunks,
        inner: ax.inner,
    };
    over_chunks.within_loop_bound("arg_reduce")?;
    let parts = ax.outer * chunks * ax.inner;
    let (part, part_idx) = (
        gpu.alloc((parts * 4) as u64)?,
        gpu.alloc((parts * 4) as u64)?,
    );
    let (pv, pi) = (View::new(&part, parts), View::new(&part_idx, parts));
    gpu.launch(
        "arg_reduce",
        Kernel::with_op(Shader::Reduce, "arg_reduce_partial", op),
        &ax.chunk_params("arg_reduce", chunks)?,
        &[x.read(1), pv.write(2), pi.write(3)],
        parts as u64,
    )?;
    gpu.launch(
        "arg_reduce",
        Kernel::with_op(Shader::Reduce, "arg_reduce_chunks", op),
        &over_chunks.params("arg_reduce", 1.0)?,
        &[pv.read(1), values.write(2), index.write(3), pi.read(5)],
        n as u64,
    )
}

/// softmax (or log_softmax) of x·inv_temperature along the axis.
pub fn softmax(
    gpu: &Gpu,
    log: bool,
    x: View,
    out: View,
    ax: Axis,
    inv_temperature: f32,
) -> Result<()> {
    let n = ax.outer * ax.inner;
    x.need("softmax", "input", n * ax.l)?;
    let k = Kernel::with_op(Shader::Reduce, "softmax", log as u32);
    gpu.launch(
        "softmax",
        k,
        &{
            ax.within_loop_bound("softmax")?;
            ax.params("softmax", inv_temperature)?
        },
        &[x.read(1), out.write(2)],
        n as u64,
    )
}

/// Gradient of softmax/log_softmax from the incoming gradient g and the output y.
pub fn softmax_backward(
    gpu: &Gpu,
    log: bool,
    g: View,
    y: View,
    out: View,
    ax: Axis,
    inv_temperature: f32,
) -> Result<()> {
    let n = ax.outer * ax.inner;
    g.need("softmax_backward", "gradient", n * ax.l)?;
    let k = Kernel::with_op(Shader::Reduce, "softmax_backward", log as u32);
    gpu.launch(
        "softmax_backward",
        k,
        &{
            ax.within_loop_bound("softmax_backward")?;
            ax.params("softmax_backward", inv_temperature)?
        },
        &[g.read(1), out.write(2), y.read(4)],
        n as u64,
    )
}

/// out[o, k, i] = arg[o, i] == k ? g[o, i] : 0 (gradient of max/min).
pub fn arg_backward(gpu: &Gpu, g: View, arg: View, out: View, ax: Axis) -> Result<()> {
    let n = ax.outer * ax.l * ax.inner;
    out.need("arg_backward", "output", n)?;
    let k = Kernel::new(Shader::Reduce, "arg_backward");
    gpu.launch(
        "arg_backward",
        k,
        &ax.params("arg_backward", 1.0)?,
        &[g.read(1), out.write(2), arg.read(5)],
        n as u64,
    )
}
