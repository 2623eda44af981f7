//! Reference of `launch::superpixel` (SLIC), in f64.

use crate::launch::superpixel::Slic;

/// The centres of [`crate::launch::superpixel::slic_init`].
pub fn slic_init(image: &[f32], s: Slic) -> Vec<f64> {
    let (ch, h, w) = (s.channels, s.height, s.width);
    let mut out = Vec::with_capacity(s.centres() * s.centre_len());
    for b in 0..s.batch {
        for gy in 0..s.grid_h {
            for gx in 0..s.grid_w {
                let cy = (gy as f64 + 0.5) * h as f64 / s.grid_h as f64 - 0.5;
                let cx = (gx as f64 + 0.5) * w as f64 / s.grid_w as f64 - 0.5;
                let py = (cy.round().max(0.0) as usize).min(h - 1);
                let px = (cx.round().max(0.0) as usize).min(w - 1);
                out.extend((0..ch).map(|k| image[((b * ch + k) * h + py) * w + px] as f64));
                out.extend([cy, cx]);
            }
        }
    }
    out
}

/// The labels of [`crate::launch::superpixel::slic_assign`].
pub fn slic_assign(image: &[f32], centres: &[f32], s: Slic) -> Vec<u32> {
    let (ch, h, w, gh, gw) = (s.channels, s.height, s.width, s.grid_h, s.grid_w);
    let stride = s.centre_len();
    let mut out = Vec::with_capacity(s.batch * h * w);
    for b in 0..s.batch {
        for y in 0..h {
            for x in 0..w {
                let (gy, gx) = (y * gh / h, x * gw / w);
                let mut best = (0u32, f64::INFINITY);
                for cy in gy.saturating_sub(1)..=(gy + 1).min(gh - 1) {
                    for cx in gx.saturating_sub(1)..=(gx + 1).min(gw - 1) {
                        let c = cy * gw + cx;
                        let centre = &centres[(b * gh * gw + c) * stride..][..stride];
                        let colour: f64 = (0..ch)
                            .map(|k| {
                                (image[((b * ch + k) * h + y) * w + x] as f64 - centre[k] as f64)
                                    .powi(2)
                            })
                            .sum();
                        let dy = y as f64 - centre[ch] as f64;
                        let dx = x as f64 - centre[ch + 1] as f64;
                        let d = colour + s.spatial as f64 * (dy * dy + dx * dx);
                        if d < best.1 {
                            best = (c as u32, d);
                        }
                    }
                }
                out.push(best.0);
            }
        }
    }
    out
}

/// The centres after [`crate::launch::superpixel::slic_update`] from
/// `labels`.
pub fn slic_update(image: &[f32], labels: &[u32], centres: &[f32], s: Slic) -> Vec<f64> {
    let (ch, h, w) = (s.channels, s.height, s.width);
    let cells = s.grid_h * s.grid_w;
    let stride = s.centre_len();
    let mut sums = vec![0f64; centres.len()];
    let mut counts = vec![0usize; s.centres()];
    for b in 0..s.batch {
        for y in 0..h {
            for x in 0..w {
                let c = b * cells + labels[(b * h + y) * w + x] as usize;
                counts[c] += 1;
                for k in 0..ch {
                    sums[c * stride + k] += image[((b * ch + k) * h + y) * w + x] as f64;
                }
                sums[c * stride + ch] += y as f64;
                sums[c * stride + ch + 1] += x as f64;
            }
        }
    }
    let mut out: Vec<f64> = centres.iter().map(|&v| v as f64).collect();
    for (c, &n) in counts.iter().enumerate() {
        if n > 0 {
            for j in 0..stride {
                out[c * stride + j] = sums[c * stride + j] / n as f64;
            }
        }
    }
    out
}
