//! Gradient saliency as an alternative to the CAM for any trained
//! classifier: Grad-CAM (Selvaraju et al.: feature maps at a layer weighted
//! by the spatial mean of the class score's gradient there, ReLU) and
//! SmoothGrad (Smilkov et al.: the input gradient averaged over noisy
//! copies of the image). Both run backward passes at inference, inside
//! [`enable_grad`], and leave no gradient on the network's parameters.

use rand::SeedableRng;
use rand::rngs::SmallRng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};
use weakseg_kernels::{Error, Result};

use crate::cam::CamSource;
use crate::models::CamNet;
use crate::nn::ModuleExt;
use crate::tensor::{Tensor, enable_grad, no_grad};

/// Which map the CAM stage reads from a classifier.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Saliency {
    /// The method's own class activation maps.
    #[default]
    Cam,
    /// Grad-CAM at a backbone edit point (`layer`; the final feature map
    /// when absent, where it equals the CAM of a GAP + linear classifier).
    GradCam {
        /// Edit point: 1..n are the outputs of backbone stages.
        #[serde(default)]
        layer: Option<usize>,
    },
    /// SmoothGrad of the input.
    SmoothGrad {
        /// Noisy copies averaged.
        #[serde(default = "default_samples")]
        samples: usize,
        /// Noise σ as a share of the image's value range (the paper: 0.15).
        #[serde(default = "default_noise")]
        noise: f32,
        /// Seed of the noise.
        #[serde(default)]
        seed: u64,
    },
}

fn default_samples() -> usize {
    16
}

fn default_noise() -> f32 {
    0.15
}

impl Saliency {
    /// Whether this is the CAM (the default, left out of fingerprints).
    pub fn is_cam(&self) -> bool {
        matches!(self, Saliency::Cam)
    }

    /// `cam`, `grad-cam` or `smooth-grad` with default settings.
    pub fn from_name(name: &str) -> Result<Saliency> {
        match name {
            "cam" => Ok(Saliency::Cam),
            "grad-cam" => Ok(Saliency::GradCam { layer: None }),
            "smooth-grad" => Ok(Saliency::SmoothGrad {
                samples: default_samples(),
                noise: default_noise(),
                seed: 0,
            }),
            other => Err(Error::invalid(
                "saliency",
                format!("unknown saliency {other:?} (known: cam, grad-cam, smooth-grad)"),
            )),
        }
    }
}

/// A classifier read through a saliency method: what the CAM stage runs
/// when its settings ask for Grad-CAM or SmoothGrad.
pub struct SaliencySource<'a> {
    /// The classifier (a method's first classifier).
    pub net: &'a CamNet,
    /// The method, neither of which is [`Saliency::Cam`] in practice.
    pub saliency: &'a Saliency,
}

impl CamSource for SaliencySource<'_> {
    fn cam_maps(&self, x: &Tensor, present: &[bool]) -> Result<Tensor> {
        match self.saliency {
            Saliency::Cam => self.net.cam_maps(x, present),
            Saliency::GradCam { layer } => grad_cam(self.net, x, present, *layer),
            Saliency::SmoothGrad {
                samples,
                noise,
                seed,
            } => smooth_grad(self.net, x, present, *samples, *noise, *seed),
        }
    }
}

/// A [B, K] seed selecting class `k` of every image.
fn one_hot(gpu: &crate::Gpu, b: usize, classes: usize, k: usize) -> Result<Tensor> {
    let v: Vec<f32> = (0..b * classes)
        .map(|i| (i % classes == k) as u32 as f32)
        .collect();
    Tensor::from_slice(gpu, &v, &[b, classes])
}

