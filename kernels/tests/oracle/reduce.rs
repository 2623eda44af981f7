//! Reductions over an axis (sum, mean, max, min, log-sum-exp; chunked past
//! 4096), arg-reductions and their backward, softmax and log-softmax with a
//! temperature and their backward.

use super::*;
use weakseg_kernels::cpu;
use weakseg_kernels::launch::reduce::{self, Axis, Reduce};

/// The bound of one reduction of random x ∈ [−3, 3] along `ax` (each output
/// a sequential f32 sum of the axis, or of its chunks' partials).
fn reduce_tol(op: Reduce, ax: Axis, x: &[f32]) -> Box<dyn Fn(&str, &[f32], &[f64])> {
    let l = ax.l;
    match op {
        Reduce::Max | Reduce::Min => {
            Box::new(|what: &str, got: &[f32], want: &[f64]| exact(what, got, want))
        }
        Reduce::Sum | Reduce::Mean => {
            let mag = cpu::reduce::reduce(op, &abs(x), ax);
            // The mean multiplies by 1/l rounded: two roundings.
            let after = if op == Reduce::Mean {
                Tol::ulps(1.0)
            } else {
                Tol::EXACT
            };
            Box::new(move |what: &str, got: &[f32], want: &[f64]| {
                summed(what, got, want, &mag, l, after)
            })
        }
        Reduce::LogSumExp => {
            // m + log Σ e^(x − m): each term within exp's 3 + 2·6 ulp (30u),
            // the sum within sum_bound(l) relative (positive terms), log
            // within 2⁻²¹ or 3 ulp of |log s| ≤ ln l, then a rounding of
            // the result; doubled for the chunked form (log-sum-exp of the
            // chunks' log-sum-exps).
            let fixed = 30.0 * U + 2f64.powi(-21) + 6.0 * U * (l as f64).ln();
            let tol = Tol::ulps(0.5).plus(2.0 * fixed + sum_bound(l));
            Box::new(move |what: &str, got: &[f32], want: &[f64]| within(what, got, want, tol))
        }
    }
}

/// Softmax of t·x, x ∈ [−3, 3], t = 0.7: z = t·x − m within 12.6u (two
/// roundings of terms ≤ 4.2), e^z within 3 + 2·4.2 ulp (23u), so each term
/// within 36u relative and their sum within 36u + sum_bound(l); the
/// quotient adds 2.5 ulp. The log form subtracts log s (2⁻²¹ or 3 ulp of
/// ln l) from z, absolute.
fn softmax_tol(log: bool, l: usize) -> Tol {
    if log {
        Tol::ulps(0.5)
            .plus(12.6 * U + 36.0 * U + sum_bound(l) + 2f64.powi(-21) + 6.0 * U * (l as f64).ln())
    } else {
        Tol {
            rel: 80.0 * U + sum_bound(l),
            abs: 0.0,
        }
    }
}

/// The softmax backward's bound per element: s = Σ g·y (or Σ g) is within
/// sum_bound(l)·Σ|g·y| (Σ|g|); the output t·y·(g − s) (t·(g − e^y·s))
/// carries that times |t·y| (|t|·e^y), e^y's 3 + 2|y| ulp of |t·e^y·s| in
/// the log form, and three roundings of the result.
fn softmax_backward_bound(log: bool, g: &[f32], y: &[f32], ax: Axis, t: f32) -> Vec<f64> {
    let mut out = vec![0.0; g.len()];
    let want = cpu::reduce::softmax_backward(log, g, y, ax, t);
    let t = t.abs() as f64;
    for r in 0..ax.outer * ax.inner {
        let (o, i) = (r / ax.inner, r % ax.inner);
        let at = |k: usize| (o * ax.l + k) * ax.inner + i;
        let (mut s, mut mag) = (0.0f64, 0.0f64);
        for k in 0..ax.l {
            let (gk, yk) = (g[at(k)] as f64, y[at(k)] as f64);
            let term = if log { gk } else { gk * yk };
            s += term;
            mag += term.abs();
        }
        for k in 0..ax.l {
            let yk = y[at(k)] as f64;
            let scale = if log { t * yk.exp() } else { t * yk.abs() };
            let exp_err = if log {
                (6.0 + 4.0 * yk.abs()) * U * t * yk.exp() * s.abs()
            } else {
                0.0
            };
            out[at(k)] = scale * (sum_bound(ax.l) * mag + U * s.abs())
                + exp_err
                + 3.0 * U * want[at(k)].abs();
        }
    }
    out
}

fn axes() -> [Axis; 4] {
    [
        Axis {
            outer: 1,
            l: 1,
            inner: 1,
        },
        Axis {
            outer: 3,
            l: 7,
            inner: 5,
        },
        Axis {
            outer: 1,
            l: 1000,
            inner: 1,
        },
        Axis {
            outer: 4,
            l: 2,
            inner: 1,
        },
    ]
}

const REDUCTIONS: [Reduce; 5] = [
    Reduce::Sum,
    Reduce::Mean,
    Reduce::Max,
    Reduce::Min,
    Reduce::LogSumExp,
];

/// Every reduction of `x` along `ax` against the reference.
fn check_reductions(g: &Gpu, x: &[f32], ax: Axis, what: &str) {
    let (n, m) = (ax.outer * ax.l * ax.inner, ax.outer * ax.inner);
    let xb = up(g, x);
    for op in REDUCTIONS {
        let out = poisoned(g, m);
        reduce::reduce(g, op, v(&xb, n), v(&out, m), ax).unwrap();
        reduce_tol(op, ax, x)(
            &format!("{what} {op:?} {ax:?}"),
            &read(g, &out, m),
            &cpu::reduce::reduce(op, x, ax),
        );
    }
}

