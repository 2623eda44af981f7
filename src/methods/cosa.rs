//! CoSA (Yang et al., ECCV 2024): co-training with swapping assignments.
//! An online network (ON) learns a CAM classifier, an auxiliary CAM on an
//! earlier backbone stage and a segmentation decoder; an assignment network
//! (AN), the exponential moving average of ON, hands out targets both ways:
//! its multi-scale CAMs, thresholded at a low and a high background score,
//! become ON's segmentation labels, and its sharpened segmentation becomes
//! the per-pixel target of ON's CAMs ("swapping"). A dense-CRF loss on ON's
//! segmentation ties it to image edges. The released `youshyee/CoSA` code
//! (wsss-methods.md §8) fixes the defaults; the reliability-aware weighting
//! and the contrastive separation are not in it, so their forms here are
//! ours, as marked on their settings.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};
use weakseg_kernels::{Error, Result};

use crate::cam::CamSource;
use crate::data::Batch;
use crate::losses::DenseCrfLoss;
use crate::models::heads::CamHead;
use crate::models::{ArchSpec, CamNet};
use crate::nn::module::child;
use crate::nn::{Builder, Conv2d, Module, ModuleExt, Visitor, ema};
use crate::ops::conv::ConvOpts;
use crate::ops::resize::ResizeMode;
use crate::tensor::{Tensor, no_grad};

use super::net::Parts;
use super::{Build, CamMethod, Extension, LossFuture, TrainContext, invalid};

/// CoSA's settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CosaSettings {
    /// Background score below which the AN's CAM says background.
    pub low: f32,
    /// Background score above which the AN's CAM says foreground; between
    /// the two a pixel is ignored.
    pub high: f32,
    /// Weight of ON's segmentation loss.
    pub seg_weight: f32,
    /// Weight of the swapped CAM loss.
    pub cam_weight: f32,
    /// Weight of the dense-CRF regulariser (its loss is normalised by the
    /// affinity's mass, ours).
    pub crf_weight: f32,
    /// Weight of the contrastive separation of co-occurring classes'
    /// CAMs (ours: cross-entropy among the present classes' CAMs where the
    /// AN's auxiliary CAM assigns a class).
    pub separation_weight: f32,
    /// Reliability-aware weighting of the CAM loss: each pixel weighs
    /// perplexity^−β of the AN's segmentation (ours; 0 turns it off).
    pub raw_beta: f32,
    /// Softmax temperature of the swapped segmentation targets.
    pub temperature: f32,
    /// EMA momentum of the AN at `reference_steps` training steps; other
    /// run lengths keep the same averaging horizon as a share of training.
    pub momentum: f32,
    /// The training length `momentum` and `warmup_steps` are given for.
    pub reference_steps: u64,
    /// Steps (at `reference_steps`) trained on the classification losses
    /// alone before the assignments start.
    pub warmup_steps: u64,
    /// Scales of the AN's CAMs (each with its flip).
    pub scales: Vec<f32>,
    /// Revise `low` and `high` each step from a 3-component 1-D Gaussian
    /// mixture of recent AN CAM peaks (off in the released runs).
    pub gmm: bool,
    /// Images whose CAM peaks the GMM queue keeps, per image of a batch.
    pub gmm_queue: usize,
    /// EMA decay of the GMM thresholds.
    pub gmm_decay: f32,
    /// Colour bandwidth of the CRF loss.
    pub sigma_rgb: f32,
    /// Spatial bandwidth of the CRF loss, in image pixels.
    pub sigma_xy: f32,
    /// Channels of the segmentation decoder's hidden layer (ours: a 3×3
    /// then 1×1 decoder in place of LargeFOV's 1024-channel one).
    pub decoder_channels: usize,
}

