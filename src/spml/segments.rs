//! SPML's segments (the SegSort recipe): each image's embedding, with its
//! pixel position appended, clustered by spherical k-means from a regular
//! grid; each cluster then split by the pixel's (pseudo) label and by its
//! superpixel. A segment's prototype is the unit mean direction of its
//! pixels' embeddings.

use std::collections::HashMap;

use weakseg_kernels::launch::cluster::{self as ck, KMeans};
use weakseg_kernels::{Error, Result};

use crate::io::labels::IGNORE;
use crate::tensor::{DType, Tensor};

/// Pixels of embeddings [B, D, h, w] as rows [B·h·w, D], image-major.
pub fn pixel_rows(embeddings: &Tensor) -> Result<Tensor> {
    let &[b, d, h, w] = embeddings.shape() else {
        return Err(Error::invalid(
            "pixel_rows",
            format!(
                "embeddings must be [B, D, h, w], got {:?}",
                embeddings.shape()
            ),
        ));
    };
    embeddings.permute(&[0, 2, 3, 1])?.reshape(&[b * h * w, d])
}

/// Rows [N, D] with each pixel's position ((y, x) in [0, 1] − 0.5)
/// appended, renormalised: SPML's `embedding_with_loc`, which keeps
/// clusters and the image-similarity relation spatially coherent.
pub fn with_location(rows: &Tensor, batch: usize, (h, w): (usize, usize)) -> Result<Tensor> {
    let n = batch * h * w;
    if rows.shape().first() != Some(&n) {
        return Err(Error::invalid(
            "with_location",
            format!("{:?} rows for {batch} images of {h}×{w}", rows.shape()),
        ));
    }
    let coord = |i: usize, len: usize| {
        if len > 1 {
            i as f32 / (len - 1) as f32 - 0.5
        } else {
            0.0
        }
    };
    let loc: Vec<f32> = (0..n)
        .flat_map(|p| [coord(p / w % h, h), coord(p % w, w)])
        .collect();
    let loc = Tensor::from_slice(rows.gpu(), &loc, &[n, 2])?;
    Tensor::concat(&[rows.clone(), loc], 1)?.l2_normalize(1, 1e-12)
}

/// Spherical k-means of each image's unit rows (`points` [B·h·w, d],
/// image-major) into a `grid` of clusters: the clusters start as the grid's
/// cells, then `iterations` rounds of mean direction (M) and nearest
/// cosine (E) run for every image in one launch each. Returns each
/// pixel's cluster within its image (row-major over the grid).
pub async fn grid_kmeans(
    points: &Tensor,
    batch: usize,
    (h, w): (usize, usize),
    grid: (usize, usize),
    iterations: usize,
) -> Result<Vec<u32>> {
    let op = "grid_kmeans";
    let &[n, d] = points.shape() else {
        return Err(Error::invalid(op, format!("points {:?}", points.shape())));
    };
    if n != batch * h * w || n == 0 {
        return Err(Error::invalid(
            op,
            format!("{n} points for {batch} images of {h}×{w}"),
        ));
    }
    let (gh, gw) = (grid.0.clamp(1, h), grid.1.clamp(1, w));
    let cells = gh * gw;
    let init: Vec<u32> = (0..n)
        .map(|p| {
            let (b, y, x) = (p / (h * w), p / w % h, p % w);
            (b * cells + y * gh / h * gw + x * gw / w) as u32
        })
        .collect();
    let gpu = points.gpu();
    let labels = Tensor::from_slice(gpu, &init, &[n])?;
    let centroids = Tensor::zeros(gpu, &[batch * cells, d])?;
    let dist = Tensor::empty(gpu, &[n], DType::F32)?;
    let counts = Tensor::empty(gpu, &[batch * cells], DType::U32)?;
    let shape = KMeans {
        n,
        d,
        k: batch * cells,
        spherical: true,
        groups: batch,
    };
    let (ph, ch, lh, dh, nh) = (
        points.held(),
        centroids.held(),
        labels.held(),
        dist.held(),
        counts.held(),
    );
    for _ in 0..iterations {
        ck::update(gpu, ph.v(), lh.v(), shape, ch.v(), nh.v())?;
        ck::assign(gpu, ph.v(), ch.v(), shape, lh.v(), dh.v())?;
    }
    drop((ph, ch, lh, dh, nh));
    let global = labels.to_vec::<u32>().await?;
    Ok(global
        .into_iter()
        .enumerate()
        .map(|(p, c)| c - (p / (h * w) * cells) as u32)
        .collect())
}

