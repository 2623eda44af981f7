//! Manifold-Mixup CAM (after Verma et al. ICML19): feature maps blended
//! at an edit point of the backbone drawn uniformly (the input included),
//! the targets weighed by λ ~ Beta(α, α). The CAM is read as the plain
//! classifier's.

use rand::Rng;
use serde::{Deserialize, Serialize};
use weakseg_kernels::Result;

use crate::Tensor;
use crate::data::Batch;
use crate::models::CamNet;

use super::mixing::{beta, mix, mixed_bce, permutation};
use super::{BatchLoss, Build, CamMethod, Extension, LossOnly, TrainContext, invalid};

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

impl CamMethod for ManifoldSettings {
    fn validate(&self) -> Result<()> {
        if self.alpha <= 0.0 {
            return Err(invalid("manifold", "alpha must be positive"));
        }
        Ok(())
    }

    fn build(&self, _: Build) -> Result<Box<dyn Extension>> {
        LossOnly::boxed(self)
    }
}

impl BatchLoss for ManifoldSettings {
    fn batch_loss(&self, base: &CamNet, batch: &Batch, ctx: &mut TrainContext) -> Result<Tensor> {
        manifold_loss(base, batch, self, &mut ctx.rng)
    }
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
