//! Reference of `launch::cluster`.

/// Each point's nearest centroid of its group (first on ties) and its
/// squared distance (spherical: 1 − dot product); `groups` independent
/// problems of equal consecutive shares of points and centroids.
pub fn assign(
    points: &[f32],
    centroids: &[f32],
    d: usize,
    spherical: bool,
    groups: usize,
) -> (Vec<u32>, Vec<f64>) {
    let ng = points.len() / d / groups;
    let kg = centroids.len() / d / groups;
    points
        .chunks(d)
        .enumerate()
        .map(|(i, p)| {
            let c0 = i / ng * kg;
            let mut best = (c0 as u32, f64::INFINITY);
            for (c, q) in centroids.chunks(d).enumerate().skip(c0).take(kg) {
                let score = if spherical {
                    1.0 - p
                        .iter()
                        .zip(q)
                        .map(|(&a, &b)| a as f64 * b as f64)
                        .sum::<f64>()
                } else {
                    p.iter()
                        .zip(q)
                        .map(|(&a, &b)| (a as f64 - b as f64).powi(2))
                        .sum::<f64>()
                };
                if score < best.1 {
                    best = (c as u32, score);
                }
            }
            best
        })
        .unzip()
}

/// The centroids after one update from `labels` (an empty cluster keeps its
/// centroid; unit length when spherical), and the cluster sizes.
pub fn update(
    points: &[f32],
    labels: &[u32],
    centroids: &[f32],
    d: usize,
    spherical: bool,
) -> (Vec<f64>, Vec<u32>) {
    let k = centroids.len() / d;
    let mut sums = vec![0.0f64; k * d];
    let mut counts = vec![0u32; k];
    for (p, &l) in points.chunks(d).zip(labels) {
        counts[l as usize] += 1;
        for (s, &v) in sums[l as usize * d..][..d].iter_mut().zip(p) {
            *s += v as f64;
        }
    }
    let mut out: Vec<f64> = centroids.iter().map(|&v| v as f64).collect();
    for c in 0..k {
        if counts[c] > 0 {
            for j in 0..d {
                out[c * d + j] = sums[c * d + j] / counts[c] as f64;
            }
        }
        if spherical {
            let norm = out[c * d..][..d]
                .iter()
                .map(|v| v * v)
                .sum::<f64>()
                .sqrt()
                .max(1e-12);
            out[c * d..][..d].iter_mut().for_each(|v| *v /= norm);
        }
    }
    (out, counts)
}
