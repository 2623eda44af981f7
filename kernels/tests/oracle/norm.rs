//! Batch-norm statistics, apply (scalar and vec4), gradient sums and
//! backward.

use super::*;
use weakseg_kernels::cpu;
use weakseg_kernels::launch::norm::{self, BnShape};

/// `bn_apply` against its CPU reference: (x − μ)·r·γ + β within three
/// roundings of |(x − μ)·r·γ| and one of the result.
fn check_apply(
    g: &Gpu,
    s: BnShape,
    x: &[f32],
    stats: &[f32],
    gamma: &[f32],
    beta: &[f32],
    what: &str,
) {
    let n = s.n * s.c * s.hw;
    let (xb, sb, gmb, btb) = (up(g, x), up(g, stats), up(g, gamma), up(g, beta));
    let yb = poisoned(g, n);
    norm::bn_apply(
        g,
        s,
        v(&xb, n),
        v(&sb, 2 * s.c),
        v(&gmb, s.c),
        v(&btb, s.c),
        v(&yb, n),
    )
    .unwrap();
    let want = cpu::norm::bn_apply(s, x, stats, gamma, beta);
    let bound: Vec<f64> = (0..n)
        .map(|i| {
            let c = (i / s.hw) % s.c;
            let scaled = (x[i] - stats[c]).abs() as f64 * (stats[s.c + c] * gamma[c]) as f64;
            3.0 * U * scaled + U * want[i].abs()
        })
        .collect();
    bounded(what, &read(g, &yb, n), &want, &bound);
}

#[test]
fn batch_norm_kernels() {
    let g = gpu();
    let mut r = rng(11);
    for s in [
        BnShape { n: 1, c: 1, hw: 1 },
        BnShape { n: 3, c: 5, hw: 7 },
        BnShape { n: 2, c: 3, hw: 1 },
        // H·W a multiple of 4: the vec4 apply kernel.
        BnShape { n: 1, c: 2, hw: 4 },
        BnShape { n: 2, c: 3, hw: 12 },
    ] {
        let n = s.n * s.c * s.hw;
        let (x, gr) = (
            rand_vec(&mut r, n, -2.0, 2.0),
            rand_vec(&mut r, n, -1.0, 1.0),
        );
        let (gamma, beta) = (
            rand_vec(&mut r, s.c, 0.5, 1.5),
            rand_vec(&mut r, s.c, -0.5, 0.5),
        );
        let (xb, gb, gmb) = (up(&g, &x), up(&g, &gr), up(&g, &gamma));
        let st = poisoned(&g, 2 * s.c);
        norm::bn_stats(&g, s, v(&xb, n), v(&st, 2 * s.c), 1e-5).unwrap();
        let stats = read(&g, &st, 2 * s.c);
        let m = s.n * s.hw;
        let want = cpu::norm::bn_stats(s, &x, 1e-5);
        // The mean: a sum of m values over m (2.5 ulp).
        summed(
            "bn mean",
            &stats[..s.c],
            &want[..s.c],
            &cpu::norm::bn_stats(s, &abs(&x), 1e-5)[..s.c],
            m,
            Tol::ulps(2.5),
        );
        // 1/√(v/m + ε) with v = Σ(x − μ)²: a sum of positive terms (each
        // two roundings) within sum_bound(m) + 3u relative, then a division
        // (5u), the addition (u); the root halves all that and adds its
        // 2 ulp. The f32 mean moves v only to second order.
        within(
            "bn inverse std",
            &stats[s.c..],
            &want[s.c..],
            Tol {
                rel: 0.5 * (sum_bound(m) + 9.0 * U) + 4.0 * U,
                abs: 0.0,
            },
        );
        check_apply(&g, s, &x, &stats, &gamma, &beta, "bn apply");
        let sb = poisoned(&g, 2 * s.c);
        norm::bn_grad_sums(
            &g,
            s,
            v(&gb, n),
            v(&xb, n),
            v(&st, 2 * s.c),
            v(&sb, 2 * s.c),
        )
        .unwrap();
        let sums = read(&g, &sb, 2 * s.c);
        // Σg and Σg·(x − μ)·r: sums of m terms, three roundings per term.
        let mut mag = vec![0.0f64; 2 * s.c];
        for i in 0..n {
            let c = (i / s.hw) % s.c;
            let gi = (gr[i] as f64).abs();
            mag[c] += gi;
            mag[s.c + c] += gi * (x[i] - stats[c]).abs() as f64 * stats[s.c + c] as f64;
        }
        summed(
            "bn grad sums",
            &sums,
            &cpu::norm::bn_grad_sums(s, &gr, &x, &stats),
            &mag,
            m,
            Tol::ulps(1.5),
        );
        let dxb = poisoned(&g, n);
        norm::bn_backward(
            &g,
            s,
            v(&gb, n),
            v(&xb, n),
            v(&st, 2 * s.c),
            v(&gmb, s.c),
            v(&sb, 2 * s.c),
            v(&dxb, n),
        )
        .unwrap();
        // γ·r·(g − Σg/m − x̂·Σgx̂/m): each of the three terms within a few
        // roundings (x̂ two, the quotients 2.5 ulp, a product), the
        // differences two, the scaling two: 8u of |γ·r| times the terms'
        // magnitudes.
        let want = cpu::norm::bn_backward(s, &gr, &x, &stats, &gamma, &sums);
        let bound: Vec<f64> = (0..n)
            .map(|i| {
                let c = (i / s.hw) % s.c;
                let r = stats[s.c + c] as f64;
                let xh = (x[i] - stats[c]) as f64 * r;
                let terms = (gr[i] as f64).abs()
                    + (sums[c] as f64).abs() / m as f64
                    + (xh * sums[s.c + c] as f64).abs() / m as f64;
                8.0 * U * (gamma[c] as f64 * r).abs() * terms + 2.0 * U * want[i].abs()
            })
            .collect();
        bounded("bn backward", &read(&g, &dxb, n), &want, &bound);
    }
}

#[test]
fn batch_norm_apply_takes_planes_past_the_loop_bound() {
    // Inference applies running statistics element by element: a 1024²
    // image's plane (past the CPU adapters' 65 536-trip bound) once failed
    // there because the bound was checked for every batch-norm kernel.
    // The per-channel walks (statistics, gradient sums) still refuse it.
    let g = gpu();
    let mut r = rng(12);
    for s in [
        BnShape {
            n: 1,
            c: 2,
            hw: 70_001,
        },
        BnShape {
            n: 1,
            c: 1,
            hw: 70_000,
        },
    ] {
        let n = s.n * s.c * s.hw;
        let x = rand_vec(&mut r, n, -2.0, 2.0);
        let gamma = rand_vec(&mut r, s.c, 0.5, 1.5);
        let beta = rand_vec(&mut r, s.c, -0.5, 0.5);
        let mut stats = rand_vec(&mut r, s.c, -0.5, 0.5);
        stats.extend(rand_vec(&mut r, s.c, 0.5, 2.0));
        check_apply(&g, s, &x, &stats, &gamma, &beta, "bn apply, long plane");
        let xb = up(&g, &x);
        let st = poisoned(&g, 2 * s.c);
        let e = norm::bn_stats(&g, s, v(&xb, n), v(&st, 2 * s.c), 1e-5)
            .unwrap_err()
            .to_string();
        assert!(e.contains("a plane of") && e.contains("loop bound"), "{e}");
    }
}
