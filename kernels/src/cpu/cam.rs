//! References of `launch::cam`.

use crate::launch::cam::CamShape;

/// See `launch::cam::cam`.
pub fn cam(s: CamShape, feat: &[f32], weight: &[f32], present: &[f32]) -> Vec<f64> {
    let mut out = vec![0f64; s.batch * s.classes * s.hw];
    for b in 0..s.batch {
        for k in 0..s.classes {
            if present[k] == 0.0 {
                continue;
            }
            for p in 0..s.hw {
                let v: f64 = (0..s.channels)
                    .map(|c| {
                        weight[k * s.channels + c] as f64
                            * feat[(b * s.channels + c) * s.hw + p] as f64
                    })
                    .sum();
                out[(b * s.classes + k) * s.hw + p] = v.max(0.0);
            }
        }
    }
    out
}

/// See `launch::cam::normalise`.
pub fn normalise(hw: usize, raw: &[f32], peaks: &[f32], eps: f32) -> Vec<f64> {
    raw.iter()
        .enumerate()
        .map(|(i, &v)| v as f64 / (peaks[i / hw] as f64 + eps as f64))
        .collect()
}
