//! Attention maps and the masks built from them: what the erasing methods
//! read from a classifier's CAMs to decide where to erase. Masks are
//! constants of the step (no autograd), as in ACoL, SeeNet and AE.

use weakseg_kernels::{Error, Result};

use crate::cam;
use crate::tensor::{Tensor, no_grad};

/// Image-level labels [B, K] as [B, K, 1, 1], to weight per-class maps.
pub fn per_map(labels: &Tensor) -> Result<Tensor> {
    let s = labels.shape();
    if s.len() != 2 {
        return Err(Error::invalid(
            "attention",
            format!("labels {s:?}; want [B, K]"),
        ));
    }
    labels.reshape(&[s[0], s[1], 1, 1])
}

/// `present` flags repeated for a batch of `batch` images: labels [B, K].
pub fn present_labels(gpu: &crate::Gpu, present: &[bool], batch: usize) -> Result<Tensor> {
    let row: Vec<f32> = present.iter().map(|&p| p as u32 as f32).collect();
    let all: Vec<f32> = (0..batch).flat_map(|_| row.iter().copied()).collect();
    Tensor::from_slice(gpu, &all, &[batch, present.len()])
}

/// The attention [B, 1, h, w] of raw CAMs [B, K, h, w] for images with
/// labels [B, K]: the maximum over present classes of each class's ReLU'd
/// map divided by its spatial maximum (so 1 at each class's peak). No
/// autograd.
pub fn attention(cams: &Tensor, labels: &Tensor) -> Result<Tensor> {
    no_grad(|| {
        let n = cam::normalise(&cams.detach().relu()?)?;
        Ok(n.mul(&per_map(labels)?)?.max_axis(1, true)?.0)
    })
}

/// The per-class normalised maps [B, K, h, w] of raw CAMs: ReLU, then each
/// map divided by its spatial maximum. No autograd.
pub fn normalised(cams: &Tensor) -> Result<Tensor> {
    no_grad(|| cam::normalise(&cams.detach().relu()?))
}

/// Each class map of raw CAMs [B, K, h, w] min-max normalised,
/// (x − min)/(max − min + `eps`), after a ReLU when `relu` is set: ACoL's
/// `normalize_atten_maps` (`xiaomengyc/ACoL:models/vgg/vgg_v1.py`, no ReLU,
/// ε 0; ours keeps ε 1e-8 so a flat map gives 0, not NaN) and SeeNet's
/// C-ReLU (`houqb/SeeNet:crelu_layer.py`, ReLU, ε 1e-8). No autograd.
pub fn min_max(cams: &Tensor, relu: bool, eps: f32) -> Result<Tensor> {
    no_grad(|| {
        let s = cams.shape().to_vec();
        if s.len() != 4 {
            return Err(Error::invalid(
                "attention",
                format!("maps {s:?}; want [B, K, h, w]"),
            ));
        }
        let x = if relu {
            cams.detach().relu()?
        } else {
            cams.detach()
        };
        let flat = x.reshape(&[s[0], s[1], s[2] * s[3]])?;
        let lo = flat.min_axis(2, true)?.0;
        let hi = flat.max_axis(2, true)?.0;
        flat.sub(&lo)?
            .div(&hi.sub(&lo)?.add_scalar(eps)?)?
            .reshape(&s)
    })
}

/// The attention [B, 1, h, w] of [`min_max`]-normalised maps: the maximum
/// over the classes present in `labels` [B, K] (absent classes count as 0,
/// as SeeNet zeroes them; ACoL reads its single ground-truth class). No
/// autograd.
pub fn min_max_attention(cams: &Tensor, labels: &Tensor, relu: bool) -> Result<Tensor> {
    no_grad(|| {
        Ok(min_max(cams, relu, 1e-8)?
            .mul(&per_map(labels)?)?
            .max_axis(1, true)?
            .0)
    })
}

/// 1 where `attention` ≤ `threshold`, 0 above: the keep-mask of an eraser.
pub fn keep_below(attention: &Tensor, threshold: f32) -> Result<Tensor> {
    no_grad(|| attention.gt_scalar(threshold)?.affine(-1.0, 1.0))
}

/// SeeNet's C-ReLU factor: 0 above `high` (erased), −1 below `low`
/// (confident background turned into negative evidence), 1 between.
pub fn ternary(attention: &Tensor, low: f32, high: f32) -> Result<Tensor> {
    no_grad(|| {
        let erase = attention.gt_scalar(high)?;
        let negate = attention.lt_scalar(low)?;
        erase.add(&negate.mul_scalar(2.0)?)?.affine(-1.0, 1.0)
    })
}
