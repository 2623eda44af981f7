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
