//! The `weakseg` command line.

use std::process::ExitCode;

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use weakseg::io::{checkpoint, image};
use weakseg::models::Precision;
use weakseg::models::resnet::{ResNet, ResNetConfig};
use weakseg::nn::{Builder, ModuleExt};
use weakseg::{Error, Gpu, Tensor, bench, no_grad};

#[derive(Parser)]
#[command(
    name = "weakseg",
    version,
    about = "Weakly supervised semantic segmentation on a handwritten wgpu/WGSL engine"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Print the adapter, backend, driver, device type, limits and features.
    Info,
    /// Measure kernel throughput on this adapter.
    Bench {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Warm repetitions per case (the median is reported).
        #[arg(long, default_value_t = 5)]
        reps: usize,
        /// Which cases: kernels, models, or all.
        #[arg(long, default_value = "all", value_parser = ["kernels", "models", "all"])]
        suite: String,
    },
    /// Run an ImageNet classifier on one image (to check imported weights).
    Classify {
        /// Architecture: resnet50 or resnet101.
        #[arg(long)]
        arch: String,
        /// torchvision state_dict saved as safetensors.
        #[arg(long)]
        weights: PathBuf,
        /// The image (PNG or JPEG), used as is unless --resize is given.
        #[arg(long)]
        image: PathBuf,
        /// Resize the shorter side to this many pixels first.
        #[arg(long)]
        resize: Option<usize>,
        /// How many classes to list.
        #[arg(long, default_value_t = 5)]
        topk: usize,
        /// Print {"logits": [...], "top": [[index, probability], ...]}.
        #[arg(long)]
        json: bool,
        /// Run the trunk with f16 weights and activations (needs shader-f16).
        #[arg(long)]
        f16: bool,
    },
}

fn info(gpu: &Gpu) {
    let r = gpu.report();
    println!("adapter      {}", r.name);
    println!("backend      {}", r.backend);
    println!("driver       {}", r.driver);
    println!("device type  {}", r.device_type);
    println!(
        "features     {}",
        if r.features.is_empty() {
            "(none)".to_string()
        } else {
            r.features.join(", ")
        }
    );
    println!("limits");
    for (k, v) in r.limits {
        println!("  {k:<40} {v}");
    }
}

fn run_bench(gpu: &Gpu, json: bool, reps: usize, suite: &str) -> weakseg::Result<()> {
    let results = if suite == "models" {
        Vec::new()
    } else {
        bench::kernel_suite(gpu, reps)?
    };
    let models = if suite == "kernels" {
        Vec::new()
    } else {
        bench::model_suite(gpu, reps)?
    };
    let r = gpu.report();
    if json {
        let cases: Vec<serde_json::Value> = results
            .iter()
            .map(|m| {
                let mut o = serde_json::json!({ "name": m.name, "seconds": m.seconds, "cold_seconds": m.cold_seconds });
                if m.flops > 0.0 {
                    o["gflops"] = m.gflops().into();
                }
                if m.bytes > 0.0 {
                    o["gbps"] = m.gbps().into();
                }
                o
            })
            .collect();
        let nets: Vec<serde_json::Value> = models
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
        let doc = serde_json::json!({ "adapter": r.name, "backend": r.backend, "device_type": r.device_type, "cases": cases, "models": nets });
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
    } else {
        println!("adapter: {} ({}, {})", r.name, r.backend, r.device_type);
        println!(
            "{:<32} {:>10} {:>10} {:>12} {:>10}",
            "case", "GFLOP/s", "GB/s", "median ms", "cold ms"
        );
        for m in &results {
            let f = if m.flops > 0.0 {
                format!("{:.2}", m.gflops())
            } else {
                "-".into()
            };
            let b = if m.bytes > 0.0 {
                format!("{:.2}", m.gbps())
            } else {
                "-".into()
            };
            println!(
                "{:<32} {:>10} {:>10} {:>12.2} {:>10.1}",
                m.name,
                f,
                b,
                m.seconds * 1e3,
                m.cold_seconds * 1e3
            );
        }
        if !models.is_empty() {
            println!(
                "{:<32} {:>10} {:>10} {:>10} {:>12} {:>10}",
                "network (CAM classifier)", "infer/s", "f16 inf/s", "train/s", "peak MiB", "cold s"
            );
        }
        for m in &models {
            let f16 = m
                .infer_f16_images_per_s
                .map_or("-".to_string(), |v| format!("{v:.2}"));
            println!(
                "{:<32} {:>10.2} {:>10} {:>10.2} {:>12.1} {:>10.1}",
                m.name,
                m.infer_images_per_s,
                f16,
                m.train_images_per_s,
                m.train_peak_bytes as f64 / (1 << 20) as f64,
                m.cold_seconds
            );
        }
    }
    if std::env::var_os("WEAKSEG_PROFILE").is_some() {
        eprintln!("{}", gpu.profile_report());
    }
    Ok(())
}

