//! Stage `aff-labels` (psa's `infer_cls.py` second half): each image's CAMs
//! refined by the dense CRF twice, with a strong background
//! (1 − max_c CAM_c)^α at α = 4 (`la/ID.png`, confident foreground) and a
//! weak one at α = 32 (`ha/ID.png`, confident background), and the
//! affinity labels that combine them (`aff/ID.png`: the α = 4 label where it
//! is foreground, 0 where the α = 32 map says background, 255 elsewhere);
//! psa's AffinityNet trains from the CRFs' probability maps, kept as
//! `probs/ID.npy` ([`PROBS`]), which it crops with the image and averages
//! per block before taking labels. IRN's recipe is the alternative ([`IrnLabels`]): the CAMs' argmax
//! against a constant background of 0.30 (confident foreground) and 0.05
//! (confident background), each refined by the CRF from labels.

use std::path::Path;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use weakseg_kernels::{Gpu, Result};

use crate::Tensor;
use crate::data::voc::{MaskSource, VocDataset, VocOptions, list_path};
use crate::io::labels::{IGNORE, LabelMap};
use crate::io::{image, npy};
use crate::metrics::Confusion;
use crate::pipeline::fingerprint::Input;
use crate::pipeline::results::StageResults;
use crate::pipeline::scoring::{GroundTruth, Scoring};
use crate::pipeline::stage::{Manifest, Stage};
use crate::pipeline::validate;
use crate::refine::cam_crf::{class_ids, crf_probs, threshold_crf_labels};
use crate::refine::crf::{CrfParams, DenseCrf};

/// Settings of the affinity-label stage.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AffLabelSettings {
    /// Images (split name or file).
    pub list: String,
    /// Background power of the confident-foreground map (psa: 4).
    pub low_alpha: f32,
    /// Background power of the confident-background map (psa: 32).
    pub high_alpha: f32,
    /// The CRF (psa's `crf_inference` by default).
    pub crf: CrfParams,
    /// IRN's labels instead of psa's (then the powers and `crf` are unused;
    /// left out of the fingerprint when psa's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub irn: Option<IrnLabels>,
    /// The images and masks its label maps are scored on (every image
    /// with a mask when left out; left out of the fingerprint then).
    #[serde(skip_serializing_if = "Scoring::is_default")]
    pub eval: Scoring,
}

/// IRN's inter-pixel relation labels (`cam_to_ir_label.py`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IrnLabels {
    /// Constant background score of the confident-foreground map (0.30).
    pub fg_threshold: f32,
    /// Constant background score of the confident-background map (0.05).
    pub bg_threshold: f32,
    /// Probability of the given label in the CRF's label unary (0.7).
    pub gt_prob: f32,
    /// The CRF (IRN's `crf_inference_label`: Gaussian 3/3, bilateral
    /// 50/5/10, 10 iterations).
    pub crf: CrfParams,
}

impl Default for IrnLabels {
    fn default() -> Self {
        IrnLabels {
            fg_threshold: 0.30,
            bg_threshold: 0.05,
            gt_prob: 0.7,
            crf: CrfParams::irn(),
        }
    }
}

impl AffLabelSettings {
    /// The list and the dense CRFs' parameters, checked before any work.
    pub fn validate(&self, data: &Path) -> Result<()> {
        self.crf.validate()?;
        if let Some(irn) = &self.irn {
            irn.crf.validate()?;
        }
        validate::list("aff-labels", data, &self.list)
    }
}

impl Default for AffLabelSettings {
    fn default() -> Self {
        AffLabelSettings {
            list: "train".into(),
            low_alpha: 4.0,
            high_alpha: 32.0,
            crf: CrfParams::default(),
            irn: None,
            eval: Scoring::default(),
        }
    }
}

/// The folder of psa's label probabilities in the stage directory:
/// `ID.npy`, float32 [2·L, H, W], the α-low CRF marginals of the L labels
/// (background, then the present classes in order) and the α-high ones.
pub const PROBS: &str = "probs";

/// IRN's combination: the confident-foreground label where it is
/// foreground, 0 where both maps are background, 255 (unsure) elsewhere.
pub fn combine_irn(fg: &[u8], bg: &[u8]) -> Vec<u8> {
    fg.iter()
        .zip(bg)
        .map(|(&f, &b)| match (f, b) {
            (0, 0) => 0,
            (0, _) => IGNORE,
            (f, _) => f,
        })
        .collect()
}

