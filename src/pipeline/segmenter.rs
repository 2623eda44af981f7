//! Stages `train-seg` and `predict`: a DeepLab segmenter (ASPP or
//! LargeFOV on a dilated backbone) trained with cross-entropy, ignoring
//! 255, on pseudo-masks from a stage directory — or on the ground truth,
//! which gives the fully supervised upper bound — optionally from an
//! earlier segmenter and with an image-driven regulariser (the second
//! phase of scribble and point training) — and its label maps on a
//! list, optionally refined by the dense CRF, with their mIoU.

use std::path::Path;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use weakseg_kernels::{Error, Gpu, Result};

use crate::data::Dataset;
use crate::data::augment::{Augment, Crop};
use crate::data::voc::{MaskSource, VocDataset, VocOptions, list_path};
use crate::io::checkpoint::{self, SaveDtype, Sidecar};
use crate::io::image;
use crate::io::labels::LabelMap;
use crate::losses::{Constraints, Regulariser, Seeded, cam_objectness, point_loss};
use crate::metrics::MaskScore;
use crate::models::{ArchSpec, SegHeadKind, SegNet};
use crate::nn::{Builder, GroupRecipe, ModuleExt};
use crate::pipeline::fingerprint::Input;
use crate::pipeline::results::StageResults;
use crate::pipeline::scoring::{GroundTruth, Scoring};
use crate::pipeline::stage::{Manifest, Stage};
use crate::pipeline::validate;
use crate::refine::crf::{CrfParams, DenseCrf, unary_from_probs};
use crate::train::check_schedule;
use crate::train::{Reporter, fit};
use crate::{ResizeMode, Tensor, no_grad};

/// File name of the trained segmenter in the stage directory.
pub const CHECKPOINT: &str = "segmenter.safetensors";

/// Settings of the segmenter stage. The optional training variants are
/// left out of the serialised settings when unset, so the fingerprint of a
/// plain run is the same as before they existed and its outputs are reused.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SegSettings {
    /// Backbone name (see [`ArchSpec`]).
    pub arch: String,
    /// Backbone output stride.
    pub output_stride: usize,
    /// DeepLab head.
    pub head: SegHeadKind,
    /// Training list (split name or file).
    pub list: String,
    /// Passes over the list.
    pub epochs: usize,
    /// Images per step.
    pub batch_size: usize,
    /// Base learning rate.
    pub lr: f32,
    /// SGD weight decay.
    pub weight_decay: f32,
    /// Seed of initialisation, order and flips.
    pub seed: u64,
    /// ImageNet weights for the backbone; the head then learns 10× faster
    /// (DeepLab's groups). From scratch when absent.
    pub pretrained: Option<std::path::PathBuf>,
    /// Start from this segmenter checkpoint (same architecture) instead:
    /// the second phase of rloss's two-phase schedule.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init: Option<std::path::PathBuf>,
    /// An image-driven regulariser added to the cross-entropy (the dense-
    /// CRF or normalized-cut loss of scribble and point supervision).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub regulariser: Option<Regulariser>,
    /// What's the Point: a directory of per-image CAMs (`ID.npy`, the `cam`
    /// stage's `cams/`) whose maximum is each pixel's objectness; the
    /// cross-entropy becomes [`point_loss`], which also trains the
    /// unlabelled pixels.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub objectness: Option<std::path::PathBuf>,
    /// What's the Point's objectness from the CAM maximum m: with a power
    /// α, the foreground share m / (m + (1 − m)^α) of psa's background
    /// model (bg = (1 − m)^α), a probability as the loss expects; without
    /// one, m itself. A CAM peaks at 1 on the most discriminative part and
    /// stays low elsewhere on the object, so m alone calls most object
    /// pixels background.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub objectness_power: Option<f32>,
    /// Constrained CNN: train from the image tags alone (no masks read),
    /// the loss the cross-entropy against each image's constrained
    /// projection of the softmax.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub constraints: Option<Constraints>,
    /// SEC or DSRG: the masks are seeds (confident CAM cues, 255
    /// elsewhere) and the loss is the method's instead of the
    /// cross-entropy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seeded: Option<Seeded>,
    /// A fixed-size crop (rescale, flip, jitter as its settings say) so
    /// images of varied sizes batch, as the reference trainer crops; flips
    /// only when absent (images of one size). Left out of the fingerprint
    /// when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crop: Option<Crop>,
}

