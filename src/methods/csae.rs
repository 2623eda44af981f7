//! Class-specific adversarial erasing (CS-AE, Kweon et al. ICCV21). An
//! ordinary classifier, trained first and then left alone, judges an
//! erasing network: for one present class c drawn per image, the erasing
//! network's normalised CAM of c removes that region from the image, and
//! the ordinary classifier must then miss c while still seeing every other
//! class. The map of c therefore has to cover all of c (or the ordinary
//! classifier still finds it) and nothing of the other classes; an area
//! term keeps it from spreading over the background. The erasing network's
//! own CAM is the result.

use rand::Rng;
use rand::rngs::SmallRng;
use serde::{Deserialize, Serialize};
use weakseg_kernels::Result;

use crate::data::Batch;
use crate::models::CamNet;
use crate::nn::module::child;
use crate::nn::{Module, Visitor};
use crate::ops::resize::ResizeMode;
use crate::tensor::{Tensor, no_grad};

use super::net::{MethodNet, Phase};
use super::{Build, CamMethod, Extension, TrainContext, invalid};

/// CS-AE's settings. The seed deck gives the losses but no weights; these
/// are ours.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CsaeSettings {
    /// Weight of the adversarial term (the ordinary classifier's loss on
    /// the erased image with c's target flipped to 0).
    pub adversarial: f32,
    /// Weight of the mean of the class-specific mask (its area).
    pub area: f32,
}

impl Default for CsaeSettings {
    /// Adversarial weight 1, area weight 1.
    fn default() -> Self {
        CsaeSettings {
            adversarial: 1.0,
            area: 1.0,
        }
    }
}

/// CS-AE's ordinary classifier (`ordinary.*`) beside the erasing network
/// (the base).
pub struct Csae {
    settings: CsaeSettings,
    ordinary: CamNet,
}

impl Csae {
    /// The ordinary classifier.
    pub fn ordinary(&self) -> &CamNet {
        &self.ordinary
    }
}

impl CamMethod for CsaeSettings {
    fn validate(&self) -> Result<()> {
        if self.adversarial < 0.0 || self.area < 0.0 {
            return Err(invalid("csae", "the loss weights must not be negative"));
        }
        Ok(())
    }

    fn build(&self, mut net: Build) -> Result<Box<dyn Extension>> {
        Ok(Box::new(Csae {
            settings: self.clone(),
            ordinary: net.classifier()?,
        }))
    }
}

impl Module for Csae {
    fn visit(&self, prefix: &str, v: &mut dyn Visitor) {
        self.ordinary.visit(&child(prefix, "ordinary"), v);
    }
}

impl Extension for Csae {
    /// The ordinary classifier first, then the erasing network.
    fn phases<'a>(&'a self, net: &'a MethodNet) -> Vec<Phase<'a>> {
        vec![
            Phase::new(vec![("ordinary", &self.ordinary)], None),
            Phase::new(vec![("", &net.base)], None),
        ]
    }

    /// Phase 0: the ordinary classifier's loss; then [`loss`].
    fn loss(&self, base: &CamNet, batch: &Batch, ctx: &mut TrainContext) -> Result<Tensor> {
        let (x, y) = (&batch.images, &batch.labels);
        if ctx.round == 0 {
            self.ordinary.logits(x)?.bce_with_logits(y)
        } else {
            loss(base, &self.ordinary, x, y, &self.settings, &mut ctx.rng)
        }
    }

    fn backbones(&self) -> Vec<&CamNet> {
        vec![&self.ordinary]
    }
}

/// One present class per image, drawn uniformly on the device without a
/// readback: the one-hot [B, K] of the largest of labels·(1 + u), u ~ U(0, 1).
pub fn draw_present(labels: &Tensor, rng: &mut SmallRng) -> Result<Tensor> {
    no_grad(|| {
        let u: Vec<f32> = (0..labels.numel())
            .map(|_| 1.0 + rng.random::<f32>())
            .collect();
        let scores = labels.mul(&Tensor::from_slice(labels.gpu(), &u, labels.shape())?)?;
        let top = scores.max_axis(1, true)?.0;
        scores.ge(&top)?.mul(labels)
    })
}

/// CS-AE's loss on images `x` [B, 3, H, W] with labels [B, K]: the erasing
/// network's classification loss, plus the ordinary classifier's loss on
/// the images erased by the drawn class's mask (target: the labels with
/// that class removed), plus the mask's mean. The mask is the erasing
/// network's ReLU'd CAM over its peak (the peak a constant), so gradients
/// reach the erasing network through the ordinary classifier.
pub fn loss(
    eraser: &CamNet,
    ordinary: &CamNet,
    x: &Tensor,
    labels: &Tensor,
    s: &CsaeSettings,
    rng: &mut SmallRng,
) -> Result<Tensor> {
    let f = eraser.precision.features(&eraser.backbone, x)?;
    let cls = eraser.head.logits(&f)?.bce_with_logits(labels)?;
    let cams = eraser.head.cams(&f)?.relu()?;
    let sh = cams.shape().to_vec();
    let (b, k, hw) = (sh[0], sh[1], sh[2] * sh[3]);
    let peak = no_grad(|| {
        cams.detach()
            .reshape(&[b, k, hw])?
            .max_axis(2, true)?
            .0
            .add_scalar(1e-5)?
            .reshape(&[b, k, 1, 1])
    })?;
    let chosen = draw_present(labels, rng)?;
    let mask = cams
        .div(&peak)?
        .mul(&chosen.reshape(&[b, k, 1, 1])?)?
        .sum(&[1], true)?
        .interpolate((x.shape()[2], x.shape()[3]), ResizeMode::Bilinear(false))?;
    let erased = x.mul(&mask.affine(-1.0, 1.0)?)?;
    let rest = labels.sub(&chosen)?;
    let adversarial = ordinary.logits(&erased)?.bce_with_logits(&rest)?;
    cls.add(&adversarial.mul_scalar(s.adversarial)?)?
        .add(&mask.mean_all()?.mul_scalar(s.area)?)
}
