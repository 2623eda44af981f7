//! RIB (Lee et al., NeurIPS 2021): reducing the information bottleneck.
//! A classifier's final sigmoid saturates, so once the most discriminative
//! part of an object scores high nothing else need pass to the output.
//! RIB takes the trained classifier and, for each image on its own,
//! fine-tunes a copy for a few steps on the *raw* class logits (the final
//! non-linearity removed: the loss is −Σ of the present classes' logits),
//! pooling them over the non-discriminative pixels only (GNDRP), beside a
//! batch of images that share none of its classes. The image's CAM is the
//! sum of its maps over the steps, before each update. The released
//! `jbeomlee93/RIB:obtain_RIB_CAM.py` fixes the defaults used here.

use serde::{Deserialize, Serialize};
use weakseg_kernels::{Error, Result};

use crate::cam::{self, MultiScale};
use crate::data::Batch;
use crate::models::CamNet;
use crate::nn::{GroupRecipe, ema};
use crate::ops::resize::ResizeMode;
use crate::optim::{LrSchedule, Optimizer, Sgd};
use crate::tensor::{Tensor, no_grad};

use super::plain::classification_loss;
use super::{BatchLoss, Build, CamMethod, Extension, LossOnly, TrainContext, invalid};

/// RIB's settings (the released code's defaults).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RibSettings {
    /// Fine-tuning steps per image.
    pub iterations: usize,
    /// Learning rate of the backbone (the classifier's is 10×), poly
    /// decay over the steps.
    pub lr: f32,
    /// Weight decay of the fine-tuning.
    pub weight_decay: f32,
    /// Images per step that share no class with the image.
    pub negatives: usize,
    /// GNDRP: pixels whose normalised map of a present class reaches this
    /// are left out of that class's pooled logit.
    pub score_threshold: f32,
    /// Stop once the image's present-class logits sum past this.
    pub stop_logit: f32,
    /// Stop once the pixels whose normalised map exceeds
    /// `explode_threshold` cover more than `explode_ratio` of the image.
    pub explode_threshold: f32,
    /// See `explode_threshold`.
    pub explode_ratio: f32,
}

impl Default for RibSettings {
    /// 10 steps at lr 8e-6, weight decay 1e-4, 20 negatives, GNDRP at 0.4,
    /// stops at a logit sum of 600 or a map covering 70% at 0.3.
    fn default() -> Self {
        RibSettings {
            iterations: 10,
            lr: 8e-6,
            weight_decay: 1e-4,
            negatives: 20,
            score_threshold: 0.4,
            stop_logit: 600.0,
            explode_threshold: 0.3,
            explode_ratio: 0.7,
        }
    }
}

impl CamMethod for RibSettings {
    fn validate(&self) -> Result<()> {
        if self.iterations == 0 || self.lr < 0.0 || self.weight_decay < 0.0 {
            return Err(invalid(
                "rib",
                "needs at least one iteration and non-negative rates",
            ));
        }
        if !(0.0..=1.0).contains(&self.explode_threshold)
            || !(0.0..=1.0).contains(&self.explode_ratio)
        {
            return Err(invalid(
                "rib",
                "the explode threshold and ratio must lie in [0, 1]",
            ));
        }
        Ok(())
    }

    fn build(&self, _: Build) -> Result<Box<dyn Extension>> {
        LossOnly::boxed(self)
    }
}

impl BatchLoss for RibSettings {
    fn batch_loss(&self, base: &CamNet, batch: &Batch, _ctx: &mut TrainContext) -> Result<Tensor> {
        classification_loss(base, batch)
    }

    fn cam_time_tuning(&self) -> Option<&RibSettings> {
        Some(self)
    }
}

