//! The exclusive scan and the permutohedral lattice (build, splat, blur,
//! slice; scaled and reversed filtering; the CRF feature maps).

use super::*;
use weakseg_kernels::cpu;
use weakseg_kernels::cpu::lattice::{CpuLattice, crf_features};
use weakseg_kernels::launch::lattice::{self, Lattice};
use weakseg_kernels::launch::scan::exclusive_scan;

#[test]
fn exclusive_scan_matches_reference() {
    let g = gpu();
    let mut r = rng(1);
    for n in [1usize, 2, 63, 64, 65, 4097, 70_001] {
        let x: Vec<u32> = (0..n).map(|_| r.random_range(0..5)).collect();
        let b = g.upload(bytemuck::cast_slice(&x)).unwrap();
        exclusive_scan(&g, View::new(&b, n)).unwrap();
        let got: Vec<u32> =
            bytemuck::cast_slice(&g.read(&b, 0, n as u64 * 4).unwrap().wait().unwrap()).to_vec();
        assert_eq!(got, cpu::scan::exclusive_scan(&x), "n = {n}");
    }
}

fn check_filter(g: &Gpu, feats: &[f32], n: usize, d: usize, channels: usize, seed: u64) {
    let mut r = rng(seed);
    let fb = up(g, feats);
    let lat = Lattice::build_blocking(g, View::new(&fb, n * d), n, d).unwrap();
    let want_lat = CpuLattice::build(feats, n, d);
    assert_eq!(
        lat.points(),
        want_lat.points(),
        "lattice points, n {n} d {d}"
    );
    let input: Vec<f32> = (0..channels * n)
        .map(|_| r.random_range(0.0..1.0))
        .collect();
    let scale: Vec<f32> = (0..n).map(|_| r.random_range(0.5..1.5)).collect();
    let (ib, sb) = (up(g, &input), up(g, &scale));
    for (scaled, reverse) in [(false, false), (true, false), (true, true)] {
        let ob = up(g, &vec![f32::NAN; channels * n]);
        let sv = scaled.then(|| View::new(&sb, n));
        lat.filter(
            g,
            View::new(&ib, channels * n),
            View::new(&ob, channels * n),
            channels,
            sv,
            reverse,
        )
        .unwrap();
        let want = want_lat.filter(&input, channels, scaled.then_some(&scale[..]), reverse);
        // Every value, weight and scale is positive, so each output's
        // relative error is that of its sums: a vertex gathers at most n
        // splatted values (sum_bound(n)); each of the d + 1 blur passes
        // and the slice add a handful of roundings (8u per pass). Both
        // sides share the f32 embedding, so the simplices and barycentric
        // weights are the same.
        let want: Vec<f64> = want.iter().map(|&v| v as f64).collect();
        within(
            &format!("filter n {n} d {d} c {channels} scaled {scaled} reverse {reverse}"),
            &read(g, &ob, channels * n),
            &want,
            Tol {
                rel: sum_bound(n) + 8.0 * (d + 2) as f64 * U,
                abs: 0.0,
            },
        );
    }
}

#[test]
fn lattice_filter_matches_reference_on_random_features() {
    let g = gpu();
    let mut r = rng(2);
    for (n, d, c) in [
        (1usize, 1usize, 1usize),
        (37, 2, 3),
        (211, 3, 1),
        (500, 5, 4),
        (97, 8, 2),
    ] {
        let feats: Vec<f32> = (0..n * d).map(|_| r.random_range(-4.0..4.0)).collect();
        check_filter(&g, &feats, n, d, c, n as u64);
    }
}

