//! Elementwise maps with numpy broadcasting, scalar forms, comparisons and where.

use weakseg_kernels::launch::elementwise::{self as ew, Binary, Broadcast, Unary};
use weakseg_kernels::view::{broadcast_shape, broadcast_strides};
use weakseg_kernels::{Error, Result};

use crate::tensor::{DType, Tensor};

pub(crate) fn unary_raw(x: &Tensor, op: Unary, a: f32, b: f32) -> Result<Tensor> {
    x.check_dtype("unary", DType::F32)?;
    let out = Tensor::empty(x.gpu(), x.shape(), DType::F32)?;
    let (xh, oh) = (x.held(), out.held());
    ew::unary(x.gpu(), op, xh.v(), oh.v(), a, b)?;
    Ok(out)
}

fn op_name(op: Binary) -> &'static str {
    match op {
        Binary::Add => "add",
        Binary::Sub => "sub",
        Binary::Mul => "mul",
        Binary::Div => "div",
        Binary::Max => "maximum",
        Binary::Min => "minimum",
        _ => "binary",
    }
}

pub(crate) fn binary_raw(a: &Tensor, b: &Tensor, op: Binary, alpha: f32) -> Result<Tensor> {
    let name = op_name(op);
    a.same_device(name, b)?;
    a.check_dtype(name, DType::F32)?;
    b.check_dtype(name, DType::F32)?;
    let shape = broadcast_shape(a.shape(), b.shape()).ok_or_else(|| {
        Error::invalid(
            name,
            format!(
                "shapes {:?} and {:?} do not broadcast",
                a.shape(),
                b.shape()
            ),
        )
    })?;
    let bc = Broadcast {
        strides: vec![
            broadcast_strides(a.shape(), &shape).unwrap_or_default(),
            broadcast_strides(b.shape(), &shape).unwrap_or_default(),
        ],
        shape: shape.clone(),
    };
    let out = Tensor::empty(a.gpu(), &shape, DType::F32)?;
    let (ah, bh, oh) = (a.held(), b.held(), out.held());
    ew::binary(a.gpu(), op, ah.v(), bh.v(), oh.v(), &bc, alpha)?;
    Ok(out)
}

/// Sums a broadcast gradient back to `shape`.
pub(crate) fn sum_to(g: &Tensor, shape: &[usize]) -> Result<Tensor> {
    if g.shape() == shape {
        return Ok(g.clone());
    }
    let lead = g.rank() - shape.len();
    let mut axes: Vec<usize> = (0..lead).collect();
    for (i, &d) in shape.iter().enumerate() {
        if d == 1 && g.shape()[lead + i] != 1 {
            axes.push(lead + i);
        }
    }
    g.sum(&axes, true)?.reshape(shape)
}

fn unary_grad(
    x: &Tensor,
    op: Unary,
    a: f32,
    b: f32,
    grad: impl FnOnce(&Tensor, &Tensor, &Tensor) -> Result<Tensor> + 'static,
) -> Result<Tensor> {
    let y = unary_raw(x, op, a, b)?;
    let (xs, ys) = (x.clone(), y.detach());
    Ok(Tensor::record(y, &[x], move |g| {
        Ok(vec![Some(grad(g, &xs, &ys)?)])
    }))
}

impl Tensor {
    fn binary_grad(&self, other: &Tensor, op: Binary) -> Result<Tensor> {
        let y = binary_raw(self, other, op, 0.0)?;
        let (a, b) = (self.clone(), other.clone());
        Ok(Tensor::record(y, &[self, other], move |g| {
            let (ga, gb) = match op {
                Binary::Add => (g.clone(), g.clone()),
                Binary::Sub => (g.clone(), g.neg()?),
                Binary::Mul => (g.mul(&b)?, g.mul(&a)?),
                Binary::Div => (g.div(&b)?, g.mul(&a)?.div(&b.square()?)?.neg()?),
                Binary::Max => (g.mul(&a.ge(&b)?)?, g.mul(&a.lt(&b)?)?),
                Binary::Min => (g.mul(&a.le(&b)?)?, g.mul(&a.gt(&b)?)?),
                Binary::BceWithLogits => (
                    binary_raw(
                        g,
                        &binary_raw(&a, &b, Binary::BceWithLogitsGrad, 0.0)?,
                        Binary::Mul,
                        0.0,
                    )?,
                    g.mul(&a)?.neg()?,
                ),
                _ => {
                    return Err(Error::invalid(
                        "backward",
                        format!("{op:?} is not differentiable"),
                    ));
                }
            };
            Ok(vec![
                Some(sum_to(&ga, a.shape())?),
                Some(sum_to(&gb, b.shape())?),
            ])
        }))
    }

