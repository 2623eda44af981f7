//! k-means on the GPU (SC-CAM's sub-category discovery; spherical k-means
//! for SPML's segments): k-means++ seeding on the host from the read-back
//! points, then Lloyd iterations of the `cluster` kernels until the labels
//! stop changing.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use weakseg_kernels::launch::cluster::{self as ck, KMeans};
use weakseg_kernels::{Error, Result};

use crate::tensor::{DType, Tensor};

/// Labels are compared every this many iterations (each comparison is a
/// readback).
const CHECK_EVERY: usize = 5;

/// Settings of a k-means run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct KMeansSettings {
    /// Clusters (capped at the number of points).
    pub k: usize,
    /// Most Lloyd iterations (sklearn's max_iter: 300).
    pub max_iter: usize,
    /// Seed of the k-means++ draws (sklearn's random_state 0 in SC-CAM).
    pub seed: u64,
    /// Cosine similarity on unit vectors instead of Euclidean distance.
    pub spherical: bool,
}

impl Default for KMeansSettings {
    /// SC-CAM's K = 10, 300 iterations, seed 0, Euclidean.
    fn default() -> Self {
        KMeansSettings {
            k: 10,
            max_iter: 300,
            seed: 0,
            spherical: false,
        }
    }
}

/// A fitted clustering.
#[derive(Debug)]
pub struct KMeansFit {
    /// Cluster of each point.
    pub labels: Vec<u32>,
    /// Centroids [k, d].
    pub centroids: Tensor,
    /// Clusters actually used (k capped at the number of points).
    pub k: usize,
    /// Lloyd iterations run.
    pub iterations: usize,
}

/// k-means++ seeds: the first centroid uniformly, each next one with
/// probability proportional to the squared distance to the nearest seed.
fn seeds(points: &[f32], d: usize, k: usize, rng: &mut SmallRng) -> Vec<f32> {
    let n = points.len() / d;
    let row = |i: usize| &points[i * d..(i + 1) * d];
    let dist = |a: &[f32], b: &[f32]| -> f64 {
        a.iter()
            .zip(b)
            .map(|(&x, &y)| (x as f64 - y as f64).powi(2))
            .sum()
    };
    let first = rng.random_range(0..n);
    let mut out = row(first).to_vec();
    let mut near: Vec<f64> = (0..n).map(|i| dist(row(i), row(first))).collect();
    while out.len() < k * d {
        let total: f64 = near.iter().sum();
        let pick = if total > 0.0 {
            let mut t = rng.random_range(0.0..total);
            near.iter()
                .position(|&w| {
                    t -= w;
                    t < 0.0
                })
                .unwrap_or(n - 1)
        } else {
            rng.random_range(0..n)
        };
        out.extend_from_slice(row(pick));
        for (i, nd) in near.iter_mut().enumerate() {
            *nd = nd.min(dist(row(i), row(pick)));
        }
    }
    out
}

/// Clusters the rows of `points` [n, d] (unit rows when spherical).
pub async fn kmeans(points: &Tensor, s: &KMeansSettings) -> Result<KMeansFit> {
    let op = "kmeans";
    points.check_dtype(op, DType::F32)?;
    let &[n, d] = points.shape() else {
        return Err(Error::invalid(
            op,
            format!("points must be [n, d], got {:?}", points.shape()),
        ));
    };
    if n == 0 || s.k == 0 {
        return Err(Error::invalid(
            op,
            format!("{n} points into {} clusters", s.k),
        ));
    }
    let k = s.k.min(n);
    let host = points.detach().to_vec::<f32>().await?;
    let mut rng = SmallRng::seed_from_u64(s.seed);
    let gpu = points.gpu();
    let centroids = Tensor::from_slice(gpu, &seeds(&host, d, k, &mut rng), &[k, d])?;
    let labels = Tensor::empty(gpu, &[n], DType::U32)?;
    let dist = Tensor::empty(gpu, &[n], DType::F32)?;
    let counts = Tensor::empty(gpu, &[k], DType::U32)?;
    let shape = KMeans::single(n, d, k, s.spherical);
    let mut last: Option<Vec<u32>> = None;
    let mut iterations = 0;
    let (ph, ch, lh, dh, nh) = (
        points.held(),
        centroids.held(),
        labels.held(),
        dist.held(),
        counts.held(),
    );
    while iterations < s.max_iter.max(1) {
        ck::assign(gpu, ph.v(), ch.v(), shape, lh.v(), dh.v())?;
        ck::update(gpu, ph.v(), lh.v(), shape, ch.v(), nh.v())?;
        iterations += 1;
        if iterations % CHECK_EVERY == 0 || iterations == s.max_iter {
            let now = labels.to_vec::<u32>().await?;
            if last.as_ref() == Some(&now) {
                break;
            }
            last = Some(now);
        }
    }
    ck::assign(gpu, ph.v(), ch.v(), shape, lh.v(), dh.v())?;
    drop((ph, ch, lh, dh, nh));
    Ok(KMeansFit {
        labels: labels.to_vec::<u32>().await?,
        centroids,
        k,
        iterations,
    })
}

/// [`kmeans`], blocking until done (native only).
#[cfg(not(target_arch = "wasm32"))]
pub fn kmeans_blocking(points: &Tensor, s: &KMeansSettings) -> Result<KMeansFit> {
    pollster::block_on(kmeans(points, s))
}
