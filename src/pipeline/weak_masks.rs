//! Stage `weak-masks`: the segmentation targets of labels cheaper than
//! tags. Points and scribbles become sparse maps (their marks drawn, 255
//! elsewhere), which the segmenter's cross-entropy turns into partial
//! cross-entropy; boxes become dense pseudo-masks ([`crate::refine::boxes`]).
//! Written as `masks/ID.png` with their agreement with the ground truth.

use std::path::Path;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use weakseg_kernels::{Error, Gpu, Result};

use crate::data::sparse::{self, MarkKind};
use crate::data::voc::{VocDataset, VocOptions, list_path};
use crate::io::labels::{self, LabelMap};
use crate::io::{image, npy};
use crate::metrics::SparseScore;
use crate::pipeline::fingerprint::Input;
use crate::pipeline::results::StageResults;
use crate::pipeline::stage::{Manifest, Stage};
use crate::refine::boxes::{self, BoxMode};
use crate::refine::crf::{CrfParams, DenseCrf};

/// The weak label a mask is made from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WeakLabel {
    /// One click per object.
    Points,
    /// Strokes inside objects and background.
    Scribbles,
    /// Bounding boxes.
    Boxes,
}

impl WeakLabel {
    /// Every weak label.
    pub const ALL: [WeakLabel; 3] = [WeakLabel::Points, WeakLabel::Scribbles, WeakLabel::Boxes];

    /// The label called `name`, or an error listing them.
    pub fn parse(name: &str) -> Result<WeakLabel> {
        Self::ALL
            .into_iter()
            .find(|m| m.name() == name)
            .ok_or_else(|| {
                Error::invalid(
                    "weak-masks",
                    format!("unknown weak label `{name}`; one of points, scribbles, boxes"),
                )
            })
    }

    /// The name used in settings and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            WeakLabel::Points => "points",
            WeakLabel::Scribbles => "scribbles",
            WeakLabel::Boxes => "boxes",
        }
    }
}

/// Settings of the weak-mask stage.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WeakMaskSettings {
    /// Images (split name or file).
    pub list: String,
    /// Which label to draw.
    pub label: WeakLabel,
    /// Radius a point is dilated by, in pixels (SPML: 6 on VOC; 1 here,
    /// scaled to the synthetic set's 64-px images).
    pub point_radius: f32,
    /// Radius a scribble is dilated by (SPML: 3 on VOC; 1 here).
    pub scribble_radius: f32,
    /// How boxes become masks.
    pub box_mode: BoxMode,
    /// `box-inner`: the labelled share of each box's area (Simple Does
    /// It: 0.2).
    pub inner_area: f32,
    /// `crf`: probability of a box's class inside it (IRN's gt_prob for
    /// label unaries: 0.7).
    pub inside: f32,
    /// `cam`: threshold on the in-box normalised CAM (SPML: 0.5).
    pub cam_threshold: f32,
    /// `crf`: the dense CRF (psa's settings).
    pub crf: CrfParams,
    /// Points and scribbles: a directory of seed maps (`ID.png`, 255
    /// unlabelled) the marks are drawn over, so the clicks join the
    /// confident CAM cues a seeded loss grows from. A mark wins where the
    /// two disagree.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub over: Option<std::path::PathBuf>,
}

impl Default for WeakMaskSettings {
    fn default() -> Self {
        WeakMaskSettings {
            list: "train".into(),
            label: WeakLabel::Scribbles,
            point_radius: 1.0,
            scribble_radius: 1.0,
            box_mode: BoxMode::Crf,
            inner_area: 0.2,
            inside: 0.7,
            cam_threshold: 0.5,
            crf: CrfParams::default(),
            over: None,
        }
    }
}

