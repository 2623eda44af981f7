//! Optimiser steps: SGD (momentum, dampening, Nesterov, weight decay),
//! AdamW and the exponential moving average.

use super::*;
use weakseg_kernels::cpu;
use weakseg_kernels::launch::optim::{self, AdamWStep, SgdStep};

#[test]
fn optimiser_steps() {
    let g = gpu();
    let mut r = rng(13);
    let n = 77;
    let (p, gr, m, vv) = (
        rand_vec(&mut r, n, -1.0, 1.0),
        rand_vec(&mut r, n, -1.0, 1.0),
        rand_vec(&mut r, n, -1.0, 1.0),
        rand_vec(&mut r, n, 0.0, 1.0),
    );
    for s in [
        SgdStep {
            lr: 0.1,
            momentum: 0.9,
            dampening: 0.0,
            weight_decay: 5e-4,
            nesterov: false,
            first: false,
        },
        SgdStep {
            lr: 0.1,
            momentum: 0.9,
            dampening: 0.1,
            weight_decay: 0.0,
            nesterov: true,
            first: true,
        },
        SgdStep {
            lr: 0.05,
            momentum: 0.0,
            dampening: 0.0,
            weight_decay: 1e-4,
            nesterov: false,
            first: false,
        },
    ] {
        let (pb, gb, mb) = (up(&g, &p), up(&g, &gr), up(&g, &m));
        optim::sgd(&g, v(&pb, n), v(&gb, n), v(&mb, n), s).unwrap();
        let (wp, wm) = cpu::optim::sgd(&p, &gr, &m, s);
        let (bp, bm) = sgd_bounds(&p, &gr, &m, s);
        bounded("sgd p", &read(&g, &pb, n), &wp, &bp);
        bounded("sgd m", &read(&g, &mb, n), &wm, &bm);
    }
    let s = AdamWStep {
        lr: 1e-3,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        weight_decay: 0.01,
        t: 3,
    };
    let (pb, gb, mb, vb) = (up(&g, &p), up(&g, &gr), up(&g, &m), up(&g, &vv));
    optim::adamw(&g, v(&pb, n), v(&gb, n), v(&mb, n), v(&vb, n), s).unwrap();
    let (wp, wm, wv) = cpu::optim::adamw(&p, &gr, &m, &vv, s);
    // m and v: β·m + (1 − β)·g (g²): three roundings of the terms'
    // magnitudes. p·(1 − lr·wd) − lr·m̂/(√v̂ + ε): the decay two roundings
    // of |p|; the update within 20u (bias corrections, the root's 2 ulp
    // halved and its 2.5-ulp quotient, the quotient, two products) of its
    // size, then a rounding of the result.
    let (b1, b2) = (s.beta1 as f64, s.beta2 as f64);
    let (bc1, bc2) = (1.0 - b1.powi(s.t as i32), 1.0 - b2.powi(s.t as i32));
    let (mut bp, mut bmm, mut bv) = (vec![], vec![], vec![]);
    for i in 0..n {
        let gi = gr[i] as f64;
        let mag_m = b1 * (m[i] as f64).abs() + (1.0 - b1) * gi.abs();
        let mag_v = b2 * vv[i] as f64 + (1.0 - b2) * gi * gi;
        let update = s.lr as f64 * (wm[i].abs() / bc1) / ((wv[i] / bc2).sqrt() + s.eps as f64);
        bmm.push(3.0 * U * mag_m);
        bv.push(3.0 * U * mag_v);
        bp.push(2.0 * U * (p[i] as f64).abs() + 20.0 * U * update + U * wp[i].abs());
    }
    bounded("adamw p", &read(&g, &pb, n), &wp, &bp);
    bounded("adamw m", &read(&g, &mb, n), &wm, &bmm);
    bounded("adamw v", &read(&g, &vb, n), &wv, &bv);
    let (tb, sb) = (up(&g, &p), up(&g, &gr));
    optim::ema(&g, v(&tb, n), v(&sb, n), 0.9994).unwrap();
    // μ·t + (1 − μ)·s: three roundings of the terms' magnitudes.
    let bound: Vec<f64> = (0..n)
        .map(|i| 3.0 * U * (0.9994 * (p[i] as f64).abs() + 0.0006 * (gr[i] as f64).abs()))
        .collect();
    bounded(
        "ema",
        &read(&g, &tb, n),
        &cpu::optim::ema(&p, &gr, 0.9994),
        &bound,
    );
    assert!(optim::ema(&g, v(&tb, n), v(&sb, n - 1), 0.9).is_err());
}

/// SGD's bounds: d = g + wd·p (two roundings of its terms), the buffer
/// μ·m + (1 − τ)·d (three more of its terms), Nesterov's d + μ·buf (two),
/// and p − lr·d (two of lr·|d|, one of the result).
fn sgd_bounds(p: &[f32], g: &[f32], m: &[f32], s: SgdStep) -> (Vec<f64>, Vec<f64>) {
    let mu = s.momentum as f64;
    let (mut bp, mut bm) = (vec![], vec![]);
    for i in 0..p.len() {
        let d = (g[i] as f64).abs() + (s.weight_decay as f64 * p[i] as f64).abs();
        let buf = if s.momentum == 0.0 {
            0.0
        } else if s.first {
            d
        } else {
            mu * (m[i] as f64).abs() + (1.0 - s.dampening as f64) * d
        };
        let step = match (s.momentum == 0.0, s.nesterov) {
            (true, _) => d,
            (false, true) => d + mu * buf,
            (false, false) => buf,
        };
        bm.push(5.0 * U * buf);
        let moved = (p[i] as f64).abs() + s.lr as f64 * step;
        bp.push(9.0 * U * s.lr as f64 * step + 2.0 * U * moved);
    }
    (bp, bm)
}
