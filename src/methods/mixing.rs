//! The mixing family: train on blends of two images so that no single
//! discriminative part explains a label. Mixup-CAM blends whole images
//! (with entropy and concentration regularisers), FMix-CAM pastes
//! Fourier-sampled blobs of one image into another, Manifold-Mixup blends
//! feature maps at a random backbone stage.

use rand::Rng;
use rand::seq::SliceRandom;
use rand_distr::{Beta, Distribution};
use serde::{Deserialize, Serialize};
use weakseg_kernels::{Error, Result};

use crate::data::Batch;
use crate::models::CamNet;
use crate::tensor::{Tensor, no_grad};

use super::{attention, fmix};

/// Mixup-CAM's settings (Chang et al. BMVC20). The paper's regulariser
/// weights could not be verified (wsss-methods.md §6.8); these are ours.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MixupSettings {
    /// λ ~ Beta(α, α).
    pub alpha: f32,
    /// Weight of the entropy of the class predictions on mixed images.
    pub entropy_weight: f32,
    /// Weight of the concentration loss (features of a class's CAM region
    /// pulled to their centroid).
    pub concentration_weight: f32,
    /// A pixel joins its best present class's region where that class's
    /// normalised CAM exceeds this.
    pub concentration_threshold: f32,
}

impl Default for MixupSettings {
    /// α 1, entropy 0.1, concentration 0.01 above 0.5.
    fn default() -> Self {
        MixupSettings {
            alpha: 1.0,
            entropy_weight: 0.1,
            concentration_weight: 0.01,
            concentration_threshold: 0.5,
        }
    }
}

/// FMix's settings (`ecs-vlc/FMix`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FmixSettings {
    /// λ ~ Beta(α, α).
    pub alpha: f32,
    /// δ: the spectrum's decay power.
    pub decay: f32,
}

impl Default for FmixSettings {
    /// α 1, δ 3.
    fn default() -> Self {
        FmixSettings {
            alpha: 1.0,
            decay: 3.0,
        }
    }
}

/// Manifold Mixup's settings (Verma et al.).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ManifoldSettings {
    /// λ ~ Beta(α, α).
    pub alpha: f32,
}

impl Default for ManifoldSettings {
    /// α 2 (the paper's value).
    fn default() -> Self {
        ManifoldSettings { alpha: 2.0 }
    }
}

/// A draw of λ ~ Beta(α, α).
pub fn beta(alpha: f32, rng: &mut impl Rng) -> Result<f32> {
    let d = Beta::new(alpha, alpha)
        .map_err(|e| Error::invalid("mix", format!("Beta({alpha}, {alpha}): {e}")))?;
    Ok(d.sample(rng))
}

/// A random permutation of the batch as a u32 index tensor.
pub fn permutation(gpu: &crate::Gpu, n: usize, rng: &mut impl Rng) -> Result<Tensor> {
    let mut p: Vec<u32> = (0..n as u32).collect();
    p.shuffle(rng);
    Tensor::from_slice(gpu, &p, &[n])
}

/// λ·a + (1 − λ)·a[perm] along the batch axis.
pub fn mix(a: &Tensor, perm: &Tensor, lambda: f32) -> Result<Tensor> {
    a.mul_scalar(lambda)?
        .add(&a.index_select(0, perm)?.mul_scalar(1.0 - lambda)?)
}

/// λ·BCE(logits, y) + (1 − λ)·BCE(logits, y[perm]): the loss of a blend.
fn mixed_bce(logits: &Tensor, labels: &Tensor, perm: &Tensor, lambda: f32) -> Result<Tensor> {
    logits.bce_with_logits(labels)?.mul_scalar(lambda)?.add(
        &logits
            .bce_with_logits(&labels.index_select(0, perm)?)?
            .mul_scalar(1.0 - lambda)?,
    )
}

/// Mean binary entropy of the sigmoid of `logits`: low when every class
/// prediction is confident.
pub fn binary_entropy(logits: &Tensor) -> Result<Tensor> {
    let p = logits.sigmoid()?;
    let q = p.affine(-1.0, 1.0)?;
    p.mul(&p.add_scalar(1e-6)?.log()?)?
        .add(&q.mul(&q.add_scalar(1e-6)?.log()?)?)?
        .mean_all()?
        .neg()
}

