//! Training a segmenter from image tags through seeds: SEC (seed, expand
//! and constrain; Kolesnikov & Lampert, ECCV 2016) and DSRG (deep seeded
//! region growing; Huang et al., CVPR 2018). Both start from sparse,
//! confident CAM cues (the seeds; ours are the affinity labels of
//! `aff-labels`: the CRF's confident foreground and background) and train
//! on three ideas:
//!
//! - **seed**: cross-entropy on the seed pixels only. SEC divides by the
//!   number of seeds; DSRG's balanced form averages background seeds and
//!   object seeds separately, and first grows the seeds ([`Growth`]) over
//!   the network's CRF-refined prediction.
//! - **expand** (SEC only): global weighted rank pooling. Each class map's
//!   pixels, sorted by probability, are averaged with weights d^j
//!   (d 0.996 for objects, 0.999 for background), and the result is
//!   trained like an image classifier's output: high for present classes,
//!   low for absent ones. Unlike max pooling, it asks a present class to
//!   cover a share of the image; unlike average pooling, not all of it.
//! - **constrain**: KL(Q‖P) between the dense CRF of the prediction P and P
//!   itself, pulling P to image edges. DSRG clips Q/P to [0.05, 20].
//!
//! The papers' networks output 41×41 maps; the decays are rescaled so the
//! same share of an image carries the pooling weight at any resolution:
//! d^(1681/n) for n pixels. The CRF runs as the released `CRFLayer`s run
//! it: over all labels, SEC's from the negated logits and DSRG's from the
//! negated probabilities (−p, not −log p), its marginals floored at 1e-4
//! and renormalised; the released scale factor 12 on 41×41 maps is
//! expressed at the loss's resolution ([`CrfParams::sec`]). Restricting it
//! to the present labels with a −log p unary is an option
//! ([`CrfUnary::PresentLogProb`]). The logits, probabilities, tags and
//! images are read back once per step and the CRF marginals once more.

use serde::{Deserialize, Serialize};
use weakseg_kernels::{Error, Result};

use crate::Tensor;
use crate::io::image::denormalize_imagenet;
use crate::io::labels::IGNORE;
use crate::refine::crf::{CrfParams, DenseCrf, unary_from_probs};
use crate::refine::region_growing::Growth;

/// Which of the two methods.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SeededMethod {
    /// Seed (÷ seeds), expand (GWRP), constrain (KL to the CRF).
    Sec,
    /// Grown seeds (balanced), constrain with the ratio clipped.
    Dsrg,
}

impl SeededMethod {
    /// The name used in settings and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            SeededMethod::Sec => "sec",
            SeededMethod::Dsrg => "dsrg",
        }
    }

    /// The method called `name`, or an error listing them.
    pub fn parse(name: &str) -> Result<SeededMethod> {
        [SeededMethod::Sec, SeededMethod::Dsrg]
            .into_iter()
            .find(|m| m.name() == name)
            .ok_or_else(|| {
                Error::invalid(
                    "seeded",
                    format!("unknown seeded method `{name}`; one of sec, dsrg"),
                )
            })
    }
}

/// The unary the constrain loss's CRF is given, and over which labels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CrfUnary {
    /// SEC's (`pylayers.py` `CRFLayer`, fed `fc8-SEC`): the negated
    /// logits, over all labels.
    Logits,
    /// DSRG's (`pylayers.py` `CRFLayer`, fed the softmax): the negated
    /// probabilities floored at 1e-4, over all labels.
    NegProb,
    /// −log p over each image's present labels only (weakseg's earlier
    /// form, kept as an option).
    PresentLogProb,
}

/// SEC's or DSRG's loss and its settings.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Seeded {
    /// Which method.
    pub method: SeededMethod,
    /// GWRP decay of object classes at 41×41 (SEC: 0.996).
    pub fg_decay: f32,
    /// GWRP decay of background at 41×41 (SEC: 0.999).
    pub bg_decay: f32,
    /// DSRG's growing thresholds θ_fg 0.85, θ_bg 0.99.
    pub theta_fg: f32,
    /// See [`Seeded::theta_fg`].
    pub theta_bg: f32,
    /// The CRF of the constrain loss (and of DSRG's growing).
    pub crf: CrfParams,
    /// Its unary and labels (the method's released form by default).
    pub crf_unary: CrfUnary,
}

impl Default for Seeded {
    fn default() -> Self {
        Seeded::new(SeededMethod::Sec)
    }
}

