//! `weak-masks`, `interactive` and `spml`: pseudo-masks from boxes, points,
//! scribbles and clicks, and SPML's embedding stages.

use super::*;

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
    /// Train on a square window of this side around each object, so
    /// images of varied sizes batch (the scenes); evaluation stays on whole
    /// images.
    #[arg(long)]
    crop: Option<usize>,
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
            crop: self.crop,
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
    #[command(flatten)]
    crop: CropArgs,
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
            crop: self.crop.crop(),
            ..SpmlSettings::default()
        };
        if self.no_crf {
            s.crf = None;
        }
        Ok(s)
    }
}

/// Runs `weakseg weak-masks`.
pub fn weak_masks(gpu: &Gpu, a: &WeakMasksArgs) -> Result<()> {
    let s = a.settings()?;
    let bar = image_bar();
    let m = weak_masks::make(gpu, &a.data, a.cams.as_deref(), &a.out, &s, track(&bar))?;
    bar.finish_and_clear();
    report("weak-masks", &m);
    if let (Some(miou), Some(lab), Some(acc)) =
        (m.results.miou, m.results.labelled, m.results.accuracy)
    {
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