    /// self + other (broadcasting).
    pub fn add(&self, other: &Tensor) -> Result<Tensor> {
        if self.dtype() == DType::F16 {
            return crate::ops::half::add(self, other);
        }
        self.binary_grad(other, Binary::Add)
    }

    /// self − other.
    pub fn sub(&self, other: &Tensor) -> Result<Tensor> {
        self.binary_grad(other, Binary::Sub)
    }

    /// self · other.
    pub fn mul(&self, other: &Tensor) -> Result<Tensor> {
        self.binary_grad(other, Binary::Mul)
    }

    /// self / other.
    pub fn div(&self, other: &Tensor) -> Result<Tensor> {
        self.binary_grad(other, Binary::Div)
    }

    /// Elementwise maximum (ties send the gradient to self).
    pub fn maximum(&self, other: &Tensor) -> Result<Tensor> {
        self.binary_grad(other, Binary::Max)
    }

    /// Elementwise minimum (ties send the gradient to self).
    pub fn minimum(&self, other: &Tensor) -> Result<Tensor> {
        self.binary_grad(other, Binary::Min)
    }

    /// Per-element binary cross-entropy with logits `self` and targets.
    pub fn bce_with_logits_terms(&self, targets: &Tensor) -> Result<Tensor> {
        self.binary_grad(targets, Binary::BceWithLogits)
    }

    fn compare(&self, other: &Tensor, op: Binary) -> Result<Tensor> {
        binary_raw(self, other, op, 0.0)
    }

    /// 1.0 where equal, else 0.0 (not differentiable).
    pub fn eq(&self, other: &Tensor) -> Result<Tensor> {
        self.compare(other, Binary::Eq)
    }

    /// 1.0 where different.
    pub fn ne(&self, other: &Tensor) -> Result<Tensor> {
        self.compare(other, Binary::Ne)
    }

    /// 1.0 where self < other.
    pub fn lt(&self, other: &Tensor) -> Result<Tensor> {
        self.compare(other, Binary::Lt)
    }

    /// 1.0 where self <= other.
    pub fn le(&self, other: &Tensor) -> Result<Tensor> {
        self.compare(other, Binary::Le)
    }

    /// 1.0 where self > other.
    pub fn gt(&self, other: &Tensor) -> Result<Tensor> {
        self.compare(other, Binary::Gt)
    }

    /// 1.0 where self >= other.
    pub fn ge(&self, other: &Tensor) -> Result<Tensor> {
        self.compare(other, Binary::Ge)
    }

    /// 1.0 where self > value.
    pub fn gt_scalar(&self, value: f32) -> Result<Tensor> {
        unary_raw(self, Unary::GtScalar, value, 0.0)
    }

    /// 1.0 where self < value.
    pub fn lt_scalar(&self, value: f32) -> Result<Tensor> {
        unary_raw(self, Unary::LtScalar, value, 0.0)
    }

    /// cond != 0 ? a : b, broadcasting all three; gradients flow to a and b.
    pub fn where_(cond: &Tensor, a: &Tensor, b: &Tensor) -> Result<Tensor> {
        a.same_device("where", b)?;
        a.same_device("where", cond)?;
        let ab = broadcast_shape(a.shape(), b.shape());
        let shape = ab
            .and_then(|s| broadcast_shape(&s, cond.shape()))
            .ok_or_else(|| {
                Error::invalid(
                    "where",
                    format!(
                        "shapes {:?}, {:?}, {:?} do not broadcast",
                        cond.shape(),
                        a.shape(),
                        b.shape()
                    ),
                )
            })?;
        let st = |t: &Tensor| broadcast_strides(t.shape(), &shape).unwrap_or_default();
        let bc = Broadcast {
            strides: vec![st(a), st(b), st(cond)],
            shape: shape.clone(),
        };
        let out = Tensor::empty(a.gpu(), &shape, DType::F32)?;
        {
            let (ch, ah, bh, oh) = (cond.held(), a.held(), b.held(), out.held());
            ew::select(a.gpu(), ch.v(), ah.v(), bh.v(), oh.v(), &bc)?;
        }
        let (c, sa, sb) = (cond.detach(), a.shape().to_vec(), b.shape().to_vec());
        Ok(Tensor::record(out, &[a, b], move |g| {
            let z = Tensor::zeros(g.gpu(), &[1])?;
            let ga = Tensor::where_(&c, g, &z)?;
            let gb = Tensor::where_(&c, &z, g)?;
            Ok(vec![Some(sum_to(&ga, &sa)?), Some(sum_to(&gb, &sb)?)])
        }))
    }

