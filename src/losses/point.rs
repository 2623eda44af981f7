//! What's the Point (Bearman et al., ECCV 2016), as its released Caffe
//! layer computes it: clicked pixels take −log S_{i, label}; every other
//! pixel takes the expectation −log(P0·S_{i,0} + (1 − P0)/|L| Σ_{c∈L} S_{i,c})
//! over background and the image's present classes L, where P0 = 1 − the
//! pixel's objectness. Without the second term a segmenter that sees one
//! click per object and no background would call everything foreground.

use weakseg_kernels::{Error, Result};

use crate::Tensor;

/// The point loss of segmentation `logits` [B, 1 + K, H, W] against the
/// clicks `mask` [B, H, W] (u32, 255 unlabelled; `host_mask` is the same
/// on the host), the image-level labels `present` [B, K] and the
/// `objectness` [B, 1, H, W] in [0, 1]. Summed over pixels and divided by
/// their number (the layer divides the sum by the batch size: a constant
/// factor of H·W).
pub fn point_loss(
    logits: &Tensor,
    mask: &Tensor,
    host_mask: &[u32],
    present: &Tensor,
    objectness: &Tensor,
) -> Result<Tensor> {
    let s = logits.shape();
    if s.len() != 4 || s[1] < 2 {
        return Err(Error::invalid(
            "point_loss",
            format!("logits {s:?}; want [B, 1 + K, H, W]"),
        ));
    }
    let (b, l, h, w) = (s[0], s[1], s[2], s[3]);
    let k = l - 1;
    if present.shape() != [b, k]
        || objectness.shape() != [b, 1, h, w]
        || host_mask.len() != b * h * w
    {
        return Err(Error::invalid(
            "point_loss",
            format!(
                "labels {:?}, objectness {:?} and {} clicks for logits {s:?}; want [{b}, {k}], [{b}, 1, {h}, {w}] and {}",
                present.shape(),
                objectness.shape(),
                host_mask.len(),
                b * h * w
            ),
        ));
    }
    let clicked = host_mask.iter().filter(|&&v| v != 255).count();
    let unlabelled: Vec<f32> = host_mask.iter().map(|&v| (v == 255) as u8 as f32).collect();
    let unlabelled = Tensor::from_slice(logits.gpu(), &unlabelled, &[b, 1, h, w])?;
    let p = logits.softmax(1)?;
    let bg = p.narrow(1, 0, 1)?;
    let y = present.reshape(&[b, k, 1, 1])?;
    let classes = present
        .sum(&[1], true)?
        .clamp(1.0, f32::MAX)?
        .reshape(&[b, 1, 1, 1])?;
    let fg = p.narrow(1, 1, k)?.mul(&y)?.sum(&[1], true)?.div(&classes)?;
    let p0 = objectness.detach().affine(-1.0, 1.0)?;
    let expectation = p0
        .mul(&bg)?
        .add(&p0.affine(-1.0, 1.0)?.mul(&fg)?)?
        .add_scalar(1e-8)?
        .log()?
        .mul(&unlabelled)?
        .sum_all()?
        .neg()?;
    let total = if clicked > 0 {
        expectation.add(
            &logits
                .cross_entropy(mask, None, 255)?
                .mul_scalar(clicked as f32)?,
        )?
    } else {
        expectation
    };
    total.mul_scalar(1.0 / (b * h * w) as f32)
}

/// What's the Point's objectness from a CAM: `peak` [B, 1, H, W] is the
/// maximum over classes of CAMs normalised to [0, 1]. Without a power the
/// objectness is `peak` itself; with a background power α it is the
/// foreground share peak / (peak + (1 − peak)^α) of psa's background model
/// (background score (1 − peak)^α), a probability as the loss expects. A
/// CAM peaks on the most discriminative part and stays low over the rest of
/// the object, so the raw peak makes the loss call most object pixels
/// background. A power that is not positive is an error.
pub fn cam_objectness(peak: &Tensor, power: Option<f32>) -> Result<Tensor> {
    match power {
        None => Ok(peak.clone()),
        Some(a) if a.is_finite() && a > 0.0 => {
            let bg = peak.affine(-1.0, 1.0)?.pow(a)?;
            peak.div(&peak.add(&bg)?.add_scalar(1e-6)?)
        }
        Some(a) => Err(Error::invalid(
            "cam_objectness",
            format!("background power must be a positive number, got {a}"),
        )),
    }
}
