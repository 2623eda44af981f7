//! SEAM (Wang et al. CVPR20): self-supervised equivariant attention. The
//! network sees each image and a 0.3× copy; the CAM of the copy must equal
//! the copy of the CAM (equivariant regularisation, ER). A pixel correlation
//! module (PCM) propagates each CAM along learnt feature similarities, and
//! each branch's PCM output must match the other branch's CAM (equivariant
//! cross regularisation, ECR, on the hardest 20 % of entries). CAMs are
//! read from the PCM output. The background channel, unused by SEAM's
//! classification loss, is 1 − the foreground maximum wherever it matters,
//! so the classifier keeps its foreground-only head here.

use serde::{Deserialize, Serialize};
use weakseg_kernels::{Error, Result};

use crate::cam::Normalisation;
use crate::data::Batch;
use crate::models::CamNet;
use crate::nn::module::child;
use crate::nn::{Builder, Conv2d, Module, Visitor};
use crate::ops::conv::ConvOpts;
use crate::ops::resize::ResizeMode;
use crate::tensor::{Tensor, no_grad};

use super::attention::per_map;
use super::{Build, CamMethod, Extension, TrainContext, invalid};

/// SEAM's settings (wsss-methods.md §4.2–4.3).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SeamSettings {
    /// The transform A: bilinear rescaling by this factor.
    pub scale: f32,
    /// Share of the ECR entries kept by hard-pixel mining.
    pub hard_fraction: f32,
    /// Share of the pixels the adaptive min-pooling loss averages.
    pub min_pool_fraction: f32,
}

impl Default for SeamSettings {
    /// Scale 0.3, top 20 %, the hw/4 smallest.
    fn default() -> Self {
        SeamSettings {
            scale: 0.3,
            hard_fraction: 0.2,
            min_pool_fraction: 0.25,
        }
    }
}

impl CamMethod for SeamSettings {
    fn validate(&self) -> Result<()> {
        if !(self.scale > 0.0 && self.scale < 1.0) {
            return Err(invalid("seam", "the rescaling factor must lie in (0, 1)"));
        }
        if !(0.0..=1.0).contains(&self.hard_fraction) || self.hard_fraction == 0.0 {
            return Err(invalid(
                "seam",
                "the hard-mining fraction must lie in (0, 1]",
            ));
        }
        if !(0.0..=1.0).contains(&self.min_pool_fraction) || self.min_pool_fraction == 0.0 {
            return Err(invalid(
                "seam",
                "the min-pooling fraction must lie in (0, 1]",
            ));
        }
        Ok(())
    }

    fn build(&self, net: Build) -> Result<Box<dyn Extension>> {
        Ok(Box::new(Seam {
            settings: self.clone(),
            pcm: Pcm::new(net.builder, &net.base.backbone.tap_channels())?,
        }))
    }
}

/// SEAM's pixel correlation module (`pcm.*`) and settings.
pub struct Seam {
    settings: SeamSettings,
    pcm: Pcm,
}

impl Seam {
    /// The pixel correlation module.
    pub fn pcm(&self) -> &Pcm {
        &self.pcm
    }
}

impl Module for Seam {
    fn visit(&self, prefix: &str, v: &mut dyn Visitor) {
        self.pcm.visit(&child(prefix, "pcm"), v);
    }
}

impl Extension for Seam {
    fn loss(&self, base: &CamNet, batch: &Batch, _: &mut TrainContext) -> Result<Tensor> {
        loss(base, &self.pcm, batch, &self.settings)
    }

    fn cam_maps(&self, base: &CamNet, x: &Tensor, present: &[bool]) -> Result<Tensor> {
        cam_maps(base, &self.pcm, x, present)
    }

    /// SEAM's inference min-max normalises (`infer_SEAM.py:72–77`).
    fn normalisation(&self) -> Normalisation {
        Normalisation::MinMax
    }
}

/// The pixel correlation module: 1×1 reductions of the two taps before the
/// backbone's feature map (detached) to 64 and 128 channels — ResNet-38's
/// conv4 and conv5 as `resnet38_SEAM.py:18–19, 42–43` reads them, ResNet's
/// layer2 and layer3 — concatenated with the image at
/// the CAM's resolution, projected to 192 channels and L2-normalised; the
/// ReLU'd cosine similarities, normalised per column, propagate the CAM.
/// Names: `reduce{i}.*`, `f9.*`.
pub struct Pcm {
    reduce: Vec<Conv2d>,
    f9: Conv2d,
}

