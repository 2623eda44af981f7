//! Pair affinities (psa's half-disc offsets) and their backward, and the
//! random walk's column sums, dense transition matrix and sparse step.

use super::*;
use weakseg_kernels::cpu;

/// psa's half-disc of radius r: (0, x) for 1 ≤ x < r, then (y, x) for
/// 1 ≤ y < r, |x| < r, x² + y² < r², as flat (row, col) pairs.
fn half_disc(r: i32) -> Vec<i32> {
    let mut o: Vec<i32> = (1..r).flat_map(|x| [0, x]).collect();
    for y in 1..r {
        for x in (1 - r)..r {
            if x * x + y * y < r * r {
                o.extend([y, x]);
            }
        }
    }
    o
}

#[test]
fn affinity_kernels() {
    use weakseg_kernels::launch::affinity::{self, PairShape};
    let g = gpu();
    let mut r = rng(41);
    for (batch, channels, h, w, radius) in [
        (1usize, 1usize, 1usize, 1usize, 2),
        (2, 3, 5, 7, 3),
        (1, 9, 6, 4, 5),
    ] {
        let offsets = half_disc(radius);
        let s = PairShape {
            batch,
            channels,
            h,
            w,
            pairs: offsets.len() / 2,
        };
        let hw = h * w;
        let ob: GpuBuffer = g.upload(bytemuck::cast_slice(&offsets)).unwrap();
        let ov = View::new(&ob, offsets.len());
        let feat = rand_vec(&mut r, batch * channels * hw, -1.0, 1.0);
        let fb = up(&g, &feat);
        let na = batch * s.pairs * hw;
        let ab = poisoned(&g, na);
        affinity::pair_affinity(&g, s, ov, v(&fb, feat.len()), v(&ab, na)).unwrap();
        let aff = read(&g, &ab, na);
        // e^−δ with δ = Σ|f_p − f_q| / C: the sum within (sum_bound(C) + u)
        // relative (positive terms, one rounding each), the quotient 2.5
        // ulp; an error ε·δ in the exponent is ε·δ relative in the result,
        // and exp adds its 3 + 2δ ulp. Pairs off the grid are exactly 0.
        let want = cpu::affinity::pair_affinity(s, &offsets, &feat);
        let bound: Vec<f64> = want
            .iter()
            .map(|&a| {
                let d = if a > 0.0 { -a.ln() } else { 0.0 };
                a * (d * (sum_bound(channels) + 6.0 * U) + (6.0 + 4.0 * d) * U)
            })
            .collect();
        bounded("pair_affinity", &aff, &want, &bound);
        let gaff = rand_vec(&mut r, na, -1.0, 1.0);
        let gb = up(&g, &gaff);
        let db = poisoned(&g, feat.len());
        affinity::pair_affinity_backward(
            &g,
            s,
            ov,
            v(&fb, feat.len()),
            v(&ab, na),
            v(&gb, na),
            v(&db, feat.len()),
        )
        .unwrap();
        // Each feature gathers ±g·a/C from every pair it is in (at most
        // two per offset): a sum of ≤ 2·pairs terms of three roundings.
        summed(
            "pair_affinity_backward",
            &read(&g, &db, feat.len()),
            &cpu::affinity::pair_affinity_backward(s, &offsets, &feat, &aff, &gaff),
            &pair_gradient_magnitudes(s, &offsets, &aff, &gaff),
            2 * s.pairs,
            Tol::ulps(1.5),
        );

        // The walk on the first image's affinities as weights.
        let weights = aff[..s.pairs * hw].to_vec();
        let wb = up(&g, &weights);
        let cb = poisoned(&g, hw);
        affinity::rw_colsum(&g, s, ov, v(&wb, weights.len()), v(&cb, hw)).unwrap();
        // 1 + the weights of a pixel's pairs (≤ 2·pairs): positive terms,
        // so the sum's own value is Σ|terms|.
        let want = cpu::affinity::rw_colsum(s, &offsets, &weights);
        summed(
            "rw_colsum",
            &read(&g, &cb, hw),
            &want,
            &want,
            2 * s.pairs + 1,
            Tol::EXACT,
        );
        let tb = poisoned(&g, hw * hw);
        affinity::rw_dense(
            &g,
            s,
            ov,
            v(&wb, weights.len()),
            v(&cb, hw),
            v(&tb, hw * hw),
        )
        .unwrap();
        // w / colsum: the column sum's relative error and the quotient's
        // 2.5 ulp.
        let column = sum_bound(2 * s.pairs + 1);
        within(
            "rw_dense",
            &read(&g, &tb, hw * hw),
            &cpu::affinity::rw_dense(s, &offsets, &weights),
            Tol {
                rel: column + 5.0 * U,
                abs: 0.0,
            },
        );
        let rows = 3;
        let vin = rand_vec(&mut r, rows * hw, 0.0, 1.0);
        let vb = up(&g, &vin);
        let outb = poisoned(&g, rows * hw);
        affinity::rw_step(
            &g,
            s,
            rows,
            ov,
            v(&wb, weights.len()),
            v(&cb, hw),
            v(&vb, vin.len()),
            v(&outb, vin.len()),
        )
        .unwrap();
        // Σ_i v_i·T_ij over a column's ≤ 2·pairs + 1 nonzero entries, all
        // positive: each T_ij within the bound above, a product, then the
        // sum.
        within(
            "rw_step",
            &read(&g, &outb, vin.len()),
            &cpu::affinity::rw_step(s, &offsets, &weights, &vin),
            Tol {
                rel: 2.0 * column + 7.0 * U,
                abs: 0.0,
            },
        );
    }
}

/// Σ|g·a|/C over the pairs each pixel belongs to, for every channel: the
/// magnitude of the terms `pair_affinity_backward` sums.
fn pair_gradient_magnitudes(
    s: weakseg_kernels::launch::affinity::PairShape,
    offsets: &[i32],
    aff: &[f32],
    gaff: &[f32],
) -> Vec<f64> {
    let hw = s.h * s.w;
    let mut per_pixel = vec![0.0f64; s.batch * hw];
    for b in 0..s.batch {
        for d in 0..s.pairs {
            for p in 0..hw {
                let (y, x) = (
                    (p / s.w) as i32 + offsets[2 * d],
                    (p % s.w) as i32 + offsets[2 * d + 1],
                );
                if y < 0 || x < 0 || y >= s.h as i32 || x >= s.w as i32 {
                    continue;
                }
                let q = y as usize * s.w + x as usize;
                let i = (b * s.pairs + d) * hw + p;
                let t = (gaff[i] as f64 * aff[i] as f64).abs() / s.channels as f64;
                per_pixel[b * hw + p] += t;
                per_pixel[b * hw + q] += t;
            }
        }
    }
    (0..s.batch * s.channels * hw)
        .map(|i| per_pixel[(i / (s.channels * hw)) * hw + i % hw])
        .collect()
}