/// psa's combination: the low-α label where it is foreground, 0 where the
/// high-α map is background, 255 (unsure) elsewhere.
pub fn combine(low: &[u8], high: &[u8]) -> Vec<u8> {
    low.iter()
        .zip(high)
        .map(|(&l, &h)| match (l, h) {
            (_, 0) => 0,
            (0, _) => IGNORE,
            (l, _) => l,
        })
        .collect()
}

/// Writes the affinity labels of `s.list` from the CAMs in `cams_dir` (the
/// `cam` stage's directory) into `out`.
pub fn make(
    gpu: &Gpu,
    data: &Path,
    cams_dir: &Path,
    out: &Path,
    s: &AffLabelSettings,
    mut progress: impl FnMut(usize, usize),
) -> Result<Manifest> {
    s.validate(data)?;
    let list = list_path(data, &s.list);
    let inputs = [Input::data(data, &list), Input::upstream(cams_dir, &list)];
    let mut stage = Stage::new("aff-labels", out, s, &inputs)?;
    if let Some(m) = stage.done()? {
        return Ok(m);
    }
    let t = Instant::now();
    let mut opts = VocOptions::split(&s.list);
    opts.masks = MaskSource::None;
    let ds = VocDataset::open(data, &opts)?;
    let mut truth = GroundTruth::open(data, &s.list, &s.eval)?;
    let k = ds.classes.len();
    let (mut low_c, mut high_c) = (Confusion::new(k + 1), Confusion::new(k + 1));
    let mut outputs = Vec::new();
    let mut scored = false;
    for (i, r) in ds.records.iter().enumerate() {
        let img = image::read(&r.image)?;
        let (h, w) = (img.height, img.width);
        let cam_path = cams_dir.join(format!("cams/{}.npy", r.id));
        let cams = npy::read_shaped(&cam_path, &[Some(k), Some(h), Some(w)])?;
        let mut present = vec![false; k];
        for &l in &r.labels {
            if let Some(p) = (l as usize).checked_sub(1).and_then(|i| present.get_mut(i)) {
                *p = true;
            }
        }
        let (low, high, aff) = match &s.irn {
            None => {
                let crf = DenseCrf::new_blocking(gpu, &img, &s.crf)?;
                let classes: Vec<usize> = (0..k).filter(|&c| present[c]).collect();
                let q_low = crf_probs(&crf, gpu, &cams.data, &present, (h, w), s.low_alpha)?;
                let q_high = crf_probs(&crf, gpu, &cams.data, &present, (h, w), s.high_alpha)?;
                let low = pollster::block_on(class_ids(&q_low, &classes))?;
                let high = pollster::block_on(class_ids(&q_high, &classes))?;
                // psa keeps both probability maps for AffinityNet, which
                // crops them with the image and averages them per block.
                let l = classes.len() + 1;
                let both = Tensor::concat(&[q_low, q_high], 0)?.to_vec_blocking::<f32>()?;
                let name = format!("{PROBS}/{}.npy", r.id);
                npy::write(&out.join(&name), &[2 * l, h, w], &both)?;
                outputs.push(name);
                let aff = combine(&low, &high);
                (low, high, aff)
            }
            Some(irn) => {
                let crf = DenseCrf::new_blocking(gpu, &img, &irn.crf)?;
                let at = |th| {
                    pollster::block_on(threshold_crf_labels(
                        &crf,
                        gpu,
                        &cams.data,
                        &present,
                        (h, w),
                        th,
                        irn.gt_prob,
                    ))
                };
                let (fg, bg) = (at(irn.fg_threshold)?, at(irn.bg_threshold)?);
                let aff = combine_irn(&fg, &bg);
                (fg, bg, aff)
            }
        };
        for (dir, map) in [("la", &low), ("ha", &high), ("aff", &aff)] {
            let map = LabelMap {
                width: w,
                height: h,
                data: map.clone(),
            };
            outputs.push(stage.write_labels(format!("{dir}/{}.png", r.id), &map)?);
        }
        if let Some(gt) = truth.mask(&r.id, (w, h))? {
            low_c.add(&low, &gt)?;
            high_c.add(&high, &gt)?;
            scored = true;
        }
        progress(i + 1, ds.records.len());
    }
    let results = if scored {
        StageResults {
            crf_low_miou: Some(low_c.scores().miou),
            crf_high_miou: Some(high_c.scores().miou),
            scored_on: Some(truth.describe()),
            ..StageResults::default()
        }
    } else {
        StageResults::default()
    };
    stage.finish(t.elapsed().as_secs_f64(), outputs, results)
}
