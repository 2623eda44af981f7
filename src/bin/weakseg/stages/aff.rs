//! `aff-labels`, `train-aff` and `rw`: affinity labels, the affinity
//! network and the random walk.

use super::*;

/// Arguments of `weakseg aff-labels`.
#[derive(clap::Args)]
pub struct AffLabelsArgs {
    /// Dataset root (VOC layout).
    #[arg(long)]
    data: PathBuf,
    #[command(flatten)]
    eval: EvalArgs,
    /// Directory of the `cam` stage.
    #[arg(long)]
    cams: PathBuf,
    /// Stage directory (la/, ha/, aff/ label PNGs, stage.json).
    #[arg(long)]
    out: PathBuf,
    /// Images: split name or file.
    #[arg(long, default_value_t = AffLabelSettings::default().list)]
    list: String,
    /// Background power of the confident-foreground map.
    #[arg(long, default_value_t = AffLabelSettings::default().low_alpha)]
    low_alpha: f32,
    /// Background power of the confident-background map.
    #[arg(long, default_value_t = AffLabelSettings::default().high_alpha)]
    high_alpha: f32,
    /// IRN's labels instead: constant backgrounds 0.30 and 0.05, each
    /// argmax refined by the CRF from labels (gt_prob 0.7, bilateral
    /// 50/5/10); replaces the powers.
    #[arg(long)]
    irn: bool,
}

impl AffLabelsArgs {
    /// The stage's settings: the flags given, `AffLabelSettings::default()` for
    /// the rest.
    pub fn settings(&self) -> Result<AffLabelSettings> {
        Ok(AffLabelSettings {
            list: self.list.clone(),
            low_alpha: self.low_alpha,
            high_alpha: self.high_alpha,
            irn: self.irn.then(IrnLabels::default),
            eval: self.eval.scoring()?,
            ..AffLabelSettings::default()
        })
    }
}

/// Arguments of `weakseg train-aff`.
#[derive(clap::Args)]
pub struct TrainAffArgs {
    /// Dataset root (VOC layout).
    #[arg(long)]
    data: PathBuf,
    /// Classifier checkpoint from `train-cls` (the backbone's start).
    #[arg(long)]
    classifier: PathBuf,
    /// Directory of the `aff-labels` stage.
    #[arg(long)]
    aff_labels: PathBuf,
    /// Stage directory (checkpoint, loss log, stage.json).
    #[arg(long)]
    out: PathBuf,
    /// Training list: split name or file.
    #[arg(long, default_value_t = AffinitySettings::default().list)]
    list: String,
    /// Pair radius on the grid.
    #[arg(long, default_value_t = AffinitySettings::default().radius)]
    radius: usize,
    /// Where affinities come from: `features` (psa's AffinityNet) or
    /// `boundary` (IRN: 1 − the largest boundary probability on the path).
    #[arg(long, default_value = "features", value_parser = parse_relation)]
    relation: Relation,
    /// Keep the classifier's backbone fixed (IRN); by default it is
    /// fine-tuned with the head (psa).
    #[arg(long)]
    freeze_backbone: bool,
    /// Input pixels per affinity-grid pixel.
    #[arg(long, default_value_t = AffinitySettings::default().net.grid_stride)]
    grid_stride: usize,
    /// Epochs.
    #[arg(long, default_value_t = AffinitySettings::default().epochs)]
    epochs: usize,
    /// Batch size.
    #[arg(long, default_value_t = AffinitySettings::default().batch_size)]
    batch_size: usize,
    /// Learning rate.
    #[arg(long, default_value_t = AffinitySettings::default().lr)]
    lr: f32,
    /// Seed.
    #[arg(long, default_value_t = AffinitySettings::default().seed)]
    seed: u64,
    #[command(flatten)]
    crop: CropArgs,
}

impl TrainAffArgs {
    /// The stage's settings: the flags given, `AffinitySettings::default()` for
    /// the rest.
    pub fn settings(&self) -> Result<AffinitySettings> {
        Ok(AffinitySettings {
            list: self.list.clone(),
            radius: self.radius,
            relation: self.relation,
            freeze_backbone: self.freeze_backbone,
            net: AffinityConfig {
                grid_stride: self.grid_stride,
                ..AffinityConfig::default()
            },
            epochs: self.epochs,
            batch_size: self.batch_size,
            lr: self.lr,
            seed: self.seed,
            crop: self.crop.crop(),
            ..AffinitySettings::default()
        })
    }
}

