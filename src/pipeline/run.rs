//! The whole image-label pipeline as one call: every stage in order, each
//! in its own directory under `out`, each skipped when an identical run
//! finished there (so an interrupted run resumes at the stage it stopped
//! in, and a training stage at its last epoch). [`PipelineConfig`] is what
//! `weakseg run --config FILE.toml` reads; [`Metrics`] is what
//! `metrics.json` holds.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use weakseg_kernels::{Error, Gpu, Result};

use crate::data::augment::Crop;
use crate::data::synth::{SynthConfig, SynthKind};
use crate::io::write_atomic;
use crate::pipeline::aff_labels::{self, AffLabelSettings, IrnLabels};
use crate::pipeline::affinity::{self, AffinitySettings};
use crate::pipeline::cams::{self, CamSettings};
use crate::pipeline::classifier::{self, ClassifierSettings};
use crate::pipeline::segmenter::{self, PredictSettings, SegSettings};
use crate::pipeline::stage::Manifest;
use crate::pipeline::walk::{self, WalkSettings};
use crate::train::Reporter;

/// Every stage's settings.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PipelineConfig {
    /// Dataset root (VOC layout).
    pub data: PathBuf,
    /// Working directory: one sub-directory per stage.
    pub out: PathBuf,
    /// Stage `train-cls`.
    pub classifier: ClassifierSettings,
    /// Stage `cam`.
    pub cam: CamSettings,
    /// Stage `aff-labels`.
    pub aff_labels: AffLabelSettings,
    /// Stage `train-aff`.
    pub affinity: AffinitySettings,
    /// Stage `rw`.
    pub walk: WalkSettings,
    /// Stage `train-seg` (on the random-walk pseudo-masks; also the
    /// fully supervised run's settings).
    pub segmenter: SegSettings,
    /// Stage `predict` (the final segmenter on the evaluation list).
    pub predict: PredictSettings,
    /// Also train the segmenter on ground-truth masks: the upper bound.
    pub fully_supervised: bool,
}

impl PipelineConfig {
    /// Parses a TOML configuration, naming the file in errors.
    pub fn from_toml(text: &str, what: &str) -> Result<PipelineConfig> {
        toml::from_str(text).map_err(|e| Error::format(what.to_string(), e.to_string()))
    }

    /// The demo's configuration for the synthetic benchmark `synth` at
    /// `data`: library defaults, the fully supervised bound, IRN's affinity
    /// labels (constant backgrounds 0.30 / 0.05: on the synthetic CAMs they
    /// give the walk more correct pairs than psa's α 4 / 32; see docs/results.md),
    /// and a walk suited to small images: t scaled to the grid
    /// ([`synth_log_t`]) and psa's confident-foreground α 4 as background
    /// power (psa's α = 16 suits VOC's CAMs; the synthetic CAMs light up only
    /// each object's part, and their walk does best at that α). Scenes
    /// vary in size, so every training stage crops as its reference does
    /// ([`synth_crops`]).
    pub fn synthetic(data: PathBuf, out: PathBuf, synth: &SynthConfig) -> PipelineConfig {
        let mut cfg = PipelineConfig {
            data,
            out,
            fully_supervised: true,
            ..PipelineConfig::default()
        };
        cfg.walk.walk.log_t = synth_log_t(synth.typical_side(), cfg.affinity.net.grid_stride);
        cfg.walk.walk.alpha = cfg.aff_labels.low_alpha;
        cfg.aff_labels.irn = Some(IrnLabels::default());
        if synth.kind == SynthKind::Scenes {
            synth_crops(&mut cfg, synth.typical_side().div_ceil(8) * 8);
        }
        cfg
    }

