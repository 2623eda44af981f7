//! The pipeline stages as subcommands: `train-cls`, `cam`, `aff-labels`,
//! `weak-masks`, `train-aff`, `rw`. Each prints its time, or that it was skipped because
//! an identical run finished.

use std::io::IsTerminal;
use std::path::PathBuf;

use weakseg::cam::MultiScale;
use weakseg::interactive::Guidance;
use weakseg::losses::{Constraints, Regulariser, RegulariserKind, Seeded, SeededMethod};
use weakseg::methods::{Method, Saliency};
use weakseg::models::affinity::AffinityConfig;
use weakseg::pipeline::aff_labels::{self, AffLabelSettings, IrnLabels};
use weakseg::pipeline::affinity::{self, AffinitySettings, Relation};
use weakseg::pipeline::cams::{self, CamSettings};
use weakseg::pipeline::classifier::{self, ClassifierSettings};
use weakseg::pipeline::interactive::{self, InteractiveSettings};
use weakseg::pipeline::scoring::{GroundMasks, Scoring};
use weakseg::pipeline::segmenter::{self, PredictSettings, SegSettings};
use weakseg::pipeline::spml::{self, SpmlSettings};
use weakseg::pipeline::stage::Manifest;
use weakseg::pipeline::walk::{self, WalkSettings};
use weakseg::pipeline::weak_masks::{self, WeakLabel, WeakMaskSettings};
use weakseg::refine::boxes::BoxMode;
use weakseg::refine::crf::CrfParams;
use weakseg::refine::random_walk::{RandomWalk, WalkForm};
use weakseg::spml::{Relation as SpmlRelation, Relations};
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

/// The CAM-expansion method of `train-cls` and `demo`.
#[derive(clap::Args)]
pub struct MethodArgs {
    /// The CAM-expansion method (its settings: docs/methods.md).
    #[arg(long, default_value = "cam",
          value_parser = clap::builder::PossibleValuesParser::new(Method::NAMES))]
    method: String,
    /// One of the method's settings as key=value (repeatable), e.g.
    /// `--method acol --method-set threshold=0.5`.
    #[arg(long = "method-set", value_name = "KEY=VALUE")]
    settings: Vec<String>,
}

impl MethodArgs {
    /// The method with its defaults and the settings given.
    pub fn method(&self) -> Result<Method> {
        Method::from_name(&self.method, &self.settings)
    }
}

/// The fixed-size crop of `train-aff` and `train-seg`, so that images of
/// any size batch (as psa, IRN and DeepLab crop theirs).
#[derive(clap::Args)]
pub struct CropArgs {
    /// Crop (padding smaller images) every training image to this square
    /// side; without it, every image of the list must have one size.
    #[arg(long)]
    crop: Option<usize>,
    /// Rescale each image by a random factor in LO,HI before the crop
    /// (DeepLab and IRN: 0.5,1.5) [default: 1,1].
    #[arg(long, value_name = "LO,HI", requires = "crop", value_parser = parse_range)]
    crop_scale: Option<[f32; 2]>,
    /// psa's colour jitter (0.3, 0.3, 0.3, 0.1) before the crop.
    #[arg(long, requires = "crop")]
    jitter: bool,
}

/// Parses `LO,HI`.
fn parse_range(v: &str) -> std::result::Result<[f32; 2], String> {
    let parsed: Vec<f32> = v
        .split(',')
        .map(|x| x.trim().parse::<f32>())
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| format!("{v:?}: {e}"))?;
    match parsed[..] {
        [lo, hi] => Ok([lo, hi]),
        _ => Err(format!("{v:?}: expected two numbers LO,HI")),
    }
}

impl CropArgs {
    /// The crop these flags ask for.
    pub fn crop(&self) -> Option<weakseg::data::augment::Crop> {
        self.crop.map(|side| weakseg::data::augment::Crop {
            side,
            scale: self.crop_scale.unwrap_or([1.0, 1.0]),
            jitter: self.jitter,
        })
    }
}

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

