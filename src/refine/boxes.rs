//! Box-driven pseudo-masks: a segmentation target from bounding boxes
//! alone, or from boxes and CAMs. Simple Does It's (Khoreva et al. 2017)
//! `Box` fills each box with its class and `Box^i` labels only each box's
//! centre, ignoring the uncertain rest; its `GrabCut+` cuts each box's
//! object from its background, which here our dense CRF does on a unary
//! that calls the inside of a box probably its class and the outside
//! surely background. SPML's box recipe normalises the CAM inside each
//! box and thresholds it. Overlapping boxes: the smaller one is on top.

use serde::{Deserialize, Serialize};
use weakseg_kernels::{Error, Gpu, Result};

use crate::Tensor;
use crate::data::annotations::BoxLabel;
use crate::io::labels::{IGNORE, LabelMap};
use crate::refine::crf::{DenseCrf, unary_from_probs};

/// How boxes become a mask.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BoxMode {
    /// Every box filled with its class.
    Box,
    /// Each box's centre (a fraction of its area) labelled, the rest of
    /// the box ignored.
    BoxInner,
    /// The dense CRF cuts the object out of each box (GrabCut+'s role).
    Crf,
    /// The class's CAM min-max normalised inside each box and thresholded.
    Cam,
}

impl BoxMode {
    /// Every mode, in the order of the comparison table.
    pub const ALL: [BoxMode; 4] = [BoxMode::Box, BoxMode::BoxInner, BoxMode::Crf, BoxMode::Cam];

    /// The name used in settings and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            BoxMode::Box => "box",
            BoxMode::BoxInner => "box-inner",
            BoxMode::Crf => "crf",
            BoxMode::Cam => "cam",
        }
    }

    /// The mode called `name`, or an error listing the modes.
    pub fn parse(name: &str) -> Result<BoxMode> {
        Self::ALL
            .into_iter()
            .find(|m| m.name() == name)
            .ok_or_else(|| {
                let all: Vec<&str> = Self::ALL.iter().map(|m| m.name()).collect();
                Error::invalid(
                    "boxes",
                    format!("unknown box mode `{name}`; one of {}", all.join(", ")),
                )
            })
    }

    /// Whether the mode reads the CAMs.
    pub fn needs_cams(self) -> bool {
        self == BoxMode::Cam
    }
}

/// The boxes largest first, so that drawing them in order leaves the
/// smaller ones on top.
fn by_area(boxes: &[BoxLabel]) -> Vec<BoxLabel> {
    let mut v = boxes.to_vec();
    let area = |b: &BoxLabel| (b.xmax + 1 - b.xmin.min(b.xmax)) * (b.ymax + 1 - b.ymin.min(b.ymax));
    v.sort_by_key(|b| std::cmp::Reverse(area(b)));
    v
}

/// The pixels of `b` inside a `w`×`h` image, as (x, y).
fn pixels(b: &BoxLabel, w: usize, h: usize) -> impl Iterator<Item = (usize, usize)> {
    let (x1, y1) = (
        (b.xmax as usize).min(w.saturating_sub(1)),
        (b.ymax as usize).min(h.saturating_sub(1)),
    );
    let (x0, y0) = (b.xmin as usize, b.ymin as usize);
    (y0..=y1).flat_map(move |y| (x0..=x1).map(move |x| (x, y)))
}

/// Simple Does It's `Box`: background outside every box, each box filled
/// with its class.
pub fn filled(boxes: &[BoxLabel], (w, h): (usize, usize)) -> LabelMap {
    let mut map = LabelMap::filled(w, h, 0);
    for b in by_area(boxes) {
        for (x, y) in pixels(&b, w, h) {
            map.data[y * w + x] = b.class;
        }
    }
    map
}

/// Simple Does It's `Box^i`: background outside every box, 255 inside,
/// and the centred box of `area` (a fraction, 0.2 in the paper) of each
/// box's area labelled with its class.
pub fn inner(boxes: &[BoxLabel], (w, h): (usize, usize), area: f32) -> Result<LabelMap> {
    if !(area > 0.0 && area <= 1.0) {
        return Err(Error::invalid(
            "boxes",
            format!("inner area must be in (0, 1], got {area}"),
        ));
    }
    let mut map = LabelMap::filled(w, h, 0);
    for b in boxes {
        for (x, y) in pixels(b, w, h) {
            map.data[y * w + x] = IGNORE;
        }
    }
    let side = area.sqrt();
    for b in by_area(boxes) {
        let shrink = |lo: u32, hi: u32| {
            let (c, half) = (
                (lo + hi) as f32 / 2.0,
                (hi - lo.min(hi) + 1) as f32 * side / 2.0,
            );
            let lo2 = (c - half + 0.5).round().max(lo as f32) as u32;
            let hi2 = ((c + half - 0.5).round() as u32).clamp(lo2, hi);
            (lo2, hi2)
        };
        let (xmin, xmax) = shrink(b.xmin, b.xmax);
        let (ymin, ymax) = shrink(b.ymin, b.ymax);
        let core = BoxLabel {
            xmin,
            xmax,
            ymin,
            ymax,
            ..b
        };
        for (x, y) in pixels(&core, w, h) {
            map.data[y * w + x] = b.class;
        }
    }
    Ok(map)
}

