//! The plain CAM classifier (Zhou et al. CVPR16): a backbone, global
//! average pooling and a linear classifier trained with the multilabel
//! soft-margin loss (BCE with logits, averaged), which is every method's
//! classification term. Its CAM is the classifier applied at every pixel.

use serde::{Deserialize, Serialize};
use weakseg_kernels::Result;

use crate::Tensor;
use crate::data::Batch;
use crate::models::CamNet;

use super::{BatchLoss, Build, CamMethod, Extension, LossOnly, TrainContext};

/// The plain CAM has no settings.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlainSettings {}

impl CamMethod for PlainSettings {
    fn build(&self, _: Build) -> Result<Box<dyn Extension>> {
        LossOnly::boxed(self)
    }
}

/// The classifier's loss on `batch`: the multilabel soft-margin loss.
pub fn classification_loss(base: &CamNet, batch: &Batch) -> Result<Tensor> {
    base.logits(&batch.images)?.bce_with_logits(&batch.labels)
}

impl BatchLoss for PlainSettings {
    fn batch_loss(&self, base: &CamNet, batch: &Batch, _ctx: &mut TrainContext) -> Result<Tensor> {
        classification_loss(base, batch)
    }
}
