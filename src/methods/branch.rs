//! Online erasing with a second classifier branch, shared by ACoL and
//! SeeNet: branch A is the classifier; branch B (`head_b.*`) reads the
//! same features with what branch A already finds erased, so it must
//! find the rest. Each method says how it erases and how a branch's map is
//! normalised before the two are fused by their maximum.

use weakseg_kernels::Result;

use crate::data::Batch;
use crate::models::CamNet;
use crate::models::heads::CamHead;
use crate::nn::module::child;
use crate::nn::{Module, Visitor};
use crate::tensor::Tensor;

use super::{Build, Extension, TrainContext, attention};

/// How a two-branch method erases branch B's input and normalises a
/// branch's map.
pub trait BranchErasing: 'static {
    /// The factor branch B's features are multiplied by, from branch A's
    /// raw CAMs [B, K, h, w] and the labels [B, K] of the classes to erase.
    /// A constant of the step.
    fn factor(&self, cams_a: &Tensor, labels: &Tensor) -> Result<Tensor>;

    /// A branch's raw CAMs [B, K, h, w] as they enter the fused map.
    fn normalise(&self, cams: &Tensor) -> Result<Tensor>;
}

/// Branch B beside the classifier, and the method's erasing.
pub struct TwoBranch<E> {
    erasing: E,
    head_b: CamHead,
}

impl<E: BranchErasing> TwoBranch<E> {
    /// Branch B beside the classifier `net` is building, erasing as
    /// `erasing` says.
    pub fn new(mut net: Build, erasing: E) -> Result<Self> {
        Ok(TwoBranch {
            erasing,
            head_b: net.head(net.classes)?,
        })
    }

    /// Branch B's input: `features` times the method's factor where branch
    /// A's CAMs `cams_a` of the classes in `labels` [B, K] are high.
    pub fn erase(&self, features: &Tensor, cams_a: &Tensor, labels: &Tensor) -> Result<Tensor> {
        features.mul(&self.erasing.factor(cams_a, labels)?)
    }

    /// Branch B's classifier.
    pub fn head_b(&self) -> &CamHead {
        &self.head_b
    }
}

impl<E> Module for TwoBranch<E> {
    fn visit(&self, prefix: &str, v: &mut dyn Visitor) {
        self.head_b.visit(&child(prefix, "head_b"), v);
    }
}

impl<E: BranchErasing> Extension for TwoBranch<E> {
    /// The sum of both branches' classification losses.
    fn loss(&self, base: &CamNet, batch: &Batch, _: &mut TrainContext) -> Result<Tensor> {
        let (x, y) = (&batch.images, &batch.labels);
        let f = base.precision.features(&base.backbone, x)?;
        let a = base.head.cams(&f)?;
        let fb = self.erase(&f, &a, y)?;
        base.head
            .logits(&f)?
            .bce_with_logits(y)?
            .add(&self.head_b.logits(&fb)?.bce_with_logits(y)?)
    }

    /// The maximum of both branches' normalised maps, present classes only.
    fn cam_maps(&self, base: &CamNet, x: &Tensor, present: &[bool]) -> Result<Tensor> {
        let f = base.precision.features(&base.backbone, x)?;
        let labels = attention::present_labels(x.gpu(), present, x.shape()[0])?;
        let a = base.head.cams(&f)?;
        let b = self.head_b.cams(&self.erase(&f, &a, &labels)?)?;
        let keep = attention::per_map(&labels)?;
        self.erasing
            .normalise(&a)?
            .maximum(&self.erasing.normalise(&b)?)?
            .mul(&keep)
    }
}
