//! The synthetic WSSS benchmarks. Ground-truth masks are exact; boxes,
//! one point per object, and scribbles (a stroke inside each object, a few
//! on the background) derive from them. Every image depends only on
//! (seed, index).
//!
//! Two generators: [`scenes`] (the default) builds in what makes VOC hard
//! (graded class evidence, class-correlated context, boundaries of varying
//! contrast, thin and detached parts, varied scale, count, layout and
//! image shape); [`parts`] is the first generator, where only a small part
//! tells classes apart. [`stats`] measures the scenes' properties.
//!
//! [`write`] stores a split in the PASCAL VOC layout (see [`crate::data::voc`])
//! plus the points/scribbles JSON; [`render`] makes one image in memory (the
//! browser demo uses it directly).

pub mod errors;
pub mod paint;
pub mod parts;
pub mod scenes;
pub mod shapes;
pub mod stats;

use rand::Rng;
use rand::rngs::SmallRng;
use serde::{Deserialize, Serialize};
use weakseg_kernels::{Error, Result};

use crate::data::annotations::{BoxLabel, Marks, VocXml};
use crate::data::classes::ClassList;
use crate::io::image::Rgb;
use crate::io::labels::LabelMap;

/// Which generator draws the images.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SynthKind {
    /// VOC-like scenes of varied size and aspect ([`scenes`]).
    #[default]
    Scenes,
    /// Square images told apart only by a small part ([`parts`]).
    Parts,
}

impl SynthKind {
    /// The generator's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            SynthKind::Scenes => "scenes",
            SynthKind::Parts => "parts",
        }
    }

    /// The generator called `name`, or an error listing both.
    pub fn parse(name: &str) -> Result<SynthKind> {
        match name {
            "scenes" => Ok(SynthKind::Scenes),
            "parts" => Ok(SynthKind::Parts),
            other => Err(Error::invalid(
                "synth",
                format!("unknown kind {other:?}: scenes or parts"),
            )),
        }
    }
}

/// Settings of a synthetic benchmark.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SynthConfig {
    /// Training images.
    pub train: usize,
    /// Validation images.
    pub val: usize,
    /// Parts: the image side. Scenes: the shortest long side; each image's
    /// long side is drawn from `size`..=`size`·7/4 pixels.
    pub size: usize,
    /// Foreground classes.
    pub classes: usize,
    /// Seed: every image is a function of (seed, index).
    pub seed: u64,
    /// The generator (parts when absent, as before there were two).
    #[serde(default = "parts_kind")]
    pub kind: SynthKind,
    /// Paint each object's discriminative part with its body (scenes
    /// only): the images `synth --stats` trains the body-only classifier
    /// on. Everything else in the image stays as it was.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub erase_parts: bool,
}

fn parts_kind() -> SynthKind {
    SynthKind::Parts
}

impl Default for SynthConfig {
    /// 300 training and 100 validation scenes with long sides of 64–112
    /// px, 5 classes, seed 0: the whole pipeline runs in minutes on a CPU
    /// adapter.
    fn default() -> Self {
        SynthConfig {
            train: 300,
            val: 100,
            size: 64,
            classes: 5,
            seed: 0,
            kind: SynthKind::Scenes,
            erase_parts: false,
        }
    }
}

impl SynthConfig {
    /// Checks the settings, naming the problem.
    pub fn validate(&self) -> Result<()> {
        let op = "synth";
        if !(24..=1024).contains(&self.size) {
            return Err(Error::invalid(
                op,
                format!("size {} outside 24..=1024 px", self.size),
            ));
        }
        let most = match self.kind {
            SynthKind::Scenes => scenes::MAX_CLASSES,
            SynthKind::Parts => 254,
        };
        if !(1..=most).contains(&self.classes) {
            return Err(Error::invalid(
                op,
                format!(
                    "{} classes outside 1..={most} (the {} generator)",
                    self.classes,
                    self.kind.name()
                ),
            ));
        }
        if self.erase_parts && self.kind == SynthKind::Parts {
            return Err(Error::invalid(
                op,
                "erasing parts needs the scenes generator: a parts image has no body evidence",
            ));
        }
        if self.train + self.val == 0 {
            return Err(Error::invalid(op, "no images requested"));
        }
        Ok(())
    }

