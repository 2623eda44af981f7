//! `weakseg synth --stats`: the scenes benchmark measured, so a reader can
//! check that it is hard where VOC is. Beside the scene statistics of
//! [`crate::data::synth::stats`] it measures two properties that need a
//! device:
//!
//! - how far colour alone segments the objects: the dense CRF (psa's
//!   settings) started from the ground truth eroded to each label's inner
//!   half, with label unaries of confidence 0.7 (IRN's `gt_prob`);
//! - how much class evidence the bodies carry: the mean AP on val of the
//!   default classifier trained on the images, and of one trained on the
//!   same images with every discriminative part painted over with its body,
//!   against the AP of a random ranking.

use std::path::Path;

use serde::Serialize;
use weakseg_kernels::{Error, Gpu, Result};

use crate::data::Dataset;
use crate::data::synth::errors::ErrorSplit;
use crate::data::synth::scenes::{self, Scene};
use crate::data::synth::shapes::edge_distance;
use crate::data::synth::stats::{self as scene_stats, SceneStats};
use crate::data::synth::{self, SynthConfig, SynthKind};
use crate::data::voc::{VocDataset, VocOptions};
use crate::io::labels::{self, LabelMap};
use crate::methods::MethodNet;
use crate::metrics::{Confusion, average_precision};
use crate::pipeline::classifier::{self, CHECKPOINT, ClassifierSettings};
use crate::pipeline::run::PipelineConfig;
use crate::refine::crf::{CrfParams, DenseCrf, unary_from_labels};
use crate::tensor::Tensor;
use crate::train::Reporter;

/// Label-unary confidence of the eroded ground truth (IRN's `gt_prob`).
pub const GT_PROB: f32 = 0.7;

/// The dense CRF started from eroded ground truth.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CrfFromEroded {
    /// Training images it ran on.
    pub images: usize,
    /// Share of pixels the eroded ground truth labels.
    pub labelled: f64,
    /// mIoU of the eroded ground truth alone, unlabelled pixels counted as
    /// background.
    pub eroded_miou: f64,
    /// mIoU of the CRF's labels against the full ground truth.
    pub crf_miou: f64,
    /// The CRF's settings.
    pub params: CrfParams,
    /// Label-unary confidence.
    pub gt_prob: f32,
}

/// Class evidence with and without the discriminative parts.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PartEvidence {
    /// Validation images scored.
    pub val_images: usize,
    /// Mean AP of the classifier trained and scored on the images.
    pub full_map: f64,
    /// Mean AP of the classifier trained and scored on the images with
    /// every part painted over with its body.
    pub body_only_map: f64,
    /// Mean AP of a random ranking: each class's share of val images.
    pub chance_map: f64,
    /// The classifiers' settings (the demo's).
    pub classifier: ClassifierSettings,
}

/// Everything `synth --stats` measures: `stats.json`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SynthStats {
    /// The benchmark measured.
    pub config: SynthConfig,
    /// Shapes, layout, context, boundaries and appendages of every scene.
    pub scenes: SceneStats,
    /// Colour alone, from the eroded ground truth.
    pub crf_from_eroded: CrfFromEroded,
    /// Class evidence in the bodies.
    pub part_evidence: PartEvidence,
}

/// The ground truth eroded to each label's inner half: label l + 1 where
/// a pixel's chessboard distance to the nearest other label is at least a
/// threshold, 0 (unknown) elsewhere. Each label's threshold is the one of
/// its distances that keeps the share of its pixels nearest one half (the
/// smaller on a tie); a label filling the image stays whole. The image
/// border does not count as another label.
pub fn eroded_inner_half(mask: &LabelMap) -> Vec<u8> {
    let dims = (mask.width, mask.height);
    let mut out = vec![0u8; mask.data.len()];
    let mut labels: Vec<u8> = mask.data.iter().copied().filter(|&l| l != 255).collect();
    labels.sort_unstable();
    labels.dedup();
    for l in labels {
        let region: Vec<bool> = mask.data.iter().map(|&v| v == l).collect();
        let depth = edge_distance(&region, dims);
        let inside: Vec<u32> = (0..region.len())
            .filter(|&i| region[i])
            .map(|i| depth[i])
            .collect();
        let mut levels = inside.clone();
        levels.sort_unstable();
        levels.dedup();
        let kept = |t: u32| inside.iter().filter(|&&d| d >= t).count() as f64 / inside.len() as f64;
        let cut = levels
            .iter()
            .copied()
            .min_by(|&a, &b| {
                (kept(a) - 0.5)
                    .abs()
                    .total_cmp(&(kept(b) - 0.5).abs())
                    .then(b.cmp(&a))
            })
            .unwrap_or(0);
        for (o, (&r, &d)) in out.iter_mut().zip(region.iter().zip(&depth)) {
            if r && d >= cut {
                *o = l.saturating_add(1);
            }
        }
    }
    out
}

