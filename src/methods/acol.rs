//! ACoL (Zhang et al. CVPR18, `xiaomengyc/ACoL`): adversarial
//! complementary learning. Branch B's features are zeroed where branch A's
//! min-max normalised map of a labelled class reaches the threshold
//! (`torch.ge`); the localisation map is the maximum of both branches'
//! min-max normalised maps (`get_localization_maps`).

use serde::{Deserialize, Serialize};
use weakseg_kernels::Result;

use crate::tensor::Tensor;

use super::branch::{BranchErasing, TwoBranch};
use super::{Build, CamMethod, Extension, attention, invalid};

/// ACoL's settings (`xiaomengyc/ACoL`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AcolSettings {
    /// Branch B's features are zeroed where branch A's normalised map is at
    /// least this.
    pub threshold: f32,
}

impl Default for AcolSettings {
    /// Threshold 0.6.
    fn default() -> Self {
        AcolSettings { threshold: 0.6 }
    }
}

impl CamMethod for AcolSettings {
    fn validate(&self) -> Result<()> {
        if !(0.0..=1.0).contains(&self.threshold) {
            return Err(invalid("acol", "the erasing threshold must lie in [0, 1]"));
        }
        Ok(())
    }

    fn build(&self, net: Build) -> Result<Box<dyn Extension>> {
        Ok(Box::new(TwoBranch::new(net, self.clone())?))
    }
}

impl BranchErasing for AcolSettings {
    /// 0 where the min-max normalised map is ≥ the threshold, else 1.
    fn factor(&self, cams_a: &Tensor, labels: &Tensor) -> Result<Tensor> {
        attention::keep_below(
            &attention::min_max_attention(cams_a, labels, false)?,
            self.threshold - f32::EPSILON,
        )
    }

    fn normalise(&self, cams: &Tensor) -> Result<Tensor> {
        attention::min_max(cams, false, 1e-8)
    }
}
