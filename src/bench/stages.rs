//! Pipeline stage throughput at the demo's defaults: images per second of
//! CAM training, multi-scale CAM inference, the CRF of the affinity labels,
//! AffinityNet training, the random walk, segmentation training and
//! prediction. The whole pipeline runs twice on one synthetic set, one
//! epoch per training stage: the first run is cold (every pipeline
//! compiled inside it), the second warm.

use std::path::Path;

use weakseg_kernels::{Error, Gpu, Result};

use crate::data::synth::{self, SynthConfig};
use crate::data::voc::list_path;
use crate::pipeline::run::{self, PipelineConfig, Quiet};

/// The throughput of one stage.
#[derive(Clone, Debug)]
pub struct StageMeasurement {
    /// Stage name (`train-cls`, `cam`, …).
    pub name: String,
    /// Images processed (list length × epochs for training stages).
    pub images: usize,
    /// Seconds of the warm run.
    pub seconds: f64,
    /// Seconds of the cold run (pipeline compilation included).
    pub cold_seconds: f64,
}

impl StageMeasurement {
    /// Images per second of the warm run.
    pub fn images_per_s(&self) -> f64 {
        self.images as f64 / self.seconds
    }
}

fn list_len(data: &Path, list: &str) -> Result<usize> {
    let path = list_path(data, list);
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(path.display(), e))?;
    Ok(text.lines().filter(|l| !l.trim().is_empty()).count())
}

/// Images each stage of `cfg` processes per run.
fn stage_images(cfg: &PipelineConfig, data: &Path, stage: &str) -> Result<usize> {
    Ok(match stage {
        "train-cls" => list_len(data, &cfg.classifier.list)? * cfg.classifier.epochs,
        "cam" => list_len(data, &cfg.cam.list)?,
        "aff-labels" => list_len(data, &cfg.aff_labels.list)?,
        "train-aff" => list_len(data, &cfg.affinity.list)? * cfg.affinity.epochs,
        "rw" => list_len(data, &cfg.walk.list)?,
        "train-seg" => list_len(data, &cfg.segmenter.list)? * cfg.segmenter.epochs,
        "predict" => list_len(data, &cfg.predict.list)?,
        other => {
            return Err(Error::invalid(
                "bench stages",
                format!("unknown stage {other}"),
            ));
        }
    })
}

/// Runs the demo's pipeline twice under `dir` (in `cold/` and `warm/`,
/// cleared first) on a synthetic set of `train` + `val` images in `data/`
/// (the demo's size, classes and seed), one epoch per training stage, and
/// returns each stage's warm and cold throughput.
pub fn stage_suite(
    gpu: &Gpu,
    dir: &Path,
    train: usize,
    val: usize,
) -> Result<Vec<StageMeasurement>> {
    let synth_cfg = SynthConfig {
        train,
        val,
        ..SynthConfig::default()
    };
    let data = dir.join("data");
    synth::write(&synth_cfg, &data, |_| {})?;
    let config = |run: &str| {
        let mut cfg = PipelineConfig::synthetic(data.clone(), dir.join(run), &synth_cfg);
        cfg.fully_supervised = false;
        cfg.classifier.epochs = 1;
        cfg.affinity.epochs = 1;
        cfg.segmenter.epochs = 1;
        cfg
    };
    // A stage whose outputs exist is skipped, so earlier runs are cleared.
    for run in ["cold", "warm"] {
        let d = dir.join(run);
        if d.exists() {
            std::fs::remove_dir_all(&d).map_err(|e| Error::io(d.display(), e))?;
        }
    }
    let mut quiet = Quiet::default();
    let (_, cold) = run::run(gpu, &config("cold"), &mut quiet)?;
    let warm_cfg = config("warm");
    let (_, warm) = run::run(gpu, &warm_cfg, &mut quiet)?;
    warm.iter()
        .zip(&cold)
        .map(|((name, w), (_, c))| {
            Ok(StageMeasurement {
                name: name.clone(),
                images: stage_images(&warm_cfg, &data, name)?,
                seconds: w.seconds,
                cold_seconds: c.seconds,
            })
        })
        .collect()
}
