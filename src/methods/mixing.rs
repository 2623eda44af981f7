//! What the mixing family shares: train on blends of two images so that no
//! single discriminative part explains a label. Mixup-CAM (`mixup`),
//! FMix-CAM (`fmix`) and Manifold-Mixup CAM (`manifold`) draw λ, a partner
//! permutation and blend with these.

use rand::Rng;
use rand::seq::SliceRandom;
use rand_distr::{Beta, Distribution};
use weakseg_kernels::{Error, Result};

use crate::tensor::Tensor;

/// A draw of λ ~ Beta(α, α).
pub fn beta(alpha: f32, rng: &mut impl Rng) -> Result<f32> {
    let d = Beta::new(alpha, alpha)
        .map_err(|e| Error::invalid("mix", format!("Beta({alpha}, {alpha}): {e}")))?;
    Ok(d.sample(rng))
}

/// A random permutation of the batch as a u32 index tensor.
pub fn permutation(gpu: &crate::Gpu, n: usize, rng: &mut impl Rng) -> Result<Tensor> {
    let mut p: Vec<u32> = (0..n as u32).collect();
    p.shuffle(rng);
    Tensor::from_slice(gpu, &p, &[n])
}

/// λ·a + (1 − λ)·a[perm] along the batch axis.
pub fn mix(a: &Tensor, perm: &Tensor, lambda: f32) -> Result<Tensor> {
    a.mul_scalar(lambda)?
        .add(&a.index_select(0, perm)?.mul_scalar(1.0 - lambda)?)
}

/// λ·BCE(logits, y) + (1 − λ)·BCE(logits, y[perm]): the loss of a blend.
pub fn mixed_bce(logits: &Tensor, labels: &Tensor, perm: &Tensor, lambda: f32) -> Result<Tensor> {
    logits.bce_with_logits(labels)?.mul_scalar(lambda)?.add(
        &logits
            .bce_with_logits(&labels.index_select(0, perm)?)?
            .mul_scalar(1.0 - lambda)?,
    )
}
