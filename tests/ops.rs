//! The tensor ops' forward values, by hand. The kernel oracles check each
//! kernel against its CPU reference and the gradient checks check each
//! backward pass against its forward, but neither sees a tensor op that
//! hands its kernel a wrong scale, temperature or geometry: forward and
//! backward then agree with each other and with the kernel. These cases
//! pin what the tensor layer computes, on shapes whose dimensions differ
//! (so n·c ≠ n + c, rows ≠ columns).
//!
//! Tolerance: 1e-6 relative, a few f32 roundings of values of order 1.

mod common;
use common::{gpu, host};

use weakseg::{Gpu, Tensor};

fn t(g: &Gpu, v: &[f32], shape: &[usize]) -> Tensor {
    Tensor::from_slice(g, v, shape).unwrap()
}

#[track_caller]
fn near(what: &str, got: &[f32], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (&a, &b)) in got.iter().zip(want).enumerate() {
        assert!(
            (a as f64 - b).abs() <= 1e-6 * b.abs().max(1.0),
            "{what}[{i}]: {a} vs {b}"
        );
    }
}

#[test]
fn means_divide_by_the_count() {
    let g = gpu();
    // [2, 3]: rows (1, 2, 6) and (4, 5, 9).
    let x = t(&g, &[1.0, 2.0, 6.0, 4.0, 5.0, 9.0], &[2, 3]);
    near("mean all", &host(&x.mean_all().unwrap()), &[27.0 / 6.0]);
    near(
        "mean rows",
        &host(&x.mean(&[1], false).unwrap()),
        &[3.0, 6.0],
    );
    near(
        "mean columns",
        &host(&x.mean(&[0], true).unwrap()),
        &[2.5, 3.5, 7.5],
    );
    near("mean both", &host(&x.mean(&[0, 1], false).unwrap()), &[4.5]);
}

#[test]
fn softmax_divides_by_the_temperature() {
    let g = gpu();
    let x = t(&g, &[0.0, 1.0, 3.0], &[1, 3]);
    // Temperature 0.5: softmax of (0, 2, 6).
    let e = [1.0f64, 2f64.exp(), 6f64.exp()];
    let z: f64 = e.iter().sum();
    near(
        "softmax t 0.5",
        &host(&x.softmax_t(1, 0.5).unwrap()),
        &[e[0] / z, e[1] / z, e[2] / z],
    );
    near(
        "log_softmax t 0.5",
        &host(&x.log_softmax_t(1, 0.5).unwrap()),
        &[-z.ln(), 2.0 - z.ln(), 6.0 - z.ln()],
    );
    assert!(x.softmax_t(1, 0.0).is_err());
}

#[test]
fn pooling_covers_every_plane() {
    let g = gpu();
    // One image of 3 channels of 2×2: n·c = 3 planes (n + c would be 4).
    let x = t(
        &g,
        &[
            1.0, 2.0, 3.0, 4.0, 10.0, 20.0, 30.0, 40.0, -1.0, -2.0, -3.0, -4.0,
        ],
        &[1, 3, 2, 2],
    );
    near(
        "avg_pool2d",
        &host(&x.avg_pool2d(2, 2, 0).unwrap()),
        &[2.5, 25.0, -2.5],
    );
    near(
        "max_pool2d",
        &host(&x.max_pool2d(2, 2, 0).unwrap()),
        &[4.0, 40.0, -1.0],
    );
    near(
        "adaptive_avg_pool2d",
        &host(&x.adaptive_avg_pool2d((1, 2)).unwrap()),
        &[2.0, 3.0, 20.0, 30.0, -2.0, -3.0],
    );
}

#[test]
fn binary_ops_name_themselves_and_clamp_checks_its_bounds() {
    let g = gpu();
    let (a, b) = (t(&g, &[1.0, 2.0, 3.0], &[3]), t(&g, &[1.0, 2.0], &[2]));
    for (name, r) in [
        ("add", a.add(&b)),
        ("sub", a.sub(&b)),
        ("mul", a.mul(&b)),
        ("div", a.div(&b)),
        ("maximum", a.maximum(&b)),
        ("minimum", a.minimum(&b)),
    ] {
        let e = r.unwrap_err().to_string();
        assert!(e.contains(name) && e.contains("broadcast"), "{name}: {e}");
    }
    assert!(a.clamp(0.5, 0.4).is_err());
    // Equal bounds are a valid (constant) clamp.
    near(
        "clamp",
        &host(&a.clamp(2.0, 2.0).unwrap()),
        &[2.0, 2.0, 2.0],
    );
    // A horizontal flip flips the last axis of any tensor of rank ≥ 1.
    near("hflip", &host(&a.hflip().unwrap()), &[3.0, 2.0, 1.0]);
    let scalar = Tensor::from_slice(&g, &[1.0f32], &[]).unwrap();
    assert!(scalar.hflip().is_err());
}