/// Sum, mean, max and min of dyadic values: every partial sum is exact, so
/// the sum matches exactly and the mean within its two roundings.
fn check_dyadic_reductions(g: &Gpu, r: &mut SmallRng, ax: Axis) {
    let (n, m) = (ax.outer * ax.l * ax.inner, ax.outer * ax.inner);
    let x = dyadic(r, n, 8, 3);
    let xb = up(g, &x);
    for op in [Reduce::Sum, Reduce::Mean, Reduce::Max, Reduce::Min] {
        let out = poisoned(g, m);
        reduce::reduce(g, op, v(&xb, n), v(&out, m), ax).unwrap();
        let tol = if op == Reduce::Mean {
            Tol::ulps(1.0)
        } else {
            Tol::EXACT
        };
        within(
            &format!("dyadic {op:?} {ax:?}"),
            &read(g, &out, m),
            &cpu::reduce::reduce(op, &x, ax),
            tol,
        );
    }
}

#[test]
fn reductions_and_softmax() {
    let g = gpu();
    let mut r = rng(5);
    for ax in axes() {
        let n = ax.outer * ax.l * ax.inner;
        let m = ax.outer * ax.inner;
        let x = rand_vec(&mut r, n, -3.0, 3.0);
        let xb = up(&g, &x);
        check_reductions(&g, &x, ax, "random");
        check_dyadic_reductions(&g, &mut r, ax);
        for argmax in [true, false] {
            let (vals, idx) = (poisoned(&g, m), poisoned(&g, m));
            reduce::arg_reduce(&g, argmax, v(&xb, n), v(&vals, m), v(&idx, m), ax).unwrap();
            let (wv, wi) = cpu::reduce::arg_reduce(argmax, &x, ax);
            exact("arg values", &read(&g, &vals, m), &wv);
            assert_eq!(read_u32(&g, &idx, m), wi, "arg indices {ax:?}");
            let gr = rand_vec(&mut r, m, -1.0, 1.0);
            let gb = up(&g, &gr);
            let out = poisoned(&g, n);
            reduce::arg_backward(&g, v(&gb, m), v(&idx, m), v(&out, n), ax).unwrap();
            exact(
                "arg backward",
                &read(&g, &out, n),
                &cpu::reduce::arg_backward(&gr, &wi, ax),
            );
        }
        for log in [false, true] {
            let t = 0.7;
            let out = poisoned(&g, n);
            reduce::softmax(&g, log, v(&xb, n), v(&out, n), ax, t).unwrap();
            let y = read(&g, &out, n);
            within(
                &format!("softmax log={log} {ax:?}"),
                &y,
                &cpu::reduce::softmax(log, &x, ax, t),
                softmax_tol(log, ax.l),
            );
            let gr = rand_vec(&mut r, n, -1.0, 1.0);
            let gb = up(&g, &gr);
            let dx = poisoned(&g, n);
            reduce::softmax_backward(&g, log, v(&gb, n), v(&out, n), v(&dx, n), ax, t).unwrap();
            bounded(
                &format!("softmax backward log={log} {ax:?}"),
                &read(&g, &dx, n),
                &cpu::reduce::softmax_backward(log, &gr, &y, ax, t),
                &softmax_backward_bound(log, &gr, &y, ax, t),
            );
        }
    }
}

/// Axes longer than a reduction chunk (4096) and than the 65 536-trip loop
/// bound of CPU adapters: reduced in chunks, then over the chunks; arg-max
/// and arg-min carry each chunk's index.
#[test]
fn long_reductions() {
    let g = gpu();
    let mut r = rng(42);
    for ax in [
        Axis {
            outer: 1,
            l: 70_001,
            inner: 1,
        },
        Axis {
            outer: 2,
            l: 9_000,
            inner: 3,
        },
    ] {
        let x = rand_vec(&mut r, ax.outer * ax.l * ax.inner, -3.0, 3.0);
        check_reductions(&g, &x, ax, "random");
        check_dyadic_reductions(&g, &mut r, ax);
        check_arg_reduce(&g, &x, ax);
        // Ties across chunks (4096 long): the first index still wins.
        let mut tied = vec![0.0f32; x.len()];
        for o in 0..ax.outer {
            for i in 0..ax.inner {
                for k in [4_095, 5_000, ax.l - 1] {
                    tied[(o * ax.l + k) * ax.inner + i] = 2.0;
                }
                tied[(o * ax.l + 4_200) * ax.inner + i] = -2.0;
                tied[(o * ax.l + ax.l - 2) * ax.inner + i] = -2.0;
            }
        }
        check_arg_reduce(&g, &tied, ax);
    }
}

/// Arg-max and arg-min of `x` on the device against the reference: values
/// exactly, indices equal.
fn check_arg_reduce(g: &Gpu, x: &[f32], ax: Axis) {
    let (n, m) = (x.len(), ax.outer * ax.inner);
    let xb = up(g, x);
    for argmax in [true, false] {
        let (vals, idx) = (poisoned(g, m), poisoned(g, m));
        reduce::arg_reduce(g, argmax, v(&xb, n), v(&vals, m), v(&idx, m), ax).unwrap();
        let (wv, wi) = cpu::reduce::arg_reduce(argmax, x, ax);
        exact("arg values", &read(g, &vals, m), &wv);
        assert_eq!(
            read_u32(g, &idx, m),
            wi,
            "arg indices argmax={argmax} {ax:?}"
        );
    }
}