impl SegSettings {
    /// The list, the architecture, the schedule, the crop, the objectness
    /// power and the weight files, checked before any work.
    pub fn validate(&self, data: &Path) -> Result<()> {
        ArchSpec::new(&self.arch, self.output_stride).validate()?;
        check_schedule(self.epochs, self.batch_size, 1)?;
        if let Some(c) = &self.crop {
            c.augment()?;
        }
        if let Some(a) = self.objectness_power
            && !(a.is_finite() && a > 0.0)
        {
            return Err(Error::invalid(
                "train-seg",
                format!("objectness power must be a positive number, got {a}"),
            ));
        }
        validate::list("train-seg", data, &self.list)?;
        validate::weights(
            self.pretrained
                .iter()
                .chain(&self.init)
                .map(std::path::PathBuf::as_path),
        )
    }
}

impl Default for SegSettings {
    /// The synthetic benchmark's recipe: resnet-tiny + ASPP at stride 8,
    /// 15 epochs of batch 16 at lr 0.05, flips.
    fn default() -> Self {
        SegSettings {
            arch: "resnet-tiny".into(),
            output_stride: 8,
            head: SegHeadKind::Aspp,
            list: "train".into(),
            epochs: 15,
            batch_size: 16,
            lr: 0.05,
            weight_decay: 1e-4,
            seed: 2,
            pretrained: None,
            init: None,
            regulariser: None,
            objectness: None,
            objectness_power: None,
            constraints: None,
            seeded: None,
            crop: None,
        }
    }
}