/// The classes the boxes name, sorted and deduplicated.
fn box_classes(boxes: &[BoxLabel]) -> Vec<u8> {
    let mut c: Vec<u8> = boxes.iter().map(|b| b.class).collect();
    c.sort_unstable();
    c.dedup();
    c
}

/// Keeps a pixel's foreground class only inside a box of that class; every
/// other pixel becomes background.
fn inside_own_box(labels: &mut [u8], boxes: &[BoxLabel], (w, h): (usize, usize)) {
    let mut allowed = vec![Vec::<u8>::new(); w * h];
    for b in boxes {
        for (x, y) in pixels(b, w, h) {
            allowed[y * w + x].push(b.class);
        }
    }
    for (l, ok) in labels.iter_mut().zip(&allowed) {
        if *l != 0 && *l != IGNORE && !ok.contains(l) {
            *l = 0;
        }
    }
}

/// GrabCut+'s role played by our dense CRF: a unary that puts `inside`
/// probability on a box's class inside it (1 − `inside` on background)
/// and certainty on background outside every box, then mean field with
/// `crf`'s kernels; a class survives only inside one of its boxes.
pub async fn crf_cut(
    crf: &DenseCrf,
    gpu: &Gpu,
    boxes: &[BoxLabel],
    (w, h): (usize, usize),
    inside: f32,
) -> Result<LabelMap> {
    if !(inside > 0.0 && inside < 1.0) {
        return Err(Error::invalid(
            "boxes",
            format!("inside probability must be in (0, 1), got {inside}"),
        ));
    }
    let classes = box_classes(boxes);
    let (l, n) = (classes.len() + 1, w * h);
    let fill = filled(boxes, (w, h));
    let mut probs = vec![0f32; l * n];
    for (i, &c) in fill.data.iter().enumerate() {
        match classes.iter().position(|&k| k == c) {
            Some(j) => {
                probs[(j + 1) * n + i] = inside;
                probs[i] = 1.0 - inside;
            }
            None => probs[i] = 1.0,
        }
    }
    let unary = unary_from_probs(&probs, l, None, 1e-5);
    let q = crf.infer(&Tensor::from_slice(gpu, &unary, &[l, h, w])?)?;
    let arg: Vec<u32> = q.argmax(0)?.to_vec().await?;
    let mut labels: Vec<u8> = arg
        .into_iter()
        .map(|j| match j as usize {
            0 => 0,
            j => classes[j - 1],
        })
        .collect();
    inside_own_box(&mut labels, boxes, (w, h));
    Ok(LabelMap {
        width: w,
        height: h,
        data: labels,
    })
}

/// SPML's box pseudo-mask: inside each box, the CAM of its class ([K, H, W]
/// planes, class k + 1 in plane k) min-max normalised over the box and
/// thresholded at `threshold`; below it and outside every box, background.
pub fn cam_in_boxes(
    boxes: &[BoxLabel],
    cams: &[f32],
    (w, h): (usize, usize),
    threshold: f32,
) -> Result<LabelMap> {
    let n = w * h;
    if n == 0 || !cams.len().is_multiple_of(n) {
        return Err(Error::invalid(
            "boxes",
            format!("{} CAM values for a {w}×{h} image", cams.len()),
        ));
    }
    let k = cams.len() / n;
    let mut map = LabelMap::filled(w, h, 0);
    for b in by_area(boxes) {
        let plane = (b.class as usize)
            .checked_sub(1)
            .filter(|&c| c < k)
            .ok_or_else(|| {
                Error::invalid("boxes", format!("box class {} outside {k} CAMs", b.class))
            })?;
        let cam = &cams[plane * n..(plane + 1) * n];
        let (lo, hi) = pixels(&b, w, h).fold((f32::MAX, f32::MIN), |(lo, hi), (x, y)| {
            let v = cam[y * w + x];
            (lo.min(v), hi.max(v))
        });
        for (x, y) in pixels(&b, w, h) {
            let v = (cam[y * w + x] - lo) / (hi - lo).max(1e-5);
            if v >= threshold {
                map.data[y * w + x] = b.class;
            } else if map.data[y * w + x] == b.class {
                map.data[y * w + x] = 0;
            }
        }
    }
    Ok(map)
}