/// Arguments of `weakseg weak-masks`.
#[derive(clap::Args)]
pub struct WeakMasksArgs {
    /// Dataset root (VOC layout).
    #[arg(long)]
    data: PathBuf,
    /// Stage directory (masks/ label PNGs, stage.json).
    #[arg(long)]
    out: PathBuf,
    /// The label to draw: points, scribbles or boxes.
    #[arg(long, value_parser = |s: &str| WeakLabel::parse(s))]
    label: WeakLabel,
    /// Images: split name or file.
    #[arg(long, default_value_t = WeakMaskSettings::default().list)]
    list: String,
    /// Points: dilation radius in pixels [default: 1].
    #[arg(long)]
    point_radius: Option<f32>,
    /// Scribbles: dilation radius in pixels [default: 1].
    #[arg(long)]
    scribble_radius: Option<f32>,
    /// Boxes: box, box-inner, crf or cam.
    #[arg(long, default_value = "crf", value_parser = |s: &str| BoxMode::parse(s))]
    box_mode: BoxMode,
    /// Boxes, mode crf: probability of a box's class inside it [default: 0.7].
    #[arg(long)]
    inside: Option<f32>,
    /// Boxes, mode cam: the `cam` stage's directory.
    #[arg(long)]
    cams: Option<PathBuf>,
    /// Points and scribbles: draw the marks over the seed maps in this
    /// directory (ID.png, e.g. the aff-labels stage's aff/), for SEC or
    /// DSRG to grow from.
    #[arg(long)]
    over: Option<PathBuf>,
}

impl WeakMasksArgs {
    /// The stage's settings: the flags given, `WeakMaskSettings::default()` for
    /// the rest.
    pub fn settings(&self) -> Result<WeakMaskSettings> {
        let d = WeakMaskSettings::default();
        Ok(WeakMaskSettings {
            list: self.list.clone(),
            label: self.label,
            point_radius: self.point_radius.unwrap_or(d.point_radius),
            scribble_radius: self.scribble_radius.unwrap_or(d.scribble_radius),
            box_mode: self.box_mode,
            inside: self.inside.unwrap_or(d.inside),
            over: self.over.clone(),
            ..d
        })
    }
}

/// Arguments of `weakseg interactive`.
#[derive(clap::Args)]
pub struct InteractiveArgs {
    /// Dataset root (VOC layout, with boxes and masks).
    #[arg(long)]
    data: PathBuf,
    /// Output directory (one subdirectory per guidance, interactive.md).
    #[arg(long)]
    out: PathBuf,
    /// Guidances, comma-separated: distance, gaussian, extreme.
    #[arg(long, default_value = "distance,gaussian,extreme", value_delimiter = ',',
          value_parser = |s: &str| Guidance::parse(s))]
    guidance: Vec<Guidance>,
    /// Epochs over the training objects.
    #[arg(long, default_value_t = InteractiveSettings::default().epochs)]
    epochs: usize,
    /// Clicks per object at evaluation.
    #[arg(long, default_value_t = InteractiveSettings::default().max_clicks)]
    max_clicks: usize,
    /// Training list.
    #[arg(long, default_value_t = InteractiveSettings::default().list)]
    list: String,
    /// Evaluation list.
    #[arg(long, default_value_t = InteractiveSettings::default().eval_list)]
    eval_list: String,
}

impl InteractiveArgs {
    /// The stage's settings: the flags given, `InteractiveSettings::default()` for
    /// the rest.
    pub fn settings(&self) -> Result<InteractiveSettings> {
        Ok(InteractiveSettings {
            epochs: self.epochs,
            max_clicks: self.max_clicks,
            list: self.list.clone(),
            eval_list: self.eval_list.clone(),
            ..InteractiveSettings::default()
        })
    }
}

/// Arguments of `weakseg spml`.
#[derive(clap::Args)]
pub struct SpmlArgs {
    /// Dataset root (VOC layout).
    #[arg(long)]
    data: PathBuf,
    /// Label maps to learn from (ID.png, 255 unlabelled): tag pseudo
    /// labels, box masks, points or scribbles from `weak-masks`.
    #[arg(long)]
    labels: PathBuf,
    /// Output directory (train/ and predict/ stage directories).
    #[arg(long)]
    out: PathBuf,
    /// Which label the maps come from (sets the relations' weights):
    /// tags, boxes, scribbles, points.
    #[arg(long, default_value = "tags", value_parser = |s: &str| Relations::for_label(s))]
    relations: Relations,
    /// Weight of the feature-affinity relation (each unlabelled segment
    /// takes its nearest labelled segment's label; SPML: 0 on VOC, 0.5 on
    /// DensePose's points).
    #[arg(long, default_value_t = SpmlSettings::default().relations.feature_affinity.weight)]
    feature_affinity: f32,
    /// Concentration κ of the feature-affinity relation.
    #[arg(long, default_value_t = SpmlSettings::default().relations.feature_affinity.kappa)]
    feature_affinity_kappa: f32,
    /// Epochs.
    #[arg(long, default_value_t = SpmlSettings::default().epochs)]
    epochs: usize,
    /// Training list (also the prototype bank's images).
    #[arg(long, default_value_t = SpmlSettings::default().list)]
    list: String,
    /// Evaluation list.
    #[arg(long, default_value_t = SpmlSettings::default().eval_list)]
    eval_list: String,
    /// Skip the dense CRF after the prototype vote.
    #[arg(long)]
    no_crf: bool,
}