/// Widths of the reductions of the two taps (SEAM's 64 and 128).
const REDUCED: [usize; 2] = [64, 128];

/// The taps the PCM reads out of `n`: the two before the last (the last is
/// the feature map the CAM comes from); with two taps the first, with one
/// that one.
fn pcm_taps(n: usize) -> std::ops::Range<usize> {
    let end = if n > 1 { n - 1 } else { n };
    end.saturating_sub(2)..end
}

impl Pcm {
    /// A PCM for a backbone whose taps have `tap_channels`; it reads the
    /// two before the last (see [`Pcm`]).
    pub fn new(b: &mut Builder, tap_channels: &[usize]) -> Result<Pcm> {
        let used = &tap_channels[pcm_taps(tap_channels.len())];
        if used.is_empty() {
            return Err(Error::invalid("seam", "the backbone has no taps"));
        }
        let widths = &REDUCED[REDUCED.len() - used.len()..];
        let reduce = used
            .iter()
            .zip(widths)
            .map(|(&c, &w)| Conv2d::new(b, c, w, 1, ConvOpts::default(), false))
            .collect::<Result<Vec<_>>>()?;
        let f9 = Conv2d::new(
            b,
            3 + widths.iter().sum::<usize>(),
            192,
            1,
            ConvOpts::default(),
            false,
        )?;
        Ok(Pcm { reduce, f9 })
    }

    /// The propagated maps [B, K+1, h, w] (background first) of raw CAMs
    /// [B, K, h, w], from the images and the backbone's taps.
    pub fn forward(&self, x: &Tensor, taps: &[Tensor], cams: &Tensor) -> Result<Tensor> {
        let s = cams.shape();
        let (b, h, w) = (s[0], s[2], s[3]);
        let mut parts = vec![x.interpolate((h, w), ResizeMode::Bilinear(true))?];
        let range = pcm_taps(taps.len());
        if range.len() != self.reduce.len() {
            return Err(Error::invalid(
                "seam",
                format!(
                    "{} taps; the PCM was built for {} before the feature map",
                    taps.len(),
                    self.reduce.len()
                ),
            ));
        }
        for (t, conv) in taps[range].iter().zip(&self.reduce) {
            let mut y = conv.forward(&t.detach())?.relu()?;
            if (y.shape()[2], y.shape()[3]) != (h, w) {
                y = y.interpolate((h, w), ResizeMode::Bilinear(true))?;
            }
            parts.push(y);
        }
        let f = self
            .f9
            .forward(&Tensor::concat(&parts, 1)?)?
            .l2_normalize(1, 1e-5)?
            .reshape(&[b, 192, h * w])?;
        propagate(&f, &pcm_input(cams)?.reshape(&[b, s[1] + 1, h * w])?)?.reshape(&[
            b,
            s[1] + 1,
            h,
            w,
        ])
    }
}

/// The PCM's propagation (SEAM `network/resnet38_SEAM.py`, `PCM`): the
/// affinity S = ReLU(fᵀf) of unit features `f` [B, C, N], each column
/// divided by its sum + 1e-5, applied to the seeds [B, K+1, N]:
/// seeds·S [B, K+1, N].
pub fn propagate(f: &Tensor, seeds: &Tensor) -> Result<Tensor> {
    let sim = f.transpose(1, 2)?.matmul(f)?.relu()?;
    let sim = sim.div(&sim.sum(&[1], true)?.add_scalar(1e-5)?)?;
    seeds.matmul(&sim)
}

impl Module for Pcm {
    fn visit(&self, prefix: &str, v: &mut dyn Visitor) {
        for (i, c) in self.reduce.iter().enumerate() {
            c.visit(&child(prefix, &format!("reduce{i}")), v);
        }
        self.f9.visit(&child(prefix, "f9"), v);
    }
}

/// 1 − the foreground maximum, as a background channel [B, 1, h, w] of
/// foreground maps [B, K, h, w].
fn background(fg: &Tensor) -> Result<Tensor> {
    fg.max_axis(1, true)?.0.affine(-1.0, 1.0)
}

