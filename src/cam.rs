//! Class activation maps on the host: turning raw CAMs of an image into a
//! label map (per-class max normalisation, absent classes zeroed, a
//! constant background score as the threshold), as psa and IRN evaluate
//! pseudo-label quality.

use weakseg_kernels::{Error, Result};

/// The label map of `cams` ([K, H, W] row-major, raw or ReLU'd) for an image
/// with the foreground classes flagged in `present` ([K]): each class map is
/// divided by its maximum (negative values count as 0), classes not present
/// are ignored, and a pixel is background (0) unless some class exceeds
/// `threshold`, else the best class k gets label k + 1.
pub fn label_map(
    cams: &[f32],
    present: &[bool],
    h: usize,
    w: usize,
    threshold: f32,
) -> Result<Vec<u8>> {
    let k = present.len();
    if cams.len() != k * h * w {
        return Err(Error::invalid(
            "cam::label_map",
            format!("{} CAM values for {k} classes of {h}×{w}", cams.len()),
        ));
    }
    if k > 254 {
        return Err(Error::invalid(
            "cam::label_map",
            format!("{k} classes do not fit a label PNG"),
        ));
    }
    let hw = h * w;
    let maxes: Vec<f32> = (0..k)
        .map(|c| {
            cams[c * hw..(c + 1) * hw]
                .iter()
                .copied()
                .fold(1e-5, f32::max)
        })
        .collect();
    Ok((0..hw)
        .map(|p| {
            let mut best = (0u8, threshold);
            for c in (0..k).filter(|&c| present[c]) {
                let v = cams[c * hw + p].max(0.0) / maxes[c];
                if v > best.1 {
                    best = (c as u8 + 1, v);
                }
            }
            best.0
        })
        .collect())
}