    /// Checks every stage's settings before the first stage runs, so a bad
    /// `[predict] list` fails in seconds rather than after hours of the
    /// stages before it: the dataset folder, each stage's list, the
    /// architectures, schedules, crops, CAM scales, CRF and walk
    /// parameters, the methods' settings and each weight file's header.
    /// The error names the configuration's table.
    pub fn validate(&self) -> Result<()> {
        if !self.data.is_dir() {
            return Err(Error::invalid(
                "config",
                format!("data {}: not a folder", self.data.display()),
            ));
        }
        let d = self.data.as_path();
        let tables: [(&str, Result<()>); 7] = [
            ("classifier", self.classifier.validate(d)),
            ("cam", self.cam.validate(d)),
            ("aff_labels", self.aff_labels.validate(d)),
            ("affinity", self.affinity.validate(d)),
            ("walk", self.walk.validate(d)),
            ("segmenter", self.segmenter.validate(d)),
            ("predict", self.predict.validate(d)),
        ];
        for (table, r) in tables {
            r.map_err(|e| Error::invalid("config", format!("[{table}]: {e}")))?;
        }
        Ok(())
    }

    /// Reads a TOML configuration file.
    pub fn read(path: &Path) -> Result<PipelineConfig> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path.display(), e))?;
        Self::from_toml(&text, &path.display().to_string())
    }
}

/// The references' crops scaled to a crop `side` near 0.9 of the mean
/// long side (psa crops 448 from VOC's ≈ 500-px images): the classifier's
/// psa recipe (long side 0.9–1.5·side, flip, jitter, crop), AffinityNet's
/// (flip, jitter, crop) and DeepLab's for the segmenter (rescale 0.5–1.5,
/// flip, crop).
pub fn synth_crops(cfg: &mut PipelineConfig, side: usize) {
    cfg.classifier.crop = Some(side);
    cfg.affinity.crop = Some(Crop {
        side,
        ..Crop::default()
    });
    cfg.segmenter.crop = Some(Crop {
        side,
        scale: [0.5, 1.5],
        jitter: false,
    });
}

/// psa's t = 256 steps on its ≈ 63×47 grid, scaled to the same reach on a
/// grid of `size`-px images at `grid_stride`: a walk spreads as √t grid
/// steps, so t scales with the grid's area (the 16×16 grid of 64-px images
/// gets t = 16). Returns log₂ t.
pub fn synth_log_t(size: usize, grid_stride: usize) -> u32 {
    let side = size.div_ceil(grid_stride.max(1)) as f64;
    let t = 256.0 * (side * side) / (63.0 * 47.0);
    t.log2().round().clamp(0.0, 8.0) as u32
}

/// The scores and times of a run: `metrics.json`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// CAM label maps on the training list, at the `cam` stage's threshold.
    pub cam_miou_train: Option<f64>,
    /// The best CAM mIoU along the threshold sweep.
    pub cam_best_miou_train: Option<f64>,
    /// CAM refined by the dense CRF: psa's map at background power
    /// α = low_alpha, or IRN's confident-foreground map.
    pub crf_miou_train: Option<f64>,
    /// Random-walk pseudo-masks (the walk's argmax) on the training list.
    pub rw_miou_train: Option<f64>,
    /// With the walk's dense CRF on, the refined masks the segmenter
    /// trains on instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rw_crf_miou_train: Option<f64>,
    /// The segmenter trained on the pseudo-masks, on the evaluation list.
    pub seg_miou_val: Option<f64>,
    /// The same segmenter trained on ground truth, on the evaluation list.
    pub full_miou_val: Option<f64>,
    /// Wall-clock seconds of each stage (of the run that produced it).
    pub seconds: BTreeMap<String, f64>,
    /// What each scoring stage's figures were measured on: "list, masks
    /// (n images)" by stage name.
    #[serde(default)]
    pub scored_on: BTreeMap<String, String>,
}

/// What a pipeline run reports while it works.
pub trait Observer {
    /// A stage starts.
    fn begin(&mut self, stage: &str);
    /// The progress display of a training stage.
    fn trainer(&mut self) -> &mut dyn Reporter;
    /// `done` of `total` images processed by an inference stage.
    fn images(&mut self, done: usize, total: usize);
    /// A stage finished (or was skipped).
    fn end(&mut self, stage: &str, manifest: &Manifest);
}

