//! The PASCAL VOC 2012 layout: JPEGImages/ID.jpg; SegmentationClass/ID.png
//! (palette, 255 = void) or SegmentationClassAug/ID.png (grey);
//! Annotations/ID.xml (object names → image labels, bndbox → boxes);
//! ImageSets/Segmentation/{train,val,trainval}.txt or any list file, whose
//! lines are bare ids or psa-style `/JPEGImages/ID.jpg /SegmentationClassAug/ID.png`.
//! Classes: classes.txt at the root when present, else the 20 VOC classes.
//! Points and scribbles come from points_scribbles.json when present.
//!
//! Opening checks every listed file (presence, image and mask headers, the
//! XML) and fails on the first problem, naming the file; with `skip_bad`
//! each bad image becomes a warning in [`VocDataset::skipped`] instead.

use std::path::{Path, PathBuf};

use weakseg_kernels::{Error, Result};

use crate::data::annotations::{BoxLabel, Marks, MarksFile, VocXml};
use crate::data::augment::{Augment, Cam, Item};
use crate::data::classes::ClassList;
use crate::data::{Dataset, Sample};
use crate::io::image::{self, Rgb};
use crate::io::labels::{self, LabelMap};

/// Which masks a dataset reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MaskSource {
    /// SegmentationClass (palette PNGs), else SegmentationClassAug, else none.
    Auto,
    /// SegmentationClass only.
    Class,
    /// SegmentationClassAug only.
    Aug,
    /// No masks (image-level labels only).
    None,
    /// ID.png in this directory: pseudo-masks written by a stage.
    Dir(PathBuf),
}

/// How to open a VOC-layout dataset.
#[derive(Clone, Debug)]
pub struct VocOptions {
    /// A split name (`train`, `val`, `trainval`: ImageSets/Segmentation/NAME.txt)
    /// or a path to a list file.
    pub list: String,
    /// The class list; None reads classes.txt at the root, else VOC's 20.
    pub classes: Option<ClassList>,
    /// Which masks to read.
    pub masks: MaskSource,
    /// The points/scribbles file; None reads points_scribbles.json if present.
    pub marks: Option<PathBuf>,
    /// Turn bad images into warnings instead of failing.
    pub skip_bad: bool,
    /// Augmentation applied by [`Dataset::sample`].
    pub augment: Augment,
    /// A directory of per-image maps `ID.npy` ([C, H, W], such as the `cam`
    /// stage's `cams/`) that travel with the image through augmentation
    /// into [`crate::data::Sample::cam`].
    pub cams: Option<PathBuf>,
}

impl VocOptions {
    /// A split with defaults: classes from the root, masks auto, no augmentation.
    pub fn split(name: &str) -> VocOptions {
        VocOptions {
            list: name.to_string(),
            classes: None,
            masks: MaskSource::Auto,
            marks: None,
            skip_bad: false,
            augment: Augment::default(),
            cams: None,
        }
    }
}

/// One listed image and its annotations.
#[derive(Clone, Debug, PartialEq)]
pub struct VocRecord {
    /// Image id.
    pub id: String,
    /// The JPEG.
    pub image: PathBuf,
    /// The mask PNG, if any.
    pub mask: Option<PathBuf>,
    /// Image width.
    pub width: usize,
    /// Image height.
    pub height: usize,
    /// Image-level labels (1-based, sorted).
    pub labels: Vec<u8>,
    /// Boxes from the XML.
    pub boxes: Vec<BoxLabel>,
    /// Points and scribbles.
    pub marks: Vec<Marks>,
}

/// The file a list name resolves to: ImageSets/Segmentation/NAME.txt under
/// `root` when it exists, else NAME taken as a path.
pub fn list_path(root: &Path, list: &str) -> PathBuf {
    let split = root.join(format!("ImageSets/Segmentation/{list}.txt"));
    if split.exists() {
        split
    } else {
        PathBuf::from(list)
    }
}

