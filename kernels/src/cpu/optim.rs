//! Reference of `shaders/optim.wgsl`.

use crate::launch::optim::{AdamWStep, SgdStep};

/// (new p, new momentum buffer) after one SGD step.
pub fn sgd(p: &[f32], g: &[f32], m: &[f32], s: SgdStep) -> (Vec<f64>, Vec<f64>) {
    let mut pn = Vec::new();
    let mut mn = Vec::new();
    for i in 0..p.len() {
        let mut d = g[i] as f64 + s.weight_decay as f64 * p[i] as f64;
        let mut buf = m[i] as f64;
        if s.momentum != 0.0 {
            let mu = s.momentum as f64;
            buf = if s.first {
                d
            } else {
                mu * buf + (1.0 - s.dampening as f64) * d
            };
            d = if s.nesterov { d + mu * buf } else { buf };
        }
        pn.push(p[i] as f64 - s.lr as f64 * d);
        mn.push(buf);
    }
    (pn, mn)
}

/// (new p, new m, new v) after one AdamW step.
pub fn adamw(
    p: &[f32],
    g: &[f32],
    m: &[f32],
    v: &[f32],
    s: AdamWStep,
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let (b1, b2, lr) = (s.beta1 as f64, s.beta2 as f64, s.lr as f64);
    let t = s.t.max(1) as i32;
    let (bc1, bc2) = (1.0 - b1.powi(t), 1.0 - b2.powi(t));
    let mut out = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..p.len() {
        let gi = g[i] as f64;
        let mi = b1 * m[i] as f64 + (1.0 - b1) * gi;
        let vi = b2 * v[i] as f64 + (1.0 - b2) * gi * gi;
        let pi = p[i] as f64 * (1.0 - lr * s.weight_decay as f64)
            - lr * (mi / bc1) / ((vi / bc2).sqrt() + s.eps as f64);
        out.0.push(pi);
        out.1.push(mi);
        out.2.push(vi);
    }
    out
}

/// The teacher after one exponential-moving-average update towards `student`.
pub fn ema(teacher: &[f32], student: &[f32], momentum: f32) -> Vec<f64> {
    let m = momentum as f64;
    teacher
        .iter()
        .zip(student)
        .map(|(&t, &s)| m * t as f64 + (1.0 - m) * s as f64)
        .collect()
}