/// Grad-CAM maps [B, K, h, w] of images `x` at edit point `layer` of the
/// backbone (the final feature map when `None`): for each present class,
/// ReLU(Σ_c ᾱ_c A_c) with ᾱ the spatial mean of ∂score/∂A. One backward
/// pass per present class; absent classes are zero.
pub fn grad_cam(
    net: &CamNet,
    x: &Tensor,
    present: &[bool],
    layer: Option<usize>,
) -> Result<Tensor> {
    let b = x.shape()[0];
    let k = present.len();
    let mut maps = Vec::with_capacity(k);
    let mut shape = Vec::new();
    for (c, _) in present.iter().enumerate().filter(|(_, p)| **p) {
        let (leaf, logits) = enable_grad(|| -> Result<(Tensor, Tensor)> {
            let mut leaf: Option<Tensor> = None;
            let f = match layer {
                None => {
                    let l = net
                        .backbone
                        .features(&x.detach())?
                        .detach()
                        .requires_grad_();
                    leaf = Some(l.clone());
                    l
                }
                Some(at) => net.backbone.features_with(&x.detach(), at, &mut |t| {
                    let l = t.detach().requires_grad_();
                    leaf = Some(l.clone());
                    Ok(l)
                })?,
            };
            let leaf = leaf.ok_or_else(|| Error::invalid("grad-cam", "no layer captured"))?;
            Ok((leaf, net.head.logits(&f)?))
        })?;
        logits.backward_with(one_hot(x.gpu(), b, k, c)?)?;
        let grad = leaf
            .grad()
            .ok_or_else(|| Error::invalid("grad-cam", "no gradient reached the layer"))?;
        let m = no_grad(|| {
            let s = leaf.shape();
            let (ch, h, w) = (s[1], s[2], s[3]);
            let weights = grad.mean(&[2, 3], false)?.reshape(&[b, 1, ch])?;
            weights
                .matmul(&leaf.detach().reshape(&[b, ch, h * w])?)?
                .relu()?
                .reshape(&[b, 1, h, w])
        })?;
        shape = m.shape().to_vec();
        maps.push((c, m));
    }
    finish(net, x, k, maps, shape)
}

/// SmoothGrad maps [B, K, H, W] of images `x`: for each present class, the
/// input gradient of its score averaged over `samples` copies with Gaussian
/// noise of σ = `noise` × (max − min of x), then the largest absolute value
/// over the colour channels. Absent classes are zero.
pub fn smooth_grad(
    net: &CamNet,
    x: &Tensor,
    present: &[bool],
    samples: usize,
    noise: f32,
    seed: u64,
) -> Result<Tensor> {
    if samples == 0 {
        return Err(Error::invalid("smooth-grad", "needs at least one sample"));
    }
    let s = x.shape().to_vec();
    let (b, k) = (s[0], present.len());
    let spread = no_grad(|| {
        let flat = x.reshape(&[x.numel()])?;
        flat.max_axis(0, false)?
            .0
            .sub(&flat.min_axis(0, false)?.0)?
            .mul_scalar(noise)
    })?;
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut maps = Vec::with_capacity(k);
    let mut shape = Vec::new();
    for (c, _) in present.iter().enumerate().filter(|(_, p)| **p) {
        let mut total: Option<Tensor> = None;
        for _ in 0..samples {
            let z: Vec<f32> = (0..x.numel())
                .map(|_| StandardNormal.sample(&mut rng))
                .collect();
            let noisy = no_grad(|| x.add(&Tensor::from_slice(x.gpu(), &z, &s)?.mul(&spread)?))?
                .requires_grad_();
            let logits = enable_grad(|| net.logits(&noisy))?;
            logits.backward_with(one_hot(x.gpu(), b, k, c)?)?;
            let g = noisy
                .grad()
                .ok_or_else(|| Error::invalid("smooth-grad", "no gradient reached the input"))?;
            total = Some(match total {
                None => g,
                Some(t) => no_grad(|| t.add(&g))?,
            });
        }
        let m = no_grad(|| -> Result<Tensor> {
            let t = total.ok_or_else(|| Error::invalid("smooth-grad", "no samples"))?;
            Ok(t.mul_scalar(1.0 / samples as f32)?
                .abs()?
                .max_axis(1, true)?
                .0)
        })?;
        shape = m.shape().to_vec();
        maps.push((c, m));
    }
    finish(net, x, k, maps, shape)
}

/// Drops the parameter gradients the saliency passes left on `net`, then
/// places each present class's map at its index, zeros elsewhere.
fn finish(
    net: &CamNet,
    x: &Tensor,
    k: usize,
    maps: Vec<(usize, Tensor)>,
    shape: Vec<usize>,
) -> Result<Tensor> {
    for (_, p) in net.named_params() {
        p.leaf().zero_grad();
    }
    if maps.is_empty() {
        let s = x.shape();
        return Tensor::zeros(x.gpu(), &[s[0], k, s[2], s[3]]);
    }
    let mut slots: Vec<Option<Tensor>> = vec![None; k];
    for (c, m) in maps {
        slots[c] = Some(m);
    }
    no_grad(|| {
        let parts = slots
            .into_iter()
            .map(|m| m.map_or_else(|| Tensor::zeros(x.gpu(), &shape), Ok))
            .collect::<Result<Vec<_>>>()?;
        Tensor::concat(&parts, 1)
    })
}