    /// alpha·self + beta.
    pub fn affine(&self, alpha: f32, beta: f32) -> Result<Tensor> {
        let y = unary_raw(self, Unary::Affine, alpha, beta)?;
        Ok(Tensor::record(y, &[self], move |g| {
            Ok(vec![Some(unary_raw(g, Unary::Affine, alpha, 0.0)?)])
        }))
    }

    /// self + c.
    pub fn add_scalar(&self, c: f32) -> Result<Tensor> {
        self.affine(1.0, c)
    }

    /// self · c.
    pub fn mul_scalar(&self, c: f32) -> Result<Tensor> {
        self.affine(c, 0.0)
    }

    /// −self.
    pub fn neg(&self) -> Result<Tensor> {
        self.affine(-1.0, 0.0)
    }

    /// |self|.
    pub fn abs(&self) -> Result<Tensor> {
        unary_grad(self, Unary::Abs, 0.0, 0.0, |g, x, _| {
            binary_raw(g, x, Binary::AbsGrad, 0.0)
        })
    }

    /// eˣ.
    pub fn exp(&self) -> Result<Tensor> {
        unary_grad(self, Unary::Exp, 0.0, 0.0, |g, _, y| g.mul(y))
    }

    /// ln x.
    pub fn log(&self) -> Result<Tensor> {
        unary_grad(self, Unary::Log, 0.0, 0.0, |g, x, _| g.div(x))
    }

    /// √x.
    pub fn sqrt(&self) -> Result<Tensor> {
        unary_grad(self, Unary::Sqrt, 0.0, 0.0, |g, _, y| {
            g.div(y)?.mul_scalar(0.5)
        })
    }

    /// x^e for a scalar exponent.
    pub fn pow(&self, e: f32) -> Result<Tensor> {
        unary_grad(self, Unary::Pow, e, 0.0, move |g, x, _| {
            g.mul(&unary_raw(x, Unary::Pow, e - 1.0, 0.0)?)?
                .mul_scalar(e)
        })
    }

    /// x².
    pub fn square(&self) -> Result<Tensor> {
        unary_grad(self, Unary::Square, 0.0, 0.0, |g, x, _| {
            g.mul(x)?.mul_scalar(2.0)
        })
    }

    /// max(x, 0).
    pub fn relu(&self) -> Result<Tensor> {
        if self.dtype() == DType::F16 {
            return crate::ops::half::relu(self);
        }
        unary_grad(self, Unary::Relu, 0.0, 0.0, |g, x, _| {
            binary_raw(g, x, Binary::ReluGrad, 0.0)
        })
    }

    /// x > 0 ? x : alpha·(eˣ − 1).
    pub fn elu(&self, alpha: f32) -> Result<Tensor> {
        unary_grad(self, Unary::Elu, alpha, 0.0, move |g, x, _| {
            binary_raw(g, x, Binary::EluGrad, alpha)
        })
    }

    /// x > 0 ? x : slope·x.
    pub fn leaky_relu(&self, slope: f32) -> Result<Tensor> {
        unary_grad(self, Unary::LeakyRelu, slope, 0.0, move |g, x, _| {
            binary_raw(g, x, Binary::LeakyReluGrad, slope)
        })
    }

    /// 1 / (1 + e⁻ˣ).
    pub fn sigmoid(&self) -> Result<Tensor> {
        unary_grad(self, Unary::Sigmoid, 0.0, 0.0, |g, _, y| {
            binary_raw(g, y, Binary::SigmoidGrad, 0.0)
        })
    }

    /// tanh x.
    pub fn tanh(&self) -> Result<Tensor> {
        unary_grad(self, Unary::Tanh, 0.0, 0.0, |g, _, y| {
            binary_raw(g, y, Binary::TanhGrad, 0.0)
        })
    }

    /// clamp(x, lo, hi); the gradient passes where lo ≤ x ≤ hi.
    pub fn clamp(&self, lo: f32, hi: f32) -> Result<Tensor> {
        if lo > hi {
            return Err(Error::invalid(
                "clamp",
                format!("lower bound {lo} above upper bound {hi}"),
            ));
        }
        unary_grad(self, Unary::Clamp, lo, hi, move |g, x, _| {
            let below = unary_raw(x, Unary::LtScalar, lo, 0.0)?;
            let above = unary_raw(x, Unary::GtScalar, hi, 0.0)?;
            let keep = unary_raw(
                &binary_raw(&below, &above, Binary::Add, 0.0)?,
                Unary::Affine,
                -1.0,
                1.0,
            )?;
            binary_raw(g, &keep, Binary::Mul, 0.0)
        })
    }
}
