//! SeeNet (Hou et al. NeurIPS18, `houqb/SeeNet`): self-erasing with a
//! ternary C-ReLU mask on branch B's features from branch A's normalised
//! attention: erased above δh, negated below δl, kept between. The CAM is
//! the maximum of both branches' normalised maps.

use serde::{Deserialize, Serialize};
use weakseg_kernels::Result;

use crate::tensor::Tensor;

use super::branch::{BranchErasing, TwoBranch};
use super::{Build, CamMethod, Extension, attention, invalid};

/// SeeNet's settings (the C-ReLU layer of `houqb/SeeNet`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SeeNetSettings {
    /// δh: features where the attention exceeds it are erased.
    pub high: f32,
    /// δl: features where the attention is below it are negated.
    pub low: f32,
}

impl Default for SeeNetSettings {
    /// δh 0.8 (the deploy prototxt) and δl 0.05: the prototxt's δl = 0
    /// negates nothing once the attention is normalised to [0, 1], so the
    /// paper's small positive value is used to keep the C-ReLU's negation.
    fn default() -> Self {
        SeeNetSettings {
            high: 0.8,
            low: 0.05,
        }
    }
}

impl CamMethod for SeeNetSettings {
    fn validate(&self) -> Result<()> {
        if self.low.partial_cmp(&self.high) != Some(std::cmp::Ordering::Less) {
            return Err(invalid("seenet", "δl must be below δh"));
        }
        Ok(())
    }

    fn build(&self, net: Build) -> Result<Box<dyn Extension>> {
        Ok(Box::new(TwoBranch::new(net, self.clone())?))
    }
}

impl BranchErasing for SeeNetSettings {
    /// The C-ReLU's ternary mask of the ReLU'd min-max attention.
    fn factor(&self, cams_a: &Tensor, labels: &Tensor) -> Result<Tensor> {
        attention::ternary(
            &attention::min_max_attention(cams_a, labels, true)?,
            self.low,
            self.high,
        )
    }

    fn normalise(&self, cams: &Tensor) -> Result<Tensor> {
        attention::normalised(cams)
    }
}
