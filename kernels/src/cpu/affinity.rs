//! References of `launch::affinity`, in f64.

use crate::launch::affinity::PairShape;

/// q = p + (dy, dx) on an h×w grid, or None off the grid.
fn shifted(p: usize, dy: i32, dx: i32, h: usize, w: usize) -> Option<usize> {
    let y = (p / w) as i64 + dy as i64;
    let x = (p % w) as i64 + dx as i64;
    (y >= 0 && x >= 0 && y < h as i64 && x < w as i64).then(|| y as usize * w + x as usize)
}

/// WGSL's `sign`: 0 at 0.
fn sign(v: f64) -> f64 {
    if v > 0.0 {
        1.0
    } else if v < 0.0 {
        -1.0
    } else {
        0.0
    }
}

/// See `launch::affinity::pair_affinity`.
pub fn pair_affinity(s: PairShape, offsets: &[i32], feat: &[f32]) -> Vec<f64> {
    let (hw, c) = (s.hw(), s.channels);
    let mut out = vec![0f64; s.batch * s.pairs * hw];
    for b in 0..s.batch {
        for d in 0..s.pairs {
            for p in 0..hw {
                let Some(q) = shifted(p, offsets[2 * d], offsets[2 * d + 1], s.h, s.w) else {
                    continue;
                };
                let base = b * c * hw;
                let dist: f64 = (0..c)
                    .map(|ch| {
                        (feat[base + ch * hw + p] as f64 - feat[base + ch * hw + q] as f64).abs()
                    })
                    .sum();
                out[(b * s.pairs + d) * hw + p] = (-dist / c as f64).exp();
            }
        }
    }
    out
}

/// See `launch::affinity::pair_affinity_backward`.
pub fn pair_affinity_backward(
    s: PairShape,
    offsets: &[i32],
    feat: &[f32],
    aff: &[f32],
    grad_aff: &[f32],
) -> Vec<f64> {
    let (hw, c) = (s.hw(), s.channels);
    let mut out = vec![0f64; s.batch * c * hw];
    for b in 0..s.batch {
        for d in 0..s.pairs {
            for p in 0..hw {
                let Some(q) = shifted(p, offsets[2 * d], offsets[2 * d + 1], s.h, s.w) else {
                    continue;
                };
                let i = (b * s.pairs + d) * hw + p;
                let ga = grad_aff[i] as f64 * aff[i] as f64 / c as f64;
                for ch in 0..c {
                    let plane = (b * c + ch) * hw;
                    let sg = sign(feat[plane + p] as f64 - feat[plane + q] as f64);
                    out[plane + p] -= ga * sg;
                    out[plane + q] += ga * sg;
                }
            }
        }
    }
    out
}

/// The symmetric weight of pixels i ≠ j, or 0 when they are not a pair.
fn weight(s: PairShape, offsets: &[i32], weights: &[f32], i: usize, j: usize) -> f64 {
    let n = s.hw();
    (0..s.pairs)
        .find_map(|d| {
            let (dy, dx) = (offsets[2 * d], offsets[2 * d + 1]);
            if shifted(j, dy, dx, s.h, s.w) == Some(i) {
                Some(weights[d * n + j] as f64)
            } else if shifted(i, dy, dx, s.h, s.w) == Some(j) {
                Some(weights[d * n + i] as f64)
            } else {
                None
            }
        })
        .unwrap_or(0.0)
}

/// The dense transition matrix T[i, j] = w_ij / Σ_k w_kj (w_jj = 1): the
/// reference of `rw_dense`, and through it of `rw_colsum` and `rw_step`.
pub fn rw_dense(s: PairShape, offsets: &[i32], weights: &[f32]) -> Vec<f64> {
    let n = s.hw();
    let mut a = vec![0f64; n * n];
    for i in 0..n {
        for j in 0..n {
            a[i * n + j] = if i == j {
                1.0
            } else {
                weight(s, offsets, weights, i, j)
            };
        }
    }
    for j in 0..n {
        let col: f64 = (0..n).map(|i| a[i * n + j]).sum();
        for i in 0..n {
            a[i * n + j] /= col;
        }
    }
    a
}

/// See `launch::affinity::rw_colsum`.
pub fn rw_colsum(s: PairShape, offsets: &[i32], weights: &[f32]) -> Vec<f64> {
    let n = s.hw();
    (0..n)
        .map(|j| {
            1.0 + (0..n)
                .filter(|&i| i != j)
                .map(|i| weight(s, offsets, weights, i, j))
                .sum::<f64>()
        })
        .collect()
}

/// See `launch::affinity::rw_step`: v T for each of the rows of `v`.
pub fn rw_step(s: PairShape, offsets: &[i32], weights: &[f32], v: &[f32]) -> Vec<f64> {
    let n = s.hw();
    let t = rw_dense(s, offsets, weights);
    v.chunks(n)
        .flat_map(|row| {
            (0..n)
                .map(|j| (0..n).map(|i| row[i] as f64 * t[i * n + j]).sum::<f64>())
                .collect::<Vec<_>>()
        })
        .collect()
}
