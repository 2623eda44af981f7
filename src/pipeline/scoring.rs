//! Which ground truth a pseudo-label stage (`cam`, `aff-labels`, `rw`)
//! scores its label maps against, and on which of its images: the
//! references report pseudo-label mIoU on a list of their own — psa on
//! VOC's `train` with the `SegmentationClass` masks, while its CAM, CRF
//! and walk stages process all of `train_aug`. Every score a stage writes
//! carries the list, mask source and image count it was measured on.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use weakseg_kernels::{Error, Result};

use crate::data::voc::{list_path, parse_list};
use crate::io::labels;
use crate::pipeline::results::ScoredOn;

/// Where a stage's ground-truth masks come from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GroundMasks {
    /// `SegmentationClass` where the image has one, else
    /// `SegmentationClassAug`.
    #[default]
    Auto,
    /// `SegmentationClass` (VOC's own masks, with 255 boundary bands).
    Class,
    /// `SegmentationClassAug` (the SBD masks of train_aug).
    Aug,
}

/// The images and masks a pseudo-label stage is scored on.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Scoring {
    /// Score only the stage's images that are in this list (split name or
    /// file); all of them when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub list: Option<String>,
    /// The mask source.
    pub masks: GroundMasks,
}

impl Scoring {
    /// Whether these are the defaults (every image, any mask), which stage
    /// fingerprints leave out so earlier runs stay valid.
    pub fn is_default(&self) -> bool {
        *self == Scoring::default()
    }
}

/// The ground truth of one stage run: which images count and where their
/// masks are.
pub struct GroundTruth {
    root: PathBuf,
    only: Option<HashSet<String>>,
    list: String,
    masks: GroundMasks,
    scored: usize,
}

impl GroundTruth {
    /// The ground truth under `data` that `s` asks for, for a stage
    /// processing `stage_list`. A named list that cannot be read is an
    /// error naming it.
    pub fn open(data: &Path, stage_list: &str, s: &Scoring) -> Result<GroundTruth> {
        let only = match &s.list {
            Some(l) => {
                let path = list_path(data, l);
                let text =
                    std::fs::read_to_string(&path).map_err(|e| Error::io(path.display(), e))?;
                Some(parse_list(&text).into_iter().collect())
            }
            None => None,
        };
        Ok(GroundTruth {
            root: data.to_path_buf(),
            only,
            list: s.list.clone().unwrap_or_else(|| stage_list.to_string()),
            masks: s.masks,
            scored: 0,
        })
    }

    /// The mask of image `id` (`w`×`h`) if it is scored: None when the
    /// image is outside the scoring list or (with `auto`) has no mask. A
    /// mask the settings name that is missing, unreadable or of another
    /// size is an error naming the file.
    pub fn mask(&mut self, id: &str, (w, h): (usize, usize)) -> Result<Option<Vec<u8>>> {
        if self.only.as_ref().is_some_and(|o| !o.contains(id)) {
            return Ok(None);
        }
        let class = self.root.join(format!("SegmentationClass/{id}.png"));
        let aug = self.root.join(format!("SegmentationClassAug/{id}.png"));
        let path = match self.masks {
            GroundMasks::Auto => match [class, aug].into_iter().find(|p| p.exists()) {
                Some(p) => p,
                None => return Ok(None),
            },
            GroundMasks::Class => class,
            GroundMasks::Aug => aug,
        };
        let map = labels::read(&path)?;
        if (map.width, map.height) != (w, h) {
            return Err(Error::format(
                path.display().to_string(),
                format!("mask is {}×{}, its image {w}×{h}", map.width, map.height),
            ));
        }
        self.scored += 1;
        Ok(Some(map.data))
    }

    /// What the scores were measured on, for the stage's results:
    /// `{"list", "masks", "images"}`.
    pub fn describe(&self) -> ScoredOn {
        let masks = match self.masks {
            GroundMasks::Auto => "SegmentationClass, else SegmentationClassAug",
            GroundMasks::Class => "SegmentationClass",
            GroundMasks::Aug => "SegmentationClassAug",
        };
        ScoredOn {
            list: self.list.clone(),
            masks: masks.into(),
            images: self.scored,
        }
    }
}