impl SpmlArgs {
    /// The stage's settings: the flags given, `SpmlSettings::default()` for
    /// the rest.
    pub fn settings(&self) -> Result<SpmlSettings> {
        let mut relations = self.relations;
        relations.feature_affinity = SpmlRelation {
            kappa: self.feature_affinity_kappa,
            weight: self.feature_affinity,
        };
        let mut s = SpmlSettings {
            relations,
            epochs: self.epochs,
            list: self.list.clone(),
            eval_list: self.eval_list.clone(),
            ..SpmlSettings::default()
        };
        if self.no_crf {
            s.crf = None;
        }
        Ok(s)
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

/// Which images and masks a pseudo-label stage is scored on.
#[derive(clap::Args)]
pub struct EvalArgs {
    /// Score only the images of this list (split name or file).
    #[arg(long)]
    eval_list: Option<String>,
    /// Ground-truth masks: auto (SegmentationClass, else
    /// SegmentationClassAug), class or aug.
    #[arg(long, default_value = "auto")]
    eval_masks: String,
}

impl EvalArgs {
    /// The stage's scoring settings.
    fn scoring(&self) -> Result<Scoring> {
        let masks = match self.eval_masks.as_str() {
            "auto" => GroundMasks::Auto,
            "class" => GroundMasks::Class,
            "aug" => GroundMasks::Aug,
            other => {
                return Err(weakseg::Error::invalid(
                    "--eval-masks",
                    format!("{other:?}: want auto, class or aug"),
                ));
            }
        };
        Ok(Scoring {
            list: self.eval_list.clone(),
            masks,
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

/// The training display: bars on a terminal, lines every 10 s otherwise.
pub(crate) fn reporter() -> Box<dyn Reporter> {
    if std::io::stderr().is_terminal() {
        Box::new(BarReporter::new())
    } else {
        Box::new(LineReporter::new(std::time::Duration::from_secs(10)))
    }
}

/// Prints a stage's time, or that it was skipped, and what its scores were
/// measured on.
pub(crate) fn report(name: &str, m: &Manifest) {
    if !m.skipped {
        println!("{name}: done in {:.1} s", m.seconds);
    } else {
        println!(
            "{name}: skipped (outputs of an identical run exist; it took {:.1} s)",
            m.seconds
        );
    }
    let on = &m.results["scored_on"];
    if let (Some(list), Some(masks), Some(n)) = (
        on["list"].as_str(),
        on["masks"].as_str(),
        on["images"].as_u64(),
    ) {
        println!("{name}: scored on {n} images of {list}, masks from {masks}");
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

/// The per-image progress callback of a stage, moving `bar`.
pub(crate) fn track(bar: &indicatif::ProgressBar) -> impl FnMut(usize, usize) + '_ {
    |done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    }
}

/// A per-image progress bar (hidden when not a terminal).
pub(crate) fn image_bar() -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(0);
    if !std::io::stderr().is_terminal() {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    bar
}

/// Runs `weakseg aff-labels`.
pub fn aff_labels(gpu: &Gpu, a: &AffLabelsArgs) -> Result<()> {
    let s = a.settings()?;
    let bar = image_bar();
    let m = aff_labels::make(gpu, &a.data, &a.cams, &a.out, &s, track(&bar))?;
    bar.finish_and_clear();
    report("aff-labels", &m);
    if let (Some(lo), Some(hi)) = (
        m.results["crf_low_miou"].as_f64(),
        m.results["crf_high_miou"].as_f64(),
    ) {
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

/// Runs `weakseg weak-masks`.
pub fn weak_masks(gpu: &Gpu, a: &WeakMasksArgs) -> Result<()> {
    let s = a.settings()?;
    let bar = image_bar();
    let m = weak_masks::make(gpu, &a.data, a.cams.as_deref(), &a.out, &s, track(&bar))?;
    bar.finish_and_clear();
    report("weak-masks", &m);
    if let (Some(miou), Some(lab), Some(acc)) = (
        m.results["miou"].as_f64(),
        m.results["labelled"].as_f64(),
        m.results["accuracy"].as_f64(),
    ) {
        println!(
            "masks: {:.1}% of pixels labelled, {:.1}% of those right, mIoU {:.1}% (unlabelled as background)",
            100.0 * lab,
            100.0 * acc,
            100.0 * miou
        );
    }
    Ok(())
}

/// Runs `weakseg interactive`.
pub fn interactive(gpu: &Gpu, a: &InteractiveArgs) -> Result<()> {
    let s = a.settings()?;
    let bar = image_bar();
    let rows = interactive::compare(
        gpu,
        &a.data,
        &a.out,
        &s,
        &a.guidance,
        reporter().as_mut(),
        track(&bar),
    )?;
    bar.finish_and_clear();
    print!("{}", interactive::markdown(&rows));
    println!("table: {}", a.out.join("interactive.md").display());
    Ok(())
}

/// Runs `weakseg spml`.
pub fn spml(gpu: &Gpu, a: &SpmlArgs) -> Result<()> {
    let s = a.settings()?;
    let train_dir = a.out.join("train");
    let m = spml::train(gpu, &a.data, &a.labels, &train_dir, &s, reporter().as_mut())?;
    report("spml-train", &m);
    let bar = image_bar();
    let m = spml::predict(
        gpu,
        &a.data,
        &a.labels,
        &train_dir.join(spml::CHECKPOINT),
        &a.out.join("predict"),
        &s,
        track(&bar),
    )?;
    bar.finish_and_clear();
    report("spml-predict", &m);
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
    if let Some(miou) = m.results["walk_miou"].as_f64() {
        println!("random-walk mIoU: {:.1}%", 100.0 * miou);
    }
    if let (Some(miou), true) = (m.results["miou"].as_f64(), a.crf) {
        println!(
            "random walk + dense CRF pseudo-mask mIoU: {:.1}%",
            100.0 * miou
        );
    }
    Ok(())
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
    if let Some(miou) = m.results["miou"].as_f64() {
        println!("mIoU ({}): {:.1}%", a.list, 100.0 * miou);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    /// A command of one argument set, to parse a stage's flags alone.
    #[derive(Parser)]
    struct Command<A: clap::Args> {
        #[command(flatten)]
        args: A,
    }

    /// The stage's settings when only the required flags are given.
    fn defaults<A: clap::Args>(required: &[&str]) -> A {
        let argv = std::iter::once("weakseg").chain(required.iter().copied());
        Command::<A>::try_parse_from(argv).unwrap().args
    }

    #[test]
    fn every_stage_flag_defaults_to_its_settings_default() {
        // The flags and the TOML tables read the same settings structs;
        // a flag's default written apart from `Default` would make the
        // CLI and a config run differ silently.
        let io = ["--data", "d", "--out", "o"];
        let with = |extra: &[&'static str]| -> Vec<&'static str> {
            io.iter().chain(extra).copied().collect()
        };
        assert_eq!(
            defaults::<TrainClsArgs>(&io).settings().unwrap(),
            ClassifierSettings::default()
        );
        assert_eq!(
            defaults::<CamArgs>(&with(&["--classifier", "c"]))
                .settings()
                .unwrap(),
            CamSettings::default()
        );
        assert_eq!(
            defaults::<AffLabelsArgs>(&with(&["--cams", "c"]))
                .settings()
                .unwrap(),
            AffLabelSettings::default()
        );
        assert_eq!(
            defaults::<TrainAffArgs>(&with(&["--classifier", "c", "--aff-labels", "l"]))
                .settings()
                .unwrap(),
            AffinitySettings::default()
        );
        assert_eq!(
            defaults::<RwArgs>(&with(&["--affinity", "a", "--cams", "c"]))
                .settings()
                .unwrap(),
            WalkSettings::default()
        );
        assert_eq!(
            defaults::<TrainSegArgs>(&io).settings().unwrap(),
            SegSettings::default()
        );
        assert_eq!(
            defaults::<PredictArgs>(&with(&["--segmenter", "s"]))
                .settings()
                .unwrap(),
            PredictSettings::default()
        );
        assert_eq!(
            defaults::<WeakMasksArgs>(&with(&["--label", "boxes"]))
                .settings()
                .unwrap(),
            WeakMaskSettings {
                label: WeakLabel::Boxes,
                ..WeakMaskSettings::default()
            }
        );
        assert_eq!(
            defaults::<InteractiveArgs>(&io).settings().unwrap(),
            InteractiveSettings::default()
        );
        assert_eq!(
            defaults::<SpmlArgs>(&with(&["--labels", "l"]))
                .settings()
                .unwrap(),
            SpmlSettings::default()
        );
    }
}
