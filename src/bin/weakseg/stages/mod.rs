//! The pipeline stages as subcommands, one file per family: `cls`
//! (`train-cls`, `cam`), `aff` (`aff-labels`, `train-aff`, `rw`), `weak`
//! (`weak-masks`, `interactive`, `spml`) and `seg` (`train-seg`,
//! `predict`). Each stage's arguments build its settings struct, with the
//! struct's `Default` as the defaults; each run prints its time, or that it
//! was skipped because an identical run finished. The argument groups
//! several stages share, the display helpers and the imports (which the
//! family files take with `use super::*`) live here.

mod aff;
mod cls;
mod seg;
mod weak;

pub use aff::*;
pub use cls::*;
pub use seg::*;
pub use weak::*;

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
        if let Some(why) = &m.rerun {
            println!("{name}: ran again ({why})");
        }
    } else {
        println!(
            "{name}: skipped (outputs of an identical run exist; it took {:.1} s)",
            m.seconds
        );
    }
    if let Some(on) = &m.results.scored_on {
        println!(
            "{name}: scored on {} images of {}, masks from {}",
            on.images, on.list, on.masks
        );
    }
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
