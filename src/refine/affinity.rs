//! AffinityNet's training targets and loss (psa's `train_aff.py`): a label
//! map (0 background, k foreground, 255 unsure) is sampled onto the
//! affinity grid, and each pair of the offset list becomes background-
//! positive (same label, background), foreground-positive (same label,
//! foreground) or negative (different labels); pairs touching an unsure
//! pixel are ignored, and so are sources from which some offset leaves the
//! grid (psa's and IRN's pairs start only where all of them stay on it). The loss is
//! L = L_bg+/4 + L_fg+/4 + L_neg/2, each term averaged over its own pairs:
//! −log(a + 1e-5) for positives, −log(1 + 1e-5 − a) for negatives.

use weakseg_kernels::{Error, Gpu, Result};

use crate::io::labels::IGNORE;
use crate::ops::affinity::PairOffsets;
use crate::tensor::Tensor;

/// The label map sampled at the centre of each `stride`×`stride` block:
/// [⌈h/s⌉, ⌈w/s⌉] (IRN's nearest downscaling).
pub fn grid_labels(labels: &[u8], (h, w): (usize, usize), stride: usize) -> Vec<u8> {
    let (gh, gw) = (h.div_ceil(stride), w.div_ceil(stride));
    let mut out = Vec::with_capacity(gh * gw);
    for gy in 0..gh {
        let y = (gy * stride + stride / 2).min(h - 1);
        for gx in 0..gw {
            let x = (gx * stride + stride / 2).min(w - 1);
            out.push(labels[y * w + x]);
        }
    }
    out
}

/// psa's affinity labels from its two CRF probability maps (`voc12/data.py`
/// `VOC12AffDataset.__getitem__`, `tool/imutils.py` `AvgPool2d`): `probs`
/// [2·L, h, w] holds the α-low marginals of L labels (background first)
/// then the α-high ones, already cropped and flipped with the image. Each
/// `stride`×`stride` block is averaged (a block cut by the border counts
/// its missing pixels as 0, as `skimage.measure.block_reduce` pads), then:
/// the α-low argmax, 255 where that is background, 0 where the α-high
/// argmax is background, 255 where every average is below 1e-5 (outside
/// the crop). Returned at full resolution, each block filled with its
/// label, so that [`grid_labels`] reads it back; labels are indices into
/// the L labels (only equality matters to the pairs).
pub fn block_labels(probs: &[f32], (h, w): (usize, usize), stride: usize) -> Result<Vec<u8>> {
    let n = h * w;
    if stride == 0 || n == 0 || !probs.len().is_multiple_of(2 * n) || probs.len() < 4 * n {
        return Err(Error::invalid(
            "affinity labels",
            format!(
                "{} probabilities for two maps of {h}×{w} at stride {stride}; want 2·L planes, L ≥ 2",
                probs.len()
            ),
        ));
    }
    let l = probs.len() / (2 * n);
    let (gh, gw) = (h.div_ceil(stride), w.div_ceil(stride));
    let area = (stride * stride) as f32;
    let mut out = vec![IGNORE; n];
    let mut mean = vec![0f32; 2 * l];
    for gy in 0..gh {
        for gx in 0..gw {
            let (ys, xs) = (
                gy * stride..((gy + 1) * stride).min(h),
                gx * stride..((gx + 1) * stride).min(w),
            );
            for (c, m) in mean.iter_mut().enumerate() {
                let plane = &probs[c * n..(c + 1) * n];
                *m = ys
                    .clone()
                    .flat_map(|y| xs.clone().map(move |x| plane[y * w + x]))
                    .sum::<f32>()
                    / area;
            }
            let argmax =
                |m: &[f32]| (0..m.len()).fold(0, |best, c| if m[c] > m[best] { c } else { best });
            let (low, high) = (argmax(&mean[..l]), argmax(&mean[l..]));
            let label = if mean.iter().all(|&v| v < 1e-5) {
                IGNORE
            } else if high == 0 {
                0
            } else if low == 0 {
                IGNORE
            } else {
                low as u8
            };
            for y in ys {
                out[y * w + xs.start..y * w + xs.end].fill(label);
            }
        }
    }
    Ok(out)
}

/// The three pair masks of one grid label map, each [D, gh·gw] with 1 for
/// a pair of that kind: background-positive, foreground-positive, negative.
pub struct PairLabels {
    /// Both pixels background.
    pub bg_pos: Vec<f32>,
    /// Both pixels the same foreground class.
    pub fg_pos: Vec<f32>,
    /// Different labels, neither unsure.
    pub neg: Vec<f32>,
}

