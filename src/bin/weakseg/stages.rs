//! The pipeline stages as subcommands: `train-cls`, `cam`, `aff-labels`. Each prints
//! its time, or that it was skipped because an identical run finished.

use std::io::IsTerminal;
use std::path::PathBuf;

use weakseg::cam::MultiScale;
use weakseg::pipeline::aff_labels::{self, AffLabelSettings};
use weakseg::pipeline::cams::{self, CamSettings};
use weakseg::pipeline::classifier::{self, ClassifierSettings};
use weakseg::pipeline::stage::Manifest;
use weakseg::train::progress::BarReporter;
use weakseg::train::{LineReporter, Reporter};
use weakseg::{Gpu, Result};

/// Arguments of `weakseg train-cls`.
#[derive(clap::Args)]
pub struct TrainClsArgs {
    /// Dataset root (VOC layout).
    #[arg(long)]
    data: PathBuf,
    /// Stage directory (checkpoint, loss log, stage.json).
    #[arg(long)]
    out: PathBuf,
    /// Training list: split name or file.
    #[arg(long, default_value = "train")]
    list: String,
    /// Backbone: resnet-tiny, resnet50, resnet101, resnet38, vgg16.
    #[arg(long, default_value = "resnet-tiny")]
    arch: String,
    /// Backbone output stride.
    #[arg(long, default_value_t = 8)]
    output_stride: usize,
    /// Epochs.
    #[arg(long, default_value_t = 15)]
    epochs: usize,
    /// Batch size.
    #[arg(long, default_value_t = 16)]
    batch_size: usize,
    /// Learning rate.
    #[arg(long, default_value_t = 0.05)]
    lr: f32,
    /// Weight decay.
    #[arg(long, default_value_t = 1e-4)]
    weight_decay: f32,
    /// Seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// psa's augmentation with this crop side (flips only without it).
    #[arg(long)]
    crop: Option<usize>,
}

/// Arguments of `weakseg aff-labels`.
#[derive(clap::Args)]
pub struct AffLabelsArgs {
    /// Dataset root (VOC layout).
    #[arg(long)]
    data: PathBuf,
    /// Directory of the `cam` stage.
    #[arg(long)]
    cams: PathBuf,
    /// Stage directory (la/, ha/, aff/ label PNGs, stage.json).
    #[arg(long)]
    out: PathBuf,
    /// Images: split name or file.
    #[arg(long, default_value = "train")]
    list: String,
    /// Background power of the confident-foreground map.
    #[arg(long, default_value_t = 4.0)]
    low_alpha: f32,
    /// Background power of the confident-background map.
    #[arg(long, default_value_t = 32.0)]
    high_alpha: f32,
}

/// Arguments of `weakseg cam`.
#[derive(clap::Args)]
pub struct CamArgs {
    /// Dataset root (VOC layout).
    #[arg(long)]
    data: PathBuf,
    /// Classifier checkpoint from `train-cls`.
    #[arg(long)]
    classifier: PathBuf,
    /// Stage directory (cams/ID.npy, labels/ID.png, stage.json).
    #[arg(long)]
    out: PathBuf,
    /// Images: split name or file.
    #[arg(long, default_value = "train")]
    list: String,
    /// Background threshold of the label maps.
    #[arg(long, default_value_t = 0.2)]
    threshold: f32,
    /// Comma-separated scales.
    #[arg(long, default_value = "1,0.5,1.5,2", value_delimiter = ',')]
    scales: Vec<f32>,
    /// Skip the flipped passes.
    #[arg(long)]
    no_flip: bool,
    /// Print mIoU against the background threshold (0.00–0.59).
    #[arg(long)]
    sweep: bool,
}

fn reporter() -> Box<dyn Reporter> {
    if std::io::stderr().is_terminal() {
        Box::new(BarReporter::new())
    } else {
        Box::new(LineReporter::new(std::time::Duration::from_secs(10)))
    }
}

fn report(name: &str, m: &Manifest) {
    if !m.skipped {
        println!("{name}: done in {:.1} s", m.seconds);
    } else {
        println!(
            "{name}: skipped (outputs of an identical run exist; it took {:.1} s)",
            m.seconds
        );
    }
}

/// Runs `weakseg train-cls`.
pub fn train_cls(gpu: &Gpu, a: &TrainClsArgs) -> Result<()> {
    let s = ClassifierSettings {
        arch: a.arch.clone(),
        output_stride: a.output_stride,
        list: a.list.clone(),
        epochs: a.epochs,
        batch_size: a.batch_size,
        lr: a.lr,
        weight_decay: a.weight_decay,
        seed: a.seed,
        crop: a.crop,
    };
    let m = classifier::train(gpu, &a.data, &a.out, &s, reporter().as_mut())?;
    report("train-cls", &m);
    println!(
        "checkpoint: {}",
        a.out.join(classifier::CHECKPOINT).display()
    );
    Ok(())
}

/// Runs `weakseg cam`.
pub fn cam(gpu: &Gpu, a: &CamArgs) -> Result<()> {
    let s = CamSettings {
        list: a.list.clone(),
        multiscale: MultiScale {
            scales: a.scales.clone(),
            flip: !a.no_flip,
        },
        threshold: a.threshold,
    };
    let bar = image_bar();
    let m = cams::infer(gpu, &a.data, &a.classifier, &a.out, &s, |done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    })?;
    bar.finish_and_clear();
    report("cam", &m);
    let r = &m.results;
    if let Some(miou) = r["miou"].as_f64() {
        println!(
            "CAM mIoU at threshold {:.2}: {:.1}% (best {:.1}% at {:.2})",
            a.threshold,
            100.0 * miou,
            100.0 * r["best_miou"].as_f64().unwrap_or(0.0),
            r["best_threshold"].as_f64().unwrap_or(0.0)
        );
    }
    if a.sweep {
        println!("| threshold | mIoU |");
        println!("|---|---|");
        for p in r["sweep"].as_array().into_iter().flatten() {
            println!(
                "| {:.2} | {:.1}% |",
                p[0].as_f64().unwrap_or(0.0),
                100.0 * p[1].as_f64().unwrap_or(0.0)
            );
        }
    }
    Ok(())
}

fn image_bar() -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(0);
    if !std::io::stderr().is_terminal() {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    bar
}

/// Runs `weakseg aff-labels`.
pub fn aff_labels(gpu: &Gpu, a: &AffLabelsArgs) -> Result<()> {
    let s = AffLabelSettings {
        list: a.list.clone(),
        low_alpha: a.low_alpha,
        high_alpha: a.high_alpha,
        ..AffLabelSettings::default()
    };
    let bar = image_bar();
    let m = aff_labels::make(gpu, &a.data, &a.cams, &a.out, &s, |done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    })?;
    bar.finish_and_clear();
    report("aff-labels", &m);
    if let (Some(lo), Some(hi)) = (
        m.results["crf_low_miou"].as_f64(),
        m.results["crf_high_miou"].as_f64(),
    ) {
        println!(
            "CAM+CRF mIoU: {:.1}% at alpha {}, {:.1}% at alpha {}",
            100.0 * lo,
            a.low_alpha,
            100.0 * hi,
            a.high_alpha
        );
    }
    Ok(())
}