/// Global non-discriminative region pooling: the logits [B, K] of raw
/// CAMs [B, K, h, w] averaged over every pixel, except that for a class
/// flagged in `present` [B, K] the pixels where its map divided by its
/// maximum reaches `threshold` count as zero. The mask is a constant of the
/// step; a maximum at or below zero counts as 1e-5, so a class seen nowhere
/// pools over all of its pixels (the released code divides by it as is).
pub fn gndrp(cams: &Tensor, present: &Tensor, threshold: f32) -> Result<Tensor> {
    let s = cams.shape();
    if s.len() != 4 || present.shape() != [s[0], s[1]] {
        return Err(Error::invalid(
            "gndrp",
            format!(
                "maps {s:?} and present flags {:?} disagree",
                present.shape()
            ),
        ));
    }
    let (b, k, hw) = (s[0], s[1], s[2] * s[3]);
    let keep = no_grad(|| {
        let flat = cams.reshape(&[b, k, hw])?;
        let (peak, _) = flat.max_axis(2, true)?;
        let below = flat
            .div(&peak.clamp(1e-5, f32::MAX)?)?
            .lt_scalar(threshold)?;
        // keep = 1 − present·(1 − below)
        let present = present.reshape(&[b, k, 1])?;
        present.mul(&below.affine(-1.0, 1.0)?)?.affine(-1.0, 1.0)
    })?;
    cams.reshape(&[b, k, hw])?.mul(&keep)?.mean(&[2], false)
}

/// What one image's fine-tuning did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RibTrace {
    /// Maps summed (steps taken, counting a stopping step's maps).
    pub steps: usize,
    /// Whether a stop rule ended it before `iterations`.
    pub stopped: bool,
}

/// Per-image fine-tuning of a trained classifier: `net` is the copy that
/// is tuned, reset from `trained` before each image.
pub struct Localiser<'a> {
    net: &'a CamNet,
    trained: &'a CamNet,
    opt: Sgd,
    settings: RibSettings,
}

impl<'a> Localiser<'a> {
    /// A localiser tuning `net` (same architecture as `trained`) with
    /// `settings`: plain SGD (the released optimiser's momentum is its
    /// weight decay, 1e-4, by a positional-argument slip), new layers 10×.
    pub fn new(net: &'a CamNet, trained: &'a CamNet, settings: &RibSettings) -> Result<Self> {
        if settings.iterations == 0 {
            return Err(Error::invalid("rib", "needs at least one iteration"));
        }
        let opt = Sgd::new(
            GroupRecipe::IRN.groups(net, CamNet::is_new),
            settings.lr,
            0.0,
            settings.weight_decay,
            false,
        )?;
        Ok(Localiser {
            net,
            trained,
            opt,
            settings: settings.clone(),
        })
    }

