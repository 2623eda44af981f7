//! Reference of `shaders/reduce.wgsl`.

use crate::launch::reduce::{Axis, Reduce};

fn row(x: &[f32], ax: Axis, r: usize) -> Vec<f64> {
    let (o, i) = (r / ax.inner, r % ax.inner);
    (0..ax.l)
        .map(|k| x[(o * ax.l + k) * ax.inner + i] as f64)
        .collect()
}

/// Reduction over the axis.
pub fn reduce(op: Reduce, x: &[f32], ax: Axis) -> Vec<f64> {
    (0..ax.outer * ax.inner)
        .map(|r| {
            let v = row(x, ax, r);
            match op {
                Reduce::Sum => v.iter().sum(),
                Reduce::Mean => v.iter().sum::<f64>() / ax.l as f64,
                Reduce::Max => v.iter().cloned().fold(f64::NEG_INFINITY, f64::max),
                Reduce::Min => v.iter().cloned().fold(f64::INFINITY, f64::min),
                Reduce::LogSumExp => {
                    let m = v.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                    m + v.iter().map(|x| (x - m).exp()).sum::<f64>().ln()
                }
            }
        })
        .collect()
}

/// (values, indices) of the max or min; the first index wins ties.
pub fn arg_reduce(argmax: bool, x: &[f32], ax: Axis) -> (Vec<f64>, Vec<u32>) {
    (0..ax.outer * ax.inner)
        .map(|r| {
            let v = row(x, ax, r);
            let mut bi = 0;
            for k in 1..v.len() {
                if (argmax && v[k] > v[bi]) || (!argmax && v[k] < v[bi]) {
                    bi = k;
                }
            }
            (v[bi], bi as u32)
        })
        .unzip()
}

/// softmax or log_softmax of x·t along the axis.
pub fn softmax(log: bool, x: &[f32], ax: Axis, t: f32) -> Vec<f64> {
    let mut out = vec![0.0; x.len()];
    for r in 0..ax.outer * ax.inner {
        let v: Vec<f64> = row(x, ax, r).iter().map(|z| z * t as f64).collect();
        let m = v.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let s: f64 = v.iter().map(|z| (z - m).exp()).sum();
        let (o, i) = (r / ax.inner, r % ax.inner);
        for k in 0..ax.l {
            let z = v[k] - m;
            out[(o * ax.l + k) * ax.inner + i] = if log { z - s.ln() } else { z.exp() / s };
        }
    }
    out
}

/// Gradient of softmax/log_softmax given g and the output y.
pub fn softmax_backward(log: bool, g: &[f32], y: &[f32], ax: Axis, t: f32) -> Vec<f64> {
    let mut out = vec![0.0; g.len()];
    for r in 0..ax.outer * ax.inner {
        let gv = row(g, ax, r);
        let yv = row(y, ax, r);
        let s: f64 = if log {
            gv.iter().sum()
        } else {
            gv.iter().zip(&yv).map(|(a, b)| a * b).sum()
        };
        let (o, i) = (r / ax.inner, r % ax.inner);
        for k in 0..ax.l {
            let d = if log {
                gv[k] - yv[k].exp() * s
            } else {
                yv[k] * (gv[k] - s)
            };
            out[(o * ax.l + k) * ax.inner + i] = t as f64 * d;
        }
    }
    out
}

/// Routes g[o, i] to position arg[o, i] along the axis.
pub fn arg_backward(g: &[f32], arg: &[u32], ax: Axis) -> Vec<f64> {
    let mut out = vec![0.0; ax.outer * ax.l * ax.inner];
    for r in 0..ax.outer * ax.inner {
        let (o, i) = (r / ax.inner, r % ax.inner);
        out[(o * ax.l + arg[r] as usize) * ax.inner + i] = g[r] as f64;
    }
    out
}
