//! SPML's inference: a bank of labelled prototypes from the training
//! images' segments; each segment of a new image takes the labels of its
//! `top_k` most similar bank prototypes (SPML: 20) as a vote, and its
//! pixels the vote's class shares as probabilities (ready for the dense
//! CRF).

use weakseg_kernels::{Error, Result};

use crate::io::labels::IGNORE;
use crate::no_grad;
use crate::spml::segments::Segments;
use crate::tensor::Tensor;

/// Labelled prototypes of the training set.
pub struct PrototypeBank {
    /// Unit prototypes [T, D].
    pub prototypes: Tensor,
    /// Each one's class.
    pub labels: Vec<u32>,
}

impl PrototypeBank {
    /// The labelled segments' prototypes of several batches (each
    /// `(prototypes [S, D], segments)`); unlabelled segments are left out.
    pub fn gather(parts: &[(Tensor, Segments)]) -> Result<PrototypeBank> {
        let mut kept = Vec::new();
        let mut labels = Vec::new();
        for (protos, seg) in parts {
            let idx: Vec<u32> = (0..seg.len() as u32)
                .filter(|&s| seg.label[s as usize] != IGNORE as u32)
                .collect();
            if idx.is_empty() {
                continue;
            }
            labels.extend(idx.iter().map(|&s| seg.label[s as usize]));
            let idx = Tensor::from_slice(protos.gpu(), &idx, &[idx.len()])?;
            kept.push(no_grad(|| protos.detach().index_select(0, &idx))?);
        }
        if kept.is_empty() {
            return Err(Error::invalid(
                "prototype bank",
                "no labelled segment in the training images",
            ));
        }
        Ok(PrototypeBank {
            prototypes: Tensor::concat(&kept, 0)?,
            labels,
        })
    }

    /// Prototypes in the bank.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the bank is empty.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Class shares [S, classes] of the votes of each query prototype's
    /// `top_k` most cosine-similar bank prototypes (`queries` [S, D]).
    pub async fn vote(&self, queries: &Tensor, classes: usize, top_k: usize) -> Result<Vec<f32>> {
        if top_k == 0 || self.labels.iter().any(|&l| l as usize >= classes) {
            return Err(Error::invalid(
                "prototype vote",
                format!("top-{top_k} over labels beyond {classes} classes"),
            ));
        }
        let k = top_k.min(self.len());
        let (_, idx) = no_grad(|| {
            queries
                .detach()
                .matmul(&self.prototypes.transpose(0, 1)?)?
                .topk(k, false)
        })?;
        let idx = idx.to_vec::<u32>().await?;
        let mut shares = vec![0f32; queries.shape()[0] * classes];
        for (s, near) in idx.chunks(k).enumerate() {
            for &t in near {
                shares[s * classes + self.labels[t as usize] as usize] += 1.0 / k as f32;
            }
        }
        Ok(shares)
    }
}

/// Per-pixel probabilities [B, classes, h, w] from per-segment shares
/// [S, classes].
pub fn spread(
    segments: &Segments,
    shares: &[f32],
    classes: usize,
    (h, w): (usize, usize),
) -> Result<Vec<f32>> {
    let n = segments.of_pixel.len();
    if shares.len() != segments.len() * classes || h * w == 0 || !n.is_multiple_of(h * w) {
        return Err(Error::invalid(
            "spread",
            format!(
                "{} shares for {} segments × {classes}",
                shares.len(),
                segments.len()
            ),
        ));
    }
    let b = n / (h * w);
    let mut out = vec![0f32; b * classes * h * w];
    for (p, &s) in segments.of_pixel.iter().enumerate() {
        let (img, px) = (p / (h * w), p % (h * w));
        for c in 0..classes {
            out[(img * classes + c) * h * w + px] = shares[s as usize * classes + c];
        }
    }
    Ok(out)
}