impl Default for CosaSettings {
    /// The released VOC run: thresholds 0.25 / 0.7, weights 0.1 / 0.05 /
    /// 0.05, temperature 0.01, momentum 0.9994 over 32 000 steps with 6 000
    /// warm-up, AN scales 1, 0.5, 1.5, no GMM (queue 100, decay 0.99 when
    /// on), CRF σ_rgb 15 σ_xy 100; ours: separation 0.05, β 1, 128 channels.
    fn default() -> Self {
        CosaSettings {
            low: 0.25,
            high: 0.7,
            seg_weight: 0.1,
            cam_weight: 0.05,
            crf_weight: 0.05,
            separation_weight: 0.05,
            raw_beta: 1.0,
            temperature: 0.01,
            momentum: 0.9994,
            reference_steps: 32_000,
            warmup_steps: 6_000,
            scales: vec![1.0, 0.5, 1.5],
            gmm: false,
            gmm_queue: 100,
            gmm_decay: 0.99,
            sigma_rgb: 15.0,
            sigma_xy: 100.0,
            decoder_channels: 128,
        }
    }
}

impl CosaSettings {
    /// The momentum and warm-up steps of a run of `total` steps: the
    /// averaging horizon 1/(1 − m) and the warm-up keep their share of
    /// training.
    pub fn scaled(&self, total: u64) -> (f32, u64) {
        let share = total.max(1) as f64 / self.reference_steps.max(1) as f64;
        let momentum = (self.momentum as f64).powf(1.0 / share) as f32;
        let warmup = (self.warmup_steps as f64 * share).round() as u64;
        (momentum, warmup)
    }
}

/// The segmentation decoder: 3×3 convolution, ReLU, 1×1 to the classes
/// with background (`conv`, `cls`).
pub struct SegDecoder {
    conv: Conv2d,
    cls: Conv2d,
}

impl SegDecoder {
    /// A decoder from `channels` features through `hidden` to `labels`.
    pub fn new(b: &mut Builder, channels: usize, hidden: usize, labels: usize) -> Result<Self> {
        Ok(SegDecoder {
            conv: Conv2d::new(b, channels, hidden, 3, ConvOpts::new(1, 1, 1, 1), true)?,
            cls: Conv2d::new(b, hidden, labels, 1, ConvOpts::default(), true)?,
        })
    }

    /// Segmentation logits [B, labels, h, w] of features [B, C, h, w].
    pub fn forward(&self, f: &Tensor) -> Result<Tensor> {
        self.cls.forward(&self.conv.forward(f)?.relu()?)
    }
}

impl Module for SegDecoder {
    fn visit(&self, prefix: &str, v: &mut dyn Visitor) {
        self.conv.visit(&child(prefix, "conv"), v);
        self.cls.visit(&child(prefix, "cls"), v);
    }
}

/// What CoSA adds to a CAM network: the auxiliary CAM head on the
/// backbone's second-to-last tap (`aux.*`) and the decoder (`seg.*`).
pub struct Heads {
    /// The auxiliary CAM classifier.
    pub aux: CamHead,
    /// The segmentation decoder.
    pub seg: SegDecoder,
}

impl Heads {
    fn new(b: &mut Builder, net: &CamNet, classes: usize, hidden: usize) -> Result<Heads> {
        let taps = net.backbone.tap_channels();
        let aux_c = taps[taps.len().saturating_sub(2)];
        let c = net.backbone.out_channels();
        Ok(Heads {
            aux: CamHead::new(b, aux_c, classes)?,
            seg: SegDecoder::new(b, c, hidden, classes + 1)?,
        })
    }
}

impl Module for Heads {
    fn visit(&self, prefix: &str, v: &mut dyn Visitor) {
        self.aux.visit(&child(prefix, "aux"), v);
        self.seg.visit(&child(prefix, "seg"), v);
    }
}

/// CoSA's additions to the online network, the frozen assignment network
/// (`assign.*`, trained only by the moving average) and the step counter
/// (`cosa_step`), kept in checkpoints so a resumed run continues its
/// warm-up and average where it stopped.
pub struct Cosa {
    /// The online network's heads.
    pub heads: Heads,
    /// The assignment network's CAM network.
    pub assign: CamNet,
    /// The assignment network's heads.
    pub assign_heads: Heads,
    step: Tensor,
    settings: CosaSettings,
}

