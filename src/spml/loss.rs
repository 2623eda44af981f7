//! SPML's pixel-to-segment contrastive loss ("segsort+"). For a pixel
//! embedding e and unit prototypes μ, with sim = exp(κ eᵀμ):
//! loss = −log(Σ_{positives} sim / (Σ_{positives} sim + Σ_{negatives} sim)),
//! the positives being the segments related to the pixel other than its
//! own (its own when there is no other). Four relations:
//!
//! - image similarity: segments of the pixel's own image in the same
//!   superpixel are positive, the rest of the image negative (κ 16,
//!   embeddings with location);
//! - semantic annotation: labelled segments with the pixel's label are
//!   positive, other labelled ones negative; only labelled pixels (κ 6);
//! - semantic co-occurrence: segments of images whose tags share a class
//!   with the pixel's image are positive, the others negative (κ 8);
//! - feature affinity: every unlabelled segment takes the label of its
//!   nearest labelled segment in the feature space, and segments sharing
//!   the pixel's (so expanded) label are positive, the others negative
//!   (κ 12, weight 0.5 for DensePose's points; off in SPML's VOC scripts,
//!   so off by default).
//!
//! The last three relations also see the memory bank's segments.

use serde::{Deserialize, Serialize};
use weakseg_kernels::{Error, Result};

use crate::io::labels::IGNORE;
use crate::spml::memory::MemoryBank;
use crate::spml::segments::Segments;
use crate::tensor::Tensor;

/// A relation's concentration κ and its weight in the total.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Relation {
    /// Concentration of the von Mises–Fisher similarity.
    pub kappa: f32,
    /// Weight in the sum (0 switches the relation off).
    pub weight: f32,
}

impl Relation {
    /// Feature affinity as SPML's VOC scripts set it: κ 12 (its DensePose
    /// value), weight 0.
    pub fn feature_affinity_off() -> Relation {
        Relation {
            kappa: 12.0,
            weight: 0.0,
        }
    }

    /// Whether the relation is switched off (weight 0).
    pub fn is_off(&self) -> bool {
        self.weight == 0.0
    }
}

/// The four relations' settings.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Relations {
    /// Same superpixel within the image.
    pub image_similarity: Relation,
    /// Same (pseudo) label.
    pub semantic_annotation: Relation,
    /// Overlapping image tags.
    pub semantic_cooccurrence: Relation,
    /// Same label after each unlabelled segment takes its nearest labelled
    /// segment's (left out of settings files and fingerprints while off).
    #[serde(
        default = "Relation::feature_affinity_off",
        skip_serializing_if = "Relation::is_off"
    )]
    pub feature_affinity: Relation,
}

impl Relations {
    fn with(weights: [f32; 3], occ_kappa: f32) -> Relations {
        Relations {
            image_similarity: Relation {
                kappa: 16.0,
                weight: weights[0],
            },
            semantic_annotation: Relation {
                kappa: 6.0,
                weight: weights[1],
            },
            semantic_cooccurrence: Relation {
                kappa: occ_kappa,
                weight: weights[2],
            },
            feature_affinity: Relation::feature_affinity_off(),
        }
    }

    /// SPML's VOC script for image tags: weights 0.1 / 0.3 / 0.3 (feature
    /// affinity off, as in every VOC script).
    pub fn tags() -> Relations {
        Self::with([0.1, 0.3, 0.3], 8.0)
    }

    /// For boxes: 0.1 / 0.3 / 0.3.
    pub fn boxes() -> Relations {
        Self::with([0.1, 0.3, 0.3], 8.0)
    }

    /// For scribbles: 0.1 / 1.0 / 0.5, co-occurrence κ 12.
    pub fn scribbles() -> Relations {
        Self::with([0.1, 1.0, 0.5], 12.0)
    }

    /// For points: 0.1 / 0.1 / 0.1.
    pub fn points() -> Relations {
        Self::with([0.1, 0.1, 0.1], 8.0)
    }

    /// SPML's DensePose points: image similarity 0.1, semantic annotation
    /// 1.0 (κ 6), no co-occurrence, feature affinity 0.5 (κ 12).
    pub fn densepose_points() -> Relations {
        let mut r = Self::with([0.1, 1.0, 0.0], 8.0);
        r.feature_affinity.weight = 0.5;
        r
    }