impl PairLabels {
    /// The pairs of `grid` (gh × gw labels) for `offsets`. Sources are the
    /// pixels from which every offset stays on the grid: for psa's
    /// half-disc of radius r, rows [0, gh − r + 1) and columns
    /// [r − 1, gw − r + 1) (psa `voc12/data.py`,
    /// `ExtractAffinityLabelInRadius`; irn `misc/indexing.py`,
    /// `get_path_indices`).
    pub fn new(grid: &[u8], (gh, gw): (usize, usize), offsets: &[(i32, i32)]) -> PairLabels {
        let n = gh * gw;
        let mut out = PairLabels {
            bg_pos: vec![0.0; offsets.len() * n],
            fg_pos: vec![0.0; offsets.len() * n],
            neg: vec![0.0; offsets.len() * n],
        };
        let reach =
            |f: fn(&(i32, i32)) -> i32| offsets.iter().map(f).max().unwrap_or(0).max(0) as usize;
        let (up, down) = (reach(|o| -o.0), reach(|o| o.0));
        let (left, right) = (reach(|o| -o.1), reach(|o| o.1));
        let rows = up..gh.saturating_sub(down);
        let cols = left..gw.saturating_sub(right);
        for (d, &(dy, dx)) in offsets.iter().enumerate() {
            for y in rows.clone() {
                let qy = (y as isize + dy as isize) as usize;
                for x in cols.clone() {
                    let qx = (x as isize + dx as isize) as usize;
                    let (a, b) = (grid[y * gw + x], grid[qy * gw + qx]);
                    if a == IGNORE || b == IGNORE {
                        continue;
                    }
                    let i = d * n + y * gw + x;
                    match (a == b, a == 0) {
                        (true, true) => out.bg_pos[i] = 1.0,
                        (true, false) => out.fg_pos[i] = 1.0,
                        (false, _) => out.neg[i] = 1.0,
                    }
                }
            }
        }
        out
    }
}

/// The affinity loss of `aff` [B, D, gh, gw] against the label maps
/// `labels` (B maps of h×w, the grid at `stride`).
pub fn affinity_loss(
    gpu: &Gpu,
    aff: &Tensor,
    offsets: &PairOffsets,
    labels: &[u32],
    (h, w): (usize, usize),
    stride: usize,
) -> Result<Tensor> {
    let op = "affinity loss";
    let (b, d, gh, gw) = match *aff.shape() {
        [b, d, gh, gw] => (b, d, gh, gw),
        ref s => {
            return Err(Error::invalid(
                op,
                format!("affinities must be [B, D, h, w], got {s:?}"),
            ));
        }
    };
    if d != offsets.len()
        || labels.len() != b * h * w
        || (h.div_ceil(stride), w.div_ceil(stride)) != (gh, gw)
    {
        return Err(Error::invalid(
            op,
            format!(
                "affinities {:?} do not match {} offsets and {} labels of {h}×{w} at stride {stride}",
                aff.shape(),
                offsets.len(),
                labels.len()
            ),
        ));
    }
    let (mut bg, mut fg, mut neg) = (Vec::new(), Vec::new(), Vec::new());
    for map in labels.chunks(h * w) {
        let bytes: Vec<u8> = map.iter().map(|&v| v.min(255) as u8).collect();
        let p = PairLabels::new(
            &grid_labels(&bytes, (h, w), stride),
            (gh, gw),
            &offsets.list,
        );
        bg.extend(p.bg_pos);
        fg.extend(p.fg_pos);
        neg.extend(p.neg);
    }
    // −weight · mean of log_terms over the pairs of `mask`.
    let term = |mask: Vec<f32>, log_terms: &Tensor, weight: f32| -> Result<Tensor> {
        let count: f32 = mask.iter().sum();
        let m = Tensor::from_slice(gpu, &mask, aff.shape())?;
        log_terms
            .mul(&m)?
            .sum_all()?
            .mul_scalar(-weight / (count + 1e-5))
    };
    let log_pos = aff.add_scalar(1e-5)?.log()?;
    let log_neg = aff.affine(-1.0, 1.0 + 1e-5)?.log()?;
    term(bg, &log_pos, 0.25)?
        .add(&term(fg, &log_pos, 0.25)?)?
        .add(&term(neg, &log_neg, 0.5)?)
}