/// Trains the segmenter on the masks in `masks` (ID.png label maps, 255
/// ignored), or on the dataset's ground truth when `masks` is None.
pub fn train(
    gpu: &Gpu,
    data: &Path,
    masks: Option<&Path>,
    out: &Path,
    s: &SegSettings,
    reporter: &mut dyn Reporter,
) -> Result<Manifest> {
    s.validate(data)?;
    let list = list_path(data, &s.list);
    // Masks written by a stage carry its manifest (their hashes); masks
    // from elsewhere are hashed file by file.
    let mut inputs = vec![Input::data(data, &list)];
    inputs.extend(masks.map(|m| Input::upstream(m, &list)));
    inputs.extend(s.pretrained.as_deref().map(Input::file));
    inputs.extend(s.init.as_deref().map(Input::file));
    inputs.extend(s.objectness.as_deref().map(|d| Input::upstream(d, &list)));
    let mut stage = Stage::new("train-seg", out, s, &inputs)?;
    if let Some(m) = stage.done()? {
        return Ok(m);
    }
    let t = Instant::now();
    let mut opts = VocOptions::split(&s.list);
    opts.masks = match (masks, &s.constraints) {
        (_, Some(_)) => MaskSource::None,
        (Some(m), None) => MaskSource::Dir(m.to_path_buf()),
        (None, None) => MaskSource::Auto,
    };
    opts.augment = match &s.crop {
        Some(c) => c.augment()?,
        None => Augment {
            hflip: true,
            ..Augment::default()
        },
    };
    opts.cams = s.objectness.clone();
    let ds = VocDataset::open(data, &opts)?;
    let k = ds.classes.len() + 1;
    let arch = ArchSpec::new(&s.arch, s.output_stride);
    let net = SegNet::new(&mut Builder::new(gpu, s.seed), &arch, s.head, k)?;
    let recipe = match &s.pretrained {
        Some(p) => {
            crate::io::checkpoint::load_backbone(&net, p)?;
            GroupRecipe::PSA
        }
        None => GroupRecipe::UNIFORM,
    };
    if let Some(p) = &s.init {
        checkpoint::load(p, &net)?;
    }
    let mut opt = recipe.sgd(&net, SegNet::is_new, s.lr, s.weight_decay)?;
    let cfg = stage.train_config(s.epochs, s.batch_size, s.lr, s.seed);
    let sidecar = Sidecar::with_settings(Some(arch), Some(k), s, "train-seg")?;
    let summary = fit(gpu, &cfg, &net, &mut opt, &ds, &sidecar, reporter, |b| {
        let (logits, pce) = match &s.constraints {
            Some(c) => {
                let scores = net.scores(&b.images)?;
                let loss = pollster::block_on(c.loss(&scores, &b.labels))?;
                let size = (b.images.shape()[2], b.images.shape()[3]);
                (scores.interpolate(size, ResizeMode::Bilinear(false))?, loss)
            }
            None => {
                let m = b
                    .masks
                    .as_ref()
                    .ok_or_else(|| Error::invalid("train-seg", "a batch without masks"))?;
                let logits = net.forward(&b.images)?;
                let loss = match (&b.cams, &b.host_masks) {
                    (_, Some(seeds)) if s.seeded.is_some() => {
                        let sd = s.seeded.as_ref().ok_or_else(|| {
                            Error::invalid("train-seg", "seeded settings vanished")
                        })?;
                        pollster::block_on(sd.loss(&logits, &b.images, seeds, &b.labels))?
                    }
                    (Some(cams), Some(clicks)) => {
                        let (peak, _) = cams.max_axis(1, true)?;
                        let objectness =
                            cam_objectness(&peak.clamp(0.0, 1.0)?, s.objectness_power)?;
                        point_loss(&logits, m, clicks, &b.labels, &objectness)?
                    }
                    _ => logits.cross_entropy(m, None, 255)?,
                };
                (logits, loss)
            }
        };
        match &s.regulariser {
            Some(r) => pce.add(&pollster::block_on(r.loss(&b.images, &logits))?),
            None => Ok(pce),
        }
    })?;
    net.set_train(false);
    checkpoint::save(&out.join(CHECKPOINT), &net, &sidecar, SaveDtype::F32)?;
    stage.finish(
        t.elapsed().as_secs_f64(),
        vec![CHECKPOINT.into(), "segmenter.json".into()],
        StageResults::training(summary.epoch_losses),
    )
}

/// Loads a segmenter written by [`train`] that scores `labels` labels (the
/// classes and the background); a segmenter of another count is an error
/// naming it.
pub fn load(gpu: &Gpu, path: &Path, labels: usize) -> Result<SegNet> {
    let (arch, k, s) = checkpoint::read_settings::<SegSettings>(path)?;
    let k = k.ok_or_else(|| {
        Error::format(path.display().to_string(), "sidecar lacks the class count")
    })?;
    if k != labels {
        return Err(Error::invalid(
            "segmenter",
            format!(
                "{} scores {k} labels; the data has {} classes and the background",
                path.display(),
                labels.saturating_sub(1)
            ),
        ));
    }
    let net = SegNet::new(&mut Builder::new(gpu, 0), &arch, s.head, k)?;
    checkpoint::load(path, &net)?;
    net.set_train(false);
    Ok(net)
}

/// Settings of the prediction stage.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PredictSettings {
    /// Images (split name or file).
    pub list: String,
    /// Dense-CRF post-processing of the softmax (DeepLab's), if any.
    pub crf: Option<CrfParams>,
    /// The images and masks the predictions are scored on (every image
    /// with a mask when left out; left out of the fingerprint then).
    #[serde(skip_serializing_if = "Scoring::is_default")]
    pub eval: Scoring,
}

impl PredictSettings {
    /// The list and the dense CRF's parameters, checked before any work.
    pub fn validate(&self, data: &Path) -> Result<()> {
        self.crf.as_ref().map_or(Ok(()), CrfParams::validate)?;
        validate::list("predict", data, &self.list)
    }
}

