//! Reference of `shaders/norm.wgsl`.

use crate::launch::norm::BnShape;

fn idx(s: BnShape, n: usize, c: usize, k: usize) -> usize {
    (n * s.c + c) * s.hw + k
}

/// [mean (C), 1/√(var + eps) (C)].
pub fn bn_stats(s: BnShape, x: &[f32], eps: f32) -> Vec<f64> {
    let m = (s.n * s.hw) as f64;
    let mut out = vec![0.0; 2 * s.c];
    for c in 0..s.c {
        let vals: Vec<f64> = (0..s.n)
            .flat_map(|n| (0..s.hw).map(move |k| (n, k)))
            .map(|(n, k)| x[idx(s, n, c, k)] as f64)
            .collect();
        let mean = vals.iter().sum::<f64>() / m;
        let var = vals.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / m;
        out[c] = mean;
        out[s.c + c] = 1.0 / (var + eps as f64).sqrt();
    }
    out
}

/// y = (x − mean)·inv_std·gamma + beta.
pub fn bn_apply(s: BnShape, x: &[f32], stats: &[f32], gamma: &[f32], beta: &[f32]) -> Vec<f64> {
    (0..x.len())
        .map(|i| {
            let c = (i / s.hw) % s.c;
            (x[i] as f64 - stats[c] as f64) * stats[s.c + c] as f64 * gamma[c] as f64
                + beta[c] as f64
        })
        .collect()
}

/// [Σg (C), Σg·x̂ (C)].
pub fn bn_grad_sums(s: BnShape, g: &[f32], x: &[f32], stats: &[f32]) -> Vec<f64> {
    let mut out = vec![0.0; 2 * s.c];
    for i in 0..x.len() {
        let c = (i / s.hw) % s.c;
        out[c] += g[i] as f64;
        out[s.c + c] += g[i] as f64 * (x[i] as f64 - stats[c] as f64) * stats[s.c + c] as f64;
    }
    out
}

/// dx under batch statistics.
pub fn bn_backward(
    s: BnShape,
    g: &[f32],
    x: &[f32],
    stats: &[f32],
    gamma: &[f32],
    sums: &[f32],
) -> Vec<f64> {
    let m = (s.n * s.hw) as f64;
    (0..x.len())
        .map(|i| {
            let c = (i / s.hw) % s.c;
            let r = stats[s.c + c] as f64;
            let xh = (x[i] as f64 - stats[c] as f64) * r;
            gamma[c] as f64 * r * (g[i] as f64 - sums[c] as f64 / m - xh * sums[s.c + c] as f64 / m)
        })
        .collect()
}
