//! Reference of `launch::lattice`: densecrf's permutohedral lattice with a
//! sequential hash table. The embedding uses f32 arithmetic, as densecrf and
//! the kernel do, so both put each point in the same simplex; splat, blur
//! and slice accumulate in f64.

use std::collections::HashMap;

/// densecrf's elevation constants (`permutohedral.cpp`): 1/(d+1) and the
/// per-axis scale factors √(2/3)(d+1)/√((i+1)(i+2)), in f32 as densecrf
/// stores them. Written here from densecrf, not taken from the launcher, so
/// the reference checks the launcher's constants instead of sharing them.
pub fn elevation(d: usize) -> (f32, Vec<f32>) {
    let inv_std_dev = (2.0f32 / 3.0).sqrt() * (d + 1) as f32;
    let scale = (1..=d)
        .map(|i| (inv_std_dev as f64 / ((i * (i + 1)) as f64).sqrt()) as f32)
        .collect();
    (1.0 / (d + 1) as f32, scale)
}

/// densecrf's slice weight 1/(1 + 2⁻ᵈ), written from densecrf as
/// [`elevation`] is.
pub fn slice_alpha(d: usize) -> f32 {
    1.0 / (1.0 + 0.5f32.powi(d as i32))
}

/// A lattice built on the CPU: per entry its lattice point and weight, per
/// point its neighbours along each axis.
pub struct CpuLattice {
    n: usize,
    d: usize,
    offset: Vec<usize>,
    bary: Vec<f32>,
    /// blur[(axis·m + l)] = (left, right) neighbour of point l.
    blur: Vec<(Option<usize>, Option<usize>)>,
    m: usize,
}

impl CpuLattice {
    /// Builds the lattice of `features` ([n, d], point-major).
    pub fn build(features: &[f32], n: usize, d: usize) -> CpuLattice {
        let d1 = d + 1;
        let (inv_d1, scale) = elevation(d);
        let mut table: HashMap<Vec<i32>, usize> = HashMap::new();
        let mut keys: Vec<Vec<i32>> = Vec::new();
        let mut offset = vec![0; n * d1];
        let mut bary = vec![0f32; n * d1];
        for p in 0..n {
            let f = &features[p * d..(p + 1) * d];
            let mut el = vec![0f32; d1];
            let mut sm = 0f32;
            for j in (1..=d).rev() {
                let cf = f[j - 1] * scale[j - 1];
                el[j] = sm - j as f32 * cf;
                sm += cf;
            }
            el[0] = sm;
            let mut rem0 = vec![0f32; d1];
            let mut sum = 0f32;
            for i in 0..d1 {
                let v = (inv_d1 * el[i]).round_ties_even();
                rem0[i] = v * d1 as f32;
                sum += v;
            }
            let mut rank = vec![0i32; d1];
            for i in 0..d {
                let di = el[i] - rem0[i];
                for j in i + 1..d1 {
                    if di < el[j] - rem0[j] {
                        rank[i] += 1;
                    } else {
                        rank[j] += 1;
                    }
                }
            }
            for i in 0..d1 {
                rank[i] += sum as i32;
                if rank[i] < 0 {
                    rank[i] += d1 as i32;
                    rem0[i] += d1 as f32;
                } else if rank[i] >= d1 as i32 {
                    rank[i] -= d1 as i32;
                    rem0[i] -= d1 as f32;
                }
            }
            let mut bc = vec![0f32; d + 2];
            for i in 0..d1 {
                let v = (el[i] - rem0[i]) * inv_d1;
                let q = d - rank[i] as usize;
                bc[q] += v;
                bc[q + 1] -= v;
            }
            bc[0] += 1.0 + bc[d + 1];
            for r in 0..d1 {
                let key: Vec<i32> = (0..d)
                    .map(|i| {
                        let k = rank[i] as usize;
                        let c = if k <= d - r {
                            r as i32
                        } else {
                            r as i32 - d1 as i32
                        };
                        rem0[i] as i32 + c
                    })
                    .collect();
                let next = keys.len();
                let id = *table.entry(key.clone()).or_insert(next);
                if id == next {
                    keys.push(key);
                }
                offset[p * d1 + r] = id;
                bary[p * d1 + r] = bc[r];
            }
        }
        let m = keys.len();
        let mut blur = vec![(None, None); d1 * m];
        for j in 0..d1 {
            for (l, key) in keys.iter().enumerate() {
                let mut n1: Vec<i32> = key.iter().map(|v| v - 1).collect();
                let mut n2: Vec<i32> = key.iter().map(|v| v + 1).collect();
                if j < d {
                    n1[j] = key[j] + d as i32;
                    n2[j] = key[j] - d as i32;
                }
                blur[j * m + l] = (table.get(&n1).copied(), table.get(&n2).copied());
            }
        }
        CpuLattice {
            n,
            d,
            offset,
            bary,
            blur,
            m,
        }
    }

    /// Number of distinct lattice points.
    pub fn points(&self) -> usize {
        self.m
    }

    /// The filter of `launch::lattice::Lattice::filter` on [channels, n] values.
    pub fn filter(
        &self,
        input: &[f32],
        channels: usize,
        scale: Option<&[f32]>,
        reverse: bool,
    ) -> Vec<f32> {
        let (n, d, m) = (self.n, self.d, self.m);
        let d1 = d + 1;
        let s = |p: usize| scale.map_or(1.0, |s| s[p] as f64);
        let mut vals = vec![0f64; channels * m];
        for p in 0..n {
            for r in 0..d1 {
                let (o, w) = (self.offset[p * d1 + r], self.bary[p * d1 + r] as f64);
                for k in 0..channels {
                    vals[k * m + o] += w * input[k * n + p] as f64 * s(p);
                }
            }
        }
        let mut next = vec![0f64; channels * m];
        for step in 0..d1 {
            let j = if reverse { d - step } else { step };
            for l in 0..m {
                let (a, b) = self.blur[j * m + l];
                for k in 0..channels {
                    let side =
                        a.map_or(0.0, |a| vals[k * m + a]) + b.map_or(0.0, |b| vals[k * m + b]);
                    next[k * m + l] = vals[k * m + l] + 0.5 * side;
                }
            }
            std::mem::swap(&mut vals, &mut next);
        }
        let alpha = slice_alpha(d) as f64;
        let mut out = vec![0f32; channels * n];
        for p in 0..n {
            for k in 0..channels {
                let v: f64 = (0..d1)
                    .map(|r| {
                        alpha * self.bary[p * d1 + r] as f64 * vals[k * m + self.offset[p * d1 + r]]
                    })
                    .sum();
                out[k * n + p] = (v * s(p)) as f32;
            }
        }
        out
    }
}

/// densecrf's pairwise features of an h×w grid (see `launch::lattice::crf_features`).
pub fn crf_features(
    width: usize,
    n: usize,
    sxy: (f32, f32),
    rgb: Option<(&[f32], [f32; 3])>,
) -> Vec<f32> {
    let d = if rgb.is_some() { 5 } else { 2 };
    let mut f = vec![0f32; n * d];
    for p in 0..n {
        f[p * d] = (p % width) as f32 / sxy.0;
        f[p * d + 1] = (p / width) as f32 / sxy.1;
        if let Some((img, s)) = rgb {
            for c in 0..3 {
                f[p * d + 2 + c] = img[c * n + p] / s[c];
            }
        }
    }
    f
}
