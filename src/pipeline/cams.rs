//! Stage `cam`: multi-scale, flip-averaged CAMs of every image in a list
//! from the trained classifier, saved as `cams/ID.npy` (float32 [K, H, W],
//! absent classes zero) with the label map at a background threshold as
//! `labels/ID.png`; where ground truth exists, the CAM mIoU at that
//! threshold and along a sweep of thresholds (as SEAM's evaluation does).
//! An interrupted run resumes at the first image it had not finished (RIB
//! tunes a network per image, so its CAMs take the longest of any stage).

use std::path::Path;
use std::time::Instant;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use weakseg_kernels::{Error, Gpu, Result};

use crate::Tensor;
use crate::cam::CamSource;
use crate::cam::{self, MultiScale};
use crate::data::voc::{MaskSource, VocDataset, VocOptions, list_path};
use crate::data::{Dataset, Sample, collate, mix_seed};
use crate::io::checkpoint;
use crate::io::labels::LabelMap;
use crate::io::npy;
use crate::methods::rib::Localiser;
use crate::methods::{MethodNet, RibSettings, Saliency, SaliencySource};
use crate::metrics::Confusion;
use crate::pipeline::classifier::ClassifierSettings;
use crate::pipeline::fingerprint::Input;
use crate::pipeline::results::StageResults;
use crate::pipeline::scoring::{GroundTruth, Scoring};
use crate::pipeline::stage::{Manifest, Stage};
use crate::pipeline::validate;

/// Settings of the CAM stage.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CamSettings {
    /// Images to process (split name or file).
    pub list: String,
    /// Scales and flips.
    pub multiscale: MultiScale,
    /// Background score of the label maps (psa: 0.2).
    pub threshold: f32,
    /// Read Grad-CAM or SmoothGrad from the classifier instead of its CAM
    /// (left out of the fingerprint when the CAM).
    #[serde(skip_serializing_if = "Saliency::is_cam")]
    pub saliency: Saliency,
    /// The images and masks its label maps are scored on (every image
    /// with a mask when left out; left out of the fingerprint then).
    #[serde(skip_serializing_if = "Scoring::is_default")]
    pub eval: Scoring,
}

impl CamSettings {
    /// The list, the scales and the threshold, checked before any work.
    pub fn validate(&self, data: &Path) -> Result<()> {
        self.multiscale.validate()?;
        validate::unit("cam", "threshold", self.threshold)?;
        validate::list("cam", data, &self.list)
    }
}

impl Default for CamSettings {
    fn default() -> Self {
        CamSettings {
            list: "train".into(),
            multiscale: MultiScale::default(),
            threshold: 0.2,
            saliency: Saliency::Cam,
            eval: Scoring::default(),
        }
    }
}

/// Thresholds of the sweep: 0.00, 0.01, …, 0.59 (SEAM's `--curve`).
pub fn sweep_thresholds() -> Vec<f32> {
    (0..60).map(|i| i as f32 / 100.0).collect()
}

/// Computes the CAMs of `s.list` in `data` with the classifier at
/// `classifier` into `out` (skipped when an identical run finished there).
/// `progress(done, total)` is called after each image.
pub fn infer(
    gpu: &Gpu,
    data: &Path,
    classifier: &Path,
    out: &Path,
    s: &CamSettings,
    mut progress: impl FnMut(usize, usize),
) -> Result<Manifest> {
    s.validate(data)?;
    let list = list_path(data, &s.list);
    let inputs = [Input::data(data, &list), Input::file(classifier)];
    let mut stage = Stage::new("cam", out, s, &inputs)?;
    if let Some(m) = stage.done()? {
        return Ok(m);
    }
    let t = Instant::now();
    let net = MethodNet::load(gpu, classifier)?;
    let gradients = SaliencySource {
        net: &net.base,
        saliency: &s.saliency,
    };
    let source: &dyn CamSource = if s.saliency.is_cam() {
        &net
    } else {
        &gradients
    };
    let mut opts = VocOptions::split(&s.list);
    opts.masks = MaskSource::None;
    let ds = VocDataset::open(data, &opts)?;
    let mut truth = GroundTruth::open(data, &s.list, &s.eval)?;
    let k = ds.classes.len();
    let rib = match (net.cam_time_tuning(), s.saliency.is_cam()) {
        (Some(r), true) => Some(Rib::open(gpu, data, classifier, r)?),
        _ => None,
    };
    let mut localiser = match &rib {
        Some(r) => Some(Localiser::new(&net.base, &r.trained.base, &r.settings)?),
        None => None,
    };
    validate::largest_image_fits("cam", &ds, |h, w| {
        let x = Tensor::zeros(gpu, &[1, 3, h, w])?;
        let rgb = crate::io::image::Rgb {
            width: w,
            height: h,
            data: vec![0; w * h * 3],
        };
        cam::multiscale_with_pixels(source, &x, &rgb, &vec![true; k], &s.multiscale).map(drop)
    })?;
    let sweep = sweep_thresholds();
    let mut at = Confusion::new(k + 1);
    let mut curve: Vec<Confusion> = sweep.iter().map(|_| Confusion::new(k + 1)).collect();
    let mut outputs = Vec::with_capacity(2 * ds.len());
    let mut scored = false;
    let mut journal = stage.journal()?;
    for i in 0..ds.len() {
        let id = &ds.records[i].id;
        let smp = ds.sample(i, 0)?;
        let (h, w) = (smp.height, smp.width);
        let present: Vec<bool> = smp.labels.iter().map(|&v| v > 0.0).collect();
        if present.len() != k {
            return Err(Error::invalid(
                "cam",
                format!("{id}: {} labels for {k} classes", present.len()),
            ));
        }
        let npy_name = format!("cams/{id}.npy");
        let npy_path = out.join(&npy_name);
        let resumed = journal.contains(id) && npy_path.exists();
        let cams: Vec<f32> = if resumed {
            npy::read_shaped(&npy_path, &[Some(k), Some(h), Some(w)])?.data
        } else {
            let x = Tensor::from_slice(gpu, &smp.image, &[1, 3, h, w])?;
            let cams = match (&rib, &mut localiser) {
                (Some(r), Some(l)) if present.iter().any(|&p| p) => {
                    let mut negatives = r.negatives(&present, i);
                    let (maps, _) = pollster::block_on(l.localise(
                        &x,
                        &present,
                        &s.multiscale,
                        &mut negatives,
                    ))?;
                    maps
                }
                _ => {
                    let rgb = crate::io::image::denormalize_imagenet(&smp.image, w, h)?;
                    cam::multiscale_with_pixels(source, &x, &rgb, &present, &s.multiscale)?
                }
            };
            let cams = cams.to_vec_blocking()?;
            npy::write(&npy_path, &[k, h, w], &cams)?;
            cams
        };
        let best = cam::best_class(&cams, &present, h, w)?;
        let map = LabelMap {
            width: w,
            height: h,
            data: cam::threshold_labels(&best, s.threshold),
        };
        let png_name = stage.write_labels(format!("labels/{id}.png"), &map)?;
        let pred = &map.data;
        if let Some(gt) = truth.mask(id, (w, h))? {
            at.add(pred, &gt)?;
            for (th, conf) in sweep.iter().zip(curve.iter_mut()) {
                conf.add(&cam::threshold_labels(&best, *th), &gt)?;
            }
            scored = true;
        }
        if !resumed {
            journal.record(id)?;
        }
        outputs.push(npy_name);
        outputs.push(png_name);
        progress(i + 1, ds.len());
    }
    let results = if scored {
        let curve: Vec<(f32, f64)> = sweep
            .iter()
            .zip(&curve)
            .map(|(t, c)| (*t, c.scores().miou))
            .collect();
        let best = curve
            .iter()
            .copied()
            .fold((0.0, -1.0), |a, b| if b.1 > a.1 { b } else { a });
        StageResults {
            miou: Some(at.scores().miou),
            threshold: Some(s.threshold),
            best_threshold: Some(best.0),
            best_miou: Some(best.1),
            sweep: Some(curve),
            scored_on: Some(truth.describe()),
            ..StageResults::default()
        }
    } else {
        StageResults::default()
    };
    stage.finish(t.elapsed().as_secs_f64(), outputs, results)
}

