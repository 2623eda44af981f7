//! The f16 forward pass: conversions between f32 and f16, and the f16 forms
//! of the ops a backbone's evaluation forward uses (convolution, batch norm
//! with running statistics, ReLU, the residual add, max and average
//! pooling). Activations and weights are stored in f16, products are
//! accumulated in f32. Nothing here records autodiff: f16 is for inference
//! (CAM generation, prediction, evaluation); training stays in f32.

use weakseg_kernels::launch::conv::Conv2d;
use weakseg_kernels::launch::half::{self as hk, PoolKind};
use weakseg_kernels::launch::pool::Pool2d;
use weakseg_kernels::{Error, Result};

use crate::tensor::{DType, Tensor, no_grad};

fn nchw(op: &'static str, x: &Tensor) -> Result<[usize; 4]> {
    match x.shape() {
        &[n, c, h, w] => Ok([n, c, h, w]),
        s => Err(Error::invalid(op, format!("expects NCHW input, got {s:?}"))),
    }
}

impl Tensor {
    /// The same values as `dtype`: f32 → f16 rounds to nearest and saturates
    /// at ±65504, f16 → f32 is exact; converting to the own dtype shares the
    /// tensor. Only f32 ⇄ f16 is offered, and the result records no
    /// gradient (f16 is the inference forward pass).
    pub fn to_dtype(&self, dtype: DType) -> Result<Tensor> {
        let op = "to_dtype";
        if dtype == self.dtype() {
            return Ok(self.clone());
        }
        let out = Tensor::empty(self.gpu(), self.shape(), dtype)?;
        let n = self.numel();
        {
            let (xh, yh) = (self.held(), out.held());
            match (self.dtype(), dtype) {
                (DType::F32, DType::F16) => hk::cast_to_half(self.gpu(), n, xh.v(), yh.v())?,
                (DType::F16, DType::F32) => hk::cast_to_float(self.gpu(), n, xh.v(), yh.v())?,
                (from, to) => {
                    return Err(Error::invalid(
                        op,
                        format!("converts between F32 and F16 only, not {from:?} to {to:?}"),
                    ));
                }
            }
        }
        Ok(out)
    }
}

/// f16 convolution: f16 input and weight, optional f32 bias, f16 output.
pub(crate) fn conv2d(
    x: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    g: &Conv2d,
) -> Result<Tensor> {
    weight.check_dtype("conv2d (f16)", DType::F16)?;
    if let Some(b) = bias {
        b.check_dtype("conv2d (f16) bias", DType::F32)?;
    }
    let y = Tensor::empty(x.gpu(), &[g.n, g.cout, g.ho(), g.wo()], DType::F16)?;
    {
        let (xh, wh, yh) = (x.held(), weight.held(), y.held());
        let bh = bias.map(|b| b.held());
        hk::conv2d_half(
            x.gpu(),
            g,
            xh.v(),
            wh.v(),
            bh.as_ref().map(|b| b.v()),
            yh.v(),
            false,
        )?;
    }
    Ok(y)
}

/// max(x, 0) of an f16 tensor.
pub(crate) fn relu(x: &Tensor) -> Result<Tensor> {
    let y = Tensor::empty(x.gpu(), x.shape(), DType::F16)?;
    {
        let (xh, yh) = (x.held(), y.held());
        hk::relu_half(x.gpu(), x.numel(), xh.v(), yh.v())?;
    }
    Ok(y)
}

/// a + b for two f16 tensors of one shape (the residual join; no broadcasting).
pub(crate) fn add(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    a.same_device("add (f16)", b)?;
    b.check_dtype("add (f16)", DType::F16)?;
    if a.shape() != b.shape() {
        return Err(Error::invalid(
            "add (f16)",
            format!(
                "f16 add needs equal shapes, got {:?} and {:?}",
                a.shape(),
                b.shape()
            ),
        ));
    }
    let y = Tensor::empty(a.gpu(), a.shape(), DType::F16)?;
    {
        let (ah, bh, yh) = (a.held(), b.held(), y.held());
        hk::add_half(a.gpu(), a.numel(), ah.v(), bh.v(), yh.v(), false)?;
    }
    Ok(y)
}

/// Square max or average pooling of an f16 tensor.
pub(crate) fn pool2d(
    x: &Tensor,
    kind: PoolKind,
    kernel: usize,
    stride: usize,
    pad: usize,
) -> Result<Tensor> {
    let [n, c, h, w] = nchw("pool2d (f16)", x)?;
    let g = Pool2d {
        planes: n * c,
        h,
        w,
        kernel: (kernel, kernel),
        stride: (stride, stride),
        pad: (pad, pad),
    };
    g.validate()?;
    let y = Tensor::empty(x.gpu(), &[n, c, g.ho(), g.wo()], DType::F16)?;
    {
        let (xh, yh) = (x.held(), y.held());
        hk::pool2d_half(x.gpu(), &g, kind, xh.v(), yh.v())?;
    }
    Ok(y)
}

/// Batch norm of an f16 NCHW tensor with running statistics: the f32
/// per-channel scale γ/√(σ²+ε) and shift β − μ·scale, applied in one pass.
pub(crate) fn batch_norm_eval(
    x: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    mean: &Tensor,
    var: &Tensor,
    eps: f32,
) -> Result<Tensor> {
    let shape = nchw("batch_norm (f16)", x)?;
    for (name, t) in [
        ("gamma", gamma),
        ("beta", beta),
        ("mean", mean),
        ("var", var),
    ] {
        if t.shape() != [shape[1]] {
            return Err(Error::invalid(
                "batch_norm (f16)",
                format!("{name} {:?} must be [{}]", t.shape(), shape[1]),
            ));
        }
    }
    let scale_shift = no_grad(|| -> Result<Tensor> {
        let scale = gamma.mul(&var.add_scalar(eps)?.pow(-0.5)?)?;
        let shift = beta.sub(&mean.mul(&scale)?)?;
        Tensor::concat(&[scale, shift], 0)
    })?;
    let y = Tensor::empty(x.gpu(), x.shape(), DType::F16)?;
    {
        let (xh, sh, yh) = (x.held(), scale_shift.held(), y.held());
        hk::affine_half(x.gpu(), shape, xh.v(), sh.v(), yh.v(), false)?;
    }
    Ok(y)
}
