//! `weakseg compare --supervision`: one segmenter trained from each kind
//! of label on one dataset, in a table like SPML's (supervision | method |
//! mIoU | % of full supervision), written as Markdown and JSON.
//!
//! - tags: the image-label pipeline (CAM → AffinityNet random walk →
//!   segmenter), in the directory `compare --methods cam` uses; and the
//!   constrained CNN, a segmenter trained from the tags directly; and SEC
//!   and DSRG, segmenters trained on the pipeline's affinity labels as
//!   seeds;
//! - boxes: each box pseudo-mask ([`BoxMode`]) → segmenter;
//! - points and scribbles: partial cross-entropy on the drawn marks, then
//!   rloss's second phase: the same segmenter fine-tuned with the dense-CRF
//!   loss and, separately, with the normalized-cut loss; for points also
//!   What's the Point's loss, its objectness the tag classifier's CAM;
//! - SPML for each of tags, boxes, points and scribbles: the embedding
//!   network trained on SPML's pseudo labels of that kind (the tag CAM
//!   at α 6 and threshold 0.2; the CAM-in-box masks; the drawn marks), and
//!   the evaluation images labelled by nearest training prototypes + CRF;
//!   for tags also SPML's second stage, the CAMs walked over the embedding
//!   and refined by the CRF, as a segmenter's pseudo masks;
//! - full: the segmenter on ground-truth masks.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use weakseg_kernels::{Error, Gpu, Result};

use crate::data::voc::{VocDataset, VocOptions};
use crate::io::labels;
use crate::io::write_atomic;
use crate::losses::{Constraints, Regulariser, RegulariserKind, Seeded, SeededMethod};
use crate::metrics::SparseScore;
use crate::pipeline::aff_labels;
use crate::pipeline::results::StageResults;
use crate::pipeline::run::{self, Observer, PipelineConfig, dirs};
use crate::pipeline::segmenter::{self, SegSettings};
use crate::pipeline::spml::{self, SpmlSettings};
use crate::pipeline::stage::Manifest;
use crate::pipeline::weak_masks::{self, WeakLabel, WeakMaskSettings};
use crate::refine::boxes::BoxMode;
use crate::refine::crf::CrfParams;
use crate::spml::{EmbeddingWalk, Relation, Relations};

/// A kind of label a segmenter can be trained from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Supervision {
    /// Image-level tags.
    Tags,
    /// Bounding boxes.
    Boxes,
    /// One point per object.
    Points,
    /// Scribbles.
    Scribbles,
    /// Pixel masks: the upper bound.
    Full,
}

impl Supervision {
    /// Every kind, cheapest first.
    pub const ALL: [Supervision; 5] = [
        Supervision::Tags,
        Supervision::Boxes,
        Supervision::Points,
        Supervision::Scribbles,
        Supervision::Full,
    ];

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Supervision::Tags => "tags",
            Supervision::Boxes => "boxes",
            Supervision::Points => "points",
            Supervision::Scribbles => "scribbles",
            Supervision::Full => "full",
        }
    }

    /// The kind called `name`, or an error listing them.
    pub fn parse(name: &str) -> Result<Supervision> {
        Self::ALL
            .into_iter()
            .find(|k| k.name() == name)
            .ok_or_else(|| {
                Error::invalid(
                    "compare",
                    format!(
                        "unknown supervision `{name}`; one of tags, boxes, points, scribbles, full"
                    ),
                )
            })
    }
}

/// One trained segmenter's scores.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SupervisionRow {
    /// The label it learnt from.
    pub supervision: Supervision,
    /// How (the pseudo-mask or loss recipe).
    pub method: String,
    /// Its training targets against the ground truth (unlabelled pixels
    /// as background): mIoU on the training list.
    pub target_miou_train: Option<f64>,
    /// Share of training pixels its targets label.
    pub labelled: Option<f64>,
    /// The segmenter's mIoU on the evaluation list.
    pub miou_val: Option<f64>,
}