/// Runs the dense CRF from the eroded ground truth of `scenes`.
pub fn crf_from_eroded(gpu: &Gpu, scenes: &[Scene], classes: usize) -> Result<CrfFromEroded> {
    let params = CrfParams::default();
    let n_labels = classes + 1;
    let mut crf_conf = Confusion::new(n_labels);
    let mut eroded_conf = Confusion::new(n_labels);
    let (mut labelled, mut pixels) = (0usize, 0usize);
    for s in scenes {
        let (w, h) = (s.image.rgb.width, s.image.rgb.height);
        let seeds = eroded_inner_half(&s.image.mask);
        labelled += seeds.iter().filter(|&&v| v > 0).count();
        pixels += seeds.len();
        let unary = unary_from_labels(&seeds, n_labels, GT_PROB, true)?;
        let u = Tensor::from_slice(gpu, &unary, &[n_labels, h, w])?;
        let q: Vec<f32> = DenseCrf::new_blocking(gpu, &s.image.rgb, &params)?
            .infer(&u)?
            .to_vec_blocking()?;
        let n = w * h;
        let pred: Vec<u8> = (0..n)
            .map(|i| {
                (0..n_labels)
                    .max_by(|&a, &b| q[a * n + i].total_cmp(&q[b * n + i]))
                    .unwrap_or(0) as u8
            })
            .collect();
        crf_conf.add(&pred, &s.image.mask.data)?;
        let eroded: Vec<u8> = seeds.iter().map(|&v| v.saturating_sub(1)).collect();
        eroded_conf.add(&eroded, &s.image.mask.data)?;
    }
    Ok(CrfFromEroded {
        images: scenes.len(),
        labelled: labelled as f64 / pixels.max(1) as f64,
        eroded_miou: eroded_conf.scores().miou,
        crf_miou: crf_conf.scores().miou,
        params,
        gt_prob: GT_PROB,
    })
}

/// Mean AP on `data`'s val list of the classifier at `checkpoint`, and the
/// mean AP of a random ranking; classes without a positive are skipped.
pub fn val_map(gpu: &Gpu, checkpoint: &Path, data: &Path) -> Result<(f64, f64, usize)> {
    let net = MethodNet::load(gpu, checkpoint)?;
    let ds = VocDataset::open(data, &VocOptions::split("val"))?;
    let mut scores: Vec<Vec<f64>> = Vec::new();
    let mut truth: Vec<Vec<bool>> = Vec::new();
    for i in 0..ds.len() {
        let smp = ds.sample(i, 0)?;
        let x = Tensor::from_slice(gpu, &smp.image, &[1, 3, smp.height, smp.width])?;
        let logits: Vec<f32> = crate::no_grad(|| net.logits(&x))?.to_vec_blocking()?;
        scores.push(logits.iter().map(|&v| v as f64).collect());
        truth.push(smp.labels.iter().map(|&v| v > 0.0).collect());
    }
    let k = truth.first().map_or(0, Vec::len);
    let (mut map, mut chance, mut counted) = (0.0, 0.0, 0usize);
    for c in 0..k {
        let s: Vec<f64> = scores.iter().map(|v| v[c]).collect();
        let t: Vec<bool> = truth.iter().map(|v| v[c]).collect();
        if let Some(ap) = average_precision(&s, &t) {
            map += ap;
            chance += t.iter().filter(|&&p| p).count() as f64 / t.len() as f64;
            counted += 1;
        }
    }
    let per = counted.max(1) as f64;
    Ok((map / per, chance / per, ds.len()))
}