/// A VOC-layout dataset.
pub struct VocDataset {
    /// The dataset root (the VOC2012 folder).
    pub root: PathBuf,
    /// The classes.
    pub classes: ClassList,
    /// The usable images in list order.
    pub records: Vec<VocRecord>,
    /// Warnings for images skipped with `skip_bad`.
    pub skipped: Vec<String>,
    augment: Augment,
    cams: Option<PathBuf>,
}

/// The ids of a list file: bare ids, or the stem of each line's first path.
pub fn parse_list(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(|first| {
            Path::new(first)
                .file_stem()
                .map_or(first.to_string(), |s| s.to_string_lossy().into_owned())
        })
        .collect()
}

fn read_text(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| Error::io(path.display(), e))
}

fn dims(path: &Path) -> Result<(usize, usize)> {
    if !path.exists() {
        return Err(Error::io(path.display(), "missing"));
    }
    ::image::image_dimensions(path)
        .map(|(w, h)| (w as usize, h as usize))
        .map_err(|e| Error::format(path.display().to_string(), format!("unreadable image: {e}")))
}

impl VocDataset {
    /// Opens the dataset at `root` (see the module documentation).
    pub fn open(root: &Path, opts: &VocOptions) -> Result<VocDataset> {
        let classes = match &opts.classes {
            Some(c) => c.clone(),
            None => {
                let p = root.join("classes.txt");
                if p.exists() {
                    ClassList::parse(&read_text(&p)?, &p.display().to_string())?
                } else {
                    ClassList::voc()
                }
            }
        };
        let list = list_path(root, &opts.list);
        let ids = parse_list(&read_text(&list)?);
        if ids.is_empty() {
            return Err(Error::invalid(
                "dataset",
                format!("{}: the list names no image", list.display()),
            ));
        }
        let marks_path = opts.marks.clone().or_else(|| {
            let p = root.join(crate::data::synth::MARKS_FILE);
            p.exists().then_some(p)
        });
        let marks = match &marks_path {
            Some(p) => MarksFile::parse(&read_text(p)?, &classes, &p.display().to_string())?,
            None => MarksFile::default(),
        };
        let xml_dir = root.join("Annotations");
        let mut records = Vec::new();
        let mut skipped = Vec::new();
        for id in ids {
            match Self::record(root, &id, &classes, &opts.masks, xml_dir.is_dir(), &marks) {
                Ok(r) => records.push(r),
                Err(e) if opts.skip_bad => skipped.push(e.to_string()),
                Err(e) => return Err(e),
            }
        }
        Ok(VocDataset {
            root: root.to_path_buf(),
            classes,
            records,
            skipped,
            augment: opts.augment.clone(),
            cams: opts.cams.clone(),
        })
    }

    fn record(
        root: &Path,
        id: &str,
        classes: &ClassList,
        masks: &MaskSource,
        has_xml: bool,
        marks: &MarksFile,
    ) -> Result<VocRecord> {
        let image = root.join(format!("JPEGImages/{id}.jpg"));
        let (width, height) = dims(&image)?;
        let class_png = root.join(format!("SegmentationClass/{id}.png"));
        let aug_png = root.join(format!("SegmentationClassAug/{id}.png"));
        let mask = match masks {
            MaskSource::Auto => [class_png, aug_png].into_iter().find(|p| p.exists()),
            MaskSource::Class => Some(class_png),
            MaskSource::Aug => Some(aug_png),
            MaskSource::None => None,
            MaskSource::Dir(d) => Some(d.join(format!("{id}.png"))),
        };
        if let Some(m) = &mask {
            let (mw, mh) = dims(m)?;
            if (mw, mh) != (width, height) {
                return Err(Error::format(
                    m.display().to_string(),
                    format!("mask is {mw}×{mh}, its image {width}×{height}"),
                ));
            }
        }
        let (labels, boxes) = if has_xml {
            let p = root.join(format!("Annotations/{id}.xml"));
            let xml = VocXml::parse(&read_text(&p)?, classes, &p.display().to_string())?;
            if (xml.width as usize, xml.height as usize) != (width, height) {
                // Its boxes were drawn on another image.
                return Err(Error::format(
                    p.display().to_string(),
                    format!(
                        "<size> says {}×{}, the image is {width}×{height}",
                        xml.width, xml.height
                    ),
                ));
            }
            (xml.labels(), xml.boxes)
        } else if let Some(m) = &mask {
            let map = labels::read(m)?;
            let mut l: Vec<u8> = map
                .data
                .iter()
                .copied()
                .filter(|&v| v != 0 && v != labels::IGNORE)
                .collect();
            l.sort_unstable();
            l.dedup();
            (l, Vec::new())
        } else {
            return Err(Error::io(
                root.join("Annotations").display(),
                format!("no XML and no mask for {id}: its image labels are unknown"),
            ));
        };
        if let Some(&bad) = labels.iter().find(|&&l| l as usize > classes.len()) {
            return Err(Error::format(
                id.to_string(),
                format!("label {bad} outside the {} classes", classes.len()),
            ));
        }
        Ok(VocRecord {
            id: id.to_string(),
            image,
            mask,
            width,
            height,
            labels,
            boxes,
            marks: marks.images.get(id).cloned().unwrap_or_default(),
        })
    }

