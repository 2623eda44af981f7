//! The tensor ops' forward values, by hand. The kernel oracles check each
//! kernel against its CPU reference and the gradient checks check each
//! backward pass against its forward, but neither sees a tensor op that
//! hands its kernel a wrong scale, temperature or geometry: forward and
//! backward then agree with each other and with the kernel. These cases
//! pin what the tensor layer computes, on shapes whose dimensions differ
//! (so n·c ≠ n + c, rows ≠ columns).
//!
//! Tolerance: 1e-6 relative, a few f32 roundings of values of order 1.

use weakseg::{Gpu, Tensor};

fn gpu() -> Gpu {
    Gpu::new_blocking().unwrap()
}

fn t(g: &Gpu, v: &[f32], shape: &[usize]) -> Tensor {
    Tensor::from_slice(g, v, shape).unwrap()
}

fn host(t: &Tensor) -> Vec<f32> {
    t.to_vec_blocking::<f32>().unwrap()
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
