//! Launchers for `shaders/cluster.wgsl`: one Lloyd iteration of k-means.

use crate::batch::Params;
use crate::device::Gpu;
use crate::error::{Error, Result};
use crate::pipeline::Kernel;
use crate::shaders::Shader;
use crate::view::{View, loop_bound, u32_of};

/// Shape of a k-means problem: `n` points of `d` coordinates, `k` clusters,
/// split into `groups` independent problems of n/groups points and
/// k/groups clusters each (one per image for SPML's segmentations).
#[derive(Clone, Copy, Debug)]
pub struct KMeans {
    /// Points.
    pub n: usize,
    /// Coordinates per point.
    pub d: usize,
    /// Clusters.
    pub k: usize,
    /// Spherical k-means: unit points and centroids, cosine similarity.
    pub spherical: bool,
    /// Independent problems (1 for one clustering of every point).
    pub groups: usize,
}

impl KMeans {
    /// One clustering of all `n` points into `k` clusters.
    pub fn single(n: usize, d: usize, k: usize, spherical: bool) -> KMeans {
        KMeans {
            n,
            d,
            k,
            spherical,
            groups: 1,
        }
    }

    fn params(&self, op: &'static str) -> Result<Params> {
        if self.n == 0 || self.d == 0 || self.k == 0 {
            return Err(Error::invalid(
                op,
                format!(
                    "needs points, coordinates and clusters (n {}, d {}, k {})",
                    self.n, self.d, self.k
                ),
            ));
        }
        if self.groups == 0
            || !self.n.is_multiple_of(self.groups)
            || !self.k.is_multiple_of(self.groups)
        {
            return Err(Error::invalid(
                op,
                format!(
                    "{} groups must divide the points ({}) and the clusters ({})",
                    self.groups, self.n, self.k
                ),
            ));
        }
        loop_bound(op, "a pass over the points", self.n)?;
        loop_bound(op, "a pass over the centroids", self.k * self.d)?;
        Ok(Params::new(&[
            u32_of(op, self.n)?,
            u32_of(op, self.d)?,
            u32_of(op, self.k)?,
            self.spherical as u32,
            u32_of(op, self.groups)?,
        ]))
    }
}

/// labels [n] (u32) ← each point's nearest centroid, dist [n] ← its squared
/// distance (spherical: 1 − cosine), for `points` [n, d] and `centroids` [k, d].
pub fn assign(
    gpu: &Gpu,
    points: View,
    centroids: View,
    s: KMeans,
    labels: View,
    dist: View,
) -> Result<()> {
    let op = "kmeans_assign";
    gpu.launch(
        op,
        Kernel::new(Shader::Cluster, "assign"),
        &s.params(op)?,
        &[
            points.read(1),
            centroids.read(2),
            labels.write(3),
            dist.write(4),
        ],
        s.n as u64,
    )
}

/// centroids ← the mean of each cluster's points (unit length when
/// spherical; unchanged for an empty cluster), counts [k] (u32) ← cluster
/// sizes, from `labels` [n].
pub fn update(
    gpu: &Gpu,
    points: View,
    labels: View,
    s: KMeans,
    centroids: View,
    counts: View,
) -> Result<()> {
    let op = "kmeans_update";
    let p = s.params(op)?;
    gpu.launch(
        op,
        Kernel::new(Shader::Cluster, "update"),
        &p,
        &[
            points.read(1),
            centroids.write(2),
            labels.read(3),
            counts.write(5),
        ],
        (s.k * s.d) as u64,
    )?;
    if s.spherical {
        gpu.launch(
            op,
            Kernel::new(Shader::Cluster, "renormalise"),
            &p,
            &[centroids.write(2)],
            s.k as u64,
        )?;
    }
    Ok(())
}
