//! `train-cls` and `cam`: the classifier and its CAMs.

use super::*;

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
    #[arg(long, default_value_t = ClassifierSettings::default().list)]
    list: String,
    /// Backbone: resnet-tiny, resnet50, resnet101, resnet38, vgg16.
    #[arg(long, default_value_t = ClassifierSettings::default().arch)]
    arch: String,
    /// Backbone output stride.
    #[arg(long, default_value_t = ClassifierSettings::default().output_stride)]
    output_stride: usize,
    /// Epochs.
    #[arg(long, default_value_t = ClassifierSettings::default().epochs)]
    epochs: usize,
    /// Batch size.
    #[arg(long, default_value_t = ClassifierSettings::default().batch_size)]
    batch_size: usize,
    /// Learning rate.
    #[arg(long, default_value_t = ClassifierSettings::default().lr)]
    lr: f32,
    /// Weight decay.
    #[arg(long, default_value_t = ClassifierSettings::default().weight_decay)]
    weight_decay: f32,
    /// Seed.
    #[arg(long, default_value_t = ClassifierSettings::default().seed)]
    seed: u64,
    /// psa's augmentation with this crop side (flips only without it).
    #[arg(long)]
    crop: Option<usize>,
    /// ImageNet weights (safetensors) for the backbone.
    #[arg(long)]
    pretrained: Option<PathBuf>,
    #[command(flatten)]
    method: MethodArgs,
}

impl TrainClsArgs {
    /// The stage's settings: the flags given, `ClassifierSettings::default()` for
    /// the rest.
    pub fn settings(&self) -> Result<ClassifierSettings> {
        Ok(ClassifierSettings {
            arch: self.arch.clone(),
            output_stride: self.output_stride,
            list: self.list.clone(),
            epochs: self.epochs,
            batch_size: self.batch_size,
            lr: self.lr,
            weight_decay: self.weight_decay,
            seed: self.seed,
            crop: self.crop,
            pretrained: self.pretrained.clone(),
            method: self.method.method()?,
        })
    }
}

/// Arguments of `weakseg cam`.
#[derive(clap::Args)]
pub struct CamArgs {
    /// Dataset root (VOC layout).
    #[arg(long)]
    data: PathBuf,
    #[command(flatten)]
    eval: EvalArgs,
    /// Classifier checkpoint from `train-cls`.
    #[arg(long)]
    classifier: PathBuf,
    /// Stage directory (cams/ID.npy, labels/ID.png, stage.json).
    #[arg(long)]
    out: PathBuf,
    /// Images: split name or file.
    #[arg(long, default_value_t = CamSettings::default().list)]
    list: String,
    /// Background threshold of the label maps.
    #[arg(long, default_value_t = CamSettings::default().threshold)]
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
    /// Map to read from the classifier: cam, grad-cam or smooth-grad.
    #[arg(long, default_value = "cam")]
    saliency: String,
}

impl CamArgs {
    /// The stage's settings: the flags given, `CamSettings::default()` for
    /// the rest.
    pub fn settings(&self) -> Result<CamSettings> {
        Ok(CamSettings {
            list: self.list.clone(),
            multiscale: MultiScale {
                scales: self.scales.clone(),
                flip: !self.no_flip,
                ..MultiScale::default()
            },
            threshold: self.threshold,
            saliency: Saliency::from_name(&self.saliency)?,
            eval: self.eval.scoring()?,
        })
    }
}

/// Runs `weakseg train-cls`.
pub fn train_cls(gpu: &Gpu, a: &TrainClsArgs) -> Result<()> {
    let s = a.settings()?;
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
    let s = a.settings()?;
    let bar = image_bar();
    let m = cams::infer(gpu, &a.data, &a.classifier, &a.out, &s, track(&bar))?;
    bar.finish_and_clear();
    report("cam", &m);
    let r = &m.results;
    if let (Some(miou), Some(best), Some(at)) = (r.miou, r.best_miou, r.best_threshold) {
        println!(
            "CAM mIoU at threshold {:.2}: {:.1}% (best {:.1}% at {:.2})",
            a.threshold,
            100.0 * miou,
            100.0 * best,
            at
        );
    }
    if a.sweep {
        println!("| threshold | mIoU |");
        println!("|---|---|");
        for (t, miou) in r.sweep.iter().flatten() {
            println!("| {t:.2} | {:.1}% |", 100.0 * miou);
        }
    }
    Ok(())
}