/// What RIB's per-image fine-tuning reads besides the image: the trained
/// weights to reset from, and the classifier's training images (with its
/// augmentation) from which each step draws images sharing no class.
struct Rib {
    gpu: Gpu,
    trained: MethodNet,
    settings: RibSettings,
    pool: VocDataset,
    seed: u64,
}

impl Rib {
    /// Opens the classifier at `classifier` a second time and the list it
    /// was trained on.
    fn open(gpu: &Gpu, data: &Path, classifier: &Path, settings: &RibSettings) -> Result<Rib> {
        let trained = MethodNet::load(gpu, classifier)?;
        let side = checkpoint::read_sidecar(classifier)?
            .ok_or_else(|| Error::format(classifier.display().to_string(), "no sidecar (.json)"))?;
        let train: ClassifierSettings = serde_json::from_value(side.config).map_err(|e| {
            Error::format(
                checkpoint::sidecar_path(classifier).display().to_string(),
                format!("classifier settings: {e}"),
            )
        })?;
        let mut opts = VocOptions::split(&train.list);
        opts.augment = train.augment()?;
        Ok(Rib {
            gpu: gpu.clone(),
            trained,
            settings: settings.clone(),
            pool: VocDataset::open(data, &opts)?,
            seed: train.seed,
        })
    }

    /// The draw of negatives for image `index` with classes `present`:
    /// each call gives `settings.negatives` augmented training images that
    /// share none of them, batched by size; none when every training image
    /// shares a class with it (the image is then tuned alone).
    fn negatives(
        &self,
        present: &[bool],
        index: usize,
    ) -> impl FnMut() -> Result<Vec<(Tensor, Tensor)>> + '_ {
        let disjoint: Vec<usize> = (0..self.pool.records.len())
            .filter(|&j| {
                let labels = &self.pool.records[j].labels;
                // Image labels are 1-based; `present` is indexed from 0.
                !labels.iter().any(|&c| {
                    c.checked_sub(1)
                        .and_then(|c| present.get(c as usize))
                        .copied()
                        .unwrap_or(false)
                })
            })
            .collect();
        let mut rng = SmallRng::seed_from_u64(mix_seed(self.seed, index as u64));
        move || {
            let mut groups: Vec<(Vec<Sample>, Vec<usize>)> = Vec::new();
            let draws = if disjoint.is_empty() {
                0
            } else {
                self.settings.negatives
            };
            for _ in 0..draws {
                let j = disjoint[rng.random_range(0..disjoint.len())];
                let smp = self.pool.sample(j, rng.random())?;
                match groups
                    .iter_mut()
                    .find(|(g, _)| g[0].height == smp.height && g[0].width == smp.width)
                {
                    Some((g, ids)) => {
                        g.push(smp);
                        ids.push(j);
                    }
                    None => groups.push((vec![smp], vec![j])),
                }
            }
            groups
                .into_iter()
                .map(|(g, ids)| collate(&self.gpu, &g, ids).map(|b| (b.images, b.labels)))
                .collect()
        }
    }
}
