//! Mixup-CAM (Chang et al. BMVC20): whole images and their targets
//! blended with λ ~ Beta(α, α), with an entropy regulariser on the class
//! predictions and a concentration loss pulling the features of each
//! class's CAM region to their centroid. The CAM is read as the plain
//! classifier's.

use rand::Rng;
use serde::{Deserialize, Serialize};
use weakseg_kernels::Result;

use crate::data::Batch;
use crate::models::CamNet;
use crate::tensor::{Tensor, no_grad};

use super::attention;
use super::mixing::{beta, mix, permutation};
use super::{BatchLoss, Build, CamMethod, Extension, LossOnly, TrainContext, invalid};

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

impl CamMethod for MixupSettings {
    fn validate(&self) -> Result<()> {
        if self.alpha <= 0.0 {
            return Err(invalid("mixup", "alpha must be positive"));
        }
        Ok(())
    }

    fn build(&self, _: Build) -> Result<Box<dyn Extension>> {
        LossOnly::boxed(self)
    }
}

impl BatchLoss for MixupSettings {
    fn batch_loss(&self, base: &CamNet, batch: &Batch, ctx: &mut TrainContext) -> Result<Tensor> {
        mixup_loss(base, batch, self, &mut ctx.rng)
    }
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