    /// The RIB maps [K, H, W] of `image` ([1, 3, H, W]) with classes
    /// `present`, normalised per class as [`cam::multiscale`] does:
    /// the multi-scale, flip-summed CAMs of each step added up.
    /// `negatives()` gives each step's other images as batches
    /// (images [B, 3, h, w], labels [B, K]) sharing no class with this one.
    pub async fn localise(
        &mut self,
        image: &Tensor,
        present: &[bool],
        ms: &MultiScale,
        negatives: &mut dyn FnMut() -> Result<Vec<(Tensor, Tensor)>>,
    ) -> Result<(Tensor, RibTrace)> {
        let s = image.shape();
        if s.len() != 4 || s[0] != 1 || s[1] != 3 {
            return Err(Error::invalid(
                "rib",
                format!("image {s:?}; want [1, 3, H, W]"),
            ));
        }
        let k = present.len();
        if !present.iter().any(|&p| p) {
            return Err(Error::invalid("rib", "the image has no class to localise"));
        }
        let (h, w) = (s[2], s[3]);
        let gpu = image.gpu();
        let flags: Vec<f32> = present.iter().map(|&p| p as u32 as f32).collect();
        let pair_labels =
            Tensor::from_slice(gpu, &[flags.clone(), flags.clone()].concat(), &[2, k])?;
        ema::update(self.net, self.trained, 0.0)?;
        self.opt.set_steps(0);
        let schedule = LrSchedule::Poly {
            power: 0.9,
            warmup: 0,
            warmup_ratio: 1.0,
        };
        let mut sum: Option<Tensor> = None;
        let mut trace = RibTrace {
            steps: 0,
            stopped: false,
        };
        let st = &self.settings;
        for step in 0..st.iterations {
            let mut logits = Vec::new();
            let mut labels = Vec::new();
            let mut target: Option<Tensor> = None;
            let mut covered: Option<Tensor> = None;
            for (i, &sc) in ms.scales.iter().enumerate() {
                let pair = cam::views(image, sc, true)?;
                let f = self.net.precision.features(&self.net.backbone, &pair)?;
                let weight = self.net.head.classifier.weight.get();
                let maps = cam::maps(&f.detach(), &weight, present)?;
                let one = maps.narrow(0, 0, 1)?.add(&maps.narrow(0, 1, 1)?.flip(3)?)?;
                if i == 0 && step > 0 {
                    covered = Some(self.coverage(&one)?);
                }
                let up = one.interpolate((h, w), ResizeMode::Bilinear(false))?;
                sum = Some(match sum {
                    None => up,
                    Some(a) => a.add(&up)?,
                });
                // The released code leaves the half-scale view out of the loss.
                if sc >= 1.0 {
                    let l = gndrp(&self.net.head.cams(&f)?, &pair_labels, st.score_threshold)?;
                    let t = l.mul(&pair_labels)?.sum_all()?;
                    target = Some(match target {
                        None => t,
                        Some(a) => a.add(&t)?,
                    });
                    logits.push(l);
                    labels.push(pair_labels.clone());
                }
            }
            trace.steps = step + 1;
            for (x, y) in negatives()? {
                let cams = self
                    .net
                    .head
                    .cams(&self.net.precision.features(&self.net.backbone, &x)?)?;
                logits.push(gndrp(&cams, &y, st.score_threshold)?);
                labels.push(y);
            }
            if logits.is_empty() {
                return Err(Error::invalid(
                    "rib",
                    "no scale of 1 or more to fine-tune on",
                ));
            }
            let loss = Tensor::concat(&logits, 0)?
                .mul(&Tensor::concat(&labels, 0)?)?
                .sum_all()?
                .neg()?;
            self.opt.zero_grad()?;
            loss.backward()?;
            self.opt
                .set_lr(schedule.at(st.lr, step as u64, st.iterations as u64));
            self.opt.step()?;
            // Both stop rules in one readback. A map that covered too much
            // stops before the update in the released code; here the update
            // is taken and then thrown away by the next image's reset, so the
            // summed maps are the same.
            let zero = || Tensor::zeros(image.gpu(), &[]);
            let target = match target {
                Some(t) => t,
                None => zero()?,
            };
            let covered = match covered {
                Some(c) => c,
                None => zero()?,
            };
            let read = Tensor::concat(&[target.reshape(&[1])?, covered.reshape(&[1])?], 0)?
                .to_vec::<f32>()
                .await?;
            if read[0].abs() > st.stop_logit || read[1] > st.explode_ratio {
                trace.stopped = true;
                break;
            }
        }
        let sum = sum.ok_or_else(|| Error::invalid("rib", "no scales"))?;
        Ok((cam::normalise(&sum.reshape(&[k, h, w])?)?, trace))
    }

    /// The share of pixels where the union over classes of the normalised
    /// maps `one` ([1, K, h, w], absent classes zero) passes the explode
    /// threshold (a scalar on the device).
    fn coverage(&self, one: &Tensor) -> Result<Tensor> {
        cam::normalise(one)?
            .gt_scalar(self.settings.explode_threshold)?
            .max_axis(1, false)?
            .0
            .mean_all()
    }
}