#[test]
fn lattice_filter_matches_reference_on_crf_features() {
    let g = gpu();
    let mut r = rng(3);
    let (w, h) = (23usize, 17usize);
    let n = w * h;
    let img: Vec<f32> = (0..3 * n).map(|_| r.random_range(0..256) as f32).collect();
    let ib = up(&g, &img);
    let xy = up(&g, &vec![f32::NAN; n * 2]);
    lattice::crf_features(&g, w, n, (3.0, 3.0), None, View::new(&xy, n * 2)).unwrap();
    let want_xy = crf_features(w, n, (3.0, 3.0), None);
    // Coordinates over σ: one quotient (2.5 ulp).
    let as_f64 = |v: &[f32]| v.iter().map(|&x| x as f64).collect::<Vec<_>>();
    within(
        "xy features",
        &read(&g, &xy, n * 2),
        &as_f64(&want_xy),
        Tol::ulps(2.5),
    );
    check_filter(&g, &want_xy, n, 2, 3, 4);
    let rgb = up(&g, &vec![f32::NAN; n * 5]);
    let s = [13.0, 13.0, 13.0];
    lattice::crf_features(
        &g,
        w,
        n,
        (8.0, 8.0),
        Some((View::new(&ib, 3 * n), s)),
        View::new(&rgb, n * 5),
    )
    .unwrap();
    let want_rgb = crf_features(w, n, (8.0, 8.0), Some((&img, s)));
    within(
        "rgb features",
        &read(&g, &rgb, n * 5),
        &as_f64(&want_rgb),
        Tol::ulps(2.5),
    );
    check_filter(&g, &want_rgb, n, 5, 2, 5);
}

#[test]
fn lattice_refuses_bad_shapes() {
    let g = gpu();
    let b = up(&g, &[0.0; 8]);
    assert!(Lattice::build_blocking(&g, View::new(&b, 8), 4, 9).is_err());
    assert!(Lattice::build_blocking(&g, View::new(&b, 8), 0, 2).is_err());
    assert!(Lattice::build_blocking(&g, View::new(&b, 8), 5, 2).is_err());
    assert!(lattice::crf_features(&g, 3, 8, (1.0, 1.0), None, View::new(&b, 8)).is_err());
}

/// Σ_j exp(−½‖f_i − f_j‖²)·v_j in f64, by brute force: the Gaussian the
/// lattice approximates.
fn exact_gaussian(feats: &[f32], n: usize, d: usize, vals: &[f32]) -> Vec<f64> {
    (0..n)
        .map(|i| {
            (0..n)
                .map(|j| {
                    let d2: f64 = (0..d)
                        .map(|k| (feats[i * d + k] as f64 - feats[j * d + k] as f64).powi(2))
                        .sum();
                    (-0.5 * d2).exp() * vals[j] as f64
                })
                .sum()
        })
        .collect()
}

