//! `report.html` of a pipeline run: the results table, each training
//! stage's loss curve drawn as a picture, and sample grids — training
//! images with their CAM, CRF, random-walk and ground-truth maps, and
//! evaluation images with both segmenters' predictions. Pictures go to
//! `report/` next to the page; every file is written atomically.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use weakseg_kernels::Result;

use crate::data::voc::{VocDataset, VocOptions};
use crate::io::labels::{self, LabelMap};
use crate::io::{image, npy, write_atomic};
use crate::pictures::{cam_overlay, colourise, encode_png, grid, line_plot};
use crate::pipeline::run::{Metrics, PipelineConfig, dirs};

/// The rows of the results table: label, metric, and what it was scored
/// on (list, masks, images; the split alone for runs written before that
/// was recorded).
pub fn rows(m: &Metrics) -> Vec<(&'static str, Option<f64>, String)> {
    let on = |stage: &str, split: &str| {
        m.scored_on
            .get(stage)
            .cloned()
            .unwrap_or_else(|| split.to_string())
    };
    let mut rows = vec![
        ("CAM", m.cam_miou_train, on("cam", "train")),
        (
            "CAM + dense CRF",
            m.crf_miou_train,
            on("aff-labels", "train"),
        ),
        (
            "random walk (AffinityNet)",
            m.rw_miou_train,
            on("rw", "train"),
        ),
    ];
    if m.rw_crf_miou_train.is_some() {
        rows.push((
            "random walk + dense CRF",
            m.rw_crf_miou_train,
            on("rw", "train"),
        ));
    }
    rows.extend([
        (
            "segmenter on the pseudo-masks",
            m.seg_miou_val,
            on("predict", "val"),
        ),
        (
            "fully supervised segmenter",
            m.full_miou_val,
            on("predict (ground truth)", "val"),
        ),
    ]);
    rows
}

/// Each step's loss from a training stage's `loss.jsonl`.
fn losses(path: &Path) -> Vec<f32> {
    std::fs::read_to_string(path)
        .map(|text| {
            text.lines()
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .filter_map(|v| v.get("loss").and_then(|x| x.as_f64()))
                .map(|v| v as f32)
                .collect()
        })
        .unwrap_or_default()
}

fn label_map(path: &Path) -> Option<LabelMap> {
    labels::read(path).ok()
}

/// The CAM heat map of one image: the maximum over classes of `cams/ID.npy`.
fn cam_heat(path: &Path) -> Option<Vec<f32>> {
    let c = npy::read(path).ok()?;
    let hw: usize = c.shape.get(1..)?.iter().product();
    let mut out = vec![0f32; hw];
    for plane in c.data.chunks(hw.max(1)) {
        for (o, v) in out.iter_mut().zip(plane) {
            *o = o.max(*v);
        }
    }
    Some(out)
}

fn write_png(path: &Path, img: &image::Rgb) -> Result<()> {
    write_atomic(path, &encode_png(img)?)
}

/// Writes `cfg.out/report.html` (and `cfg.out/report/*.png`) for a run
/// with `metrics`, showing `samples` images of each list.
pub fn write(cfg: &PipelineConfig, metrics: &Metrics, samples: usize) -> Result<PathBuf> {
    let out = &cfg.out;
    let pics = out.join("report");
    let mut html = String::from(
        "<!doctype html><meta charset=\"utf-8\"><title>weakseg report</title>\n\
         <style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}\
         td,th{border:1px solid #ccc;padding:4px 10px}td.n{text-align:right}\
         img.s{image-rendering:pixelated;height:160px}</style>\n<h1>weakseg pipeline report</h1>\n",
    );
    let _ = writeln!(html, "<p>data: <code>{}</code></p>", cfg.data.display());
    html.push_str(
        "<h2>Results</h2>\n<table><tr><th>stage</th><th>scored on</th><th>mIoU</th></tr>\n",
    );
    for (label, v, split) in rows(metrics) {
        let v = v.map_or("—".to_string(), |v| format!("{:.1}%", 100.0 * v));
        let _ = writeln!(
            html,
            "<tr><td>{label}</td><td>{split}</td><td class=n>{v}</td></tr>"
        );
    }
    html.push_str(
        "</table>\n<h2>Stage times</h2>\n<table><tr><th>stage</th><th>seconds</th></tr>\n",
    );
    for (stage, s) in &metrics.seconds {
        let _ = writeln!(html, "<tr><td>{stage}</td><td class=n>{s:.1}</td></tr>");
    }
    html.push_str("</table>\n<h2>Loss curves (per optimiser step)</h2>\n");
    for (title, d) in [
        ("classifier", dirs::CLASSIFIER),
        ("AffinityNet", dirs::AFFINITY),
        ("segmenter on pseudo-masks", dirs::SEGMENTER),
        ("fully supervised segmenter", dirs::FULL),
    ] {
        let l = losses(&out.join(d).join("loss.jsonl"));
        if l.len() < 2 {
            continue;
        }
        let name = format!("loss-{d}.png");
        write_png(&pics.join(&name), &line_plot(&l, 480, 160)?)?;
        let (first, last) = (l[0], l[l.len() - 1]);
        let _ = writeln!(
            html,
            "<h3>{title}</h3><p>{} steps, loss {first:.3} → {last:.3}</p><img src=\"report/{name}\">",
            l.len()
        );
    }
    for (list, heading, panels) in [
        (
            cfg.cam.list.as_str(),
            "Training images: image | CAM | CAM + CRF | random walk | ground truth",
            0,
        ),
        (
            cfg.predict.list.as_str(),
            "Evaluation images: image | segmenter (pseudo-masks) | fully supervised | ground truth",
            1,
        ),
    ] {
        let ds = match VocDataset::open(&cfg.data, &VocOptions::split(list)) {
            Ok(ds) => ds,
            Err(_) => continue,
        };
        let _ = writeln!(html, "<h2>{heading}</h2>");
        for r in ds.records.iter().take(samples) {
            let img = image::read(&r.image)?;
            let gt = r.mask.as_deref().and_then(label_map);
            let col = |p: PathBuf| label_map(&p).map(|m| colourise(&m));
            let row = if panels == 0 {
                let cam = cam_heat(&out.join(dirs::CAM).join(format!("cams/{}.npy", r.id)))
                    .map(|c| cam_overlay(&img, &c, 0.5))
                    .transpose()?;
                vec![
                    Some(img.clone()),
                    cam,
                    col(out.join(dirs::AFF_LABELS).join(format!("la/{}.png", r.id))),
                    col(out.join(dirs::WALK).join(format!("rw/{}.png", r.id))),
                    gt.as_ref().map(colourise),
                ]
            } else {
                vec![
                    Some(img.clone()),
                    col(out.join(dirs::PREDICT).join(format!("pred/{}.png", r.id))),
                    col(out
                        .join(dirs::FULL_PREDICT)
                        .join(format!("pred/{}.png", r.id))),
                    gt.as_ref().map(colourise),
                ]
            };
            let name = format!("sample-{list}-{}.png", r.id);
            write_png(&pics.join(&name), &grid(&row)?)?;
            let _ = writeln!(
                html,
                "<p>{}<br><img class=s src=\"report/{name}\"></p>",
                r.id
            );
        }
    }
    let path = out.join("report.html");
    write_atomic(&path, html.as_bytes())?;
    Ok(path)
}
