//! Stage `aff-labels` (psa's `infer_cls.py` second half): each image's CAMs
//! refined by the dense CRF twice, with a strong background
//! (1 − max_c CAM_c)^α at α = 4 (`la/ID.png`, confident foreground) and a
//! weak one at α = 32 (`ha/ID.png`, confident background), and the
//! affinity labels that combine them (`aff/ID.png`: the α = 4 label where it
//! is foreground, 0 where the α = 32 map says background, 255 elsewhere).

use std::path::Path;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use weakseg_kernels::{Gpu, Result};

use crate::Tensor;
use crate::data::voc::{VocDataset, VocOptions, list_path};
use crate::io::labels::{self, IGNORE, LabelMap};
use crate::io::{image, npy};
use crate::metrics::Confusion;
use crate::pipeline::stage::{Manifest, Stage};
use crate::refine::crf::{CrfParams, DenseCrf, unary_from_probs};

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
}

impl Default for AffLabelSettings {
    fn default() -> Self {
        AffLabelSettings {
            list: "train".into(),
            low_alpha: 4.0,
            high_alpha: 32.0,
            crf: CrfParams::default(),
        }
    }
}

/// The CRF label map of `cams` ([K, H, W], normalised) restricted to the
/// `present` classes, with background (1 − max)^alpha: 0 for background,
/// k + 1 for class k.
pub fn crf_labels(
    crf: &DenseCrf,
    gpu: &Gpu,
    cams: &[f32],
    present: &[bool],
    hw: (usize, usize),
    alpha: f32,
) -> Result<Vec<u8>> {
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
    let q = crf.infer(&Tensor::from_slice(gpu, &unary, &[l, h, w])?)?;
    let arg: Vec<u32> = q.argmax(0)?.to_vec_blocking()?;
    Ok(arg
        .into_iter()
        .map(|i| match i as usize {
            0 => 0,
            j => classes[j - 1] as u8 + 1,
        })
        .collect())
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
    s.crf.validate()?;
    let list = list_path(data, &s.list);
    let cam_manifest = cams_dir.join("stage.json");
    let stage = Stage::new("aff-labels", out, &(s, data), &[&list, &cam_manifest])?;
    if let Some(m) = stage.done() {
        return Ok(m);
    }
    let t = Instant::now();
    let ds = VocDataset::open(data, &VocOptions::split(&s.list))?;
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
        let crf = DenseCrf::new_blocking(gpu, &img, &s.crf)?;
        let low = crf_labels(&crf, gpu, &cams.data, &present, (h, w), s.low_alpha)?;
        let high = crf_labels(&crf, gpu, &cams.data, &present, (h, w), s.high_alpha)?;
        let aff = combine(&low, &high);
        for (dir, map) in [("la", &low), ("ha", &high), ("aff", &aff)] {
            let map = LabelMap {
                width: w,
                height: h,
                data: map.clone(),
            };
            outputs.push(stage.write_labels(format!("{dir}/{}.png", r.id), &map)?);
        }
        if let Some(mp) = &r.mask {
            let gt = labels::read(mp)?;
            low_c.add(&low, &gt.data)?;
            high_c.add(&high, &gt.data)?;
            scored = true;
        }
        progress(i + 1, ds.records.len());
    }
    let results = if scored {
        serde_json::json!({
            "crf_low_miou": low_c.scores().miou,
            "crf_high_miou": high_c.scores().miou,
        })
    } else {
        serde_json::Value::Null
    };
    stage.finish(t.elapsed().as_secs_f64(), outputs, results)
}
