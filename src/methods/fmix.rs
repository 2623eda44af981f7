//! FMix-CAM: images mixed through FMix's masks, the loss weighing both
//! label sets by λ. The mask sampler (Harris et al., `ecs-vlc/FMix:fmix.py`): a random
//! field with a 1/f^δ power spectrum, binarised so that a fraction λ of
//! the pixels is 1. Low frequencies dominate, so the mask is a few large
//! blobs of arbitrary shape rather than CutMix's rectangle.
//!
//! Runs on the host: one mask per batch of at most a few hundred pixels a
//! side, built by a separable inverse DFT in O(HW(H + W)), costs well under
//! a millisecond and saves a GPU round trip before the mix.

use rand::Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};
use weakseg_kernels::Result;

use crate::data::Batch;
use crate::models::CamNet;
use crate::tensor::Tensor;

use super::mixing::{beta, mixed_bce, permutation};
use super::{BatchLoss, Build, CamMethod, Extension, LossOnly, TrainContext, invalid};

/// FMix's settings (`ecs-vlc/FMix`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FmixSettings {
    /// λ ~ Beta(α, α).
    pub alpha: f32,
    /// δ: the spectrum's decay power.
    pub decay: f32,
}

impl Default for FmixSettings {
    /// α 1, δ 3.
    fn default() -> Self {
        FmixSettings {
            alpha: 1.0,
            decay: 3.0,
        }
    }
}

impl CamMethod for FmixSettings {
    fn validate(&self) -> Result<()> {
        if self.alpha <= 0.0 || self.decay <= 0.0 {
            return Err(invalid("fmix", "alpha and decay must be positive"));
        }
        Ok(())
    }

    fn build(&self, _: Build) -> Result<Box<dyn Extension>> {
        LossOnly::boxed(self)
    }
}

impl BatchLoss for FmixSettings {
    fn batch_loss(&self, base: &CamNet, batch: &Batch, ctx: &mut TrainContext) -> Result<Tensor> {
        fmix_loss(base, batch, self, &mut ctx.rng)
    }
}

/// The signed frequency of DFT bin `i` of `n` (numpy's `fftfreq`).
fn freq(i: usize, n: usize) -> f64 {
    let i = if i <= n / 2 {
        i as f64
    } else {
        i as f64 - n as f64
    };
    i / n as f64
}

/// The real part of a random complex field of `h`×`w` whose spectrum is
/// complex Gaussian noise scaled by 1 / max(f, 1/max(h, w))^`decay`, the
/// mean (zero-frequency) term removed. Row-major.
pub fn low_frequency_field(h: usize, w: usize, decay: f64, rng: &mut impl Rng) -> Vec<f64> {
    let floor = 1.0 / h.max(w) as f64;
    let mut re = vec![0f64; h * w];
    let mut im = vec![0f64; h * w];
    for u in 0..h {
        for v in 0..w {
            let f = (freq(u, h).powi(2) + freq(v, w).powi(2)).sqrt();
            let scale = if u == 0 && v == 0 {
                0.0
            } else {
                1.0 / f.max(floor).powf(decay)
            };
            re[u * w + v] = scale * Distribution::<f64>::sample(&StandardNormal, rng);
            im[u * w + v] = scale * Distribution::<f64>::sample(&StandardNormal, rng);
        }
    }
    // Inverse DFT along columns (v → x), then along rows (u → y).
    let tau = std::f64::consts::TAU;
    let mut re1 = vec![0f64; h * w];
    let mut im1 = vec![0f64; h * w];
    for u in 0..h {
        for x in 0..w {
            let (mut a, mut b) = (0.0, 0.0);
            for v in 0..w {
                let (s, c) = (tau * (v * x) as f64 / w as f64).sin_cos();
                let (r, i) = (re[u * w + v], im[u * w + v]);
                a += r * c - i * s;
                b += r * s + i * c;
            }
            re1[u * w + x] = a;
            im1[u * w + x] = b;
        }
    }
    let mut out = vec![0f64; h * w];
    for y in 0..h {
        for x in 0..w {
            let mut a = 0.0;
            for u in 0..h {
                let (s, c) = (tau * (u * y) as f64 / h as f64).sin_cos();
                a += re1[u * w + x] * c - im1[u * w + x] * s;
            }
            out[y * w + x] = a;
        }
    }
    out
}

/// A binary FMix mask of `h`×`w` (row-major, 1.0 or 0.0) with a share
/// `lambda` of ones: the top ⌈λHW⌉ or ⌊λHW⌋ pixels (chosen at random, as
/// FMix does) of a [`low_frequency_field`] with power `decay`.
pub fn mask(h: usize, w: usize, lambda: f64, decay: f64, rng: &mut impl Rng) -> Vec<f32> {
    let field = low_frequency_field(h, w, decay, rng);
    let exact = lambda.clamp(0.0, 1.0) * (h * w) as f64;
    let ones = if rng.random::<bool>() {
        exact.ceil()
    } else {
        exact.floor()
    } as usize;
    let mut order: Vec<usize> = (0..h * w).collect();
    order.sort_by(|&a, &b| field[b].total_cmp(&field[a]));
    let mut m = vec![0f32; h * w];
    for &i in &order[..ones.min(h * w)] {
        m[i] = 1.0;
    }
    m
}

/// FMix-CAM's loss on a batch: one mask per batch pastes the masked part of
/// each image onto a permuted partner; the loss weighs both label sets by
/// the sampled λ, as `ecs-vlc/FMix:fmix.py` (`sample_and_apply`) returns
/// it (the mask's share is ⌈λ·HW⌉ or ⌊λ·HW⌋ over HW).
pub fn fmix_loss(
    net: &CamNet,
    batch: &Batch,
    s: &FmixSettings,
    rng: &mut impl Rng,
) -> Result<Tensor> {
    let sh = batch.images.shape();
    let (n, h, w) = (sh[0], sh[2], sh[3]);
    let lambda = beta(s.alpha, rng)?;
    let m = mask(h, w, lambda as f64, s.decay as f64, rng);
    let gpu = batch.images.gpu();
    let m = Tensor::from_slice(gpu, &m, &[1, 1, h, w])?;
    let perm = permutation(gpu, n, rng)?;
    let x = batch.images.mul(&m)?.add(
        &batch
            .images
            .index_select(0, &perm)?
            .mul(&m.affine(-1.0, 1.0)?)?,
    )?;
    mixed_bce(&net.logits(&x)?, &batch.labels, &perm, lambda)
}