/// The pixel count of the papers' 41×41 output maps, to which the GWRP
/// decays refer.
const REFERENCE_PIXELS: f32 = 1681.0;

/// DSRG's clip of the constrain loss's ratio Q/P.
const RATIO_CLIP: (f32, f32) = (0.05, 20.0);

impl Seeded {
    /// `method` with the released defaults: the CRF's settings at scale
    /// factor 12 for a segmenter of output stride 8, its unary the
    /// method's.
    pub fn new(method: SeededMethod) -> Seeded {
        let g = Growth::default();
        Seeded {
            method,
            fg_decay: 0.996,
            bg_decay: 0.999,
            theta_fg: g.theta_fg,
            theta_bg: g.theta_bg,
            crf: CrfParams::sec(8),
            crf_unary: match method {
                SeededMethod::Sec => CrfUnary::Logits,
                SeededMethod::Dsrg => CrfUnary::NegProb,
            },
        }
    }

    /// The loss of segmentation `logits` [B, L, H, W] of the network
    /// inputs `images` [B, 3, H, W] (ImageNet-normalised), under the seed
    /// maps `seeds` (B·H·W labels, 255 unlabelled) and the image tags
    /// `labels` [B, L − 1]. Seed + constrain, and + expand for SEC, each
    /// averaged over the batch.
    pub async fn loss(
        &self,
        logits: &Tensor,
        images: &Tensor,
        seeds: &[u32],
        labels: &Tensor,
    ) -> Result<Tensor> {
        let s = logits.shape();
        if s.len() != 4
            || s[1] < 2
            || images.shape() != [s[0], 3, s[2], s[3]]
            || labels.shape() != [s[0], s[1] - 1]
            || seeds.len() != s[0] * s[2] * s[3]
        {
            return Err(Error::invalid(
                "seeded",
                format!(
                    "logits {s:?}, images {:?}, labels {:?} and {} seeds; want [B, L, H, W], [B, 3, H, W], [B, L − 1] and B·H·W",
                    images.shape(),
                    labels.shape(),
                    seeds.len()
                ),
            ));
        }
        self.crf.validate()?;
        let (b, l, h, w) = (s[0], s[1], s[2], s[3]);
        let n = h * w;
        let gpu = logits.gpu();
        let logp = smoothed_softmax(logits)?.log()?;
        // Probabilities, tags, images and (for SEC's CRF) the logits in one
        // readback.
        let flat = |t: &Tensor| t.reshape(&[t.numel()]);
        let mut parts = vec![flat(&logp.detach().exp()?)?, flat(labels)?, flat(images)?];
        if self.crf_unary == CrfUnary::Logits {
            parts.push(flat(&logits.detach())?);
        }
        let host: Vec<f32> = Tensor::concat(&parts, 0)?.to_vec().await?;
        let (p, rest) = host.split_at(b * l * n);
        let (y, rest) = rest.split_at(b * (l - 1));
        let (x, z) = rest.split_at(b * 3 * n);
        let present = present_labels(y, b, l);
        // The CRF of each image over its labels, read back at once.
        let all = self.crf_unary != CrfUnary::PresentLogProb;
        let mut marginals = Vec::with_capacity(b);
        for i in 0..b {
            let rgb = denormalize_imagenet(&x[i * 3 * n..(i + 1) * 3 * n], w, h)?;
            let keep: Vec<usize> = (0..l).filter(|&c| all || present[i][c]).collect();
            let plane = |v: &[f32], c: usize| v[(i * l + c) * n..(i * l + c + 1) * n].to_vec();
            let unary: Vec<f32> = match self.crf_unary {
                CrfUnary::Logits => keep.iter().flat_map(|&c| plane(z, c)).map(|v| -v).collect(),
                CrfUnary::NegProb => keep
                    .iter()
                    .flat_map(|&c| plane(p, c))
                    .map(|v| -v.max(MIN_PROB))
                    .collect(),
                CrfUnary::PresentLogProb => {
                    let probs: Vec<f32> = keep.iter().flat_map(|&c| plane(p, c)).collect();
                    unary_from_probs(&probs, keep.len(), None, 1e-5)
                }
            };
            let crf = DenseCrf::new(gpu, &rgb, &self.crf).await?;
            marginals.push(crf.infer(&Tensor::from_slice(gpu, &unary, &[keep.len(), h, w])?)?);
        }
        let mut q: Vec<f32> = Tensor::concat(&marginals, 0)?.to_vec().await?;
        if all {
            // The released layers floor the marginals at min_prob and
            // renormalise them.
            floor_and_renormalise(&mut q, l, n);
        }
        // One target per pixel and label, weighting log P: the seed term
        // plus the constrain term; and the constant that makes the sum the
        // KL divergence.
        let mut target = vec![0f32; b * l * n];
        let mut constant = 0f64;
        let mut offset = 0;
        let growth = Growth {
            theta_fg: self.theta_fg,
            theta_bg: self.theta_bg,
        };
        for i in 0..b {
            let mut qi = vec![0f32; l * n];
            for c in (0..l).filter(|&c| all || present[i][c]) {
                qi[c * n..(c + 1) * n].copy_from_slice(&q[offset..offset + n]);
                offset += n;
            }
            let pi = &p[i * l * n..(i + 1) * l * n];
            let ti = &mut target[i * l * n..(i + 1) * l * n];
            let scale = 1.0 / (b * n) as f32;
            for c in (0..l).filter(|&c| all || present[i][c]) {
                for u in 0..n {
                    let (qv, pv) = (qi[c * n + u], pi[c * n + u].max(1e-12));
                    if qv <= 0.0 {
                        continue;
                    }
                    let ratio = qv / pv;
                    let clipped = self.method == SeededMethod::Dsrg
                        && !(RATIO_CLIP.0..=RATIO_CLIP.1).contains(&ratio);
                    let term = if clipped {
                        qv * ratio.clamp(RATIO_CLIP.0, RATIO_CLIP.1).ln()
                    } else {
                        ti[c * n + u] += qv * scale;
                        qv * qv.ln()
                    };
                    constant += (term * scale) as f64;
                }
            }
            let si = &seeds[i * n..(i + 1) * n];
            let grown;
            let si = match self.method {
                SeededMethod::Sec => si,
                SeededMethod::Dsrg => {
                    grown = growth.grow(&qi, &present[i], si, (w, h))?;
                    &grown[..]
                }
            };
            self.seed_targets(si, l, b, ti);
        }
        let target = Tensor::from_slice(gpu, &target, s)?;
        let mut loss = logp
            .mul(&target)?
            .sum_all()?
            .neg()?
            .add_scalar(constant as f32)?;
        if self.method == SeededMethod::Sec {
            loss = loss.add(&self.expand(&logp.exp()?, p, &present, (b, l, n))?)?;
        }
        Ok(loss)
    }

