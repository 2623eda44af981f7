//! The f16 forward kernels against their CPU reference (f16 inputs, f64
//! arithmetic, one rounding to f16), on odd sizes, with outputs poisoned
//! (f16 NaN) first. On an adapter without shader-f16 every launcher must
//! refuse with `Error::MissingFeature` instead.
//!
//! Tolerance: one f16 rounding step of the result, |got − want| ≤
//! 1.5e-3·|want| + 1e-4: the kernels accumulate in f32 and may land on the
//! other side of a rounding boundary than the f64 reference.

use super::*;
use ::half::f16;
use weakseg_kernels::launch::conv::Conv2d;
use weakseg_kernels::launch::half::{self as hk, PoolKind};
use weakseg_kernels::launch::pool::Pool2d;
use weakseg_kernels::{Error, cpu};

const REL: f64 = 1.5e-3;
const ABS: f64 = 1e-4;

/// Random values already representable in f16.
fn rand_half(r: &mut SmallRng, n: usize, lo: f32, hi: f32) -> Vec<f32> {
    (0..n)
        .map(|_| cpu::half::round(r.random_range(lo..hi) as f64))
        .collect()
}

fn up_half(g: &Gpu, v: &[f32]) -> GpuBuffer {
    let mut h: Vec<f16> = v.iter().map(|&x| f16::from_f32(x)).collect();
    if h.len() % 2 == 1 {
        h.push(f16::ZERO);
    }
    g.upload(bytemuck::cast_slice(&h)).unwrap()
}

fn up_f32(g: &Gpu, v: &[f32]) -> GpuBuffer {
    g.upload(bytemuck::cast_slice(v)).unwrap()
}

/// An f16 output of n elements filled with NaN.
fn poisoned_half(g: &Gpu, n: usize) -> GpuBuffer {
    up_half(g, &vec![f32::NAN; n.max(1)])
}

fn read_half(g: &Gpu, b: &GpuBuffer, n: usize) -> Vec<f32> {
    let bytes = g
        .read(b, 0, n.div_ceil(2) as u64 * 4)
        .unwrap()
        .wait()
        .unwrap();
    let h: &[f16] = bytemuck::cast_slice(&bytes);
    h[..n].iter().map(|v| v.to_f32()).collect()
}

#[track_caller]
fn close(what: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let d = (g as f64 - w as f64).abs();
        assert!(
            d <= REL * (w as f64).abs() + ABS,
            "{what}: element {i}: got {g}, want {w}"
        );
    }
}

fn h(b: &GpuBuffer, n: usize) -> View<'_> {
    View::halves(b, n)
}