/// Label maps [B, H, W] brought to [B, h, w] by taking, in each cell of
/// the coarse grid, the most frequent label other than `ignore` (the
/// lowest on ties; `ignore` when the cell has none). Sparse marks survive
/// where nearest-neighbour sampling would drop most of them.
pub fn block_labels(
    labels: &[u32],
    batch: usize,
    (hh, ww): (usize, usize),
    (h, w): (usize, usize),
    ignore: Option<u32>,
) -> Result<Vec<u32>> {
    if labels.len() != batch * hh * ww || h == 0 || w == 0 || h > hh || w > ww {
        return Err(Error::invalid(
            "block_labels",
            format!(
                "{} labels for {batch} maps of {hh}×{ww}, to {h}×{w}",
                labels.len()
            ),
        ));
    }
    let mut out = Vec::with_capacity(batch * h * w);
    let mut counts: HashMap<u32, usize> = HashMap::new();
    for b in 0..batch {
        for y in 0..h {
            for x in 0..w {
                counts.clear();
                for yy in y * hh / h..(y + 1) * hh / h {
                    for xx in x * ww / w..(x + 1) * ww / w {
                        let l = labels[(b * hh + yy) * ww + xx];
                        if Some(l) != ignore {
                            *counts.entry(l).or_default() += 1;
                        }
                    }
                }
                let best = counts
                    .iter()
                    .max_by_key(|&(&l, &c)| (c, std::cmp::Reverse(l)))
                    .map_or(ignore.unwrap_or(0), |(&l, _)| l);
                out.push(best);
            }
        }
    }
    Ok(out)
}

/// The segments of one batch.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Segments {
    /// Each pixel's segment.
    pub of_pixel: Vec<u32>,
    /// Each segment's image in the batch.
    pub image: Vec<u32>,
    /// Each segment's label ([`IGNORE`] when unlabelled).
    pub label: Vec<u32>,
    /// Each segment's superpixel within its image.
    pub region: Vec<u32>,
}

impl Segments {
    /// Segments as the intersection of (image, cluster, label, region) per
    /// pixel, numbered in order of first appearance. `regions` may be None
    /// (no superpixel split, as at inference).
    pub fn build(
        pixels_per_image: usize,
        clusters: &[u32],
        labels: &[u32],
        regions: Option<&[u32]>,
    ) -> Result<Segments> {
        let n = clusters.len();
        if labels.len() != n || regions.is_some_and(|r| r.len() != n) || pixels_per_image == 0 {
            return Err(Error::invalid(
                "segments",
                format!(
                    "{n} clusters, {} labels, {:?} regions, {pixels_per_image} pixels per image",
                    labels.len(),
                    regions.map(<[u32]>::len)
                ),
            ));
        }
        let mut ids: HashMap<(u32, u32, u32, u32), u32> = HashMap::new();
        let mut s = Segments::default();
        for p in 0..n {
            let image = (p / pixels_per_image) as u32;
            let region = regions.map_or(0, |r| r[p]);
            let key = (image, clusters[p], labels[p], region);
            let next = ids.len() as u32;
            let id = *ids.entry(key).or_insert_with(|| {
                s.image.push(image);
                s.label.push(labels[p]);
                s.region.push(region);
                next
            });
            s.of_pixel.push(id);
        }
        Ok(s)
    }

    /// Segments.
    pub fn len(&self) -> usize {
        self.image.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.image.is_empty()
    }

    /// Prototypes [S, D]: the unit mean direction of each segment's rows
    /// `rows` [N, D] (differentiable).
    pub fn prototypes(&self, rows: &Tensor) -> Result<Tensor> {
        let &[n, d] = rows.shape() else {
            return Err(Error::invalid(
                "prototypes",
                format!("rows {:?}", rows.shape()),
            ));
        };
        if n != self.of_pixel.len() {
            return Err(Error::invalid(
                "prototypes",
                format!("{n} rows for {} pixels", self.of_pixel.len()),
            ));
        }
        let index: Vec<u32> = self
            .of_pixel
            .iter()
            .flat_map(|&s| std::iter::repeat_n(s, d))
            .collect();
        let index = Tensor::from_slice(rows.gpu(), &index, &[n, d])?;
        Tensor::zeros(rows.gpu(), &[self.len(), d])?
            .scatter_add(0, &index, rows)?
            .l2_normalize(1, 1e-12)
    }
}

/// A batch of embeddings [B, D, h, w] cut into segments: its pixel rows
/// [N, D], the rows with location [N, D + 2], and the segments of the
/// per-image grid k-means (on the rows with location, not differentiated)
/// split by `labels` and `regions` ([B·h·w] each) where given.
pub struct Segmented {
    /// Unit pixel embeddings [N, D].
    pub rows: Tensor,
    /// With location [N, D + 2].
    pub rows_loc: Tensor,
    /// The segments.
    pub segments: Segments,
}

/// Cuts `embeddings` [B, D, h, w] into segments (see [`Segmented`]).
pub async fn segment(
    embeddings: &Tensor,
    labels: Option<&[u32]>,
    regions: Option<&[u32]>,
    grid: (usize, usize),
    iterations: usize,
) -> Result<Segmented> {
    let &[b, _, h, w] = embeddings.shape() else {
        return Err(Error::invalid(
            "segment",
            format!(
                "embeddings must be [B, D, h, w], got {:?}",
                embeddings.shape()
            ),
        ));
    };
    let rows = pixel_rows(embeddings)?;
    let rows_loc = with_location(&rows, b, (h, w))?;
    let clusters = grid_kmeans(&rows_loc.detach(), b, (h, w), grid, iterations).await?;
    let unlabelled = vec![IGNORE as u32; clusters.len()];
    let segments = Segments::build(h * w, &clusters, labels.unwrap_or(&unlabelled), regions)?;
    Ok(Segmented {
        rows,
        rows_loc,
        segments,
    })
}
