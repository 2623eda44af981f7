//! Manifold-Mixup CAM (after Verma et al. ICML19): feature maps blended
//! at an edit point of the backbone drawn uniformly (the input included),
//! the targets weighed by λ ~ Beta(α, α). The CAM is read as the plain
//! classifier's.

use std::any::Any;

use rand::Rng;
use serde::{Deserialize, Serialize};
use weakseg_kernels::Result;

use crate::data::Batch;
use crate::models::{ArchSpec, CamNet};
use crate::nn::{Builder, Module, Visitor};

use super::mixing::{beta, mix, mixed_bce, permutation};
use super::{CamMethod, Extension, LossFuture, TrainContext, invalid};

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

/// Manifold-Mixup CAM adds no parameters; it keeps its settings for the loss.
pub struct Manifold(ManifoldSettings);

impl CamMethod for ManifoldSettings {
    fn validate(&self) -> Result<()> {
        if self.alpha <= 0.0 {
            return Err(invalid("manifold", "alpha must be positive"));
        }
        Ok(())
    }

    fn build(
        &self,
        _: &mut Builder,
        _: &CamNet,
        _: &ArchSpec,
        _: usize,
    ) -> Result<Box<dyn Extension>> {
        Ok(Box::new(Manifold(self.clone())))
    }
}

impl Module for Manifold {
    fn visit(&self, _: &str, _: &mut dyn Visitor) {}
}

impl Extension for Manifold {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn loss<'a>(
        &'a self,
        base: &'a CamNet,
        batch: &'a Batch,
        ctx: &'a mut TrainContext,
    ) -> LossFuture<'a> {
        Box::pin(async move { manifold_loss(base, batch, &self.0, &mut ctx.rng) })
    }
}

/// Manifold-Mixup CAM's loss on a batch: the blend happens at an edit point
/// of the backbone drawn uniformly (the input included).
pub fn manifold_loss(
    net: &CamNet,
    batch: &Batch,
    s: &ManifoldSettings,
    rng: &mut impl Rng,
) -> Result<crate::Tensor> {
    let n = batch.images.shape()[0];
    let lambda = beta(s.alpha, rng)?;
    let perm = permutation(batch.images.gpu(), n, rng)?;
    let at = rng.random_range(0..net.backbone.edit_points().max(1));
    let f = net
        .backbone
        .features_with(&batch.images, at, &mut |t| mix(t, &perm, lambda))?;
    mixed_bce(&net.head.logits(&f)?, &batch.labels, &perm, lambda)
}