/// Writes the masks of `s.list` into `out/masks`. `cams_dir` is the `cam`
/// stage's directory, read only by the `cam` box mode.
pub fn make(
    gpu: &Gpu,
    data: &Path,
    cams_dir: Option<&Path>,
    out: &Path,
    s: &WeakMaskSettings,
    mut progress: impl FnMut(usize, usize),
) -> Result<Manifest> {
    s.crf.validate()?;
    let list = list_path(data, &s.list);
    let uses_cams = s.label == WeakLabel::Boxes && s.box_mode.needs_cams();
    let cams_dir = match (uses_cams, cams_dir) {
        (true, None) => {
            return Err(Error::invalid(
                "weak-masks",
                "box mode `cam` needs the CAM stage's directory",
            ));
        }
        (true, dir) => dir,
        (false, _) => None,
    };
    if s.over.is_some() && s.label == WeakLabel::Boxes {
        return Err(Error::invalid(
            "weak-masks",
            "only points and scribbles can be drawn over seed maps",
        ));
    }
    let mut inputs = vec![Input::data(data, &list)];
    inputs.extend(cams_dir.map(|d| Input::upstream(d, &list)));
    inputs.extend(s.over.as_deref().map(|d| Input::upstream(d, &list)));
    let mut stage = Stage::new("weak-masks", out, s, &inputs)?;
    if let Some(m) = stage.done()? {
        return Ok(m);
    }
    let t = Instant::now();
    let ds = VocDataset::open(data, &VocOptions::split(&s.list))?;
    if s.label != WeakLabel::Boxes && ds.records.iter().all(|r| r.marks.is_empty()) {
        return Err(Error::invalid(
            "weak-masks",
            format!(
                "no image of {} has points or scribbles: {} is missing or names none of them",
                list.display(),
                data.join(crate::data::synth::MARKS_FILE).display()
            ),
        ));
    }
    let k = ds.classes.len();
    let mut score = SparseScore::new(k + 1);
    let mut outputs = Vec::new();
    for (i, r) in ds.records.iter().enumerate() {
        let size = (r.width, r.height);
        let map = match s.label {
            WeakLabel::Points => sparse::rasterise(
                &r.marks,
                &ds.classes,
                MarkKind::Points,
                size,
                s.point_radius,
            )?,
            WeakLabel::Scribbles => sparse::rasterise(
                &r.marks,
                &ds.classes,
                MarkKind::Scribbles,
                size,
                s.scribble_radius,
            )?,
            WeakLabel::Boxes => box_mask(gpu, r, cams_dir, size, k, s)?,
        };
        let map = match &s.over {
            Some(dir) => draw_over(&dir.join(format!("{}.png", r.id)), map)?,
            None => map,
        };
        if let Some(mp) = &r.mask {
            score.add(&map.data, &labels::read(mp)?.data)?;
        }
        outputs.push(stage.write_labels(format!("masks/{}.png", r.id), &map)?);
        progress(i + 1, ds.records.len());
    }
    stage.finish(
        t.elapsed().as_secs_f64(),
        outputs,
        StageResults::sparse(&score),
    )
}

/// The seed map at `path` with every labelled pixel of `marks` drawn
/// over it; a seed map of another size is an error naming the file.
fn draw_over(path: &Path, marks: LabelMap) -> Result<LabelMap> {
    let mut seeds = labels::read(path)?;
    if (seeds.width, seeds.height) != (marks.width, marks.height) {
        return Err(Error::invalid(
            "weak-masks",
            format!(
                "{} is {}×{}, the image {}×{}",
                path.display(),
                seeds.width,
                seeds.height,
                marks.width,
                marks.height
            ),
        ));
    }
    for (s, &m) in seeds.data.iter_mut().zip(&marks.data) {
        if m != labels::IGNORE {
            *s = m;
        }
    }
    Ok(seeds)
}

/// One image's box mask.
fn box_mask(
    gpu: &Gpu,
    r: &crate::data::voc::VocRecord,
    cams_dir: Option<&Path>,
    (w, h): (usize, usize),
    k: usize,
    s: &WeakMaskSettings,
) -> Result<LabelMap> {
    match s.box_mode {
        BoxMode::Box => Ok(boxes::filled(&r.boxes, (w, h))),
        BoxMode::BoxInner => boxes::inner(&r.boxes, (w, h), s.inner_area),
        BoxMode::Crf => {
            let img = image::read(&r.image)?;
            let crf = DenseCrf::new_blocking(gpu, &img, &s.crf)?;
            pollster::block_on(boxes::crf_cut(&crf, gpu, &r.boxes, (w, h), s.inside))
        }
        BoxMode::Cam => {
            let dir = cams_dir.ok_or_else(|| Error::invalid("weak-masks", "no CAM directory"))?;
            let path = dir.join(format!("cams/{}.npy", r.id));
            let cams = npy::read_shaped(&path, &[Some(k), Some(h), Some(w)])?;
            boxes::cam_in_boxes(&r.boxes, &cams.data, (w, h), s.cam_threshold)
        }
    }
}