/// Every row, and the fully supervised mIoU they are measured against.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SupervisionComparison {
    /// Rows in the order run.
    pub rows: Vec<SupervisionRow>,
    /// The segmenter trained on ground truth.
    pub full_miou_val: Option<f64>,
}

fn report(name: &str, m: Manifest, obs: &mut dyn Observer) -> Manifest {
    obs.end(name, &m);
    m
}

/// Runs every kind in `kinds` on `base` (its data, its stage settings)
/// under `base.out/supervision/`, and writes `supervision.md` and
/// `supervision.json` into `base.out`.
pub fn compare(
    gpu: &Gpu,
    base: &PipelineConfig,
    kinds: &[Supervision],
    obs: &mut dyn Observer,
) -> Result<SupervisionComparison> {
    if kinds.is_empty() {
        return Err(Error::invalid("compare", "no supervision to compare"));
    }
    let root = base.out.join("supervision");
    let mut out = SupervisionComparison::default();
    for &kind in kinds {
        match kind {
            Supervision::Tags => {
                let mut cfg = base.clone();
                cfg.out = base.out.join("cam");
                cfg.fully_supervised = false;
                let (m, _) = run::run(gpu, &cfg, obs)?;
                out.rows.push(SupervisionRow {
                    supervision: kind,
                    method: "CAM → AffinityNet random walk".into(),
                    target_miou_train: m.rw_miou_train,
                    labelled: Some(1.0),
                    miou_val: m.seg_miou_val,
                });
                let ccnn = tag_segmenter(gpu, base, &root.join("tags-ccnn"), None, obs, |s| {
                    s.constraints = Some(Constraints::default())
                })?;
                out.rows.push(SupervisionRow {
                    supervision: kind,
                    method: "constrained CNN (tags only)".into(),
                    target_miou_train: None,
                    labelled: None,
                    miou_val: ccnn,
                });
                let seeds = tag_seeds(gpu, base, obs)?;
                let score = seed_score(base, &seeds)?;
                for method in [SeededMethod::Sec, SeededMethod::Dsrg] {
                    let dir = root.join(format!("tags-{}", method.name()));
                    let miou = tag_segmenter(gpu, base, &dir, Some(&seeds), obs, |s| {
                        s.seeded = Some(Seeded::new(method))
                    })?;
                    out.rows.push(SupervisionRow {
                        supervision: kind,
                        method: format!(
                            "{} (seeds: the affinity labels)",
                            method.name().to_uppercase()
                        ),
                        target_miou_train: score.miou,
                        labelled: score.labelled,
                        miou_val: miou,
                    });
                }
                let cams = tag_cams(gpu, base, obs)?;
                let dir = root.join("tags-spml");
                obs.begin("spml-labels");
                let m = spml::tag_labels(
                    &base.data,
                    &cams,
                    &dir.join("labels"),
                    &base.segmenter.list,
                    6.0,
                    0.2,
                    |d, t| obs.images(d, t),
                )?;
                report("spml-labels", m, obs);
                let labels = dir.join("labels").join("labels");
                let job = SpmlRun::new(kind, &labels, dir.clone(), "CAM α 6, threshold 0.2")?;
                out.rows.push(spml_row(gpu, base, &job, obs)?);
                obs.begin("spml-walk");
                let m = spml::walk_labels(
                    gpu,
                    &base.data,
                    &cams,
                    &dir.join("train").join(spml::CHECKPOINT),
                    &dir.join("walk"),
                    &base.segmenter.list,
                    &EmbeddingWalk::default(),
                    &CrfParams::default(),
                    |d, t| obs.images(d, t),
                )?;
                let m = report("spml-walk", m, obs);
                let walked = dir.join("walk").join("labels");
                let miou = tag_segmenter(gpu, base, &dir, Some(&walked), obs, |_| {})?;
                out.rows.push(SupervisionRow {
                    supervision: kind,
                    method: "SPML (CAM walked over the embedding + CRF → segmenter)".into(),
                    target_miou_train: m.results.miou,
                    labelled: Some(1.0),
                    miou_val: miou,
                });
            }
            Supervision::Boxes => {
                for mode in BoxMode::ALL {
                    let s = WeakMaskSettings {
                        label: WeakLabel::Boxes,
                        box_mode: mode,
                        ..WeakMaskSettings::default()
                    };
                    let cams = if mode.needs_cams() {
                        Some(tag_cams(gpu, base, obs)?)
                    } else {
                        None
                    };
                    let dir = root.join(format!("boxes-{}", mode.name()));
                    let run = Recipe::new(kind, &format!("box masks: {}", mode.name()), "seg");
                    out.rows.push(masks_then_segment(
                        gpu,
                        base,
                        &dir,
                        &s,
                        cams.as_deref(),
                        run,
                        obs,
                    )?);
                }
                let labels = root.join("boxes-cam").join("weak-masks").join("masks");
                let job = SpmlRun::new(kind, &labels, root.join("boxes-spml"), "CAM in boxes")?;
                out.rows.push(spml_row(gpu, base, &job, obs)?);
            }
            Supervision::Points | Supervision::Scribbles => {
                let label = if kind == Supervision::Points {
                    WeakLabel::Points
                } else {
                    WeakLabel::Scribbles
                };
                let s = WeakMaskSettings {
                    label,
                    ..WeakMaskSettings::default()
                };
                let dir = root.join(label.name());
                let mut recipes = vec![Recipe::new(kind, "partial cross-entropy (pCE)", "seg")];
                for reg in [RegulariserKind::DenseCrf, RegulariserKind::NormalizedCut] {
                    recipes.push(
                        Recipe::new(kind, &format!("pCE, then pCE + {} loss", reg.name()), "seg")
                            .then(reg),
                    );
                }
                if kind == Supervision::Points {
                    let cams = tag_cams(gpu, base, obs)?.join("cams");
                    let power = base.walk.walk.alpha;
                    let wtp = Recipe {
                        objectness: Some((cams, power)),
                        ..Recipe::new(
                            kind,
                            &format!(
                                "What's the Point (objectness: CAM, background power {power})"
                            ),
                            "seg-point-loss",
                        )
                    };
                    let then = Recipe {
                        how: "What's the Point, then + dense-crf loss".into(),
                        ..wtp.clone()
                    }
                    .then(RegulariserKind::DenseCrf);
                    recipes.extend([wtp, then]);
                }
                for r in recipes {
                    out.rows
                        .push(masks_then_segment(gpu, base, &dir, &s, None, r, obs)?);
                }
                if kind == Supervision::Points {
                    out.rows.push(points_dsrg(gpu, base, &root, obs)?);
                }
                let labels = dir.join("weak-masks").join("masks");
                let spml_dir = root.join(format!("{}-spml", label.name()));
                let job = SpmlRun::new(kind, &labels, spml_dir, "the marks")?;
                out.rows.push(spml_row(gpu, base, &job, obs)?);
                if kind == Supervision::Points {
                    // SPML used feature affinity for points (DensePose's).
                    let mut job = SpmlRun::new(
                        kind,
                        &labels,
                        root.join("points-spml-affinity"),
                        "the marks, + feature affinity 0.5",
                    )?;
                    job.relations.feature_affinity = Relation {
                        kappa: 12.0,
                        weight: 0.5,
                    };
                    out.rows.push(spml_row(gpu, base, &job, obs)?);
                }
            }
            Supervision::Full => {
                let p = run::full_bound(gpu, base, obs, &mut report)?;
                out.full_miou_val = p.results.miou;
                out.rows.push(SupervisionRow {
                    supervision: kind,
                    method: "cross-entropy on ground truth".into(),
                    target_miou_train: Some(1.0),
                    labelled: Some(1.0),
                    miou_val: out.full_miou_val,
                });
            }
        }
    }
    let json =
        serde_json::to_vec_pretty(&out).map_err(|e| Error::format("compare", e.to_string()))?;
    write_atomic(&base.out.join("supervision.json"), &json)?;
    write_atomic(&base.out.join("supervision.md"), markdown(&out).as_bytes())?;
    Ok(out)
}