/// Arguments of `weakseg rw`.
#[derive(clap::Args)]
pub struct RwArgs {
    /// Dataset root (VOC layout).
    #[arg(long)]
    data: PathBuf,
    #[command(flatten)]
    eval: EvalArgs,
    /// Affinity checkpoint from `train-aff`.
    #[arg(long)]
    affinity: PathBuf,
    /// Directory of the `cam` stage.
    #[arg(long)]
    cams: PathBuf,
    /// Stage directory (rw/ID.png, stage.json).
    #[arg(long)]
    out: PathBuf,
    /// Images: split name or file.
    #[arg(long, default_value_t = WalkSettings::default().list)]
    list: String,
    /// Power of the affinities.
    #[arg(long, default_value_t = WalkSettings::default().walk.beta)]
    beta: f32,
    /// log2 of the number of steps (8: t = 256).
    #[arg(long, default_value_t = WalkSettings::default().walk.log_t)]
    log_t: u32,
    /// Background power.
    #[arg(long, default_value_t = WalkSettings::default().walk.alpha)]
    alpha: f32,
    /// IRN's background: walk the classes alone, divide by the largest
    /// walked score, background where no class reaches this (IRN: 0.25).
    /// Replaces `--alpha`.
    #[arg(long)]
    bg_threshold: Option<f32>,
    /// auto, dense (T^t by squaring) or iterative (bounded memory).
    #[arg(long, default_value = "auto", value_parser = parse_form)]
    form: WalkForm,
    /// Refine the walked scores with the dense CRF (psa's parameters)
    /// instead of writing the walk's argmax.
    #[arg(long)]
    crf: bool,
}

impl RwArgs {
    /// The stage's settings: the flags given, `WalkSettings::default()` for
    /// the rest.
    pub fn settings(&self) -> Result<WalkSettings> {
        Ok(WalkSettings {
            list: self.list.clone(),
            walk: RandomWalk {
                beta: self.beta,
                log_t: self.log_t,
                alpha: self.alpha,
                bg_threshold: self.bg_threshold,
                form: self.form,
                ..RandomWalk::default()
            },
            crf: self.crf.then(CrfParams::default),
            eval: self.eval.scoring()?,
        })
    }
}

fn parse_form(s: &str) -> std::result::Result<WalkForm, String> {
    match s {
        "auto" => Ok(WalkForm::Auto),
        "dense" => Ok(WalkForm::Dense),
        "iterative" => Ok(WalkForm::Iterative),
        o => Err(format!("{o:?} is not auto, dense or iterative")),
    }
}

/// Runs `weakseg aff-labels`.
pub fn aff_labels(gpu: &Gpu, a: &AffLabelsArgs) -> Result<()> {
    let s = a.settings()?;
    let bar = image_bar();
    let m = aff_labels::make(gpu, &a.data, &a.cams, &a.out, &s, track(&bar))?;
    bar.finish_and_clear();
    report("aff-labels", &m);
    if let (Some(lo), Some(hi)) = (m.results.crf_low_miou, m.results.crf_high_miou) {
        match &s.irn {
            Some(irn) => println!(
                "CAM+CRF mIoU: {:.1}% at background {}, {:.1}% at background {}",
                100.0 * lo,
                irn.fg_threshold,
                100.0 * hi,
                irn.bg_threshold
            ),
            None => println!(
                "CAM+CRF mIoU: {:.1}% at alpha {}, {:.1}% at alpha {}",
                100.0 * lo,
                a.low_alpha,
                100.0 * hi,
                a.high_alpha
            ),
        }
    }
    Ok(())
}

/// Parses `features` or `boundary`.
fn parse_relation(v: &str) -> std::result::Result<Relation, String> {
    serde_json::from_value(serde_json::Value::String(v.to_string()))
        .map_err(|_| format!("unknown relation `{v}`; one of features, boundary"))
}

/// Runs `weakseg train-aff`.
pub fn train_aff(gpu: &Gpu, a: &TrainAffArgs) -> Result<()> {
    let s = a.settings()?;
    let m = affinity::train(
        gpu,
        &a.data,
        &a.classifier,
        &a.aff_labels,
        &a.out,
        &s,
        reporter().as_mut(),
    )?;
    report("train-aff", &m);
    println!("checkpoint: {}", a.out.join(affinity::CHECKPOINT).display());
    Ok(())
}

/// Runs `weakseg rw`.
pub fn rw(gpu: &Gpu, a: &RwArgs) -> Result<()> {
    let s = a.settings()?;
    let bar = image_bar();
    let m = walk::run(gpu, &a.data, &a.affinity, &a.cams, &a.out, &s, track(&bar))?;
    bar.finish_and_clear();
    report("rw", &m);
    if let Some(miou) = m.results.walk_miou {
        println!("random-walk mIoU: {:.1}%", 100.0 * miou);
    }
    if let (Some(miou), true) = (m.results.miou, a.crf) {
        println!(
            "random walk + dense CRF pseudo-mask mIoU: {:.1}%",
            100.0 * miou
        );
    }
    Ok(())
}
