//! Hide-and-Seek (Singh and Lee, ICCV17): random grid patches of each
//! training image are hidden, so the classifier cannot rely on the most
//! discriminative part alone. The CAM is read as the plain classifier's.

use rand::Rng;
use serde::{Deserialize, Serialize};
use weakseg_kernels::Result;

use crate::data::Batch;
use crate::models::CamNet;
use crate::tensor::Tensor;

use super::{BatchLoss, Build, CamMethod, Extension, LossOnly, TrainContext, invalid};

/// Hide-and-Seek's settings (`kkanshul/Hide-and-Seek:hide_patch.py`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HasSettings {
    /// Grid cell sides to choose from, uniformly per image, in pixels of a
    /// `reference_size` image (0: no hiding).
    pub grid_sizes: Vec<usize>,
    /// The image side the grid sizes are given for: cells scale with the
    /// training image, so a 64-px image gets the same share hidden as a
    /// 224-px one.
    pub reference_size: usize,
    /// Probability that a cell is hidden.
    pub hide_probability: f32,
}

impl Default for HasSettings {
    /// Grids 0, 16, 32, 44, 56 of 224 px, each cell hidden with p = 0.5.
    fn default() -> Self {
        HasSettings {
            grid_sizes: vec![0, 16, 32, 44, 56],
            reference_size: 224,
            hide_probability: 0.5,
        }
    }
}

impl CamMethod for HasSettings {
    fn validate(&self) -> Result<()> {
        if !(0.0..=1.0).contains(&self.hide_probability) {
            return Err(invalid("has", "hide_probability must lie in [0, 1]"));
        }
        if self.grid_sizes.is_empty() || self.reference_size == 0 {
            return Err(invalid(
                "has",
                "needs grid sizes and a positive reference size",
            ));
        }
        Ok(())
    }

    fn build(&self, _: Build) -> Result<Box<dyn Extension>> {
        LossOnly::boxed(self)
    }
}

impl BatchLoss for HasSettings {
    fn batch_loss(&self, base: &CamNet, batch: &Batch, ctx: &mut TrainContext) -> Result<Tensor> {
        let x = &batch.images;
        let sh = x.shape();
        let (n, h, w) = (sh[0], sh[2], sh[3]);
        let keep = hide_patches(self, n, h, w, &mut ctx.rng);
        let keep = Tensor::from_slice(x.gpu(), &keep, &[n, 1, h, w])?;
        base.logits(&x.mul(&keep)?)?.bce_with_logits(&batch.labels)
    }
}

/// Hide-and-Seek's keep-masks for `batch` images of `h`×`w`: [B, 1, H, W]
/// row-major, 0 in hidden cells and 1 elsewhere. Each image draws a grid
/// side from `s.grid_sizes` (scaled from `s.reference_size` to `w`) and
/// hides each cell with `s.hide_probability`. Hidden pixels become 0 after
/// mean subtraction: the dataset mean, as in the paper.
pub fn hide_patches(
    s: &HasSettings,
    batch: usize,
    h: usize,
    w: usize,
    rng: &mut impl Rng,
) -> Vec<f32> {
    let mut mask = vec![1f32; batch * h * w];
    for img in mask.chunks_mut(h * w) {
        let g = s.grid_sizes[rng.random_range(0..s.grid_sizes.len())];
        if g == 0 {
            continue;
        }
        let side = ((g * w) as f64 / s.reference_size as f64).round().max(1.0) as usize;
        for y0 in (0..h).step_by(side) {
            for x0 in (0..w).step_by(side) {
                if rng.random::<f32>() >= s.hide_probability {
                    continue;
                }
                for y in y0..(y0 + side).min(h) {
                    img[y * w + x0..(x0 + side).min(w) + y * w].fill(0.0);
                }
            }
        }
    }
    mask
}