/// The lattice (the GPU kernels and the CPU reference) against a brute-force
/// Gaussian on ≤ 100 points. The permutohedral lattice splats each point to
/// the d + 1 vertices of its simplex, blurs with [½ 1 ½] along the d + 1
/// lattice directions and slices back, so its kernel depends on where the
/// points sit in their simplices. Normalised by the filter of ones, as the
/// dense CRF applies it, it stays within 5% (d = 2) and 10% (d = 5) of the
/// exact normalised Gaussian at every point, 1.5% and 3% on average
/// (measured here: at most 4.4% and 8.1%, on average 1.3% and 2.1%).
/// Unnormalised it carries a point-dependent factor: 0.7–1 of the exact sum
/// for d = 2 and 0.3–0.7 for d = 5 (measured 0.75–0.91 and 0.34–0.63).
/// densecrf's and rloss's lattices carry the same factor.
#[test]
fn lattice_approximates_the_exact_gaussian() {
    let g = gpu();
    for (n, d, spread, seed) in [
        (100usize, 2usize, 3.0f32, 1u64),
        (64, 2, 6.0, 4),
        (100, 5, 3.0, 2),
        (80, 5, 1.5, 3),
    ] {
        let mut r = rng(seed);
        let feats: Vec<f32> = (0..n * d).map(|_| r.random_range(0.0..spread)).collect();
        let vals: Vec<f32> = (0..n).map(|_| r.random_range(0.0..1.0)).collect();
        let ones = vec![1.0f32; n];
        let exact = exact_gaussian(&feats, n, d, &vals);
        let mass = exact_gaussian(&feats, n, d, &ones);
        let cpu_lat = CpuLattice::build(&feats, n, d);
        let fb = up(&g, &feats);
        let gpu_lat = Lattice::build_blocking(&g, View::new(&fb, n * d), n, d).unwrap();
        let on_gpu = |input: &[f32]| {
            let (ib, ob) = (up(&g, input), poisoned(&g, n));
            gpu_lat
                .filter(&g, View::new(&ib, n), View::new(&ob, n), 1, None, false)
                .unwrap();
            read(&g, &ob, n)
        };
        let (max_err, mean_err, ratio) = match d {
            2 => (0.05, 0.015, 0.7..1.0),
            _ => (0.10, 0.03, 0.3..0.7),
        };
        for (side, out, norm) in [
            (
                "cpu",
                cpu_lat.filter(&vals, 1, None, false),
                cpu_lat.filter(&ones, 1, None, false),
            ),
            ("gpu", on_gpu(&vals), on_gpu(&ones)),
        ] {
            let what = format!("{side} lattice n {n} d {d} spread {spread}");
            let errs: Vec<f64> = (0..n)
                .map(|i| ((out[i] / norm[i]) as f64 / (exact[i] / mass[i]) - 1.0).abs())
                .collect();
            let worst = errs.iter().cloned().fold(0.0, f64::max);
            let mean = errs.iter().sum::<f64>() / n as f64;
            assert!(
                worst <= max_err,
                "{what}: normalised error {worst:.4} > {max_err}"
            );
            assert!(
                mean <= mean_err,
                "{what}: mean normalised error {mean:.4} > {mean_err}"
            );
            for i in 0..n {
                let q = out[i] as f64 / exact[i];
                assert!(
                    ratio.contains(&q),
                    "{what}: point {i}: lattice / exact {q:.3} outside {ratio:?}"
                );
            }
        }
    }
}

/// The embedding's scale factors √(2/3)(d+1)/√((i+1)(i+2)) and the slice
/// weight 1/(1 + 2⁻ᵈ) of densecrf's `permutohedral.cpp`, worked out by
/// hand: for d = 2, √6 / √2 = √3 and √6 / √6 = 1, α = 4/5; for d = 5,
/// 2√6 / √2 = √12, 2√6 / √6 = 2, 2√6 / √12 = √2, 2√6 / √20 = √(6/5),
/// 2√6 / √30 = √(4/5), α = 32/33. The launcher and the CPU reference each
/// hold their own copy; both must give these.
#[test]
fn lattice_constants_are_densecrfs() {
    use weakseg_kernels::cpu::lattice as reference;
    let hand = [
        (2usize, vec![3f64.sqrt(), 1.0], 0.8f64),
        (
            5,
            vec![12f64.sqrt(), 2.0, 2f64.sqrt(), 1.2f64.sqrt(), 0.8f64.sqrt()],
            32.0 / 33.0,
        ),
    ];
    for (d, scales, alpha) in hand {
        for (side, (inv, got), a) in [
            ("launcher", lattice::elevation(d), lattice::slice_alpha(d)),
            (
                "reference",
                reference::elevation(d),
                reference::slice_alpha(d),
            ),
        ] {
            assert_eq!(inv, 1.0 / (d + 1) as f32, "{side} d {d}");
            for (i, (&s, &want)) in got.iter().zip(&scales).enumerate() {
                assert!(
                    (s as f64 - want).abs() <= 2.0 * U * want,
                    "{side} d {d}: scale {i} {s} vs {want}"
                );
            }
            assert!(
                (a as f64 - alpha).abs() <= 2.0 * U,
                "{side} d {d}: α {a} vs {alpha}"
            );
        }
    }
}