/// An observer that reports nothing (tests, benchmarks, embedded use).
#[derive(Default)]
pub struct Quiet(crate::train::progress::Silent);

impl Observer for Quiet {
    fn begin(&mut self, _stage: &str) {}
    fn trainer(&mut self) -> &mut dyn Reporter {
        &mut self.0
    }
    fn images(&mut self, _done: usize, _total: usize) {}
    fn end(&mut self, _stage: &str, _manifest: &Manifest) {}
}

/// The stage directories under the working directory.
pub mod dirs {
    /// `train-cls`.
    pub const CLASSIFIER: &str = "1-classifier";
    /// `cam`.
    pub const CAM: &str = "2-cam";
    /// `aff-labels`.
    pub const AFF_LABELS: &str = "3-aff-labels";
    /// `train-aff`.
    pub const AFFINITY: &str = "4-affinity";
    /// `rw`.
    pub const WALK: &str = "5-rw";
    /// `train-seg` on the pseudo-masks.
    pub const SEGMENTER: &str = "6-segmenter";
    /// `predict` with it.
    pub const PREDICT: &str = "7-predict";
    /// `train-seg` on ground truth.
    pub const FULL: &str = "8-full-segmenter";
    /// `predict` with that.
    pub const FULL_PREDICT: &str = "9-full-predict";
}

/// What a finished stage is handed to: the observer's `end` and the run's
/// list of manifests.
pub type Finish<'a> = dyn FnMut(&str, Manifest, &mut dyn Observer) -> Manifest + 'a;

/// Stages `train-cls` and `cam` of `cfg` under `cfg.out`: the classifier
/// and its CAMs, which every method's row, the box masks that read CAMs
/// and What's the Point's objectness start from. Returns both manifests.
pub fn classifier_and_cams(
    gpu: &Gpu,
    cfg: &PipelineConfig,
    obs: &mut dyn Observer,
    finish: &mut Finish<'_>,
) -> Result<[Manifest; 2]> {
    let dir = |d: &str| cfg.out.join(d);
    obs.begin("train-cls");
    let m = classifier::train(
        gpu,
        &cfg.data,
        &dir(dirs::CLASSIFIER),
        &cfg.classifier,
        obs.trainer(),
    )?;
    let cls = finish("train-cls", m, obs);
    obs.begin("cam");
    let m = cams::infer(
        gpu,
        &cfg.data,
        &dir(dirs::CLASSIFIER).join(classifier::CHECKPOINT),
        &dir(dirs::CAM),
        &cfg.cam,
        |d, t| obs.images(d, t),
    )?;
    Ok([cls, finish("cam", m, obs)])
}

/// Stages `train-seg` and `predict` into `dirs` under `cfg.out`, the
/// segmenter trained on the masks in `masks` (the ground truth when None);
/// `names` are the two stages' names as the observer sees them. Returns
/// the prediction's manifest.
pub fn segment(
    gpu: &Gpu,
    cfg: &PipelineConfig,
    masks: Option<&Path>,
    dirs: [&str; 2],
    names: [&str; 2],
    obs: &mut dyn Observer,
    finish: &mut Finish<'_>,
) -> Result<Manifest> {
    let [seg_dir, pred_dir] = dirs.map(|d| cfg.out.join(d));
    obs.begin(names[0]);
    let m = segmenter::train(
        gpu,
        &cfg.data,
        masks,
        &seg_dir,
        &cfg.segmenter,
        obs.trainer(),
    )?;
    finish(names[0], m, obs);
    obs.begin(names[1]);
    let m = segmenter::predict(
        gpu,
        &cfg.data,
        &seg_dir.join(segmenter::CHECKPOINT),
        &pred_dir,
        &cfg.predict,
        |d, t| obs.images(d, t),
    )?;
    Ok(finish(names[1], m, obs))
}

