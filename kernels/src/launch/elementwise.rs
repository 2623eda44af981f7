//! Launchers for `shaders/elementwise.wgsl`.

use crate::batch::Params;
use crate::device::Gpu;
use crate::error::{Error, Result};
use crate::pipeline::Kernel;
use crate::shaders::Shader;
use crate::view::{MAX_RANK, View, collapse_axes, u32_of};

/// Unary maps; `alpha`/`beta` are the scalar operands where one applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Unary {
    /// x
    Copy = 0,
    /// −x
    Neg,
    /// |x|
    Abs,
    /// eˣ
    Exp,
    /// ln x
    Log,
    /// √x
    Sqrt,
    /// x^alpha
    Pow,
    /// max(x, 0)
    Relu,
    /// x > 0 ? x : alpha·(eˣ − 1)
    Elu,
    /// x > 0 ? x : alpha·x
    LeakyRelu,
    /// 1 / (1 + e⁻ˣ)
    Sigmoid,
    /// tanh x
    Tanh,
    /// clamp(x, alpha, beta)
    Clamp,
    /// alpha·x + beta
    Affine,
    /// sign x
    Sign,
    /// 1 / x
    Recip,
    /// x²
    Square,
    /// x > alpha ? 1 : 0
    GtScalar,
    /// x < alpha ? 1 : 0
    LtScalar,
    /// x == alpha ? 1 : 0
    EqScalar,
}

impl Unary {
    /// Every unary map in code order: what the WGSL `case` labels are
    /// checked against.
    pub const ALL: [Unary; 20] = [
        Unary::Copy,
        Unary::Neg,
        Unary::Abs,
        Unary::Exp,
        Unary::Log,
        Unary::Sqrt,
        Unary::Pow,
        Unary::Relu,
        Unary::Elu,
        Unary::LeakyRelu,
        Unary::Sigmoid,
        Unary::Tanh,
        Unary::Clamp,
        Unary::Affine,
        Unary::Sign,
        Unary::Recip,
        Unary::Square,
        Unary::GtScalar,
        Unary::LtScalar,
        Unary::EqScalar,
    ];
}

/// Binary maps with broadcasting; the `*Grad` forms take the incoming
/// gradient as `a` and the saved input (or output) as `b`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Binary {
    /// a + b
    Add = 0,
    /// a − b
    Sub,
    /// a · b
    Mul,
    /// a / b
    Div,
    /// max(a, b)
    Max,
    /// min(a, b)
    Min,
    /// a == b
    Eq,
    /// a != b
    Ne,
    /// a < b
    Lt,
    /// a <= b
    Le,
    /// a > b
    Gt,
    /// a >= b
    Ge,
    /// b > 0 ? a : 0
    ReluGrad,
    /// b > 0 ? a : alpha·a
    LeakyReluGrad,
    /// b > 0 ? a : alpha·e^b·a
    EluGrad,
    /// a·b·(1 − b), b the sigmoid output
    SigmoidGrad,
    /// a·(1 − b²), b the tanh output
    TanhGrad,
    /// a·sign(b)
    AbsGrad,
    /// max(a, 0) − a·b + ln(1 + e^−|a|): BCE with logits a and targets b
    BceWithLogits,
    /// sigmoid(a) − b
    BceWithLogitsGrad,
}

impl Binary {
    /// Every binary map in code order: what the WGSL `case` labels are
    /// checked against.
    pub const ALL: [Binary; 20] = [
        Binary::Add,
        Binary::Sub,
        Binary::Mul,
        Binary::Div,
        Binary::Max,
        Binary::Min,
        Binary::Eq,
        Binary::Ne,
        Binary::Lt,
        Binary::Le,
        Binary::Gt,
        Binary::Ge,
        Binary::ReluGrad,
        Binary::LeakyReluGrad,
        Binary::EluGrad,
        Binary::SigmoidGrad,
        Binary::TanhGrad,
        Binary::AbsGrad,
        Binary::BceWithLogits,
        Binary::BceWithLogitsGrad,
    ];
}