impl Cosa {
    /// CoSA's parts beside the online CAM network `net`.
    pub fn new(
        b: &mut Builder,
        net: &CamNet,
        arch: &ArchSpec,
        classes: usize,
        s: &CosaSettings,
    ) -> Result<Cosa> {
        let heads = Heads::new(b, net, classes, s.decoder_channels)?;
        let assign = CamNet::new(b, arch, classes)?;
        let assign_heads = Heads::new(b, &assign, classes, s.decoder_channels)?;
        let cosa = Cosa {
            heads,
            assign,
            assign_heads,
            step: b.buffer(&[1], 0.0)?,
            settings: s.clone(),
        };
        for (_, p) in cosa.teacher().named_params() {
            p.set_frozen(true);
        }
        Ok(cosa)
    }

    /// The online network's parts, named as the assignment network's.
    pub fn student<'a>(&'a self, base: &'a CamNet) -> Parts<'a> {
        Parts::new(vec![("", base), ("", &self.heads)])
    }

    /// The assignment network.
    pub fn teacher(&self) -> Parts<'_> {
        Parts::new(vec![("", &self.assign), ("", &self.assign_heads)])
    }
}

impl CamMethod for CosaSettings {
    fn validate(&self) -> Result<()> {
        let bad = |what: &str| Err(invalid("cosa", what));
        if !(0.0 <= self.low && self.low <= self.high && self.high < 1.0) {
            return bad("thresholds need 0 ≤ low ≤ high < 1");
        }
        if !(self.momentum > 0.0 && self.momentum < 1.0) || self.temperature <= 0.0 {
            return bad("momentum must lie in (0, 1) and the temperature be positive");
        }
        if self.scales.is_empty() || self.scales.iter().any(|v| *v <= 0.0) {
            return bad("the assignment scales must be positive");
        }
        if self.decoder_channels == 0 || self.gmm_queue == 0 {
            return bad("decoder_channels and gmm_queue must be positive");
        }
        Ok(())
    }

    fn build(&self, net: Build) -> Result<Box<dyn Extension>> {
        Ok(Box::new(Cosa::new(
            net.builder,
            net.base,
            net.arch,
            net.classes,
            self,
        )?))
    }
}

impl Extension for Cosa {
    /// [`loss`], with the run's [`CosaState`] kept in the context.
    fn loss_async<'a>(
        &'a self,
        base: &'a CamNet,
        batch: &'a Batch,
        ctx: &'a mut TrainContext,
    ) -> LossFuture<'a> {
        Box::pin(async move {
            let s = &self.settings;
            let total = ctx.total_steps.unwrap_or(s.reference_steps);
            let state = ctx.state(|| CosaState::new(s, total))?;
            loss(base, self, batch, s, state).await
        })
    }

    /// The assignment network's CAM.
    fn cam_maps(&self, _: &CamNet, x: &Tensor, present: &[bool]) -> Result<Tensor> {
        self.assign.cam_maps(x, present)
    }
}

impl Module for Cosa {
    fn visit(&self, prefix: &str, v: &mut dyn Visitor) {
        self.heads.visit(prefix, v);
        self.assign.visit(&child(prefix, "assign"), v);
        self.assign_heads.visit(&child(prefix, "assign"), v);
        v.buffer(&child(prefix, "cosa_step"), &self.step);
    }
}

/// A CoSA run's state between steps: the step count (read from the
/// network's counter on the first step, so a resumed run continues), the
/// thresholds and the GMM queue.
pub struct CosaState {
    step: Option<u64>,
    total: u64,
    low: f32,
    high: f32,
    queue: VecDeque<Vec<f32>>,
}

impl CosaState {
    /// The state of a run of `total` optimiser steps under `s`.
    pub fn new(s: &CosaSettings, total: u64) -> CosaState {
        CosaState {
            step: None,
            total,
            low: s.low,
            high: s.high,
            queue: VecDeque::new(),
        }
    }

    /// The background thresholds in use (low, high).
    pub fn thresholds(&self) -> (f32, f32) {
        (self.low, self.high)
    }
}