    /// The settings for a kind of label by name: tags, boxes, scribbles,
    /// points.
    pub fn for_label(name: &str) -> Result<Relations> {
        match name {
            "tags" => Ok(Self::tags()),
            "boxes" => Ok(Self::boxes()),
            "scribbles" => Ok(Self::scribbles()),
            "points" => Ok(Self::points()),
            _ => Err(Error::invalid(
                "spml",
                format!("unknown label kind `{name}`; one of tags, boxes, scribbles, points"),
            )),
        }
    }
}

/// −log(Σ pos·sim / Σ den·sim) averaged over the rows, sim = exp(κ(eᵀμ − 1))
/// (the −κ shift cancels and keeps exp in range), for rows [R, D],
/// prototypes [C, D] and host masks [R, C] (`den` containing `pos`, every
/// row of `pos` non-empty).
pub fn contrastive(
    rows: &Tensor,
    prototypes: &Tensor,
    kappa: f32,
    pos: &[f32],
    den: &[f32],
) -> Result<Tensor> {
    let (r, c) = (leading(rows), leading(prototypes));
    if pos.len() != r * c || den.len() != r * c {
        return Err(Error::invalid(
            "contrastive",
            format!(
                "masks of {} and {} for {r} rows × {c} prototypes",
                pos.len(),
                den.len()
            ),
        ));
    }
    let gpu = rows.gpu();
    contrastive_masked(
        rows,
        prototypes,
        kappa,
        &Tensor::from_slice(gpu, pos, &[r, c])?,
        &Tensor::from_slice(gpu, den, &[r, c])?,
    )
}

/// A tensor's first dimension (0 for a scalar, which the GEMM then rejects).
fn leading(t: &Tensor) -> usize {
    t.shape().first().copied().unwrap_or(0)
}

/// [`contrastive`] with the masks [R, C] already on the device.
pub fn contrastive_masked(
    rows: &Tensor,
    prototypes: &Tensor,
    kappa: f32,
    pos: &Tensor,
    den: &Tensor,
) -> Result<Tensor> {
    let want = [leading(rows), leading(prototypes)];
    if pos.shape() != want || den.shape() != want {
        return Err(Error::invalid(
            "contrastive",
            format!(
                "masks {:?} and {:?} for {} rows × {} prototypes",
                pos.shape(),
                den.shape(),
                want[0],
                want[1]
            ),
        ));
    }
    let sim = rows
        .matmul(&prototypes.transpose(0, 1)?)?
        .affine(kappa, -kappa)?
        .exp()?;
    let masked = |m: &Tensor| -> Result<Tensor> { sim.mul(m)?.sum(&[1], false)?.log() };
    masked(den)?.sub(&masked(pos)?)?.mean_all()
}

