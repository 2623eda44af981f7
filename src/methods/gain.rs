//! GAIN (Li et al. CVPR18): guided attention inference. The classifier's
//! own attention softly masks the image, and the score of the present
//! classes on what is left is pushed down (attention mining), so the
//! attention has to cover the whole object. The CAM is read as the plain
//! classifier's.

use serde::{Deserialize, Serialize};
use weakseg_kernels::Result;

use crate::data::Batch;
use crate::models::CamNet;
use crate::ops::resize::ResizeMode;
use crate::tensor::{Tensor, no_grad};

use super::{BatchLoss, Build, CamMethod, Extension, LossOnly, TrainContext, attention};

/// GAIN's settings (Li et al. CVPR18).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GainSettings {
    /// σ of the soft mask T(A) = sigmoid(ω (A − σ)).
    pub sigma: f32,
    /// ω of the soft mask.
    pub omega: f32,
    /// α: weight of the attention-mining loss.
    pub weight: f32,
}

impl Default for GainSettings {
    /// σ 0.5, ω 10, α 1 (the paper's values).
    fn default() -> Self {
        GainSettings {
            sigma: 0.5,
            omega: 10.0,
            weight: 1.0,
        }
    }
}

impl CamMethod for GainSettings {
    fn build(&self, _: Build) -> Result<Box<dyn Extension>> {
        LossOnly::boxed(self)
    }
}

impl BatchLoss for GainSettings {
    fn batch_loss(&self, base: &CamNet, batch: &Batch, _ctx: &mut TrainContext) -> Result<Tensor> {
        gain_loss(base, &batch.images, &batch.labels, self)
    }
}

/// GAIN's loss on images `x` [B, 3, H, W] with labels [B, K]: the
/// classification loss plus α times the attention-mining loss, the mean
/// sigmoid score of the present classes on the image with its attended
/// region softly removed, x·(1 − T(A)).
///
/// A is Grad-CAM of the final feature map. Under a GAP + linear classifier
/// the gradient of class c's score with respect to that map is the constant
/// w_c / hw, so Grad-CAM equals the CAM up to a positive factor per class
/// and is computed here as the CAM divided by its peak (the peak treated
/// as a constant), with gradients flowing through A as in the paper. One
/// masked image per image: T is the maximum over its present classes.
pub fn gain_loss(net: &CamNet, x: &Tensor, labels: &Tensor, s: &GainSettings) -> Result<Tensor> {
    let f = net.precision.features(&net.backbone, x)?;
    let cls = net.head.logits(&f)?.bce_with_logits(labels)?;
    let cams = net.head.cams(&f)?.relu()?;
    let sh = cams.shape();
    let (b, k, hh, ww) = (sh[0], sh[1], sh[2], sh[3]);
    let peak = no_grad(|| {
        cams.detach()
            .reshape(&[b, k, hh * ww])?
            .max_axis(2, true)?
            .0
            .add_scalar(1e-5)?
            .reshape(&[b, k, 1, 1])
    })?;
    let soft = cams
        .div(&peak)?
        .affine(s.omega, -s.omega * s.sigma)?
        .sigmoid()?
        .mul(&attention::per_map(labels)?)?
        .max_axis(1, true)?
        .0;
    let (h, w) = (x.shape()[2], x.shape()[3]);
    let keep = soft
        .interpolate((h, w), ResizeMode::Bilinear(false))?
        .affine(-1.0, 1.0)?;
    let scores = net.logits(&x.mul(&keep)?)?.sigmoid()?;
    let mined = scores
        .mul(labels)?
        .sum_all()?
        .div(&labels.sum_all()?.add_scalar(1e-5)?)?;
    cls.add(&mined.mul_scalar(s.weight)?)
}