/// The segmentation loss of logits `seg` [B, K+1, h, w] against the
/// assignment of normalised CAMs `cams` [B, K, h, w]: background where the
/// peak is at most `low`, its class where above `high`, ignored between;
/// half the background pixels' mean cross-entropy plus half the
/// foreground's (a side with no pixels adds nothing).
pub fn assignment_loss(seg: &Tensor, cams: &Tensor, low: f32, high: f32) -> Result<Tensor> {
    let k = cams.shape()[1];
    let (peak, _) = cams.max_axis(1, true)?;
    let fg = peak.gt_scalar(high)?;
    let bg = peak.gt_scalar(low)?.affine(-1.0, 1.0)?;
    let onehot = cams.eq(&peak)?.mul(&fg)?;
    let logp = seg.log_softmax(1)?;
    let bg_term = masked_nll(&logp.narrow(1, 0, 1)?, &bg)?;
    let fg_term = masked_nll(&logp.narrow(1, 1, k)?, &onehot)?;
    bg_term.add(&fg_term)?.mul_scalar(0.5)
}

/// −Σ log-probabilities `logp` picked by the 0/1 `onehot` (same shape),
/// over the number picked (0 when none is).
fn masked_nll(logp: &Tensor, onehot: &Tensor) -> Result<Tensor> {
    logp.mul(onehot)?
        .sum_all()?
        .neg()?
        .div(&onehot.sum_all()?.clamp(1.0, f32::MAX)?)
}

/// The assignment network's view of a batch: normalised main and auxiliary
/// CAMs [B, K, h, w] (multi-scale, flips fused by maximum, scales summed,
/// min-max normalised, absent classes zero) and its segmentation logits at
/// scale 1 [B, K+1, h, w].
fn assignments(
    assign: &CamNet,
    heads: &Heads,
    x: &Tensor,
    labels: &Tensor,
    scales: &[f32],
    size: (usize, usize),
) -> Result<(Tensor, Tensor, Tensor)> {
    let (b, k) = (x.shape()[0], labels.shape()[1]);
    let mut main: Option<Tensor> = None;
    let mut aux: Option<Tensor> = None;
    let mut seg: Option<Tensor> = None;
    for &sc in scales {
        let pair = crate::cam::views(x, sc, true)?;
        let taps = assign.backbone.taps(&pair)?;
        let f = &taps[taps.len() - 1];
        let a = &taps[taps.len().saturating_sub(2)];
        let fuse = |maps: Tensor| -> Result<Tensor> {
            let up = maps
                .relu()?
                .interpolate(size, ResizeMode::Bilinear(false))?;
            up.narrow(0, 0, b)?.maximum(&up.narrow(0, b, b)?.flip(3)?)
        };
        let m = fuse(assign.head.cams(f)?)?;
        let ax = fuse(heads.aux.cams(a)?)?;
        main = Some(match main {
            None => m,
            Some(t) => t.add(&m)?,
        });
        aux = Some(match aux {
            None => ax,
            Some(t) => t.add(&ax)?,
        });
        if sc == 1.0 || seg.is_none() {
            let logits = heads
                .seg
                .forward(&f.narrow(0, 0, b)?)?
                .interpolate(size, ResizeMode::Bilinear(false))?;
            seg = Some(logits);
        }
    }
    let keep = labels.reshape(&[b, k, 1, 1])?;
    let norm = |t: Option<Tensor>| -> Result<Tensor> {
        let t = t
            .ok_or_else(|| Error::invalid("cosa", "no AN scales"))?
            .mul(&keep)?;
        let flat = t.reshape(&[b, k, size.0 * size.1])?;
        let (hi, _) = flat.max_axis(2, true)?;
        let (lo, _) = flat.min_axis(2, true)?;
        flat.sub(&lo)?
            .div(&hi.sub(&lo)?.add_scalar(1e-5)?)?
            .reshape(&[b, k, size.0, size.1])
    };
    let seg = seg.ok_or_else(|| Error::invalid("cosa", "no AN scales"))?;
    Ok((norm(main)?, norm(aux)?, seg))
}