/// A segmenter trained from the tags (on `seeds`, or on no masks at all)
/// with `variant` applied to the base's settings, in `dir`; its val mIoU.
fn tag_segmenter(
    gpu: &Gpu,
    base: &PipelineConfig,
    dir: &Path,
    seeds: Option<&Path>,
    obs: &mut dyn Observer,
    variant: impl FnOnce(&mut SegSettings),
) -> Result<Option<f64>> {
    let mut cfg = base.clone();
    cfg.out = dir.to_path_buf();
    variant(&mut cfg.segmenter);
    let p = run::segment(
        gpu,
        &cfg,
        seeds,
        ["seg", "seg-predict"],
        ["train-seg", "predict"],
        obs,
        &mut report,
    )?;
    Ok(p.results.miou)
}

/// One SPML row's inputs: label maps from `kind` (described as `from`),
/// the relations' settings, and the working directory.
struct SpmlRun<'a> {
    kind: Supervision,
    relations: Relations,
    labels: &'a Path,
    dir: PathBuf,
    from: &'a str,
}

impl<'a> SpmlRun<'a> {
    /// The kind's own relations (SPML's VOC script for it).
    fn new(kind: Supervision, labels: &'a Path, dir: PathBuf, from: &'a str) -> Result<Self> {
        Ok(SpmlRun {
            kind,
            relations: Relations::for_label(kind.name())?,
            labels,
            dir,
            from,
        })
    }
}