impl Default for PredictSettings {
    fn default() -> Self {
        PredictSettings {
            list: "val".into(),
            crf: None,
            eval: Scoring::default(),
        }
    }
}

/// The segmenter's label map of one image [1, 3, h, w] (normalised),
/// refined by the CRF on the image's RGB pixels when `crf` is given.
pub fn segment(
    gpu: &Gpu,
    net: &SegNet,
    x: &Tensor,
    crf: Option<(&image::Rgb, &CrfParams)>,
) -> Result<Vec<u8>> {
    let (h, w) = (x.shape()[2], x.shape()[3]);
    let scores = no_grad(|| net.forward(x))?;
    let labels = match crf {
        None => no_grad(|| scores.argmax(1))?,
        Some((rgb, p)) => {
            let k = scores.shape()[1];
            let probs: Vec<f32> = no_grad(|| scores.softmax(1))?.to_vec_blocking()?;
            let unary = unary_from_probs(&probs, k, None, 1e-5);
            let q = DenseCrf::new_blocking(gpu, rgb, p)?.infer(&Tensor::from_slice(
                gpu,
                &unary,
                &[k, h, w],
            )?)?;
            q.argmax(0)?
        }
    };
    Ok(labels
        .to_vec_blocking::<u32>()?
        .into_iter()
        .map(|v| v as u8)
        .collect())
}

/// Writes the segmenter's label maps of `s.list` as `pred/ID.png` and, where
/// ground truth exists, their mIoU.
pub fn predict(
    gpu: &Gpu,
    data: &Path,
    segmenter: &Path,
    out: &Path,
    s: &PredictSettings,
    mut progress: impl FnMut(usize, usize),
) -> Result<Manifest> {
    s.validate(data)?;
    let list = list_path(data, &s.list);
    let inputs = [Input::data(data, &list), Input::file(segmenter)];
    let mut stage = Stage::new("predict", out, s, &inputs)?;
    if let Some(m) = stage.done()? {
        return Ok(m);
    }
    let t = Instant::now();
    let mut opts = VocOptions::split(&s.list);
    opts.masks = MaskSource::None;
    let ds = VocDataset::open(data, &opts)?;
    let net = load(gpu, segmenter, ds.classes.len() + 1)?;
    let mut truth = GroundTruth::open(data, &s.list, &s.eval)?;
    let mut score = MaskScore::new(ds.classes.len() + 1);
    validate::largest_image_fits("predict", &ds, |h, w| {
        segment(gpu, &net, &Tensor::zeros(gpu, &[1, 3, h, w])?, None)?;
        match &s.crf {
            Some(_) => crate::refine::crf::check_size(gpu, w, h, ds.classes.len() + 1),
            None => Ok(()),
        }
    })?;
    let mut outputs = Vec::with_capacity(ds.len());
    for i in 0..ds.len() {
        let r = &ds.records[i];
        let smp = ds.sample(i, 0)?;
        let (h, w) = (smp.height, smp.width);
        let x = Tensor::from_slice(gpu, &smp.image, &[1, 3, h, w])?;
        let pred = match &s.crf {
            Some(p) => segment(gpu, &net, &x, Some((&image::read(&r.image)?, p)))?,
            None => segment(gpu, &net, &x, None)?,
        };
        let map = LabelMap {
            width: w,
            height: h,
            data: pred,
        };
        outputs.push(stage.write_labels(format!("pred/{}.png", r.id), &map)?);
        score.add_labels(&map.data, truth.mask(&r.id, (w, h))?.as_deref())?;
        progress(i + 1, ds.len());
    }
    let results = StageResults {
        miou: score.miou(),
        scored_on: score.miou().map(|_| truth.describe()),
        ..StageResults::default()
    };
    stage.finish(t.elapsed().as_secs_f64(), outputs, results)
}