    /// Adds the seed term's weights of one image's seeds `si` to its
    /// targets `ti` [L, n]: SEC's 1/|S| on every seed, or DSRG's balanced
    /// 1/|S_bg| on background and 1/|S_fg| on object seeds; ÷ batch size.
    fn seed_targets(&self, si: &[u32], l: usize, b: usize, ti: &mut [f32]) {
        let n = si.len();
        let seeded: Vec<usize> = (0..n)
            .filter(|&u| si[u] != IGNORE as u32 && (si[u] as usize) < l)
            .collect();
        let bg = seeded.iter().filter(|&&u| si[u] == 0).count();
        let fg = seeded.len() - bg;
        for u in seeded {
            let c = si[u] as usize;
            let count = match (self.method, c) {
                (SeededMethod::Sec, _) => bg + fg,
                (SeededMethod::Dsrg, 0) => bg,
                (SeededMethod::Dsrg, _) => fg,
            };
            ti[c * n + u] += 1.0 / (count * b) as f32;
        }
    }

    /// SEC's expand loss alone, on probabilities `probs` [B, L, H, W]
    /// under the image tags `labels` [B, L − 1] (part of [`Seeded::loss`]
    /// for SEC; here for a caller that wants the pooling by itself).
    pub async fn expand_loss(&self, probs: &Tensor, labels: &Tensor) -> Result<Tensor> {
        let s = probs.shape();
        if s.len() != 4 || s[1] < 2 || labels.shape() != [s[0], s[1] - 1] {
            return Err(Error::invalid(
                "gwrp",
                format!(
                    "probabilities {s:?} with labels {:?}; want [B, L, H, W] and [B, L − 1]",
                    labels.shape()
                ),
            ));
        }
        let (b, l, n) = (s[0], s[1], s[2] * s[3]);
        let host: Vec<f32> = probs.detach().to_vec().await?;
        let y: Vec<f32> = labels.to_vec().await?;
        let present = present_labels(&y, b, l);
        self.expand(probs, &host, &present, (b, l, n))
    }