/// SPML on a run's label maps: its embedding trained in `dir/train`, the
/// evaluation list labelled in `dir/predict`. The backbone, stride, seed,
/// epochs and lists are the segmenter's, so the rows compare like with
/// like.
fn spml_row(
    gpu: &Gpu,
    base: &PipelineConfig,
    job: &SpmlRun<'_>,
    obs: &mut dyn Observer,
) -> Result<SupervisionRow> {
    let seg = &base.segmenter;
    let s = SpmlSettings {
        arch: seg.arch.clone(),
        output_stride: seg.output_stride,
        pretrained: seg.pretrained.clone(),
        list: seg.list.clone(),
        eval_list: base.predict.list.clone(),
        epochs: seg.epochs,
        seed: seg.seed,
        relations: job.relations,
        crop: seg.crop.clone(),
        ..SpmlSettings::default()
    };
    obs.begin("spml-train");
    let m = spml::train(
        gpu,
        &base.data,
        job.labels,
        &job.dir.join("train"),
        &s,
        obs.trainer(),
    )?;
    report("spml-train", m, obs);
    obs.begin("spml-predict");
    let m = spml::predict(
        gpu,
        &base.data,
        job.labels,
        &job.dir.join("train").join(spml::CHECKPOINT),
        &job.dir.join("predict"),
        &s,
        |d, t| obs.images(d, t),
    )?;
    let m = report("spml-predict", m, obs);
    let score = seed_score(base, job.labels)?;
    Ok(SupervisionRow {
        supervision: job.kind,
        method: format!("SPML (labels: {}; prototypes + CRF)", job.from),
        target_miou_train: score.miou,
        labelled: score.labelled,
        miou_val: m.results.miou,
    })
}

/// The seed maps in `dir` (ID.png) scored against the ground truth of the
/// segmenter's training list.
fn seed_score(base: &PipelineConfig, dir: &Path) -> Result<StageResults> {
    let ds = VocDataset::open(&base.data, &VocOptions::split(&base.segmenter.list))?;
    let mut score = SparseScore::new(ds.classes.len() + 1);
    for r in &ds.records {
        if let Some(gt) = &r.mask {
            let seeds = labels::read(&dir.join(format!("{}.png", r.id)))?;
            score.add(&seeds.data, &labels::read(gt)?.data)?;
        }
    }
    Ok(StageResults::sparse(&score))
}

