//! CAMs to label maps through the dense CRF, as psa and IRN make their
//! affinity labels: psa's background (1 − max CAM)^α beside the present
//! classes' maps as the CRF's probabilities, or IRN's argmax against a
//! constant background refined by the CRF from those labels. What the
//! `aff-labels` stage runs per image, and what a library user calls to turn
//! one image's CAMs into a mask.

use weakseg_kernels::{Gpu, Result};

use crate::Tensor;
use crate::refine::crf::{DenseCrf, unary_from_labels, unary_from_probs};

/// The CRF label map of `cams` ([K, H, W], normalised) restricted to the
/// `present` classes, with background (1 − max)^alpha: 0 for background,
/// k + 1 for class k.
pub async fn crf_labels(
    crf: &DenseCrf,
    gpu: &Gpu,
    cams: &[f32],
    present: &[bool],
    hw: (usize, usize),
    alpha: f32,
) -> Result<Vec<u8>> {
    let classes: Vec<usize> = (0..present.len()).filter(|&k| present[k]).collect();
    class_ids(&crf_probs(crf, gpu, cams, present, hw, alpha)?, &classes).await
}

/// The CRF's marginals [1 + present, H, W] behind [`crf_labels`]:
/// background (1 − max)^alpha, then the present classes in order (psa's
/// `_crf_with_alpha`, whose probability maps psa keeps).
pub fn crf_probs(
    crf: &DenseCrf,
    gpu: &Gpu,
    cams: &[f32],
    present: &[bool],
    hw: (usize, usize),
    alpha: f32,
) -> Result<Tensor> {
    let (h, w) = hw;
    let n = h * w;
    let classes: Vec<usize> = (0..present.len()).filter(|&k| present[k]).collect();
    let mut probs = Vec::with_capacity((classes.len() + 1) * n);
    probs.extend((0..n).map(|p| {
        let mx = classes
            .iter()
            .map(|&k| cams[k * n + p])
            .fold(0f32, f32::max);
        (1.0 - mx).max(0.0).powf(alpha)
    }));
    for &k in &classes {
        probs.extend_from_slice(&cams[k * n..(k + 1) * n]);
    }
    let l = classes.len() + 1;
    let unary = unary_from_probs(&probs, l, None, 1e-5);
    crf.infer(&Tensor::from_slice(gpu, &unary, &[l, h, w])?)
}

/// IRN's CRF label map of `cams` ([K, H, W], normalised) restricted to the
/// `present` classes: each pixel's argmax against a constant background
/// `threshold` (ties go to the background), refined by the CRF from those
/// labels with `gt_prob`. 0 for background, k + 1 for class k.
pub async fn threshold_crf_labels(
    crf: &DenseCrf,
    gpu: &Gpu,
    cams: &[f32],
    present: &[bool],
    (h, w): (usize, usize),
    threshold: f32,
    gt_prob: f32,
) -> Result<Vec<u8>> {
    let n = h * w;
    let classes: Vec<usize> = (0..present.len()).filter(|&k| present[k]).collect();
    if classes.is_empty() {
        return Ok(vec![0; n]);
    }
    let seeds: Vec<u8> = (0..n)
        .map(|p| {
            let mut best = (0u8, threshold);
            for (j, &k) in classes.iter().enumerate() {
                if cams[k * n + p] > best.1 {
                    best = (j as u8 + 1, cams[k * n + p]);
                }
            }
            best.0
        })
        .collect();
    let l = classes.len() + 1;
    let unary = unary_from_labels(&seeds, l, gt_prob, false)?;
    let q = crf.infer(&Tensor::from_slice(gpu, &unary, &[l, h, w])?)?;
    class_ids(&q, &classes).await
}

/// The CRF's argmax over background and `classes` as dataset labels: 0
/// for background, k + 1 for class k.
pub async fn class_ids(q: &Tensor, classes: &[usize]) -> Result<Vec<u8>> {
    let arg: Vec<u32> = q.argmax(0)?.to_vec().await?;
    Ok(arg
        .into_iter()
        .map(|i| match i as usize {
            0 => 0,
            j => classes[j - 1] as u8 + 1,
        })
        .collect())
}