    /// SEC's expand loss (`kolesman/SEC:pylayers/pylayers/pylayers.py:145–175`):
    /// GWRP of the background and each present class map `probs`
    /// [B, L, H, W] (its host copy `host`), −log of it, the present classes
    /// averaged; −log(1 − the global maximum) of each absent class,
    /// averaged; each summed over the groups and averaged over the batch.
    fn expand(
        &self,
        probs: &Tensor,
        host: &[f32],
        present: &[Vec<bool>],
        (b, l, n): (usize, usize, usize),
    ) -> Result<Tensor> {
        let gpu = probs.gpu();
        let mut weights = vec![0f32; b * l * n];
        let mut pos = vec![0f32; b * l];
        let mut neg = vec![0f32; b * l];
        let mut order: Vec<usize> = Vec::with_capacity(n);
        for i in 0..b {
            let fg_present = present[i][1..].iter().filter(|&&v| v).count().max(1);
            let fg_absent = present[i][1..].iter().filter(|&&v| !v).count().max(1);
            for c in 0..l {
                let row = (i * l + c) * n;
                let decay = if c == 0 { self.bg_decay } else { self.fg_decay };
                let d = decay.powf(REFERENCE_PIXELS / n as f32);
                order.clear();
                order.extend(0..n);
                order.sort_by(|&a, &z| host[row + z].total_cmp(&host[row + a]));
                if c > 0 && !present[i][c] {
                    // An absent class is pooled by its maximum (line 153).
                    weights[row + order[0]] = 1.0;
                } else {
                    let total: f32 = (0..n).map(|j| d.powi(j as i32)).sum();
                    let mut wj = 1.0 / total;
                    for &u in &order {
                        weights[row + u] = wj;
                        wj *= d;
                    }
                }
                match (c, present[i][c]) {
                    (0, _) => pos[i * l] = 1.0 / b as f32,
                    (_, true) => pos[i * l + c] = 1.0 / (fg_present * b) as f32,
                    (_, false) => neg[i * l + c] = 1.0 / (fg_absent * b) as f32,
                }
            }
        }
        let pooled = probs
            .mul(&Tensor::from_slice(gpu, &weights, probs.shape())?)?
            .sum(&[2, 3], false)?;
        // The smoothed softmax keeps every probability in (0, 1); the floor
        // only guards a caller's unsmoothed exact 0 or 1.
        let on = pooled.clamp(1e-30, f32::MAX)?.log()?;
        let off = pooled.affine(-1.0, 1.0)?.clamp(1e-30, f32::MAX)?.log()?;
        on.mul(&Tensor::from_slice(gpu, &pos, &[b, l])?)?
            .add(&off.mul(&Tensor::from_slice(gpu, &neg, &[b, l])?)?)?
            .sum_all()?
            .neg()
    }
}

/// Floors marginals `q` (images of `l` planes of `n`) at the released
/// layers' min_prob and renormalises each pixel (`CRFLayer.forward`).
fn floor_and_renormalise(q: &mut [f32], l: usize, n: usize) {
    for img in q.chunks_mut(l * n) {
        for u in 0..n {
            let mut total = 0.0;
            for c in 0..l {
                let v = &mut img[c * n + u];
                *v = v.max(MIN_PROB);
                total += *v;
            }
            for c in 0..l {
                img[c * n + u] /= total;
            }
        }
    }
}

/// SEC's and DSRG's softmax (`pylayers.py:26–29` in both): each
/// probability plus 1e-4, renormalised, so every log and ratio the losses
/// take stays finite.
pub fn smoothed_softmax(logits: &Tensor) -> Result<Tensor> {
    let l = logits.shape()[1] as f32;
    logits
        .softmax(1)?
        .add_scalar(MIN_PROB)?
        .mul_scalar(1.0 / (1.0 + l * MIN_PROB))
}

/// The released layers' `min_prob`.
const MIN_PROB: f32 = 1e-4;

/// Per image, whether each of the L labels may appear: background always,
/// a class when its tag in `y` [B, L − 1] is set.
fn present_labels(y: &[f32], b: usize, l: usize) -> Vec<Vec<bool>> {
    (0..b)
        .map(|i| {
            (0..l)
                .map(|c| c == 0 || y[i * (l - 1) + c - 1] > 0.5)
                .collect()
        })
        .collect()
}
