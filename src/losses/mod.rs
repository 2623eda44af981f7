//! Losses of weak supervision beyond the classification and segmentation
//! losses every tensor has (`Tensor::bce_with_logits`,
//! `Tensor::cross_entropy`, which with ignore index 255 is the partial
//! cross-entropy of points and scribbles): regularisers that tie a soft
//! segmentation to the image it segments, What's the Point's loss for
//! clicks, the constrained CNN's loss for tags alone, and SEC's and DSRG's
//! losses for tags through CAM seeds.

pub mod constrained;
pub mod crf_loss;
pub mod point;
pub mod seeded;

pub use constrained::Constraints;
pub use crf_loss::DenseCrfLoss;
pub use point::{cam_objectness, point_loss};
pub use seeded::{CrfUnary, Seeded, SeededMethod};

use serde::{Deserialize, Serialize};
use weakseg_kernels::{Error, Result};

use crate::{ResizeMode, Tensor};

/// Which image-driven regulariser.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RegulariserKind {
    /// The relaxed Potts energy ([`DenseCrfLoss::loss`]).
    DenseCrf,
    /// The normalized cut ([`DenseCrfLoss::normalized_cut`]).
    NormalizedCut,
}

impl RegulariserKind {
    /// The name used in settings and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            RegulariserKind::DenseCrf => "dense-crf",
            RegulariserKind::NormalizedCut => "normalized-cut",
        }
    }

    /// The kind called `name`, or an error listing them.
    pub fn parse(name: &str) -> Result<RegulariserKind> {
        [RegulariserKind::DenseCrf, RegulariserKind::NormalizedCut]
            .into_iter()
            .find(|k| k.name() == name)
            .ok_or_else(|| {
                Error::invalid(
                    "regulariser",
                    format!("unknown regulariser `{name}`; one of dense-crf, normalized-cut"),
                )
            })
    }
}

/// A regulariser on a segmenter's softmax, as rloss trains with it: the
/// segmentation downscaled by `scale`, the bilateral kernel's σ_xy scaled
/// with it, the loss times `weight` added to the partial cross-entropy.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Regulariser {
    /// Which loss.
    pub kind: RegulariserKind,
    /// Its weight. Ours are normalised (the share of affinity mass whose
    /// labels disagree), so the weight is O(1): 0.5 matches rloss's 2e-9
    /// on the unnormalised energy of a 512-px VOC crop at scale 0.5.
    pub weight: f32,
    /// Colour standard deviation, 0..255 units (rloss: 15).
    pub sigma_rgb: f32,
    /// Spatial standard deviation in input pixels (rloss: 100).
    pub sigma_xy: f32,
    /// Resolution of the segmentation the loss sees, as a fraction of the
    /// input's (rloss: 0.5).
    pub scale: f32,
}

impl Default for Regulariser {
    fn default() -> Self {
        Regulariser {
            kind: RegulariserKind::DenseCrf,
            weight: 0.5,
            sigma_rgb: DenseCrfLoss::SIGMA_RGB,
            sigma_xy: DenseCrfLoss::SIGMA_XY,
            scale: 0.5,
        }
    }
}

impl Regulariser {
    /// The weighted loss of segmentation `logits` ([B, L, H, W]) of the
    /// network inputs `x` ([B, 3, H, W], ImageNet-normalised).
    pub async fn loss(&self, x: &Tensor, logits: &Tensor) -> Result<Tensor> {
        let s = logits.shape();
        if s.len() != 4 || !(self.scale > 0.0 && self.scale <= 1.0) {
            return Err(Error::invalid(
                "regulariser",
                format!(
                    "logits {s:?} at scale {}; want [B, L, H, W], scale in (0, 1]",
                    self.scale
                ),
            ));
        }
        let size = (
            ((s[2] as f32 * self.scale).round() as usize).max(1),
            ((s[3] as f32 * self.scale).round() as usize).max(1),
        );
        let probs = logits
            .interpolate(size, ResizeMode::Bilinear(false))?
            .softmax(1)?;
        let crf = DenseCrfLoss::for_inputs(x, size, self.sigma_rgb, self.sigma_xy).await?;
        let l = match self.kind {
            RegulariserKind::DenseCrf => crf.loss(&probs)?,
            RegulariserKind::NormalizedCut => crf.normalized_cut(&probs)?,
        };
        l.mul_scalar(self.weight)
    }
}