/// Foreground channels below each pixel's foreground maximum zeroed (the
/// background channel, first, kept): SEAM's max_onehot.
fn max_onehot(maps: &Tensor) -> Result<Tensor> {
    let k = maps.shape()[1] - 1;
    let fg = maps.narrow(1, 1, k)?;
    let top = fg.max_axis(1, true)?.0;
    Tensor::concat(&[maps.narrow(1, 0, 1)?, fg.mul(&fg.ge(&top)?)?], 1)
}

/// The PCM's seeds [B, K+1, h, w] of raw CAMs [B, K, h, w] (no
/// autograd): ReLU'd CAMs over their spatial maximum + 1e-5, a background
/// of 1 − the foreground maximum first, and max_onehot.
pub fn pcm_input(cams: &Tensor) -> Result<Tensor> {
    no_grad(|| {
        let c = cams.detach().relu()?;
        let s = c.shape().to_vec();
        let peak = c.reshape(&[s[0], s[1], s[2] * s[3]])?.max_axis(2, true)?.0;
        let fg = c.div(&peak.add_scalar(1e-5)?.reshape(&[s[0], s[1], 1, 1])?)?;
        max_onehot(&Tensor::concat(&[background(&fg)?, fg], 1)?)
    })
}

/// SEAM's max_norm: ReLU, then (p − min − 1e-5)₊ / (max − min + 1e-5)
/// per map.
pub fn max_norm(p: &Tensor) -> Result<Tensor> {
    let s = p.shape().to_vec();
    let flat = p.relu()?.reshape(&[s[0], s[1], s[2] * s[3]])?;
    let hi = flat.max_axis(2, true)?.0;
    let lo = flat.min_axis(2, true)?.0;
    flat.sub(&lo)?
        .add_scalar(-1e-5)?
        .relu()?
        .div(&hi.sub(&lo)?.add_scalar(1e-5)?)?
        .reshape(&s)
}

/// The raw CAMs [B, K, h, w] and PCM maps [B, K+1, h, w] of images.
pub fn forward(net: &CamNet, pcm: &Pcm, x: &Tensor) -> Result<(Tensor, Tensor)> {
    let taps = net.backbone.taps(x)?;
    let last = taps
        .last()
        .ok_or_else(|| Error::invalid("seam", "the backbone has no taps"))?;
    let cams = net.head.cams(last)?;
    let rv = pcm.forward(x, &taps, &cams)?;
    Ok((cams, rv))
}

/// The mean of the `fraction` largest (or smallest) entries of each row
/// of `x` [B, n].
fn mined_mean(x: &Tensor, fraction: f32, smallest: bool) -> Result<Tensor> {
    let n = x.shape()[1];
    let k = ((n as f32 * fraction) as usize).clamp(1, n);
    x.topk(k, smallest)?.0.mean_all()
}

/// The adaptive min-pooling loss: the mean of the ReLU'd smallest
/// `fraction` of each image's foreground maximum of its PCM maps.
fn min_pool_loss(rv: &Tensor, labels: &Tensor, fraction: f32) -> Result<Tensor> {
    let s = rv.shape();
    let k = s[1] - 1;
    let fg = rv.narrow(1, 1, k)?.mul(labels)?.max_axis(1, false)?.0;
    let n = s[2] * s[3];
    let kept = ((n as f32 * fraction) as usize).clamp(1, n);
    fg.reshape(&[s[0], n])?
        .topk(kept, true)?
        .0
        .relu()?
        .mean_all()
}

/// SEAM's loss terms, each as `train_SEAM.py` computes it (lines 113–142).
pub struct SeamTerms {
    /// (L_cls1 + L_cls2)/2: multilabel soft margin of each branch's GAP.
    pub cls: Tensor,
    /// (L_min1 + L_min2)/2: adaptive min-pooling of the PCM outputs.
    pub min_pool: Tensor,
    /// L_ER: mean |A(max_norm(cam1)) − max_norm(cam2)| over the
    /// foreground.
    pub er: Tensor,
    /// L_ECR: both branches' hard-mined cross terms.
    pub ecr: Tensor,
}

