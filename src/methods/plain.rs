//! The plain CAM classifier (Zhou et al. CVPR16): a backbone, global
//! average pooling and a linear classifier trained with the multilabel
//! soft-margin loss (BCE with logits, averaged), which is every method's
//! classification term. Its CAM is the classifier applied at every pixel.

use std::any::Any;

use serde::{Deserialize, Serialize};
use weakseg_kernels::Result;

use crate::data::Batch;
use crate::models::{ArchSpec, CamNet};
use crate::nn::{Builder, Module, Visitor};

use super::{CamMethod, Extension, LossFuture, TrainContext};

/// The plain CAM has no settings.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlainSettings {}

/// The plain CAM adds nothing to the classifier.
pub struct Plain;

impl CamMethod for PlainSettings {
    fn build(
        &self,
        _: &mut Builder,
        _: &CamNet,
        _: &ArchSpec,
        _: usize,
    ) -> Result<Box<dyn Extension>> {
        Ok(Box::new(Plain))
    }
}

impl Module for Plain {
    fn visit(&self, _: &str, _: &mut dyn Visitor) {}
}

/// The classifier's loss on `batch`: the multilabel soft-margin loss.
pub fn classification_loss(base: &CamNet, batch: &Batch) -> Result<crate::Tensor> {
    base.logits(&batch.images)?.bce_with_logits(&batch.labels)
}

impl Extension for Plain {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn loss<'a>(
        &'a self,
        base: &'a CamNet,
        batch: &'a Batch,
        _: &'a mut TrainContext,
    ) -> LossFuture<'a> {
        Box::pin(async move { classification_loss(base, batch) })
    }
}