/// An output shape and the strides (0 on broadcast axes) each operand is read with.
#[derive(Clone, Debug)]
pub struct Broadcast {
    /// Output shape.
    pub shape: Vec<usize>,
    /// Element strides of each operand over the output shape.
    pub strides: Vec<Vec<usize>>,
}

fn bcast_params(op: &'static str, bc: &Broadcast) -> Result<(Params, usize)> {
    let rank = bc.shape.len();
    if rank > MAX_RANK {
        return Err(Error::invalid(
            op,
            format!("rank {rank} exceeds the supported {MAX_RANK}"),
        ));
    }
    let mut strides = Vec::with_capacity(bc.strides.len());
    for (k, st) in bc.strides.iter().enumerate() {
        if st.len() != rank {
            return Err(Error::invalid(
                op,
                format!("operand {k} has {} strides for rank {rank}", st.len()),
            ));
        }
        strides.push(st.iter().map(|&s| s as i64).collect::<Vec<_>>());
    }
    let n: usize = bc.shape.iter().product();
    let views: Vec<&[i64]> = strides.iter().map(Vec::as_slice).collect();
    let (shape, strides) = collapse_axes(&bc.shape, &views);
    let mut p = Params::new(&[u32_of(op, n)?, shape.len() as u32]);
    for (i, &d) in shape.iter().enumerate() {
        p = p.u(2 + i, u32_of(op, d)?);
    }
    for (k, st) in strides.iter().enumerate() {
        for (i, &s) in st.iter().enumerate() {
            p = p.u(8 + 6 * k + i, u32_of(op, s as usize)?);
        }
    }
    Ok((p, n))
}

/// out[i] = op(x[i]) over `out.len` elements.
pub fn unary(gpu: &Gpu, op: Unary, x: View, out: View, alpha: f32, beta: f32) -> Result<()> {
    let n = out.len;
    x.need("unary", "input", n)?;
    let p = Params::new(&[u32_of("unary", n)?]).f(1, alpha).f(2, beta);
    gpu.launch(
        "unary",
        Kernel::with_op(Shader::Elementwise, "unary", op as u32),
        &p,
        &[x.read(1), out.write(2)],
        n as u64,
    )
}

/// out = op(a, b) under broadcasting.
pub fn binary(
    gpu: &Gpu,
    op: Binary,
    a: View,
    b: View,
    out: View,
    bc: &Broadcast,
    alpha: f32,
) -> Result<()> {
    let (p, n) = bcast_params("binary", bc)?;
    out.need("binary", "output", n)?;
    let p = p.f(20, alpha);
    let k = Kernel::with_op(Shader::Elementwise, "binary", op as u32);
    gpu.launch(
        "binary",
        k,
        &p,
        &[a.read(1), out.write(2), b.read(3)],
        n as u64,
    )
}

/// out = cond != 0 ? a : b under broadcasting (strides ordered a, b, cond).
pub fn select(gpu: &Gpu, cond: View, a: View, b: View, out: View, bc: &Broadcast) -> Result<()> {
    let (p, n) = bcast_params("where", bc)?;
    out.need("where", "output", n)?;
    let k = Kernel::new(Shader::Elementwise, "select_where");
    gpu.launch(
        "where",
        k,
        &p,
        &[a.read(1), out.write(2), b.read(3), cond.read(4)],
        n as u64,
    )
}

/// acc = alpha·acc + beta·src, in place.
pub fn axpby_inplace(gpu: &Gpu, acc: View, src: View, alpha: f32, beta: f32) -> Result<()> {
    let n = acc.len;
    src.need("axpby", "source", n)?;
    let p = Params::new(&[u32_of("axpby", n)?]).f(1, alpha).f(2, beta);
    gpu.launch(
        "axpby",
        Kernel::new(Shader::Elementwise, "axpby_inplace"),
        &p,
        &[acc.write(5), src.read(6)],
        n as u64,
    )
}