    /// The class list: each class named after its part pattern.
    pub fn class_list(&self) -> ClassList {
        ClassList {
            names: (0..self.classes)
                .map(|k| {
                    let p = paint::PATTERNS[k % paint::PATTERNS.len()];
                    match k / paint::PATTERNS.len() {
                        0 => p.to_string(),
                        r => format!("{p}{}", r + 1),
                    }
                })
                .collect(),
        }
    }

    /// The side of a square with a typical image's area: `size` for parts;
    /// for scenes, the mean long side (`size`·11/8) times √(3/4), as most
    /// scenes are 4:3 or 3:4. Settings that scale with the image (the
    /// random walk's step count) read it.
    pub fn typical_side(&self) -> usize {
        match self.kind {
            SynthKind::Parts => self.size,
            SynthKind::Scenes => (self.size as f64 * 11.0 / 8.0 * 0.75f64.sqrt()).round() as usize,
        }
    }

    /// Image id of global index `i` (training images first).
    pub fn id(&self, i: usize) -> String {
        format!("{i:06}")
    }
}

/// One generated image and everything derived from its mask.
#[derive(Clone, Debug, PartialEq)]
pub struct SynthImage {
    /// Image id.
    pub id: String,
    /// The picture.
    pub rgb: Rgb,
    /// Exact ground truth: 0 background, k + 1 for class k.
    pub mask: LabelMap,
    /// Size and one box per object (from its visible pixels).
    pub xml: VocXml,
    /// Per object its class, one point and one scribble; then the
    /// background's scribbles.
    pub marks: Vec<Marks>,
}

/// Pixels set in a mask.
fn area(m: &[bool]) -> usize {
    m.iter().filter(|&&b| b).count()
}

/// What both generators derive from the visible objects: each object's
/// box (from its visible pixels), one point and one scribble inside it (its
/// interior when it has one), then 2–3 scribbles on the background's
/// interior. `owner[i]` is the index + 1 of the object visible at pixel i
/// (0: background) of a `dims` image; `classes[j]` is object j's class.
fn annotate(
    rng: &mut SmallRng,
    owner: &[usize],
    classes: &[usize],
    dims: (usize, usize),
    names: &ClassList,
) -> (Vec<BoxLabel>, Vec<Marks>) {
    let (w, n) = (dims.0, dims.0 * dims.1);
    let mut boxes = Vec::new();
    let mut marks = Vec::new();
    for (j, &class) in classes.iter().enumerate() {
        let vis: Vec<bool> = owner.iter().map(|&o| o == j + 1).collect();
        let px: Vec<usize> = (0..n).filter(|&i| vis[i]).collect();
        let (xs, ys) = (px.iter().map(|i| i % w), px.iter().map(|i| i / w));
        boxes.push(BoxLabel {
            class: class as u8 + 1,
            xmin: xs.clone().min().unwrap_or(0) as u32,
            xmax: xs.max().unwrap_or(0) as u32,
            ymin: ys.clone().min().unwrap_or(0) as u32,
            ymax: ys.max().unwrap_or(0) as u32,
        });
        let inner = shapes::interior(&vis, dims);
        let region = if area(&inner) > 0 { &inner } else { &vis };
        let point = shapes::random_pixel(rng, region, w);
        let stroke = shapes::scribble(rng, region, dims);
        marks.push(Marks {
            class: names.names[class].clone(),
            points: point.map(|p| p.map(|v| v as f32)).into_iter().collect(),
            scribbles: stroke
                .map(|v| v.into_iter().map(|p| p.map(|c| c as f32)).collect())
                .into_iter()
                .collect(),
        });
    }
    let bg: Vec<bool> = owner.iter().map(|&o| o == 0).collect();
    let bg_inner = shapes::interior(&bg, dims);
    marks.push(Marks {
        class: "background".into(),
        points: Vec::new(),
        scribbles: (0..rng.random_range(2..=3))
            .filter_map(|_| shapes::scribble(rng, &bg_inner, dims))
            .map(|v| v.into_iter().map(|p| p.map(|c| c as f32)).collect())
            .collect(),
    });
    (boxes, marks)
}

/// Renders image `index` of the benchmark `cfg` with its generator.
pub fn render(cfg: &SynthConfig, index: usize) -> SynthImage {
    match cfg.kind {
        SynthKind::Scenes => scenes::compose(cfg, index).image,
        SynthKind::Parts => parts::render(cfg, index),
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod write;
#[cfg(not(target_arch = "wasm32"))]
pub use write::{MARKS_FILE, SETTINGS_FILE, already_written, write, written};
