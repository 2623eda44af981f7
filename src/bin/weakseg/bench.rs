//! `weakseg bench`: kernel, network and stage throughput on this adapter,
//! as a table or JSON.

use std::path::PathBuf;

use clap::Args;
use weakseg::bench::{self, Measurement, ModelMeasurement, Peak, StageMeasurement};
use weakseg::{Error, Gpu, Result};

/// Arguments of `weakseg bench`.
#[derive(Args)]
pub struct BenchArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Warm repetitions per case (the median is reported).
    #[arg(long, default_value_t = 5)]
    reps: usize,
    /// Which cases: kernels, models, stages, or all.
    #[arg(long, default_value = "all", value_parser = ["kernels", "models", "stages", "all"])]
    suite: String,
    /// Training images of the stage suite's synthetic set (a quarter as many
    /// validation images).
    #[arg(long, default_value_t = 64)]
    stage_images: usize,
    /// Working directory of the stage suite (default: a temporary one,
    /// removed afterwards).
    #[arg(long)]
    work: Option<PathBuf>,
    /// Also write the inputs and results of the cases the CPU peers check
    /// (matmul_512, conv3x3_n8_c32_64) as .npy files into this directory.
    #[arg(long)]
    reference: Option<PathBuf>,
}

struct Results {
    kernels: Vec<Measurement>,
    peak: Option<Peak>,
    models: Vec<ModelMeasurement>,
    stages: Vec<StageMeasurement>,
}

fn stage_suite(gpu: &Gpu, a: &BenchArgs) -> Result<Vec<StageMeasurement>> {
    let val = (a.stage_images / 4).max(1);
    match &a.work {
        Some(dir) => bench::stage_suite(gpu, dir, a.stage_images, val),
        None => {
            let dir = std::env::temp_dir().join(format!("weakseg-bench-{}", std::process::id()));
            let r = bench::stage_suite(gpu, &dir, a.stage_images, val);
            std::fs::remove_dir_all(&dir).map_err(|e| Error::io(dir.display(), e))?;
            r
        }
    }
}

/// Runs `weakseg bench`.
pub fn run(gpu: &Gpu, a: &BenchArgs) -> Result<()> {
    let want = |s: &str| a.suite == s || a.suite == "all";
    if let Some(dir) = &a.reference {
        bench::peers::write_reference(gpu, dir)?;
    }
    let (kernels, peak) = if want("kernels") {
        let (k, p) = bench::kernel_suite(gpu, a.reps)?;
        (k, Some(p))
    } else {
        (Vec::new(), None)
    };
    let r = Results {
        kernels,
        peak,
        models: if want("models") {
            bench::model_suite(gpu, a.reps)?
        } else {
            Vec::new()
        },
        stages: if want("stages") {
            stage_suite(gpu, a)?
        } else {
            Vec::new()
        },
    };
    if a.json {
        let doc = json(gpu, &r);
        let text = serde_json::to_string_pretty(&doc)
            .map_err(|e| Error::format("bench json", e.to_string()))?;
        println!("{text}");
    } else {
        table(gpu, &r);
    }
    Ok(())
}

fn json(gpu: &Gpu, r: &Results) -> serde_json::Value {
    let cases: Vec<serde_json::Value> = r
        .kernels
        .iter()
        .map(|m| {
            let mut o = serde_json::json!({
                "name": m.name,
                "seconds": m.seconds,
                "cold_seconds": m.cold_seconds,
            });
            if m.flops > 0.0 {
                o["gflops"] = m.gflops().into();
            }
            if m.bytes > 0.0 {
                o["gbps"] = m.gbps().into();
            }
            if let Some(f) = m.peak_fraction {
                o["peak_fraction"] = f.into();
            }
            o
        })
        .collect();
    let nets: Vec<serde_json::Value> = r
        .models
        .iter()
        .map(|m| {
            serde_json::json!({
                "name": m.name,
                "infer_images_per_s": m.infer_images_per_s,
                "infer_f16_images_per_s": m.infer_f16_images_per_s,
                "train_images_per_s": m.train_images_per_s,
                "train_peak_mib": m.train_peak_bytes as f64 / (1 << 20) as f64,
                "cold_seconds": m.cold_seconds,
            })
        })
        .collect();
    let stages: Vec<serde_json::Value> = r
        .stages
        .iter()
        .map(|s| {
            serde_json::json!({
                "name": s.name,
                "images": s.images,
                "images_per_s": s.images_per_s(),
                "seconds": s.seconds,
                "cold_seconds": s.cold_seconds,
            })
        })
        .collect();
    let d = gpu.report();
    let peak = r
        .peak
        .map(|p| serde_json::json!({ "gflops": p.gflops, "gbps": p.gbps }));
    serde_json::json!({
        "adapter": d.name,
        "backend": d.backend,
        "device_type": d.device_type,
        "peak": peak,
        "cases": cases,
        "models": nets,
        "stages": stages,
    })
}

fn or_dash(v: Option<f64>, digits: usize) -> String {
    v.map_or("-".into(), |v| format!("{v:.digits$}"))
}

fn table(gpu: &Gpu, r: &Results) {
    let d = gpu.report();
    println!("adapter: {} ({}, {})", d.name, d.backend, d.device_type);
    if let Some(p) = r.peak {
        println!(
            "peak: {:.2} GFLOP/s (best matmul), {:.2} GB/s (copy)",
            p.gflops, p.gbps
        );
    }
    if !r.kernels.is_empty() {
        println!(
            "{:<34} {:>9} {:>8} {:>7} {:>11} {:>9}",
            "case", "GFLOP/s", "GB/s", "peak", "median ms", "cold ms"
        );
    }
    for m in &r.kernels {
        println!(
            "{:<34} {:>9} {:>8} {:>7} {:>11.2} {:>9.1}",
            m.name,
            or_dash((m.flops > 0.0).then(|| m.gflops()), 2),
            or_dash((m.bytes > 0.0).then(|| m.gbps()), 2),
            m.peak_fraction
                .map_or("-".to_string(), |f| format!("{:.0}%", 100.0 * f)),
            m.seconds * 1e3,
            m.cold_seconds * 1e3
        );
    }
    if !r.models.is_empty() {
        println!(
            "{:<34} {:>10} {:>10} {:>10} {:>12} {:>10}",
            "network (CAM classifier)", "infer/s", "f16 inf/s", "train/s", "peak MiB", "cold s"
        );
    }
    for m in &r.models {
        println!(
            "{:<34} {:>10.2} {:>10} {:>10.2} {:>12.1} {:>10.1}",
            m.name,
            m.infer_images_per_s,
            or_dash(m.infer_f16_images_per_s, 2),
            m.train_images_per_s,
            m.train_peak_bytes as f64 / (1 << 20) as f64,
            m.cold_seconds
        );
    }
    if !r.stages.is_empty() {
        println!(
            "{:<34} {:>8} {:>10} {:>10} {:>10}",
            "stage (demo defaults, 1 epoch)", "images", "images/s", "warm s", "cold s"
        );
    }
    for s in &r.stages {
        println!(
            "{:<34} {:>8} {:>10.2} {:>10.2} {:>10.2}",
            s.name,
            s.images,
            s.images_per_s(),
            s.seconds,
            s.cold_seconds
        );
    }
}