/// CoSA's loss on `batch`: the classification losses of the main and
/// auxiliary CAMs; after the warm-up also the assignment-driven
/// segmentation loss, the swapped CAM loss, the separation of co-occurring
/// classes and the dense-CRF regulariser. Updates the assignment network
/// (first a copy of the online one) before the step.
pub async fn loss(
    base: &CamNet,
    cosa: &Cosa,
    batch: &Batch,
    s: &CosaSettings,
    state: &mut CosaState,
) -> Result<Tensor> {
    let (x, y) = (&batch.images, &batch.labels);
    let step = match state.step {
        Some(v) => v,
        None => cosa.step.to_vec::<f32>().await?[0] as u64,
    };
    let (momentum, warmup) = s.scaled(state.total);
    let m = if step == 0 { 0.0 } else { momentum };
    let teacher = cosa.teacher();
    ema::update(&teacher, &cosa.student(base), m)?;
    // The AN normalises with its averaged running statistics.
    teacher.set_train(false);
    state.step = Some(step + 1);
    cosa.step.assign(&[(step + 1) as f32])?;

    let taps = base.backbone.taps(x)?;
    let f = &taps[taps.len() - 1];
    let a = &taps[taps.len().saturating_sub(2)];
    let cls = base
        .head
        .logits(f)?
        .bce_with_logits(y)?
        .add(&cosa.heads.aux.logits(a)?.bce_with_logits(y)?)?;
    if step < warmup {
        return Ok(cls);
    }
    let fs = f.shape();
    let (b, k, size) = (fs[0], y.shape()[1], (fs[2], fs[3]));
    let (cam_main, cam_aux, seg_t) =
        no_grad(|| assignments(&cosa.assign, &cosa.assign_heads, x, y, &s.scales, size))?;
    if s.gmm {
        let (peak, _) = cam_main.max_axis(1, false)?;
        let peaks = peak.to_vec::<f32>().await?;
        update_gmm(state, &peaks, b, s);
    }
    let (low, high) = state.thresholds();
    let seg_s = cosa.heads.seg.forward(f)?;
    let seg_loss = assignment_loss(&seg_s, &cam_main, low, high)?
        .add(&assignment_loss(&seg_s, &cam_aux, low, high)?)?
        .mul_scalar(0.5)?;
    let cams = base.head.cams(f)?;
    let cam_loss = swapped_cam_loss(&cams, &seg_t, y, s.temperature, s.raw_beta)?;
    // Separation: where the AN's auxiliary CAM assigns a class, that class's
    // CAM must beat the other present classes'.
    let (peak, _) = cam_aux.max_axis(1, true)?;
    let onehot = cam_aux.eq(&peak)?.mul(&peak.gt_scalar(high)?)?;
    let present = y.affine(1e5, -1e5)?.reshape(&[b, k, 1, 1])?;
    let separation = masked_nll(&cams.add(&present)?.log_softmax(1)?, &onehot)?;
    let crf = DenseCrfLoss::for_inputs(x, size, s.sigma_rgb, s.sigma_xy).await?;
    let reg = crf.loss(&seg_s.softmax(1)?)?;
    cls.add(&seg_loss.mul_scalar(s.seg_weight)?)?
        .add(&cam_loss.mul_scalar(s.cam_weight)?)?
        .add(&separation.mul_scalar(s.separation_weight)?)?
        .add(&reg.mul_scalar(s.crf_weight)?)
}

/// The swapped CAM loss: the AN's segmentation logits `seg` [B, K+1, h, w]
/// with the classes absent from `labels` [B, K] shut out (−1e5 added),
/// softmaxed at `temperature`, give each pixel's foreground target; the
/// loss is the multilabel soft margin between the ReLU'd CAMs `cams`
/// [B, K, h, w] (as logits) and those targets, averaged over pixels and
/// classes (`youshyee/CoSA:utils/seg_helper.py`, `seg_refine_by_label` and
/// `cam_loss`). With `raw_beta` > 0 each pixel is weighted by
/// perplexity^−β of the segmentation (ours: not in the released code).
pub fn swapped_cam_loss(
    cams: &Tensor,
    seg: &Tensor,
    labels: &Tensor,
    temperature: f32,
    raw_beta: f32,
) -> Result<Tensor> {
    let (b, k) = (labels.shape()[0], labels.shape()[1]);
    let with_bg = Tensor::concat(&[Tensor::ones(labels.gpu(), &[b, 1])?, labels.clone()], 1)?;
    let shut = with_bg.affine(1e5, -1e5)?.reshape(&[b, k + 1, 1, 1])?;
    let masked = seg.add(&shut)?;
    let target = masked.softmax_t(1, temperature)?.narrow(1, 1, k)?;
    let terms = cams.relu()?.bce_with_logits_terms(&target)?;
    if raw_beta > 0.0 {
        let p = masked.softmax(1)?;
        let entropy = p
            .mul(&p.add_scalar(1e-12)?.log()?)?
            .sum(&[1], true)?
            .neg()?;
        terms
            .mul(&entropy.mul_scalar(-raw_beta)?.exp()?)?
            .mean_all()
    } else {
        terms.mean_all()
    }
}