struct ClassifyArgs {
    arch: String,
    weights: PathBuf,
    image: PathBuf,
    resize: Option<usize>,
    topk: usize,
    json: bool,
    f16: bool,
}

fn classify(gpu: &Gpu, a: ClassifyArgs) -> weakseg::Result<()> {
    let depth = match a.arch.as_str() {
        "resnet50" => 50,
        "resnet101" => 101,
        other => {
            return Err(Error::invalid(
                "classify",
                format!(
                    "--arch {other:?} is not an ImageNet classifier here (resnet50, resnet101)"
                ),
            ));
        }
    };
    let mut img = image::read(&a.image)?;
    if let Some(s) = a.resize {
        img = image::resize_shorter(&img, s)?;
    }
    let tensors = checkpoint::read(&a.weights)?;
    let classes = tensors
        .iter()
        .find(|t| t.name == "fc.weight")
        .map(|t| t.shape[0])
        .ok_or_else(|| {
            Error::format(
                a.weights.display().to_string(),
                "no fc.weight: not a classifier state_dict",
            )
        })?;
    let net = ResNet::new(
        &mut Builder::new(gpu, 0),
        &ResNetConfig::new(depth, 32)?.with_classes(classes),
    )?;
    checkpoint::apply(&net, &tensors, "", checkpoint::Match::Strict)
        .map_err(|e| Error::format(a.weights.display().to_string(), e.to_string()))?;
    net.set_train(false);
    let x = Tensor::from_slice(
        gpu,
        &image::normalize_imagenet(&img),
        &[1, 3, img.height, img.width],
    )?;
    let precision = if a.f16 {
        Precision::F16
    } else {
        Precision::F32
    };
    let logits = no_grad(|| net.classify_at(&x, precision))?.to_vec_blocking::<f32>()?;
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let z: f64 = logits.iter().map(|v| ((v - max) as f64).exp()).sum();
    let mut top: Vec<(usize, f64)> = logits
        .iter()
        .enumerate()
        .map(|(i, v)| (i, ((v - max) as f64).exp() / z))
        .collect();
    top.sort_by(|a, b| b.1.total_cmp(&a.1));
    top.truncate(a.topk);
    if a.json {
        let doc = serde_json::json!({ "logits": logits, "top": top });
        println!("{doc}");
    } else {
        println!("{}×{} image, {} classes", img.width, img.height, classes);
        for (i, p) in top {
            println!("{i:>6}  {p:.4}");
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let gpu = match Gpu::new_blocking() {
        Ok(g) => g,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let r = match cli.cmd {
        Cmd::Info => {
            info(&gpu);
            Ok(())
        }
        Cmd::Bench { json, reps, suite } => run_bench(&gpu, json, reps, &suite),
        Cmd::Classify {
            arch,
            weights,
            image,
            resize,
            topk,
            json,
            f16,
        } => classify(
            &gpu,
            ClassifyArgs {
                arch,
                weights,
                image,
                resize,
                topk,
                json,
                f16,
            },
        ),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
