//! Launchers for `shaders/half.wgsl`: the f16 forward pass. Views of f16
//! tensors count 32-bit words ([`View::halves`]); element counts are passed
//! explicitly. Every launcher needs the adapter's shader-f16 feature and
//! returns [`crate::Error::MissingFeature`] without it.

use crate::batch::Params;
use crate::device::Gpu;
use crate::error::Result;
use crate::launch::conv::Conv2d;
use crate::launch::pool::Pool2d;
use crate::pipeline::Kernel;
use crate::shaders::Shader;
use crate::view::{View, u32_of};

/// Which window reduction [`pool2d_half`] applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolKind {
    /// Maximum of the window.
    Max,
    /// Mean of the window, padding counted in the divisor.
    Avg,
}

fn elementwise(
    gpu: &Gpu,
    op: &'static str,
    entry: &'static str,
    p: Params,
    binds: &[crate::batch::Bind<'_>],
    n: usize,
) -> Result<()> {
    gpu.launch(op, Kernel::new(Shader::Half, entry), &p, binds, n as u64)
}

/// y (f16) = x (f32) rounded to f16, saturating at ±65504.
pub fn cast_to_half(gpu: &Gpu, n: usize, x: View, y: View) -> Result<()> {
    x.need("cast_to_half", "input", n)?;
    y.need_halves("cast_to_half", "output", n)?;
    let p = Params::new(&[u32_of("cast_to_half", n)?]);
    elementwise(
        gpu,
        "cast_to_half",
        "cast_to_half",
        p,
        &[x.read(3), y.write(4)],
        n,
    )
}

/// y (f32) = x (f16), exactly.
pub fn cast_to_float(gpu: &Gpu, n: usize, x: View, y: View) -> Result<()> {
    x.need_halves("cast_to_float", "input", n)?;
    y.need("cast_to_float", "output", n)?;
    let p = Params::new(&[u32_of("cast_to_float", n)?]);
    elementwise(
        gpu,
        "cast_to_float",
        "cast_to_float",
        p,
        &[x.read(1), y.write(5)],
        n,
    )
}

/// Per-channel y = x·scale[c] + shift[c] over NCHW `shape`, then ReLU if
/// `relu`: batch norm in evaluation mode. `scale_shift` holds scale [C]
/// followed by shift [C] in f32.
pub fn affine_half(
    gpu: &Gpu,
    shape: [usize; 4],
    x: View,
    scale_shift: View,
    y: View,
    relu: bool,
) -> Result<()> {
    let op = "affine_half";
    let [n, c, h, w] = shape;
    let len = n * c * h * w;
    x.need_halves(op, "input", len)?;
    y.need_halves(op, "output", len)?;
    scale_shift.need(op, "scale and shift", 2 * c)?;
    let p = Params::new(&[
        u32_of(op, len)?,
        u32_of(op, c)?,
        u32_of(op, h * w)?,
        relu as u32,
    ]);
    elementwise(
        gpu,
        op,
        "affine_half",
        p,
        &[x.read(1), scale_shift.read(3), y.write(4)],
        len,
    )
}

/// y = a + b over `n` f16 elements, then ReLU if `relu` (the residual join).
pub fn add_half(gpu: &Gpu, n: usize, a: View, b: View, y: View, relu: bool) -> Result<()> {
    let op = "add_half";
    a.need_halves(op, "first operand", n)?;
    b.need_halves(op, "second operand", n)?;
    y.need_halves(op, "output", n)?;
    let p = Params::new(&[u32_of(op, n)?, relu as u32]);
    elementwise(
        gpu,
        op,
        "add_half",
        p,
        &[a.read(1), b.read(2), y.write(4)],
        n,
    )
}

/// y = max(x, 0) over `n` f16 elements.
pub fn relu_half(gpu: &Gpu, n: usize, x: View, y: View) -> Result<()> {
    let op = "relu_half";
    x.need_halves(op, "input", n)?;
    y.need_halves(op, "output", n)?;
    let p = Params::new(&[u32_of(op, n)?]);
    elementwise(gpu, op, "relu_half", p, &[x.read(1), y.write(4)], n)
}

/// Max or average pooling of f16 planes.
pub fn pool2d_half(gpu: &Gpu, g: &Pool2d, kind: PoolKind, x: View, y: View) -> Result<()> {
    let op = "pool2d_half";
    g.validate()?;
    let n = g.planes * g.ho() * g.wo();
    x.need_halves(op, "input", g.planes * g.h * g.w)?;
    y.need_halves(op, "output", n)?;
    let p = g.params(n)?.u(11, (kind == PoolKind::Avg) as u32);
    elementwise(gpu, op, "pool_half", p, &[x.read(1), y.write(4)], n)
}

/// y = conv(x, w) + bias, then ReLU if `relu`: x, w and y in f16, the bias
/// in f32, products accumulated in f32.
pub fn conv2d_half(
    gpu: &Gpu,
    g: &Conv2d,
    x: View,
    w: View,
    bias: Option<View>,
    y: View,
    relu: bool,
) -> Result<()> {
    let op = "conv2d_half";
    g.validate()?;
    let hwo = g.ho() * g.wo();
    x.need_halves(op, "input", g.n * g.cin * g.h * g.w)?;
    w.need_halves(op, "weight", g.cout * (g.cin / g.groups) * g.kh * g.kw)?;
    y.need_halves(op, "output", g.n * g.cout * hwo)?;
    if let Some(b) = &bias {
        b.need(op, "bias", g.cout)?;
    }
    let wide = g.groups == 1 || (g.cout / g.groups).is_multiple_of(4);
    let (t, entry) = if wide {
        (4, "conv2d_half_t4")
    } else {
        (1, "conv2d_half_t1")
    };
    let (tc, tp) = (g.cout.div_ceil(t), hwo.div_ceil(4));
    let p = g.params(tc, tp, bias.is_some(), 0, 0)?.u(19, relu as u32);
    let b = bias.unwrap_or(w);
    gpu.launch(
        op,
        Kernel::new(Shader::Half, entry),
        &p,
        &[x.read(1), w.read(2), b.read(3), y.write(4)],
        (g.n * tc * tp) as u64,
    )
}