impl SeamTerms {
    /// The total L_cls + L_min + L_ER + L_ECR.
    pub fn total(&self) -> Result<Tensor> {
        self.cls.add(&self.min_pool)?.add(&self.er)?.add(&self.ecr)
    }
}

/// SEAM's loss terms from the raw CAMs [B, K, h, w] and PCM outputs
/// [B, K+1, h, w] of an image (`cam1`, `rv1`) and of its rescaled copy
/// (`cam2`, `rv2`, at the smaller size), under labels [B, K].
pub fn terms(
    (cam1, rv1): (&Tensor, &Tensor),
    (cam2, rv2): (&Tensor, &Tensor),
    y: &Tensor,
    s: &SeamSettings,
) -> Result<SeamTerms> {
    let cls = cam1
        .mean(&[2, 3], false)?
        .bce_with_logits(y)?
        .add(&cam2.mean(&[2, 3], false)?.bce_with_logits(y)?)?
        .mul_scalar(0.5)?;
    let lab = per_map(y)?;
    let min_pool = min_pool_loss(rv1, &lab, s.min_pool_fraction)?
        .add(&min_pool_loss(rv2, &lab, s.min_pool_fraction)?)?
        .mul_scalar(0.5)?;
    let small = (cam2.shape()[2], cam2.shape()[3]);
    let shrink = |t: Tensor| t.interpolate(small, ResizeMode::Bilinear(true));
    let cam1n = shrink(max_norm(cam1)?)?.mul(&lab)?;
    let cam2n = max_norm(cam2)?.mul(&lab)?;
    let er = cam1n.sub(&cam2n)?.abs()?.mean_all()?;
    let ones = Tensor::ones(y.gpu(), &[y.shape()[0], 1, 1, 1])?;
    let lab_bg = Tensor::concat(&[ones, lab], 1)?;
    let rv1n = shrink(max_norm(rv1)?)?.mul(&lab_bg)?;
    let rv2n = max_norm(rv2)?.mul(&lab_bg)?;
    let with_bg = |c: &Tensor| -> Result<Tensor> {
        let c = c.detach();
        max_onehot(&Tensor::concat(&[background(&c)?, c], 1)?)
    };
    let b = y.shape()[0];
    let ecr = |target: Tensor, rv: &Tensor| -> Result<Tensor> {
        let diff = target.sub(rv)?.abs()?;
        let n = diff.numel() / b;
        mined_mean(&diff.reshape(&[b, n])?, s.hard_fraction, false)
    };
    let ecr = ecr(with_bg(&cam2n)?, &rv1n)?.add(&ecr(with_bg(&cam1n)?, &rv2n)?)?;
    Ok(SeamTerms {
        cls,
        min_pool,
        er,
        ecr,
    })
}

/// SEAM's loss on a batch: (L_cls1 + L_cls2)/2 + (L_min1 + L_min2)/2 +
/// L_ER + L_ECR, the copy rescaled by `s.scale` (bilinear, corners
/// aligned).
pub fn loss(net: &CamNet, pcm: &Pcm, batch: &Batch, s: &SeamSettings) -> Result<Tensor> {
    let (x1, y) = (&batch.images, &batch.labels);
    let (h, w) = (x1.shape()[2], x1.shape()[3]);
    let size = |v: usize| ((v as f32 * s.scale).round() as usize).max(1);
    let x2 = x1.interpolate((size(h), size(w)), ResizeMode::Bilinear(true))?;
    let (cam1, rv1) = forward(net, pcm, x1)?;
    let (cam2, rv2) = forward(net, pcm, &x2)?;
    terms((&cam1, &rv1), (&cam2, &rv2), y, s)?.total()
}

/// SEAM's CAMs: the ReLU'd foreground channels of the PCM output, absent
/// classes zero.
pub fn cam_maps(net: &CamNet, pcm: &Pcm, x: &Tensor, present: &[bool]) -> Result<Tensor> {
    no_grad(|| {
        let (cams, rv) = forward(net, pcm, x)?;
        let k = cams.shape()[1];
        let keep = per_map(&super::attention::present_labels(
            x.gpu(),
            present,
            x.shape()[0],
        )?)?;
        rv.narrow(1, 1, k)?.relu()?.mul(&keep)
    })
}
