//! `weakseg demo` (the synthetic benchmark end to end) and `weakseg run
//! --config FILE.toml` (the same pipeline on any VOC-layout dataset): every
//! stage with progress, its time, the results table, `metrics.json` and
//! `report.html`.

use std::path::{Path, PathBuf};

use weakseg::data::synth::{self, SynthConfig, SynthKind};
use weakseg::methods::Method;
use weakseg::pipeline::run::{self, Metrics, Observer, PipelineConfig};
use weakseg::pipeline::stage::Manifest;
use weakseg::pipeline::supervision::{self, Supervision};
use weakseg::pipeline::{compare, report};
use weakseg::train::Reporter;
use weakseg::{Error, Gpu, Result};

/// The synthetic benchmark's flags (`synth`, `demo` and `compare`).
#[derive(clap::Args)]
pub struct SynthArgs {
    /// Generator: scenes (VOC-like, the default) or parts (the first one).
    #[arg(long, default_value = SynthConfig::default().kind.name(), value_parser = parse_kind)]
    kind: SynthKind,
    /// Seed of the synthetic data.
    #[arg(long, default_value_t = SynthConfig::default().seed)]
    seed: u64,
    /// Foreground classes.
    #[arg(long, default_value_t = SynthConfig::default().classes)]
    classes: usize,
    /// Scenes: the shortest long side (long sides run to 7/4 of it);
    /// parts: the image side. Pixels.
    #[arg(long, default_value_t = SynthConfig::default().size)]
    size: usize,
    /// Training images.
    #[arg(long, default_value_t = SynthConfig::default().train)]
    train: usize,
    /// Validation images.
    #[arg(long, default_value_t = SynthConfig::default().val)]
    val: usize,
}

fn parse_kind(name: &str) -> std::result::Result<SynthKind, String> {
    SynthKind::parse(name).map_err(|e| e.to_string())
}

impl SynthArgs {
    /// The benchmark these flags describe.
    pub fn config(&self) -> SynthConfig {
        SynthConfig {
            train: self.train,
            val: self.val,
            size: self.size,
            classes: self.classes,
            seed: self.seed,
            kind: self.kind,
            erase_parts: false,
        }
    }

    /// Writes the set under `out/data` (unless already there) and returns
    /// the demo's pipeline configuration on it.
    fn prepare(&self, out: &Path) -> Result<PipelineConfig> {
        let synth_cfg = self.config();
        let data = out.join("data");
        ensure_synth(&synth_cfg, &data)?;
        Ok(PipelineConfig::synthetic(
            data,
            out.to_path_buf(),
            &synth_cfg,
        ))
    }
}

/// Arguments of `weakseg demo`.
#[derive(clap::Args)]
pub struct DemoArgs {
    /// Working directory: data/, one directory per stage, metrics.json,
    /// report.html.
    #[arg(long, default_value = "weakseg-demo")]
    out: PathBuf,
    #[command(flatten)]
    synth: SynthArgs,
    #[command(flatten)]
    method: crate::stages::MethodArgs,
    /// Learn the affinities from psa's labels (the CAM's dense CRF at
    /// background powers 4 and 32) instead of IRN's, the demo's default.
    #[arg(long)]
    psa_labels: bool,
}

/// Arguments of `weakseg compare`.
#[derive(clap::Args)]
pub struct CompareArgs {
    /// Working directory: data/, one directory per method, compare.md and
    /// compare.json.
    #[arg(long, default_value = "weakseg-compare")]
    out: PathBuf,
    /// Comma-separated methods; the first is the baseline of the Δ column.
    #[arg(long, value_delimiter = ',', default_value = "cam",
          value_parser = clap::builder::PossibleValuesParser::new(Method::NAMES))]
    methods: Vec<String>,
    /// Stop each method after its CAM stage (CAM columns only).
    #[arg(long)]
    cam_only: bool,
    /// Compare kinds of label instead of methods: comma-separated among
    /// tags, boxes, points, scribbles, full (supervision.md and .json).
    #[arg(long, value_delimiter = ',', conflicts_with_all = ["methods", "cam_only"])]
    supervision: Vec<String>,
    #[command(flatten)]
    synth: SynthArgs,
}

/// Arguments of `weakseg run`.
#[derive(clap::Args)]
pub struct RunArgs {
    /// Pipeline configuration (TOML): `data`, `out` and one table per stage.
    #[arg(long)]
    config: PathBuf,
}

/// Progress on the terminal: a bar per stage (lines when not a terminal).
struct Console {
    trainer: Box<dyn Reporter>,
    bar: indicatif::ProgressBar,
}