/// Runs `f` where the adapter has shader-f16; elsewhere checks that the
/// launchers refuse with a MissingFeature error.
fn with_f16(f: impl FnOnce(&Gpu)) {
    let g = gpu();
    if g.has_f16() {
        f(&g);
        return;
    }
    eprintln!(
        "{}: no shader-f16, checking the refusal instead",
        g.adapter_info().name
    );
    let (x, y) = (up_f32(&g, &[1.0, 2.0]), poisoned_half(&g, 2));
    let e = hk::cast_to_half(&g, 2, View::new(&x, 2), h(&y, 2)).unwrap_err();
    assert!(
        matches!(
            e,
            Error::MissingFeature {
                feature: "shader-f16",
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn casts_round_and_saturate() {
    with_f16(|g| {
        let mut r = rng(1);
        for n in [1usize, 2, 7, 130] {
            let mut x: Vec<f32> = (0..n).map(|_| r.random_range(-4.0f32..4.0)).collect();
            if n > 2 {
                x[0] = 1.0e6;
                x[1] = -7.0e4;
                x[2] = 3.0e-6;
            }
            let xb = up_f32(g, &x);
            let hb = poisoned_half(g, n);
            hk::cast_to_half(g, n, View::new(&xb, n), h(&hb, n)).unwrap();
            let want = cpu::half::round_all(&x);
            close(&format!("to_half n={n}"), &read_half(g, &hb, n), &want);
            let fb = up_f32(g, &vec![f32::NAN; n]);
            hk::cast_to_float(g, n, h(&hb, n), View::new(&fb, n)).unwrap();
            let back: Vec<f32> =
                bytemuck::cast_slice(&g.read(&fb, 0, n as u64 * 4).unwrap().wait().unwrap())
                    .to_vec();
            assert_eq!(back, read_half(g, &hb, n), "to_float is exact, n={n}");
        }
    });
}

#[test]
fn affine_add_and_relu() {
    with_f16(|g| {
        let mut r = rng(2);
        for shape in [[1usize, 1, 1, 1], [2, 3, 5, 7], [1, 5, 3, 1]] {
            let n: usize = shape.iter().product();
            let c = shape[1];
            let (x, b) = (
                rand_half(&mut r, n, -3.0, 3.0),
                rand_half(&mut r, n, -3.0, 3.0),
            );
            let (scale, shift) = (
                rand_half(&mut r, c, -2.0, 2.0),
                rand_half(&mut r, c, -1.0, 1.0),
            );
            let ss: Vec<f32> = scale.iter().chain(&shift).copied().collect();
            let (xb, bb, sb) = (up_half(g, &x), up_half(g, &b), up_f32(g, &ss));
            for relu in [false, true] {
                let yb = poisoned_half(g, n);
                hk::affine_half(g, shape, h(&xb, n), View::new(&sb, 2 * c), h(&yb, n), relu)
                    .unwrap();
                close(
                    &format!("affine {shape:?} relu={relu}"),
                    &read_half(g, &yb, n),
                    &cpu::half::affine(shape, &x, &scale, &shift, relu),
                );
                let yb = poisoned_half(g, n);
                hk::add_half(g, n, h(&xb, n), h(&bb, n), h(&yb, n), relu).unwrap();
                close(
                    &format!("add n={n} relu={relu}"),
                    &read_half(g, &yb, n),
                    &cpu::half::add(&x, &b, relu),
                );
            }
            let yb = poisoned_half(g, n);
            hk::relu_half(g, n, h(&xb, n), h(&yb, n)).unwrap();
            let want: Vec<f32> = x.iter().map(|v| v.max(0.0)).collect();
            close(&format!("relu n={n}"), &read_half(g, &yb, n), &want);
        }
    });
}

#[test]
fn pooling_half() {
    with_f16(|g| {
        let mut r = rng(3);
        let p = |planes, h, w, k, s, pad| Pool2d {
            planes,
            h,
            w,
            kernel: (k, k),
            stride: (s, s),
            pad: (pad, pad),
        };
        for pg in [
            p(1, 1, 1, 1, 1, 0),
            p(3, 7, 9, 3, 2, 1),
            p(2, 5, 6, 3, 1, 1),
        ] {
            let n = pg.planes * pg.h * pg.w;
            let no = pg.planes * pg.ho() * pg.wo();
            let x = rand_half(&mut r, n, -3.0, 3.0);
            let xb = up_half(g, &x);
            for kind in [PoolKind::Max, PoolKind::Avg] {
                let yb = poisoned_half(g, no);
                hk::pool2d_half(g, &pg, kind, h(&xb, n), h(&yb, no)).unwrap();
                close(
                    &format!("{kind:?} pool {pg:?}"),
                    &read_half(g, &yb, no),
                    &cpu::half::pool2d(&pg, kind, &x),
                );
            }
        }
    });
}

#[test]
fn conv2d_half_matches_reference() {
    with_f16(|g| {
        let mut r = rng(4);
        let c = |n, cin, hw: (usize, usize), cout, k, s, p, d, groups| Conv2d {
            n,
            cin,
            h: hw.0,
            w: hw.1,
            cout,
            kh: k,
            kw: k,
            stride: (s, s),
            pad: (p, p),
            dilation: (d, d),
            groups,
        };
        for cg in [
            c(1, 1, (1, 1), 1, 1, 1, 0, 1, 1),
            c(2, 3, (7, 5), 9, 3, 1, 1, 1, 1),
            c(1, 16, (9, 11), 16, 3, 2, 1, 1, 1),
            c(2, 8, (10, 9), 8, 3, 1, 2, 2, 1),
            c(1, 6, (7, 7), 6, 3, 1, 1, 1, 6),
            c(1, 6, (6, 5), 9, 1, 1, 0, 1, 3),
            c(1, 8, (5, 7), 8, 3, 1, 1, 1, 2),
        ] {
            let nx = cg.n * cg.cin * cg.h * cg.w;
            let nw = cg.cout * (cg.cin / cg.groups) * cg.kh * cg.kw;
            let ny = cg.n * cg.cout * cg.ho() * cg.wo();
            let x = rand_half(&mut r, nx, -1.0, 1.0);
            let w = rand_half(&mut r, nw, -1.0, 1.0);
            let bias: Vec<f32> = (0..cg.cout).map(|_| r.random_range(-1.0f32..1.0)).collect();
            let (xb, wb, bb) = (up_half(g, &x), up_half(g, &w), up_f32(g, &bias));
            for (with_bias, relu) in [(true, false), (false, true)] {
                let yb = poisoned_half(g, ny);
                let bv = with_bias.then(|| View::new(&bb, cg.cout));
                hk::conv2d_half(g, &cg, h(&xb, nx), h(&wb, nw), bv, h(&yb, ny), relu).unwrap();
                close(
                    &format!("conv2d_half {cg:?} bias={with_bias} relu={relu}"),
                    &read_half(g, &yb, ny),
                    &cpu::half::conv2d(&cg, &x, &w, with_bias.then_some(&bias[..]), relu),
                );
            }
        }
    });
}

#[test]
fn short_operands_are_refused() {
    with_f16(|g| {
        let (x, y) = (up_half(g, &[1.0; 3]), poisoned_half(g, 8));
        let e = hk::relu_half(g, 8, h(&x, 3), h(&y, 8)).unwrap_err();
        assert!(
            e.to_string()
                .contains("input holds 4 f16 elements, 8 needed"),
            "{e}"
        );
    });
}