/// The feature-affinity masks [N, C], built on the device so nothing is
/// read back: each unlabelled column (segment) takes the label of the
/// labelled column nearest to it (largest cosine of the unit prototypes
/// `cols`), each pixel its own segment's label (`of_pixel` indexes the
/// first columns); columns with the pixel's label are positive and the
/// pixel's own column is left out, unless nothing else is positive. None
/// when no column is labelled.
pub fn feature_affinity_masks(
    cols: &Tensor,
    col_label: &[u32],
    of_pixel: &[u32],
) -> Result<Option<(Tensor, Tensor)>> {
    let gpu = cols.gpu();
    let (c, n) = (col_label.len(), of_pixel.len());
    if cols.shape().first() != Some(&c) || of_pixel.iter().any(|&s| s as usize >= c) {
        return Err(Error::invalid(
            "feature affinity",
            format!(
                "{c} column labels for prototypes {:?}, or a pixel's segment beyond them",
                cols.shape()
            ),
        ));
    }
    let keep: Vec<u32> = (0..c as u32)
        .filter(|&i| col_label[i as usize] != IGNORE as u32)
        .collect();
    if keep.is_empty() {
        return Ok(None);
    }
    let cols = cols.detach();
    let kept = cols.index_select(0, &Tensor::from_slice(gpu, &keep, &[keep.len()])?)?;
    let nearest = cols.matmul(&kept.transpose(0, 1)?)?.argmax(1)?;
    let kept_labels: Vec<f32> = keep.iter().map(|&i| col_label[i as usize] as f32).collect();
    let nearest_label =
        Tensor::from_slice(gpu, &kept_labels, &[keep.len()])?.index_select(0, &nearest)?;
    let labelled: Vec<f32> = col_label
        .iter()
        .map(|&l| if l == IGNORE as u32 { 0.0 } else { 1.0 })
        .collect();
    let own_label: Vec<f32> = col_label.iter().map(|&l| l as f32).collect();
    let label = Tensor::where_(
        &Tensor::from_slice(gpu, &labelled, &[c])?,
        &Tensor::from_slice(gpu, &own_label, &[c])?,
        &nearest_label,
    )?;
    let pixel_label = label
        .index_select(0, &Tensor::from_slice(gpu, of_pixel, &[n])?)?
        .reshape(&[n, 1])?;
    let mut own = vec![0f32; n * c];
    for (p, &s) in of_pixel.iter().enumerate() {
        own[p * c + s as usize] = 1.0;
    }
    let own = Tensor::from_slice(gpu, &own, &[n, c])?;
    let others = pixel_label
        .eq(&label.reshape(&[1, c])?)?
        .mul(&own.affine(-1.0, 1.0)?)?;
    let any = others.sum(&[1], true)?.gt_scalar(0.0)?;
    let pos = Tensor::where_(&any, &others, &own)?;
    let den = own.mul(&any)?.affine(-1.0, 1.0)?;
    Ok(Some((pos, den)))
}

/// The masks of one relation: `relate(pixel, column)` is None when the
/// column is no candidate for the pixel, else whether it is related;
/// `own(pixel)` is the pixel's own segment's column.
fn masks(
    rows: &[usize],
    cols: usize,
    own: impl Fn(usize) -> Option<usize>,
    relate: impl Fn(usize, usize) -> Option<bool>,
) -> Result<(Vec<f32>, Vec<f32>)> {
    let mut pos = vec![0f32; rows.len() * cols];
    let mut den = vec![0f32; rows.len() * cols];
    for (r, &p) in rows.iter().enumerate() {
        let o = own(p).ok_or_else(|| {
            Error::invalid(
                "spml loss",
                format!("pixel {p}'s segment is not a candidate"),
            )
        })?;
        let (pr, dr) = (&mut pos[r * cols..][..cols], &mut den[r * cols..][..cols]);
        let mut any = false;
        for c in 0..cols {
            match relate(p, c) {
                Some(true) if c != o => {
                    pr[c] = 1.0;
                    dr[c] = 1.0;
                    any = true;
                }
                Some(false) => dr[c] = 1.0,
                _ => {}
            }
        }
        if !any {
            pr[o] = 1.0;
            dr[o] = 1.0;
        }
    }
    Ok((pos, den))
}

/// One batch as the loss reads it.
pub struct SpmlBatch<'a> {
    /// Unit pixel embeddings [N, D].
    pub rows: &'a Tensor,
    /// The same with location [N, D + 2].
    pub rows_loc: &'a Tensor,
    /// The batch's segments.
    pub segments: &'a Segments,
    /// Each pixel's (pseudo) label, [`IGNORE`] when unlabelled.
    pub labels: &'a [u32],
    /// Each image's tags, one bit per foreground class.
    pub tags: &'a [u64],
}

/// The weighted sum of the four relations' losses, with the memory bank
/// of earlier steps.
pub struct SpmlLoss {
    /// Concentrations and weights.
    pub relations: Relations,
    /// Earlier steps' segments.
    pub memory: MemoryBank,
}