/// Trains the demo's classifier on `data` (the benchmark) and on a copy
/// with the parts erased, written under `work`, and scores both on val.
pub fn part_evidence(
    gpu: &Gpu,
    cfg: &SynthConfig,
    data: &Path,
    work: &Path,
    reporter: &mut dyn Reporter,
) -> Result<PartEvidence> {
    let erased_cfg = SynthConfig {
        erase_parts: true,
        ..cfg.clone()
    };
    let erased = work.join("erased");
    synth::write(&erased_cfg, &erased, |_| {})?;
    let settings =
        PipelineConfig::synthetic(data.to_path_buf(), work.to_path_buf(), cfg).classifier;
    let mut maps = Vec::new();
    for (d, name) in [
        (data, "classifier"),
        (erased.as_path(), "classifier-erased"),
    ] {
        let out = work.join(name);
        classifier::train(gpu, d, &out, &settings, reporter)?;
        maps.push(val_map(gpu, &out.join(CHECKPOINT), d)?);
    }
    Ok(PartEvidence {
        val_images: maps[0].2,
        full_map: maps[0].0,
        body_only_map: maps[1].0,
        chance_map: maps[0].1,
        classifier: settings,
    })
}

/// Measures the scenes benchmark `cfg`, already written at `data`; the
/// classifiers and the erased copy go under `work`.
pub fn measure(
    gpu: &Gpu,
    cfg: &SynthConfig,
    data: &Path,
    work: &Path,
    reporter: &mut dyn Reporter,
) -> Result<SynthStats> {
    if cfg.kind != SynthKind::Scenes {
        return Err(weakseg_kernels::Error::invalid(
            "synth",
            "--stats measures the scenes generator (--kind scenes)",
        ));
    }
    // Composed once: the statistics read every scene, the CRF the
    // training ones (listed first).
    let all: Vec<Scene> = (0..cfg.train + cfg.val)
        .map(|i| scenes::compose(cfg, i))
        .collect();
    let scenes_stats = scene_stats::measure(&all, cfg.classes);
    let crf = crf_from_eroded(gpu, &all[..cfg.train], cfg.classes)?;
    let evidence = part_evidence(gpu, cfg, data, work, reporter)?;
    Ok(SynthStats {
        config: cfg.clone(),
        scenes: scenes_stats,
        crf_from_eroded: crf,
        part_evidence: evidence,
    })
}

/// The [`ErrorSplit`] of the label maps in `pred_dir` (`ID.png`) on the
/// scenes benchmark at `data`, each scene recomposed from the benchmark's
/// settings; returns it with the number of maps read. A folder of another
/// benchmark kind, an id outside the benchmark or a map of the wrong size
/// is an error naming it.
pub fn error_split(data: &Path, pred_dir: &Path) -> Result<(ErrorSplit, usize)> {
    let cfg = synth::written(data)?
        .filter(|c| c.kind == SynthKind::Scenes)
        .ok_or_else(|| {
            Error::invalid(
                "error split",
                format!("{} holds no scenes benchmark", data.display()),
            )
        })?;
    let mut files: Vec<_> = std::fs::read_dir(pred_dir)
        .map_err(|e| Error::io(pred_dir.display(), e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "png"))
        .collect();
    files.sort();
    let mut split = ErrorSplit::default();
    for path in &files {
        let index = path
            .file_stem()
            .and_then(|s| s.to_str())
            .and_then(|s| s.parse::<usize>().ok())
            .filter(|&i| i < cfg.train + cfg.val)
            .ok_or_else(|| {
                Error::invalid(
                    "error split",
                    format!("{}: not an image id of the benchmark", path.display()),
                )
            })?;
        let scene = scenes::compose(&cfg, index);
        let pred = labels::read(path)?;
        let want = (scene.image.mask.width, scene.image.mask.height);
        if (pred.width, pred.height) != want {
            return Err(Error::invalid(
                "error split",
                format!(
                    "{}: {}×{} labels for a {}×{} scene",
                    path.display(),
                    pred.width,
                    pred.height,
                    want.0,
                    want.1
                ),
            ));
        }
        split.add(&scene, &pred.data, cfg.classes);
    }
    Ok((split, files.len()))
}