/// The fully supervised upper bound: the segmenter of `cfg` trained on the
/// ground-truth masks under `cfg.out` and scored on the evaluation list.
/// Every comparison shares it, so it lives beside the methods' runs.
pub fn full_bound(
    gpu: &Gpu,
    cfg: &PipelineConfig,
    obs: &mut dyn Observer,
    finish: &mut Finish<'_>,
) -> Result<Manifest> {
    segment(
        gpu,
        cfg,
        None,
        [dirs::FULL, dirs::FULL_PREDICT],
        ["train-seg (ground truth)", "predict (ground truth)"],
        obs,
        finish,
    )
}

/// Checks the whole configuration ([`PipelineConfig::validate`]), then runs
/// every stage of `cfg` in order and writes `out/metrics.json`.
/// Returns the metrics and each stage's manifest, in order.
pub fn run(
    gpu: &Gpu,
    cfg: &PipelineConfig,
    obs: &mut dyn Observer,
) -> Result<(Metrics, Vec<(String, Manifest)>)> {
    cfg.validate()?;
    let (data, out) = (cfg.data.as_path(), cfg.out.as_path());
    let dir = |d: &str| out.join(d);
    let mut done: Vec<(String, Manifest)> = Vec::new();
    let mut finish = |name: &str, m: Manifest, obs: &mut dyn Observer| -> Manifest {
        obs.end(name, &m);
        done.push((name.to_string(), m.clone()));
        m
    };

    let [_, cam] = classifier_and_cams(gpu, cfg, obs, &mut |n, m, o| finish(n, m, o))?;
    let classifier_ckpt = dir(dirs::CLASSIFIER).join(classifier::CHECKPOINT);

    obs.begin("aff-labels");
    let m = aff_labels::make(
        gpu,
        data,
        &dir(dirs::CAM),
        &dir(dirs::AFF_LABELS),
        &cfg.aff_labels,
        |d, t| obs.images(d, t),
    )?;
    let crf = finish("aff-labels", m, obs);

    obs.begin("train-aff");
    let m = affinity::train(
        gpu,
        data,
        &classifier_ckpt,
        &dir(dirs::AFF_LABELS),
        &dir(dirs::AFFINITY),
        &cfg.affinity,
        obs.trainer(),
    )?;
    finish("train-aff", m, obs);

    obs.begin("rw");
    let m = walk::run(
        gpu,
        data,
        &dir(dirs::AFFINITY).join(affinity::CHECKPOINT),
        &dir(dirs::CAM),
        &dir(dirs::WALK),
        &cfg.walk,
        |d, t| obs.images(d, t),
    )?;
    let rw = finish("rw", m, obs);

    let p = segment(
        gpu,
        cfg,
        Some(&dir(dirs::WALK).join("rw")),
        [dirs::SEGMENTER, dirs::PREDICT],
        ["train-seg", "predict"],
        obs,
        &mut |n, m, o| finish(n, m, o),
    )?;
    let seg_miou = p.results.miou;
    let full_miou = if cfg.fully_supervised {
        let p = full_bound(gpu, cfg, obs, &mut |n, m, o| finish(n, m, o))?;
        p.results.miou
    } else {
        None
    };
    let metrics = Metrics {
        cam_miou_train: cam.results.miou,
        cam_best_miou_train: cam.results.best_miou,
        crf_miou_train: crf.results.crf_low_miou,
        rw_miou_train: rw.results.walk_miou.or(rw.results.miou),
        rw_crf_miou_train: cfg.walk.crf.as_ref().and(rw.results.miou),
        seg_miou_val: seg_miou,
        full_miou_val: full_miou,
        seconds: done.iter().map(|(n, m)| (n.clone(), m.seconds)).collect(),
        scored_on: done
            .iter()
            .filter_map(|(n, m)| Some((n.clone(), m.results.scored_on.as_ref()?.to_string())))
            .collect(),
    };
    let json =
        serde_json::to_vec_pretty(&metrics).map_err(|e| Error::format("metrics", e.to_string()))?;
    write_atomic(&out.join("metrics.json"), &json)?;
    Ok((metrics, done))
}