impl Console {
    fn new() -> Console {
        Console {
            trainer: crate::stages::reporter(),
            bar: crate::stages::image_bar(),
        }
    }
}

impl Observer for Console {
    fn begin(&mut self, stage: &str) {
        println!("── {stage}");
        self.trainer = crate::stages::reporter();
        self.bar = crate::stages::image_bar();
    }

    fn trainer(&mut self) -> &mut dyn Reporter {
        self.trainer.as_mut()
    }

    fn images(&mut self, done: usize, total: usize) {
        crate::stages::track(&self.bar)(done, total);
    }

    fn end(&mut self, stage: &str, m: &Manifest) {
        self.bar.finish_and_clear();
        crate::stages::report(stage, m);
    }
}

fn print_table(m: &Metrics) {
    println!("| stage | scored on | mIoU |");
    println!("|---|---|---|");
    for (label, v, split) in report::rows(m) {
        let v = v.map_or("—".to_string(), |v| format!("{:.1}%", 100.0 * v));
        println!("| {label} | {split} | {v} |");
    }
    let total: f64 = m.seconds.values().sum();
    println!("stage seconds: {}", {
        let parts: Vec<String> = m
            .seconds
            .iter()
            .map(|(k, v)| format!("{k} {v:.0}"))
            .collect();
        parts.join(", ")
    });
    println!("total: {total:.0} s");
}

fn run_and_report(gpu: &Gpu, cfg: &PipelineConfig) -> Result<()> {
    let (metrics, _) = run::run(gpu, cfg, &mut Console::new())?;
    print_table(&metrics);
    let page = report::write(cfg, &metrics, 6)?;
    println!("metrics: {}", cfg.out.join("metrics.json").display());
    println!("report: {}", page.display());
    Ok(())
}

/// Writes the synthetic data unless the same settings were written there
/// (`weakseg synth`, and the data of `demo` and `compare`). Data written
/// with other settings, or a folder holding anything else, is an error
/// ([`synth::already_written`]).
pub(crate) fn ensure_synth(cfg: &SynthConfig, dir: &Path) -> Result<()> {
    cfg.validate()?;
    if synth::already_written(cfg, dir)? {
        println!("data: {} (already written)", dir.display());
        return Ok(());
    }
    let bar = crate::stages::image_bar();
    bar.set_length((cfg.train + cfg.val) as u64);
    synth::write(cfg, dir, |done| bar.set_position(done as u64))?;
    bar.finish_and_clear();
    println!(
        "data: {} ({} train, {} val {} images; size {} px, {} classes, seed {})",
        dir.display(),
        cfg.train,
        cfg.val,
        cfg.kind.name(),
        cfg.size,
        cfg.classes,
        cfg.seed
    );
    Ok(())
}

/// Runs `weakseg demo`.
pub fn demo(gpu: &Gpu, a: &DemoArgs) -> Result<()> {
    let mut cfg = a.synth.prepare(&a.out)?;
    cfg.classifier.method = a.method.method()?;
    if a.psa_labels {
        cfg.aff_labels.irn = None;
    }
    run_and_report(gpu, &cfg)
}

/// Runs `weakseg compare --methods` or `--supervision`.
pub fn compare(gpu: &Gpu, a: &CompareArgs) -> Result<()> {
    if !a.supervision.is_empty() {
        let kinds = a
            .supervision
            .iter()
            .map(|k| Supervision::parse(k.trim()))
            .collect::<Result<Vec<_>>>()?;
        let cfg = a.synth.prepare(&a.out)?;
        let c = supervision::compare(gpu, &cfg, &kinds, &mut Console::new())?;
        print!("{}", supervision::markdown(&c));
        println!("table: {}", a.out.join("supervision.md").display());
        return Ok(());
    }
    let methods = a
        .methods
        .iter()
        .map(|m| Method::from_name(m.trim(), &[]))
        .collect::<Result<Vec<_>>>()?;
    let cfg = a.synth.prepare(&a.out)?;
    let c = compare::methods(gpu, &cfg, &methods, a.cam_only, &mut Console::new())?;
    print!("{}", compare::markdown(&c));
    println!("table: {}", a.out.join("compare.md").display());
    Ok(())
}

/// Runs `weakseg run --config FILE.toml`.
pub fn run(gpu: &Gpu, a: &RunArgs) -> Result<()> {
    let cfg = PipelineConfig::read(&a.config)?;
    if cfg.data.as_os_str().is_empty() || cfg.out.as_os_str().is_empty() {
        return Err(Error::format(
            a.config.display().to_string(),
            "needs `data` (the dataset root) and `out` (the working directory)",
        ));
    }
    run_and_report(gpu, &cfg)
}
