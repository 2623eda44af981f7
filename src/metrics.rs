//! Segmentation metrics over a whole dataset: one confusion matrix
//! accumulated across images (VOC's dataset-level IoU, not a per-image
//! average), ground-truth 255 ignored.
//!
//! IoU_c = TP / (GT_c + Pred_c − TP). A class absent from both the ground
//! truth and the predictions has no IoU (`None`) and is left out of the mean,
//! as irn's `nanmean`. A predicted 255 counts as background, as irn remaps it.

use serde::Serialize;
use weakseg_kernels::{Error, Result};

use crate::io::labels::IGNORE;

/// A K×K confusion matrix, rows ground truth, columns prediction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Confusion {
    classes: usize,
    counts: Vec<u64>,
}

/// The mIoU of predicted label maps over whatever ground truth a list has:
/// images without a mask are left out, and there is no score when none had
/// one (an unlabelled test list).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MaskScore {
    confusion: Confusion,
    scored: bool,
}

impl MaskScore {
    /// An empty score over `classes` labels.
    pub fn new(classes: usize) -> MaskScore {
        MaskScore {
            confusion: Confusion::new(classes),
            scored: false,
        }
    }

    /// Adds `pred` against `mask` (a sample's labels, 255 ignored), if any.
    pub fn add(&mut self, pred: &[u8], mask: Option<&[u32]>) -> Result<()> {
        if let Some(mask) = mask {
            let gt: Vec<u8> = mask.iter().map(|&v| v.min(255) as u8).collect();
            self.confusion.add(pred, &gt)?;
            self.scored = true;
        }
        Ok(())
    }

    /// The mIoU, when any image had ground truth.
    pub fn miou(&self) -> Option<f64> {
        self.scored.then(|| self.confusion.scores().miou)
    }

    /// Adds a prediction against a label-map mask (255 = ignore), if any.
    pub fn add_labels(&mut self, pred: &[u8], mask: Option<&[u8]>) -> Result<()> {
        if let Some(gt) = mask {
            self.confusion.add(pred, gt)?;
            self.scored = true;
        }
        Ok(())
    }
}

/// The scores of a confusion matrix.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Scores {
    /// Mean IoU over the classes present in ground truth or predictions.
    pub miou: f64,
    /// IoU per class (None: absent from both sides).
    pub per_class_iou: Vec<Option<f64>>,
    /// Correct pixels over counted pixels.
    pub pixel_accuracy: f64,
    /// TP / predicted pixels per class (None: never predicted).
    pub precision: Vec<Option<f64>>,
    /// TP / ground-truth pixels per class (None: absent from ground truth).
    pub recall: Vec<Option<f64>>,
    /// Pixels counted (ground truth not 255).
    pub pixels: u64,
}

fn ratio(num: u64, den: u64) -> Option<f64> {
    (den > 0).then(|| num as f64 / den as f64)
}

impl Confusion {
    /// An empty matrix for `classes` classes (background included).
    pub fn new(classes: usize) -> Confusion {
        Confusion {
            classes,
            counts: vec![0; classes * classes],
        }
    }

    /// Number of classes.
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// Pixels with ground truth `gt` predicted as `pred`.
    pub fn count(&self, gt: usize, pred: usize) -> u64 {
        self.counts[gt * self.classes + pred]
    }

    /// Adds one image: `pred` and `gt` are row-major label maps of one size.
    /// Ground truth 255 is skipped; any other value ≥ K on either side is an
    /// error naming it.
    pub fn add(&mut self, pred: &[u8], gt: &[u8]) -> Result<()> {
        if pred.len() != gt.len() {
            return Err(Error::invalid(
                "confusion",
                format!(
                    "prediction has {} pixels, ground truth {}",
                    pred.len(),
                    gt.len()
                ),
            ));
        }
        let k = self.classes;
        for (&p, &g) in pred.iter().zip(gt) {
            if g == IGNORE {
                continue;
            }
            let p = if p == IGNORE { 0 } else { p as usize };
            if g as usize >= k || p >= k {
                return Err(Error::invalid(
                    "confusion",
                    format!("label {} outside the {k} classes", (g as usize).max(p)),
                ));
            }
            self.counts[g as usize * k + p] += 1;
        }
        Ok(())
    }

    /// Adds another matrix of the same size.
    pub fn merge(&mut self, other: &Confusion) -> Result<()> {
        if other.classes != self.classes {
            return Err(Error::invalid(
                "confusion",
                format!(
                    "cannot merge {} classes into {}",
                    other.classes, self.classes
                ),
            ));
        }
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        Ok(())
    }

    /// IoU, mIoU, pixel accuracy, precision and recall.
    pub fn scores(&self) -> Scores {
        let k = self.classes;
        let gt: Vec<u64> = (0..k)
            .map(|g| (0..k).map(|p| self.count(g, p)).sum())
            .collect();
        let pr: Vec<u64> = (0..k)
            .map(|p| (0..k).map(|g| self.count(g, p)).sum())
            .collect();
        let tp: Vec<u64> = (0..k).map(|c| self.count(c, c)).collect();
        let iou: Vec<Option<f64>> = (0..k)
            .map(|c| ratio(tp[c], gt[c] + pr[c] - tp[c]))
            .collect();
        let present: Vec<f64> = iou.iter().flatten().copied().collect();
        let pixels: u64 = gt.iter().sum();
        Scores {
            miou: if present.is_empty() {
                0.0
            } else {
                present.iter().sum::<f64>() / present.len() as f64
            },
            per_class_iou: iou,
            pixel_accuracy: ratio(tp.iter().sum(), pixels).unwrap_or(0.0),
            precision: (0..k).map(|c| ratio(tp[c], pr[c])).collect(),
            recall: (0..k).map(|c| ratio(tp[c], gt[c])).collect(),
            pixels,
        }
    }
}