/// Cross-entropy as torch's `F.cross_entropy(x, t, weight, ignore_index)`:
/// Σ w_t·(logsumexp x − x_t) over the counted pixels, divided by Σ w_t. By
/// hand on [N 2, C 3, 3 pixels] (N·S = 6 pixels, N + S would be 5), class
/// weights (1, 2, 0.5), one pixel ignored; and on plain [N, C] logits.
#[test]
fn cross_entropy_is_the_weighted_mean_over_counted_pixels() {
    let g = gpu();
    let x: Vec<f32> = (0..18).map(|i| ((i * 7) % 5) as f32 * 0.5 - 1.0).collect();
    let targets = [0u32, 2, 1, 255, 1, 0];
    let w = [1.0f64, 2.0, 0.5];
    let xt = t(&g, &x, &[2, 3, 3]);
    let tt = Tensor::from_slice(&g, &targets, &[2, 3]).unwrap();
    let wt = t(&g, &[1.0, 2.0, 0.5], &[3]);
    let (mut num, mut den) = (0.0, 0.0);
    for (i, &tg) in targets.iter().enumerate() {
        if tg == 255 {
            continue;
        }
        let (n, p) = (i / 3, i % 3);
        let logit = |c: usize| x[(n * 3 + c) * 3 + p] as f64;
        let lse = (0..3).map(|c| logit(c).exp()).sum::<f64>().ln();
        num += w[tg as usize] * (lse - logit(tg as usize));
        den += w[tg as usize];
    }
    near(
        "weighted cross-entropy",
        &host(&xt.cross_entropy(&tt, Some(&wt), 255).unwrap()),
        &[num / den],
    );
    // [N 2, C 3]: one target each, no weights.
    let logits = t(&g, &[0.0, 1.0, 2.0, 3.0, 1.0, 0.0], &[2, 3]);
    let y = Tensor::from_slice(&g, &[2u32, 1], &[2]).unwrap();
    let lse = |a: f64, b: f64, c: f64| (a.exp() + b.exp() + c.exp()).ln();
    near(
        "[N, C] cross-entropy",
        &host(&logits.cross_entropy(&y, None, 255).unwrap()),
        &[((lse(0.0, 1.0, 2.0) - 2.0) + (lse(3.0, 1.0, 0.0) - 1.0)) / 2.0],
    );
    let flat = t(&g, &[0.0, 1.0], &[2]);
    assert!(flat.cross_entropy(&y, None, 255).is_err());
}

/// Matmul's shapes: [b, m, k]·[k, n] broadcasts the 2-D operand over the
/// batch (by hand below); inner dimensions that differ, or batches of 2
/// and 3, are refused.
#[test]
fn matmul_broadcasts_batches_and_refuses_mismatches() {
    let g = gpu();
    // Two 1×2 rows times one 2×2 matrix.
    let a = t(&g, &[1.0, 2.0, 3.0, 4.0], &[2, 1, 2]);
    let b = t(&g, &[1.0, 10.0, 100.0, 1000.0], &[2, 2]);
    near(
        "broadcast matmul",
        &host(&a.matmul(&b).unwrap()),
        &[201.0, 2010.0, 403.0, 4030.0],
    );
    assert!(
        a.matmul(&t(&g, &[1.0; 6], &[3, 2])).is_err(),
        "k 2 against 3"
    );
    let three = t(&g, &[1.0; 12], &[3, 2, 2]);
    assert!(a.matmul(&three).is_err(), "batches 2 and 3");
    assert!(
        t(&g, &[1.0; 2], &[1, 1, 2]).matmul(&three).is_ok(),
        "batch 1 broadcasts"
    );
}