/// The `cam` stage of the tags pipeline (classifier first), for the box
/// mode that reads CAMs and for What's the Point's objectness. Returns its
/// directory.
fn tag_cams(gpu: &Gpu, base: &PipelineConfig, obs: &mut dyn Observer) -> Result<PathBuf> {
    let mut cfg = base.clone();
    cfg.out = base.out.join("cam");
    run::classifier_and_cams(gpu, &cfg, obs, &mut report)?;
    Ok(cfg.out.join(dirs::CAM))
}

/// The tag pipeline's affinity labels (stage `aff-labels` of
/// `base.out/cam`, classifier and CAMs first): the confident CAM cues SEC
/// and DSRG grow from. Returns the directory of the seed maps.
fn tag_seeds(gpu: &Gpu, base: &PipelineConfig, obs: &mut dyn Observer) -> Result<PathBuf> {
    let cams = tag_cams(gpu, base, obs)?;
    let dir = base.out.join("cam").join(dirs::AFF_LABELS);
    obs.begin("aff-labels");
    let m = aff_labels::make(gpu, &base.data, &cams, &dir, &base.aff_labels, |d, t| {
        obs.images(d, t)
    })?;
    report("aff-labels", m, obs);
    Ok(dir.join("aff"))
}

/// The training images whose clicked classes differ from their tags.
fn clicks_miss_tags(base: &PipelineConfig) -> Result<usize> {
    let ds = VocDataset::open(&base.data, &VocOptions::split(&base.segmenter.list))?;
    let mut missed = 0;
    for r in &ds.records {
        let mut clicked: Vec<u8> = r
            .marks
            .iter()
            .filter(|m| !m.points.is_empty())
            .filter_map(|m| ds.classes.label(&m.class))
            .filter(|&l| l != 0)
            .collect();
        clicked.sort_unstable();
        clicked.dedup();
        missed += usize::from(clicked != r.labels);
    }
    Ok(missed)
}

/// Points as DSRG's seeds: the clicks drawn over the tag pipeline's
/// affinity labels, and the segmenter grown from them by DSRG. A click
/// names its object's class, so the clicks of an image carry its tags;
/// the classifier behind the CAMs and DSRG's tag terms read the dataset's
/// tags, which is sound only where the two agree, so the row runs only when
/// they agree on every training image and otherwise says on how many they
/// differ.
fn points_dsrg(
    gpu: &Gpu,
    base: &PipelineConfig,
    root: &Path,
    obs: &mut dyn Observer,
) -> Result<SupervisionRow> {
    let method = "DSRG (seeds: the affinity labels + the clicks; tags: the clicked classes)";
    let missed = clicks_miss_tags(base)?;
    if missed > 0 {
        return Ok(SupervisionRow {
            supervision: Supervision::Points,
            method: format!(
                "{method}: not run, the clicks differ from the tags on {missed} training images"
            ),
            target_miou_train: None,
            labelled: None,
            miou_val: None,
        });
    }
    let seeds = tag_seeds(gpu, base, obs)?;
    let s = WeakMaskSettings {
        label: WeakLabel::Points,
        over: Some(seeds),
        ..WeakMaskSettings::default()
    };
    let recipe = Recipe {
        seeded: Some(Seeded::new(SeededMethod::Dsrg)),
        ..Recipe::new(Supervision::Points, method, "seg")
    };
    masks_then_segment(gpu, base, &root.join("points-dsrg"), &s, None, recipe, obs)
}

