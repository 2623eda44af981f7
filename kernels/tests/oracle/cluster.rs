//! k-means assignment and update (Euclidean and spherical, grouped).

use super::*;
use weakseg_kernels::cpu;
use weakseg_kernels::launch::cluster::{self, KMeans};

/// One k-means iteration (assignment, then update) against the reference,
/// Euclidean and spherical, with an empty cluster, and grouped (three
/// problems in one launch); exact labels on separated data.
#[test]
fn kmeans_iteration() {
    let g = gpu();
    let mut r = rng(31);
    for (n, d, k, spherical, groups) in [
        (131, 5, 4, false, 1),
        (64, 3, 7, true, 1),
        (1, 1, 1, false, 1),
        (63, 4, 6, true, 3),
        (39, 2, 9, false, 3),
    ] {
        let mut pts = rand_vec(&mut r, n * d, -1.0, 1.0);
        let mut cen = rand_vec(&mut r, k * d, -1.0, 1.0);
        if spherical {
            for row in pts.chunks_mut(d).chain(cen.chunks_mut(d)) {
                let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt();
                row.iter_mut().for_each(|v| *v /= norm);
            }
        } else if k > 1 {
            cen[(k - 1) * d..].iter_mut().for_each(|v| *v = 50.0);
        }
        let s = KMeans {
            n,
            d,
            k,
            spherical,
            groups,
        };
        let (pb, cb) = (up(&g, &pts), up(&g, &cen));
        let (lb, db, nb) = (
            up_u32(&g, &vec![u32::MAX; n]),
            poisoned(&g, n),
            up_u32(&g, &vec![u32::MAX; k]),
        );
        cluster::assign(&g, v(&pb, n * d), v(&cb, k * d), s, v(&lb, n), v(&db, n)).unwrap();
        let (wl, wd) = cpu::cluster::assign(&pts, &cen, d, spherical, groups);
        let what = format!("kmeans n {n} d {d} k {k} spherical {spherical} groups {groups}");
        assert_eq!(read_u32(&g, &lb, n), wl, "{what}: labels");
        // Euclidean: a sum of d squared differences (two roundings each),
        // positive terms; spherical: 1 − a dot product of unit vectors
        // (Σ|a·b| ≤ 1), a cancellation.
        let tol = if spherical {
            Tol::ulps(0.5).plus(sum_bound(d) + 2.0 * U)
        } else {
            Tol {
                rel: sum_bound(d) + 2.0 * U,
                abs: 0.0,
            }
        };
        within(&format!("{what}: dist"), &read(&g, &db, n), &wd, tol);
        cluster::update(&g, v(&pb, n * d), v(&lb, n), s, v(&cb, k * d), v(&nb, k)).unwrap();
        let (wc, wn) = cpu::cluster::update(&pts, &wl, &cen, d, spherical);
        bounded(
            &format!("{what}: centroids"),
            &read(&g, &cb, k * d),
            &wc,
            &centroid_bounds(&pts, &wl, &wc, d, spherical),
        );
        assert_eq!(read_u32(&g, &nb, k), wn, "{what}: counts");
    }
    let b = up(&g, &[0.0]);
    let empty = KMeans::single(0, 1, 1, false);
    assert!(cluster::assign(&g, v(&b, 1), v(&b, 1), empty, v(&b, 1), v(&b, 1)).is_err());
    let uneven = KMeans {
        groups: 2,
        ..KMeans::single(3, 1, 2, false)
    };
    assert!(cluster::assign(&g, v(&b, 1), v(&b, 1), uneven, v(&b, 1), v(&b, 1)).is_err());
}

/// Each centroid's bound: a mean of its n points, within sum_bound(n) of
/// the mean absolute value plus the quotient's 2.5 ulp; spherical ones are
/// then divided by their norm ‖μ‖, which turns an error vector δ into at
/// most ‖δ‖/‖μ‖ per entry (plus 8u for the norm's sum, root and quotient).
/// An empty cluster keeps its centroid exactly.
fn centroid_bounds(
    pts: &[f32],
    labels: &[u32],
    want: &[f64],
    d: usize,
    spherical: bool,
) -> Vec<f64> {
    let k = want.len() / d;
    let mut mag = vec![0.0f64; k * d];
    let mut counts = vec![0usize; k];
    let mut sums = vec![0.0f64; k * d];
    for (p, &l) in pts.chunks(d).zip(labels) {
        counts[l as usize] += 1;
        for j in 0..d {
            mag[l as usize * d + j] += (p[j] as f64).abs();
            sums[l as usize * d + j] += p[j] as f64;
        }
    }
    let mut out = vec![0.0; k * d];
    for c in 0..k {
        let n = counts[c];
        if n == 0 {
            continue;
        }
        let err: Vec<f64> = (0..d)
            .map(|j| (sum_bound(n) + 5.0 * U) * mag[c * d + j] / n as f64)
            .collect();
        if spherical {
            let norm = (0..d)
                .map(|j| (sums[c * d + j] / n as f64).powi(2))
                .sum::<f64>()
                .sqrt();
            let spread = err.iter().map(|e| e * e).sum::<f64>().sqrt() / norm;
            for j in 0..d {
                out[c * d + j] = 2.0 * spread + 8.0 * U;
            }
        } else {
            out[c * d..(c + 1) * d].copy_from_slice(&err);
        }
    }
    out
}
