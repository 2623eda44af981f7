//! `train-seg` and `predict`: the segmentation network and its masks.

use super::*;

/// Arguments of `weakseg train-seg`.
#[derive(clap::Args)]
pub struct TrainSegArgs {
    /// Dataset root (VOC layout).
    #[arg(long)]
    data: PathBuf,
    /// Pseudo-masks (ID.png, 255 ignored), e.g. the `rw` stage's rw/;
    /// the dataset's ground truth when absent.
    #[arg(long)]
    masks: Option<PathBuf>,
    /// Stage directory (checkpoint, loss log, stage.json).
    #[arg(long)]
    out: PathBuf,
    /// Training list: split name or file.
    #[arg(long, default_value_t = SegSettings::default().list)]
    list: String,
    /// Backbone.
    #[arg(long, default_value_t = SegSettings::default().arch)]
    arch: String,
    /// Backbone output stride.
    #[arg(long, default_value_t = SegSettings::default().output_stride)]
    output_stride: usize,
    /// DeepLab head: aspp or large-fov.
    #[arg(long, default_value = "aspp", value_parser = parse_head)]
    head: weakseg::models::SegHeadKind,
    /// Epochs.
    #[arg(long, default_value_t = SegSettings::default().epochs)]
    epochs: usize,
    /// Batch size.
    #[arg(long, default_value_t = SegSettings::default().batch_size)]
    batch_size: usize,
    /// Learning rate.
    #[arg(long, default_value_t = SegSettings::default().lr)]
    lr: f32,
    /// Seed.
    #[arg(long, default_value_t = SegSettings::default().seed)]
    seed: u64,
    #[command(flatten)]
    crop: CropArgs,
    /// ImageNet weights (safetensors) for the backbone.
    #[arg(long)]
    pretrained: Option<PathBuf>,
    /// Start from this segmenter checkpoint (a second training phase).
    #[arg(long)]
    init: Option<PathBuf>,
    /// Add an image-driven regulariser: dense-crf or normalized-cut.
    #[arg(long, value_parser = |s: &str| RegulariserKind::parse(s))]
    regulariser: Option<RegulariserKind>,
    /// The regulariser's weight [default: 0.5].
    #[arg(long, requires = "regulariser")]
    reg_weight: Option<f32>,
    /// What's the Point's loss, objectness = the maximum of the CAMs in
    /// this directory (the `cam` stage's cams/).
    #[arg(long)]
    objectness: Option<PathBuf>,
    /// Objectness as the foreground share m / (m + (1 − m)^α) of the CAM
    /// maximum m with this background power α, instead of m itself.
    #[arg(long, requires = "objectness")]
    objectness_power: Option<f32>,
    /// Constrained CNN: train from the image tags alone (masks unused).
    #[arg(long, conflicts_with_all = ["masks", "objectness"])]
    constrained: bool,
    /// Train on seeds (the masks: confident CAM cues, 255 elsewhere) with
    /// SEC's or DSRG's loss: sec or dsrg.
    #[arg(long, requires = "masks", conflicts_with_all = ["objectness", "constrained"],
          value_parser = |s: &str| SeededMethod::parse(s))]
    seeded: Option<SeededMethod>,
}

impl TrainSegArgs {
    /// The stage's settings: the flags given, `SegSettings::default()` for
    /// the rest.
    pub fn settings(&self) -> Result<SegSettings> {
        Ok(SegSettings {
            arch: self.arch.clone(),
            output_stride: self.output_stride,
            head: self.head,
            list: self.list.clone(),
            epochs: self.epochs,
            batch_size: self.batch_size,
            lr: self.lr,
            seed: self.seed,
            pretrained: self.pretrained.clone(),
            init: self.init.clone(),
            regulariser: self.regulariser.map(|kind| {
                let d = Regulariser::default();
                Regulariser {
                    kind,
                    weight: self.reg_weight.unwrap_or(d.weight),
                    ..d
                }
            }),
            objectness: self.objectness.clone(),
            objectness_power: self.objectness_power,
            constraints: self.constrained.then(Constraints::default),
            seeded: self.seeded.map(Seeded::new),
            crop: self.crop.crop(),
            ..SegSettings::default()
        })
    }
}

fn parse_head(s: &str) -> std::result::Result<weakseg::models::SegHeadKind, String> {
    match s {
        "aspp" => Ok(weakseg::models::SegHeadKind::Aspp),
        "large-fov" => Ok(weakseg::models::SegHeadKind::LargeFov),
        o => Err(format!("{o:?} is not aspp or large-fov")),
    }
}

/// Arguments of `weakseg predict`.
#[derive(clap::Args)]
pub struct PredictArgs {
    /// Dataset root (VOC layout).
    #[arg(long)]
    data: PathBuf,
    #[command(flatten)]
    eval: EvalArgs,
    /// Segmenter checkpoint from `train-seg`.
    #[arg(long)]
    segmenter: PathBuf,
    /// Stage directory (pred/ID.png, stage.json).
    #[arg(long)]
    out: PathBuf,
    /// Images: split name or file.
    #[arg(long, default_value_t = PredictSettings::default().list)]
    list: String,
    /// Refine each prediction with the dense CRF (psa's parameters).
    #[arg(long)]
    crf: bool,
}

impl PredictArgs {
    /// The stage's settings: the flags given, `PredictSettings::default()` for
    /// the rest.
    pub fn settings(&self) -> Result<PredictSettings> {
        Ok(PredictSettings {
            list: self.list.clone(),
            crf: self.crf.then(CrfParams::default),
            eval: self.eval.scoring()?,
        })
    }
}

/// Runs `weakseg train-seg`.
pub fn train_seg(gpu: &Gpu, a: &TrainSegArgs) -> Result<()> {
    let s = a.settings()?;
    let m = segmenter::train(
        gpu,
        &a.data,
        a.masks.as_deref(),
        &a.out,
        &s,
        reporter().as_mut(),
    )?;
    report("train-seg", &m);
    println!(
        "checkpoint: {}",
        a.out.join(segmenter::CHECKPOINT).display()
    );
    Ok(())
}

/// Runs `weakseg predict`.
pub fn predict(gpu: &Gpu, a: &PredictArgs) -> Result<()> {
    let s = a.settings()?;
    let bar = image_bar();
    let m = segmenter::predict(gpu, &a.data, &a.segmenter, &a.out, &s, track(&bar))?;
    bar.finish_and_clear();
    report("predict", &m);
    if let Some(miou) = m.results.miou {
        println!("mIoU ({}): {:.1}%", a.list, 100.0 * miou);
    }
    Ok(())
}