/// Adds a batch's per-pixel CAM peaks (`b` images) to the GMM queue and
/// moves the thresholds toward the mixture's.
fn update_gmm(state: &mut CosaState, peaks: &[f32], b: usize, s: &CosaSettings) {
    let per = peaks.len() / b.max(1);
    for img in peaks.chunks(per.max(1)) {
        state.queue.push_back(img.to_vec());
    }
    while state.queue.len() > s.gmm_queue * b.max(1) {
        state.queue.pop_front();
    }
    let values: Vec<f32> = state
        .queue
        .iter()
        .flatten()
        .copied()
        .filter(|&v| v > 0.05)
        .collect();
    if let Some((low, high)) = gmm_thresholds(&values, 100) {
        let d = s.gmm_decay;
        state.low = d * state.low + (1.0 - d) * low;
        state.high = d * state.high + (1.0 - d) * high;
    }
}

/// CoSA's dynamic thresholds from `values` (CAM peaks): a 3-component 1-D
/// Gaussian mixture fitted by EM from means at the minimum, median and
/// maximum, weights ⅓ and unit precisions (sklearn's start in the released
/// code); low is the largest value the first component claims, high the
/// smallest the third claims. None when a component claims nothing.
pub fn gmm_thresholds(values: &[f32], iterations: usize) -> Option<(f32, f32)> {
    if values.len() < 3 {
        return None;
    }
    let mut sorted: Vec<f64> = values.iter().map(|&v| v as f64).collect();
    sorted.sort_by(|a, b| a.total_cmp(b));
    let n = sorted.len();
    let mut mean = [sorted[0], sorted[n / 2], sorted[n - 1]];
    let mut var = [1.0f64; 3];
    let mut weight = [1.0 / 3.0; 3];
    let mut resp = vec![[0.0f64; 3]; n];
    let responsibilities =
        |mean: &[f64; 3], var: &[f64; 3], weight: &[f64; 3], r: &mut [[f64; 3]]| {
            for (v, ri) in sorted.iter().zip(r.iter_mut()) {
                let logp: Vec<f64> = (0..3)
                    .map(|j| {
                        weight[j].ln()
                            - 0.5 * (2.0 * std::f64::consts::PI * var[j]).ln()
                            - (v - mean[j]).powi(2) / (2.0 * var[j])
                    })
                    .collect();
                let top = logp.iter().cloned().fold(f64::MIN, f64::max);
                let z: f64 = logp.iter().map(|l| (l - top).exp()).sum();
                for j in 0..3 {
                    ri[j] = (logp[j] - top).exp() / z;
                }
            }
        };
    for _ in 0..iterations {
        responsibilities(&mean, &var, &weight, &mut resp);
        for j in 0..3 {
            let nk: f64 = resp.iter().map(|r| r[j]).sum::<f64>() + 1e-12;
            mean[j] = resp.iter().zip(&sorted).map(|(r, v)| r[j] * v).sum::<f64>() / nk;
            var[j] = resp
                .iter()
                .zip(&sorted)
                .map(|(r, v)| r[j] * (v - mean[j]).powi(2))
                .sum::<f64>()
                / nk
                + 1e-6;
            weight[j] = nk / n as f64;
        }
    }
    responsibilities(&mean, &var, &weight, &mut resp);
    let claim = |j: usize| {
        sorted.iter().zip(&resp).filter(move |(_, r)| {
            let best = (0..3).max_by(|&a, &b| r[a].total_cmp(&r[b])).unwrap_or(0);
            best == j
        })
    };
    let low = claim(0)
        .map(|(v, _)| *v)
        .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))))?;
    let high = claim(2)
        .map(|(v, _)| *v)
        .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.min(v))))?;
    Some((low as f32, high as f32))
}
