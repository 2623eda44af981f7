//! The `weakseg` command line.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use weakseg::{Gpu, bench};

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

fn run_bench(gpu: &Gpu, json: bool, reps: usize) -> weakseg::Result<()> {
    let results = bench::kernel_suite(gpu, reps)?;
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
        let doc = serde_json::json!({ "adapter": r.name, "backend": r.backend, "device_type": r.device_type, "cases": cases });
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
    }
    if std::env::var_os("WEAKSEG_PROFILE").is_some() {
        eprintln!("{}", gpu.profile_report());
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
        Cmd::Bench { json, reps } => run_bench(&gpu, json, reps),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