impl SpmlLoss {
    /// The loss of one batch; the batch's prototypes then join the memory.
    pub fn loss(&mut self, b: &SpmlBatch<'_>) -> Result<Tensor> {
        let seg = b.segments;
        let n = seg.of_pixel.len();
        if b.labels.len() != n || leading(b.rows) != n || leading(b.rows_loc) != n {
            return Err(Error::invalid(
                "spml loss",
                format!(
                    "{n} pixels in segments, {} labels, rows {:?}",
                    b.labels.len(),
                    b.rows.shape()
                ),
            ));
        }
        if seg.image.iter().any(|&i| i as usize >= b.tags.len()) {
            return Err(Error::invalid("spml loss", "a segment's image has no tags"));
        }
        let protos = seg.prototypes(b.rows)?;
        let image_of = |p: usize| seg.image[seg.of_pixel[p] as usize] as usize;
        let own = |p: usize| seg.of_pixel[p] as usize;
        let all: Vec<usize> = (0..n).collect();
        let mut terms: Vec<Tensor> = Vec::new();

        let rel = self.relations.image_similarity;
        if rel.weight > 0.0 {
            let protos_loc = seg.prototypes(b.rows_loc)?;
            let (pos, den) = masks(
                &all,
                seg.len(),
                |p| Some(own(p)),
                |p, c| {
                    (seg.image[c] as usize == image_of(p))
                        .then(|| seg.region[c] == seg.region[own(p)])
                },
            )?;
            let l = contrastive(b.rows_loc, &protos_loc, rel.kappa, &pos, &den)?;
            terms.push(l.mul_scalar(rel.weight)?);
        }

        let (memory, mem_labels, mem_tags) = self.memory.all()?;
        let cols = match &memory {
            Some(m) => Tensor::concat(&[protos.clone(), m.clone()], 0)?,
            None => protos.clone(),
        };
        let col_label: Vec<u32> = seg.label.iter().chain(&mem_labels).copied().collect();
        let seg_tags: Vec<u64> = seg.image.iter().map(|&i| b.tags[i as usize]).collect();
        let col_tags: Vec<u64> = seg_tags.iter().chain(&mem_tags).copied().collect();

        let rel = self.relations.semantic_annotation;
        let labelled: Vec<usize> = (0..n).filter(|&p| b.labels[p] != IGNORE as u32).collect();
        if rel.weight > 0.0 && !labelled.is_empty() {
            let keep: Vec<usize> = (0..col_label.len())
                .filter(|&c| col_label[c] != IGNORE as u32)
                .collect();
            let mut at = vec![usize::MAX; col_label.len()];
            for (i, &c) in keep.iter().enumerate() {
                at[c] = i;
            }
            let (pos, den) = masks(
                &labelled,
                keep.len(),
                |p| Some(at[own(p)]).filter(|&i| i != usize::MAX),
                |p, c| Some(col_label[keep[c]] == b.labels[p]),
            )?;
            let idx: Vec<u32> = keep.iter().map(|&c| c as u32).collect();
            let idx = Tensor::from_slice(b.rows.gpu(), &idx, &[idx.len()])?;
            let ridx: Vec<u32> = labelled.iter().map(|&p| p as u32).collect();
            let ridx = Tensor::from_slice(b.rows.gpu(), &ridx, &[ridx.len()])?;
            let l = contrastive(
                &b.rows.index_select(0, &ridx)?,
                &cols.index_select(0, &idx)?,
                rel.kappa,
                &pos,
                &den,
            )?;
            terms.push(l.mul_scalar(rel.weight)?);
        }

        let rel = self.relations.semantic_cooccurrence;
        if rel.weight > 0.0 {
            let (pos, den) = masks(
                &all,
                col_tags.len(),
                |p| Some(own(p)),
                |p, c| Some(b.tags[image_of(p)] & col_tags[c] != 0),
            )?;
            let l = contrastive(b.rows, &cols, rel.kappa, &pos, &den)?;
            terms.push(l.mul_scalar(rel.weight)?);
        }

        let rel = self.relations.feature_affinity;
        if rel.weight > 0.0 {
            if let Some((pos, den)) = feature_affinity_masks(&cols, &col_label, &seg.of_pixel)? {
                let l = contrastive_masked(b.rows, &cols, rel.kappa, &pos, &den)?;
                terms.push(l.mul_scalar(rel.weight)?);
            }
        }

        self.memory.push(&protos, seg.label.clone(), seg_tags);
        let mut total = terms.pop().ok_or_else(|| {
            Error::invalid(
                "spml loss",
                "no relation applies: all are switched off, or need labels the batch lacks",
            )
        })?;
        for t in terms {
            total = total.add(&t)?;
        }
        Ok(total)
    }
}
