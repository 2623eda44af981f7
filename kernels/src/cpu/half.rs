//! Reference of `shaders/half.wgsl`: the f32/f64 computation on f16 inputs,
//! rounded once to f16 at the end, as the kernels do.

use crate::cpu;
use crate::launch::conv::Conv2d;
use crate::launch::half::PoolKind;
use crate::launch::pool::Pool2d;

/// Largest finite f16.
pub const HALF_MAX: f32 = 65504.0;

/// `v` rounded to the nearest f16 (ties to even), saturating at ±65504.
pub fn round(v: f64) -> f32 {
    half::f16::from_f32((v as f32).clamp(-HALF_MAX, HALF_MAX)).to_f32()
}

/// Every value rounded to f16.
pub fn round_all(v: &[f32]) -> Vec<f32> {
    v.iter().map(|&x| round(x as f64)).collect()
}

fn finish(y: Vec<f64>, relu: bool) -> Vec<f32> {
    y.into_iter()
        .map(|v| round(if relu { v.max(0.0) } else { v }))
        .collect()
}

/// Convolution of f16 `x` and `w` with an f32 bias, then ReLU if asked.
pub fn conv2d(g: &Conv2d, x: &[f32], w: &[f32], bias: Option<&[f32]>, relu: bool) -> Vec<f32> {
    finish(cpu::conv::forward(g, x, w, bias), relu)
}

/// Per-channel x·scale + shift over NCHW `shape`, then ReLU if asked.
pub fn affine(shape: [usize; 4], x: &[f32], scale: &[f32], shift: &[f32], relu: bool) -> Vec<f32> {
    let [_, c, h, w] = shape;
    let y = x
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let ch = (i / (h * w)) % c;
            v as f64 * scale[ch] as f64 + shift[ch] as f64
        })
        .collect();
    finish(y, relu)
}

/// a + b, then ReLU if asked.
pub fn add(a: &[f32], b: &[f32], relu: bool) -> Vec<f32> {
    finish(
        a.iter()
            .zip(b)
            .map(|(&x, &y)| x as f64 + y as f64)
            .collect(),
        relu,
    )
}

/// Max or average pooling.
pub fn pool2d(g: &Pool2d, kind: PoolKind, x: &[f32]) -> Vec<f32> {
    let y = match kind {
        PoolKind::Max => cpu::pool::max_pool2d(g, x).0,
        PoolKind::Avg => cpu::pool::avg_pool2d(g, x),
    };
    finish(y, false)
}