/// Mixup-CAM's concentration loss: pixels are assigned (as constants) to
/// the present class whose normalised CAM is highest there, if above
/// `threshold`; the loss is the mean squared distance of each assigned
/// pixel's feature [C] to its class's centroid in that image. Features
/// [B, C, h, w], raw CAMs [B, K, h, w], present [B, K] (0/1).
pub fn concentration(
    features: &Tensor,
    cams: &Tensor,
    present: &Tensor,
    threshold: f32,
) -> Result<Tensor> {
    let fs = features.shape();
    let (b, c, hw) = (fs[0], fs[1], fs[2] * fs[3]);
    let k = cams.shape()[1];
    let (assign, covered, count) = no_grad(|| {
        let n = attention::normalised(cams)?.mul(&attention::per_map(present)?)?;
        let (top, _) = n.max_axis(1, true)?;
        let a = n
            .eq(&top)?
            .mul(&top.gt_scalar(threshold)?)?
            .reshape(&[b, k, hw])?;
        let covered = a.sum(&[1], true)?;
        let count = covered.sum_all()?.mul_scalar(c as f32)?.add_scalar(1e-5)?;
        Ok((a, covered, count))
    })?;
    let f = features.reshape(&[b, c, hw])?;
    let centroids = assign
        .matmul(&f.transpose(1, 2)?)?
        .div(&assign.sum(&[2], true)?.add_scalar(1e-5)?)?;
    let recon = centroids.transpose(1, 2)?.matmul(&assign)?;
    f.mul(&covered)?
        .sub(&recon)?
        .square()?
        .sum_all()?
        .div(&count)
}

/// Mixup-CAM's loss on a batch: BCE of the blend against the blended
/// targets, plus the weighted entropy and concentration terms.
pub fn mixup_loss(
    net: &CamNet,
    batch: &Batch,
    s: &MixupSettings,
    rng: &mut impl Rng,
) -> Result<Tensor> {
    let n = batch.images.shape()[0];
    let lambda = beta(s.alpha, rng)?;
    let perm = permutation(batch.images.gpu(), n, rng)?;
    let x = mix(&batch.images, &perm, lambda)?;
    let y = mix(&batch.labels, &perm, lambda)?;
    let f = net.precision.features(&net.backbone, &x)?;
    let logits = net.head.logits(&f)?;
    let mut loss = logits.bce_with_logits(&y)?;
    if s.entropy_weight > 0.0 {
        loss = loss.add(&binary_entropy(&logits)?.mul_scalar(s.entropy_weight)?)?;
    }
    if s.concentration_weight > 0.0 {
        let present = y.gt_scalar(0.0)?;
        let con = concentration(&f, &net.head.cams(&f)?, &present, s.concentration_threshold)?;
        loss = loss.add(&con.mul_scalar(s.concentration_weight)?)?;
    }
    Ok(loss)
}

/// FMix-CAM's loss on a batch: one mask per batch pastes the masked part of
/// each image onto a permuted partner; the loss weighs both label sets by
/// the sampled λ, as `ecs-vlc/FMix:fmix.py` (`sample_and_apply`) returns
/// it (the mask's share is ⌈λ·HW⌉ or ⌊λ·HW⌋ over HW).
pub fn fmix_loss(
    net: &CamNet,
    batch: &Batch,
    s: &FmixSettings,
    rng: &mut impl Rng,
) -> Result<Tensor> {
    let sh = batch.images.shape();
    let (n, h, w) = (sh[0], sh[2], sh[3]);
    let lambda = beta(s.alpha, rng)?;
    let m = fmix::mask(h, w, lambda as f64, s.decay as f64, rng);
    let gpu = batch.images.gpu();
    let m = Tensor::from_slice(gpu, &m, &[1, 1, h, w])?;
    let perm = permutation(gpu, n, rng)?;
    let x = batch.images.mul(&m)?.add(
        &batch
            .images
            .index_select(0, &perm)?
            .mul(&m.affine(-1.0, 1.0)?)?,
    )?;
    mixed_bce(&net.logits(&x)?, &batch.labels, &perm, lambda)
}

/// Manifold-Mixup CAM's loss on a batch: the blend happens at an edit point
/// of the backbone drawn uniformly (the input included).
pub fn manifold_loss(
    net: &CamNet,
    batch: &Batch,
    s: &ManifoldSettings,
    rng: &mut impl Rng,
) -> Result<Tensor> {
    let n = batch.images.shape()[0];
    let lambda = beta(s.alpha, rng)?;
    let perm = permutation(batch.images.gpu(), n, rng)?;
    let at = rng.random_range(0..net.backbone.edit_points().max(1));
    let f = net
        .backbone
        .features_with(&batch.images, at, &mut |t| mix(t, &perm, lambda))?;
    mixed_bce(&net.head.logits(&f)?, &batch.labels, &perm, lambda)
}