/// Average precision of ranking items by `scores` against `positive`
/// (scikit-learn's `average_precision_score`): Σₙ (Rₙ − Rₙ₋₁) Pₙ over the
/// distinct score thresholds from the highest down, tied scores entering
/// together. None when there is no positive item.
pub fn average_precision(scores: &[f64], positive: &[bool]) -> Option<f64> {
    let total = positive.iter().filter(|&&p| p).count();
    if total == 0 || scores.len() != positive.len() {
        return None;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let (mut seen, mut hits, mut recall, mut ap) = (0usize, 0usize, 0.0f64, 0.0f64);
    let mut k = 0;
    while k < order.len() {
        let s = scores[order[k]];
        while k < order.len() && scores[order[k]] == s {
            seen += 1;
            hits += usize::from(positive[order[k]]);
            k += 1;
        }
        let r = hits as f64 / total as f64;
        ap += (r - recall) * hits as f64 / seen as f64;
        recall = r;
    }
    Some(ap)
}

/// The score of sparse training targets (seeds, clicks, box masks) against
/// the ground truth: their mIoU with unlabelled pixels as background, the
/// share of pixels they label and how many of those they label right.
#[derive(Clone, Debug)]
pub struct SparseScore {
    confusion: Confusion,
    labelled: u64,
    correct: u64,
    total: u64,
}

impl SparseScore {
    /// An empty score over `classes` labels (background included).
    pub fn new(classes: usize) -> SparseScore {
        SparseScore {
            confusion: Confusion::new(classes),
            labelled: 0,
            correct: 0,
            total: 0,
        }
    }

    /// Adds one image's targets `pred` (255 unlabelled) against `gt`.
    pub fn add(&mut self, pred: &[u8], gt: &[u8]) -> Result<()> {
        self.confusion.add(pred, gt)?;
        for (&p, &g) in pred.iter().zip(gt) {
            if g == IGNORE {
                continue;
            }
            self.total += 1;
            if p != IGNORE {
                self.labelled += 1;
                self.correct += (p == g) as u64;
            }
        }
        Ok(())
    }

    /// (mIoU, share of pixels labelled, share of those labelled right),
    /// or None when no ground truth was added.
    pub fn summary(&self) -> Option<(f64, f64, f64)> {
        (self.total > 0).then(|| {
            (
                self.confusion.scores().miou,
                self.labelled as f64 / self.total as f64,
                self.correct as f64 / self.labelled.max(1) as f64,
            )
        })
    }
}

/// Evaluates every ground-truth PNG in `gt_dir` against the PNG of the same
/// name in `pred_dir` with `classes` classes (background included). Missing
/// predictions and size mismatches are one error counting them and naming
/// the first five of each.
#[cfg(not(target_arch = "wasm32"))]
pub fn evaluate_dirs(
    pred_dir: &std::path::Path,
    gt_dir: &std::path::Path,
    classes: usize,
) -> Result<Scores> {
    use crate::io::labels;
    let mut names: Vec<std::ffi::OsString> = std::fs::read_dir(gt_dir)
        .map_err(|e| Error::io(gt_dir.display(), e))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name())
        .filter(|n| n.to_string_lossy().ends_with(".png"))
        .collect();
    names.sort();
    if names.is_empty() {
        return Err(Error::io(gt_dir.display(), "no ground-truth PNGs"));
    }
    let mut missing = Vec::new();
    let mut mismatched = Vec::new();
    let mut m = Confusion::new(classes);
    for n in &names {
        let p = pred_dir.join(n);
        if !p.exists() {
            missing.push(p.display().to_string());
            continue;
        }
        let gt = labels::read(&gt_dir.join(n))?;
        let pred = labels::read(&p)?;
        if (pred.width, pred.height) != (gt.width, gt.height) {
            mismatched.push(format!(
                "{} is {}×{}, its ground truth {}×{}",
                p.display(),
                pred.width,
                pred.height,
                gt.width,
                gt.height
            ));
            continue;
        }
        m.add(&pred.data, &gt.data)
            .map_err(|e| Error::format(p.display().to_string(), e.to_string()))?;
    }
    if !missing.is_empty() || !mismatched.is_empty() {
        // The first few of each, so a whole split missing stays readable.
        let some = |v: &[String]| -> String {
            let shown = v.iter().take(5).cloned().collect::<Vec<_>>().join(", ");
            match v.len() {
                0..=5 => shown,
                n => format!("{shown} and {} more", n - 5),
            }
        };
        let mut msg = String::new();
        if !missing.is_empty() {
            msg += &format!("{} predictions missing: {}", missing.len(), some(&missing));
        }
        if !mismatched.is_empty() {
            if !msg.is_empty() {
                msg += "; ";
            }
            msg += &format!(
                "{} size mismatches: {}",
                mismatched.len(),
                some(&mismatched)
            );
        }
        return Err(Error::format("eval", msg));
    }
    Ok(m.scores())
}