    /// The index of image `id`.
    pub fn find(&self, id: &str) -> Option<usize> {
        self.records.iter().position(|r| r.id == id)
    }

    /// Image, mask, CAM (when the options name a directory), points,
    /// scribbles and boxes of record `index`, decoded.
    pub fn item(&self, index: usize) -> Result<Item> {
        let r = self.records.get(index).ok_or_else(|| {
            Error::invalid("voc", format!("index {index} of {}", self.records.len()))
        })?;
        let rgb: Rgb = image::read(&r.image)?;
        let mask: Option<LabelMap> = r.mask.as_deref().map(labels::read).transpose()?;
        if let (Some(m), Some(path)) = (&mask, &r.mask) {
            // A label past the classes would be dropped from the loss
            // without a word (or, everywhere, end as a NaN loss).
            let k = self.classes.len();
            if let Some(&v) = m.data.iter().find(|&&v| v as usize > k && v != 255) {
                return Err(Error::invalid(
                    "voc",
                    format!(
                        "{}: label {v}, but the dataset has {k} classes (labels 0–{k}, 255 unlabelled)",
                        path.display()
                    ),
                ));
            }
        }
        let cam = match &self.cams {
            Some(dir) => {
                let path = dir.join(format!("{}.npy", r.id));
                let shape = [None, Some(rgb.height), Some(rgb.width)];
                let npy = crate::io::npy::read_shaped(&path, &shape)?;
                Some(Cam {
                    channels: npy.shape[0],
                    data: npy.data,
                })
            }
            None => None,
        };
        Ok(Item {
            rgb,
            mask,
            cam,
            points: r
                .marks
                .iter()
                .flat_map(|m| m.points.iter().copied())
                .collect(),
            scribbles: r
                .marks
                .iter()
                .flat_map(|m| m.scribbles.iter().cloned())
                .collect(),
            boxes: r.boxes.clone(),
        })
    }
}

impl Dataset for VocDataset {
    fn len(&self) -> usize {
        self.records.len()
    }

    /// The augmented, ImageNet-normalised image with its multi-hot labels and mask.
    fn sample(&self, index: usize, seed: u64) -> Result<Sample> {
        let it = self.augment.apply(self.item(index)?, seed);
        let mut labels = vec![0f32; self.classes.len()];
        for &l in &self.records[index].labels {
            labels[l as usize - 1] = 1.0;
        }
        Ok(Sample {
            image: image::normalize_imagenet(&it.rgb),
            height: it.rgb.height,
            width: it.rgb.width,
            labels,
            mask: it.mask.map(|m| m.data.iter().map(|&v| v as u32).collect()),
            cam: it.cam.map(|c| c.data),
        })
    }
}