/// One row's recipe: its label, its name in the table, its segmenter's
/// directory, and how that segmenter trains.
#[derive(Clone)]
struct Recipe {
    kind: Supervision,
    how: String,
    seg: String,
    /// The first phase's directory, when this is a second phase.
    init: Option<String>,
    regulariser: Option<Regulariser>,
    /// CAM directory giving What's the Point its objectness, and the
    /// background power that makes the CAM maximum a probability.
    objectness: Option<(PathBuf, f32)>,
    /// SEC's or DSRG's loss, the masks being its seeds.
    seeded: Option<Seeded>,
}

impl Recipe {
    /// One phase of (partial) cross-entropy into `seg`.
    fn new(kind: Supervision, how: &str, seg: &str) -> Recipe {
        Recipe {
            kind,
            how: how.into(),
            seg: seg.into(),
            init: None,
            regulariser: None,
            objectness: None,
            seeded: None,
        }
    }

    /// A second phase: this recipe's segmenter fine-tuned with `reg` added.
    fn then(self, reg: RegulariserKind) -> Recipe {
        Recipe {
            seg: format!("{}-{}", self.seg, reg.name()),
            init: Some(self.seg.clone()),
            regulariser: Some(Regulariser {
                kind: reg,
                ..Regulariser::default()
            }),
            ..self
        }
    }
}

/// The weak masks of `s` in `dir/weak-masks`, then the recipe's segmenter
/// on them in `dir/<recipe.seg>` and its predictions beside it.
fn masks_then_segment(
    gpu: &Gpu,
    base: &PipelineConfig,
    dir: &Path,
    s: &WeakMaskSettings,
    cams: Option<&Path>,
    recipe: Recipe,
    obs: &mut dyn Observer,
) -> Result<SupervisionRow> {
    let masks_dir = dir.join("weak-masks");
    obs.begin("weak-masks");
    let m = weak_masks::make(gpu, &base.data, cams, &masks_dir, s, |d, t| {
        obs.images(d, t)
    })?;
    let m = report("weak-masks", m, obs);
    let mut cfg = base.clone();
    cfg.out = dir.to_path_buf();
    cfg.segmenter.init = recipe
        .init
        .as_ref()
        .map(|d| dir.join(d).join(segmenter::CHECKPOINT));
    cfg.segmenter.regulariser = recipe.regulariser;
    cfg.segmenter.objectness_power = recipe.objectness.as_ref().map(|o| o.1);
    cfg.segmenter.objectness = recipe.objectness.map(|o| o.0);
    cfg.segmenter.seeded = recipe.seeded;
    let seg = recipe.seg;
    let pred = format!("{seg}-predict");
    let p = run::segment(
        gpu,
        &cfg,
        Some(&masks_dir.join("masks")),
        [&seg, &pred],
        ["train-seg", "predict"],
        obs,
        &mut report,
    )?;
    Ok(SupervisionRow {
        supervision: recipe.kind,
        method: recipe.how,
        target_miou_train: m.results.miou,
        labelled: m.results.labelled,
        miou_val: p.results.miou,
    })
}

/// The comparison as a Markdown table, mIoU in percent with each row's
/// share of the fully supervised segmenter's.
pub fn markdown(c: &SupervisionComparison) -> String {
    let pct = |v: Option<f64>| v.map_or("—".to_string(), |v| format!("{:.1}", 100.0 * v));
    let mut s = String::from(
        "| supervision | method | training targets mIoU | pixels labelled | mIoU val | % of full |\n|---|---|---|---|---|---|\n",
    );
    for r in &c.rows {
        let share = match (r.miou_val, c.full_miou_val) {
            (Some(v), Some(f)) if f > 0.0 => format!("{:.0}%", 100.0 * v / f),
            _ => "—".into(),
        };
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            r.supervision.name(),
            r.method,
            pct(r.target_miou_train),
            r.labelled
                .map_or("—".into(), |v| format!("{:.1}%", 100.0 * v)),
            pct(r.miou_val),
            share
        ));
    }
    s
}
