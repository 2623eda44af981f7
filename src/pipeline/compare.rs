//! `weakseg compare --methods`: the same pipeline run once per CAM-expansion
//! method on one dataset, each in its own directory, into one table like
//! the seed papers' (method | CAM mIoU train | after random walk | final
//! segmenter val), written as Markdown and JSON.

use serde::{Deserialize, Serialize};
use weakseg_kernels::{Error, Gpu, Result};

use crate::io::write_atomic;
use crate::methods::Method;
use crate::pipeline::run::{self, Observer, PipelineConfig};

/// One method's scores.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MethodRow {
    /// The method's name.
    pub method: String,
    /// CAM mIoU on the training list at the CAM stage's threshold.
    pub cam_miou_train: Option<f64>,
    /// The best CAM mIoU along the threshold sweep.
    pub cam_best_miou_train: Option<f64>,
    /// Random-walk pseudo-mask mIoU on the training list.
    pub rw_miou_train: Option<f64>,
    /// The segmenter trained on those masks, on the evaluation list.
    pub seg_miou_val: Option<f64>,
    /// Seconds of the classifier stage (the method's own cost).
    pub train_cls_seconds: f64,
}

/// What a comparison reports: every method's row and the fully supervised
/// segmenter's mIoU (trained once, beside the methods' runs).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// One row per method, in the order asked.
    pub rows: Vec<MethodRow>,
    /// The segmenter trained on ground-truth masks.
    pub full_miou_val: Option<f64>,
}

/// Runs `base` once per method under `base.out/<method>/` (or only the
/// classifier and CAM stages when `cam_only`), then the fully supervised
/// bound once under `base.out` (where `weakseg demo` puts it), and writes
/// `base.out/compare.md` and `compare.json`. Every method is parsed and
/// checked with the whole configuration before anything runs.
pub fn methods(
    gpu: &Gpu,
    base: &PipelineConfig,
    methods: &[Method],
    cam_only: bool,
    obs: &mut dyn Observer,
) -> Result<Comparison> {
    if methods.is_empty() {
        return Err(Error::invalid("compare", "no methods to compare"));
    }
    let configs: Vec<PipelineConfig> = methods
        .iter()
        .map(|m| {
            let mut cfg = base.clone();
            cfg.out = base.out.join(m.name());
            cfg.classifier.method = m.clone();
            cfg.fully_supervised = false;
            cfg
        })
        .collect();
    for cfg in &configs {
        cfg.validate()?;
    }
    let mut out = Comparison::default();
    for (m, cfg) in methods.iter().zip(configs) {
        let row = if cam_only {
            cam_row(gpu, &cfg, obs)?
        } else {
            let (metrics, _) = run::run(gpu, &cfg, obs)?;
            MethodRow {
                method: m.name().into(),
                cam_miou_train: metrics.cam_miou_train,
                cam_best_miou_train: metrics.cam_best_miou_train,
                rw_miou_train: metrics.rw_miou_train,
                seg_miou_val: metrics.seg_miou_val,
                train_cls_seconds: metrics.seconds.get("train-cls").copied().unwrap_or(0.0),
            }
        };
        out.rows.push(row);
    }
    if base.fully_supervised && !cam_only {
        let p = run::full_bound(gpu, base, obs, &mut |name, m, o| {
            o.end(name, &m);
            m
        })?;
        out.full_miou_val = p.results.miou;
    }
    let json =
        serde_json::to_vec_pretty(&out).map_err(|e| Error::format("compare", e.to_string()))?;
    write_atomic(&base.out.join("compare.json"), &json)?;
    write_atomic(&base.out.join("compare.md"), markdown(&out).as_bytes())?;
    Ok(out)
}

/// The classifier and CAM stages of `cfg` only.
fn cam_row(gpu: &Gpu, cfg: &PipelineConfig, obs: &mut dyn Observer) -> Result<MethodRow> {
    let [cls, cam] = run::classifier_and_cams(gpu, cfg, obs, &mut |name, m, o| {
        o.end(name, &m);
        m
    })?;
    Ok(MethodRow {
        method: cfg.classifier.method.name().into(),
        cam_miou_train: cam.results.miou,
        cam_best_miou_train: cam.results.best_miou,
        rw_miou_train: None,
        seg_miou_val: None,
        train_cls_seconds: cls.seconds,
    })
}

/// The comparison as a Markdown table: mIoU in percent, the change of the
/// CAM against the first row (the baseline when it is `cam`), and the
/// final segmenter's share of the fully supervised one.
pub fn markdown(c: &Comparison) -> String {
    let pct = |v: Option<f64>| v.map_or("—".to_string(), |v| format!("{:.1}", 100.0 * v));
    let base = c.rows.first().and_then(|r| r.cam_miou_train);
    let mut s = String::from(
        "| method | CAM mIoU train | Δ CAM | best-threshold CAM | after random walk | final seg val | % of full | train-cls s |\n|---|---|---|---|---|---|---|---|\n",
    );
    for r in &c.rows {
        let delta = match (r.cam_miou_train, base) {
            (Some(v), Some(b)) => format!("{:+.1}", 100.0 * (v - b)),
            _ => "—".into(),
        };
        let share = match (r.seg_miou_val, c.full_miou_val) {
            (Some(v), Some(f)) if f > 0.0 => format!("{:.0}%", 100.0 * v / f),
            _ => "—".into(),
        };
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {:.0} |\n",
            r.method,
            pct(r.cam_miou_train),
            delta,
            pct(r.cam_best_miou_train),
            pct(r.rw_miou_train),
            pct(r.seg_miou_val),
            share,
            r.train_cls_seconds
        ));
    }
    if let Some(f) = c.full_miou_val {
        s.push_str(&format!(
            "\nFully supervised segmenter: {:.1} mIoU val.\n",
            100.0 * f
        ));
    }
    s
}
