//! Reference of `shaders/elementwise.wgsl`.

use super::strided_offset;
use crate::launch::elementwise::{Binary, Broadcast, Unary};

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// One unary map.
pub fn unary_scalar(op: Unary, x: f64, a: f64, b: f64) -> f64 {
    use Unary::*;
    match op {
        Copy => x,
        Neg => -x,
        Abs => x.abs(),
        Exp => x.exp(),
        Log => x.ln(),
        Sqrt => x.sqrt(),
        Pow => x.powf(a),
        Relu => x.max(0.0),
        Elu => {
            if x > 0.0 {
                x
            } else {
                a * (x.exp() - 1.0)
            }
        }
        LeakyRelu => {
            if x > 0.0 {
                x
            } else {
                a * x
            }
        }
        Sigmoid => sigmoid(x),
        Tanh => x.tanh(),
        Clamp => x.max(a).min(b),
        Affine => x * a + b,
        Sign => {
            if x > 0.0 {
                1.0
            } else if x < 0.0 {
                -1.0
            } else {
                0.0
            }
        }
        Recip => 1.0 / x,
        Square => x * x,
        GtScalar => (x > a) as u8 as f64,
        LtScalar => (x < a) as u8 as f64,
        EqScalar => (x == a) as u8 as f64,
    }
}

/// One binary map.
pub fn binary_scalar(op: Binary, x: f64, y: f64, al: f64) -> f64 {
    use Binary::*;
    let b = |c: bool| c as u8 as f64;
    match op {
        Add => x + y,
        Sub => x - y,
        Mul => x * y,
        Div => x / y,
        Max => x.max(y),
        Min => x.min(y),
        Eq => b(x == y),
        Ne => b(x != y),
        Lt => b(x < y),
        Le => b(x <= y),
        Gt => b(x > y),
        Ge => b(x >= y),
        ReluGrad => {
            if y > 0.0 {
                x
            } else {
                0.0
            }
        }
        LeakyReluGrad => {
            if y > 0.0 {
                x
            } else {
                al * x
            }
        }
        EluGrad => {
            if y > 0.0 {
                x
            } else {
                al * y.exp() * x
            }
        }
        SigmoidGrad => x * y * (1.0 - y),
        TanhGrad => x * (1.0 - y * y),
        AbsGrad => {
            x * if y > 0.0 {
                1.0
            } else if y < 0.0 {
                -1.0
            } else {
                0.0
            }
        }
        BceWithLogits => x.max(0.0) - x * y + (1.0 + (-x.abs()).exp()).ln(),
        BceWithLogitsGrad => sigmoid(x) - y,
    }
}

/// out[i] = op(x[i]).
pub fn unary(op: Unary, x: &[f32], alpha: f32, beta: f32) -> Vec<f64> {
    x.iter()
        .map(|&v| unary_scalar(op, v as f64, alpha as f64, beta as f64))
        .collect()
}

/// out = op(a, b) under broadcasting.
pub fn binary(op: Binary, a: &[f32], b: &[f32], bc: &Broadcast, alpha: f32) -> Vec<f64> {
    let n: usize = bc.shape.iter().product();
    (0..n)
        .map(|i| {
            let x = a[strided_offset(i, &bc.shape, &bc.strides[0])] as f64;
            let y = b[strided_offset(i, &bc.shape, &bc.strides[1])] as f64;
            binary_scalar(op, x, y, alpha as f64)
        })
        .collect()
}

/// out = cond != 0 ? a : b (strides ordered a, b, cond).
pub fn select(cond: &[f32], a: &[f32], b: &[f32], bc: &Broadcast) -> Vec<f64> {
    let n: usize = bc.shape.iter().product();
    (0..n)
        .map(|i| {
            let c = cond[strided_offset(i, &bc.shape, &bc.strides[2])];
            let v = if c != 0.0 {
                a[strided_offset(i, &bc.shape, &bc.strides[0])]
            } else {
                b[strided_offset(i, &bc.shape, &bc.strides[1])]
            };
            v as f64
        })
        .collect()
}

/// alpha·acc + beta·src.
pub fn axpby(acc: &[f32], src: &[f32], alpha: f32, beta: f32) -> Vec<f64> {
    acc.iter()
        .zip(src)
        .map(|(&a, &s)| alpha as f64 * a as f64 + beta as f64 * s as f64)
        .collect()
}
