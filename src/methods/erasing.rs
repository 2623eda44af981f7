//! The erasing family: hide or erase what the classifier already finds so
//! that it must learn the rest of the object. Hide-and-Seek hides random
//! patches of the image; ACoL and SeeNet erase a second branch's features
//! online; GAIN masks the image with the classifier's own attention and
//! pushes the score on what is left down; adversarial erasing retrains on
//! images erased by earlier rounds.

use rand::Rng;
use serde::{Deserialize, Serialize};
use weakseg_kernels::Result;

use crate::models::CamNet;
use crate::ops::resize::ResizeMode;
use crate::tensor::{Tensor, no_grad};

use super::attention;

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

/// GAIN's settings (Li et al. CVPR18).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GainSettings {
    /// σ of the soft mask T(A) = sigmoid(ω (A − σ)).
    pub sigma: f32,
    /// ω of the soft mask.
    pub omega: f32,
    /// α: weight of the attention-mining loss.
    pub weight: f32,
}

impl Default for GainSettings {
    /// σ 0.5, ω 10, α 1 (the paper's values).
    fn default() -> Self {
        GainSettings {
            sigma: 0.5,
            omega: 10.0,
            weight: 1.0,
        }
    }
}

/// Adversarial erasing's settings (Wei et al. CVPR17).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AeSettings {
    /// Classifiers trained in turn, each on images erased by the ones
    /// before (the paper's 3 steps).
    pub rounds: usize,
    /// A region is mined (and erased for later rounds) where a round's
    /// normalised CAM of a present class exceeds this.
    pub threshold: f32,
}

impl Default for AeSettings {
    /// 3 rounds, erasing above 0.5 of each class's peak.
    fn default() -> Self {
        AeSettings {
            rounds: 3,
            threshold: 0.5,
        }
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

/// GAIN's loss on images `x` [B, 3, H, W] with labels [B, K]: the
/// classification loss plus α times the attention-mining loss, the mean
/// sigmoid score of the present classes on the image with its attended
/// region softly removed, x·(1 − T(A)).
///
/// A is Grad-CAM of the final feature map. Under a GAP + linear classifier
/// the gradient of class c's score with respect to that map is the constant
/// w_c / hw, so Grad-CAM equals the CAM up to a positive factor per class
/// and is computed here as the CAM divided by its peak (the peak treated
/// as a constant), with gradients flowing through A as in the paper. One
/// masked image per image: T is the maximum over its present classes.
pub fn gain_loss(net: &CamNet, x: &Tensor, labels: &Tensor, s: &GainSettings) -> Result<Tensor> {
    let f = net.precision.features(&net.backbone, x)?;
    let cls = net.head.logits(&f)?.bce_with_logits(labels)?;
    let cams = net.head.cams(&f)?.relu()?;
    let (b, k, hh, ww) = dims(&cams);
    let peak = no_grad(|| {
        cams.detach()
            .reshape(&[b, k, hh * ww])?
            .max_axis(2, true)?
            .0
            .add_scalar(1e-5)?
            .reshape(&[b, k, 1, 1])
    })?;
    let soft = cams
        .div(&peak)?
        .affine(s.omega, -s.omega * s.sigma)?
        .sigmoid()?
        .mul(&attention::per_map(labels)?)?
        .max_axis(1, true)?
        .0;
    let (h, w) = (x.shape()[2], x.shape()[3]);
    let keep = soft
        .interpolate((h, w), ResizeMode::Bilinear(false))?
        .affine(-1.0, 1.0)?;
    let scores = net.logits(&x.mul(&keep)?)?.sigmoid()?;
    let mined = scores
        .mul(labels)?
        .sum_all()?
        .div(&labels.sum_all()?.add_scalar(1e-5)?)?;
    cls.add(&mined.mul_scalar(s.weight)?)
}

/// One adversarial-erasing round on images `x` with labels [B, K]: the
/// round's normalised maps of the present classes [B, K, h, w], and `x`
/// with the region they mine (a present class above `threshold`,
/// upsampled to the image) set to 0, the dataset mean. No autograd.
pub fn mine(net: &CamNet, x: &Tensor, labels: &Tensor, threshold: f32) -> Result<(Tensor, Tensor)> {
    no_grad(|| {
        let (h, w) = (x.shape()[2], x.shape()[3]);
        let (_, cams) = net.logits_and_cams(&x.detach())?;
        let maps = attention::normalised(&cams)?.mul(&attention::per_map(labels)?)?;
        let keep = attention::keep_below(&maps.max_axis(1, true)?.0, threshold)?
            .interpolate((h, w), ResizeMode::Nearest)?;
        Ok((maps, x.detach().mul(&keep)?))
    })
}

/// The images of one adversarial-erasing round: `x` erased in turn by each
/// of the earlier rounds `earlier` ([`mine`]), so each round sees the image
/// erased by the rounds before it. No autograd.
pub fn erase_mined(
    earlier: &[&CamNet],
    x: &Tensor,
    labels: &Tensor,
    threshold: f32,
) -> Result<Tensor> {
    let mut x = x.detach();
    for net in earlier {
        x = mine(net, &x, labels, threshold)?.1;
    }
    Ok(x)
}

fn dims(t: &Tensor) -> (usize, usize, usize, usize) {
    let s = t.shape();
    (s[0], s[1], s[2], s[3])
}
