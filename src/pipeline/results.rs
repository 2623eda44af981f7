//! What a finished stage measured: the `results` of its `stage.json`, one
//! typed struct for every stage. Each stage fills the fields it measures and
//! leaves the rest out of the file, so a reader asks for a field by name
//! and the compiler checks the name.

use serde::{Deserialize, Deserializer, Serialize};

/// A stage's measurements. Scores are fractions (mIoU 0.5 is 50 %); a
/// score is absent when no image of the stage had ground truth.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StageResults {
    /// Mean training loss per epoch (training stages).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub epoch_losses: Option<Vec<f32>>,
    /// The CAM-expansion method trained (`train-cls`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// The mIoU of the stage's label maps.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub miou: Option<f64>,
    /// The background threshold `miou` was measured at (`cam`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f32>,
    /// The threshold of the sweep's best mIoU (`cam`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub best_threshold: Option<f32>,
    /// The sweep's best mIoU (`cam`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub best_miou: Option<f64>,
    /// (threshold, mIoU) along the sweep (`cam`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sweep: Option<Vec<(f32, f64)>>,
    /// The mIoU of the confident-foreground CRF labels (`aff-labels`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crf_low_miou: Option<f64>,
    /// The mIoU of the confident-background CRF labels (`aff-labels`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crf_high_miou: Option<f64>,
    /// The walk's mIoU before its CRF, when one follows (`rw`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub walk_miou: Option<f64>,
    /// Share of the pixels sparse targets label (`weak-masks`, seeds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labelled: Option<f64>,
    /// Share of the labelled pixels labelled right.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accuracy: Option<f64>,
    /// Prototypes in SPML's memory bank (`spml` labelling).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prototypes: Option<usize>,
    /// Mean IoU after each click (`interactive` evaluation).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iou_at: Option<Vec<f64>>,
    /// Mean clicks to reach IoU 0.85.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub noc85: Option<f64>,
    /// Mean clicks to reach IoU 0.90.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub noc90: Option<f64>,
    /// Objects trained on or evaluated (`interactive`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub objects: Option<usize>,
    /// Which images and masks the scores were measured on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scored_on: Option<ScoredOn>,
}

impl StageResults {
    /// Results holding only a training run's epoch losses.
    pub fn training(epoch_losses: Vec<f32>) -> Self {
        StageResults {
            epoch_losses: Some(epoch_losses),
            ..StageResults::default()
        }
    }

    /// The scores of sparse targets (seeds, clicks, box masks): their mIoU
    /// with unlabelled pixels as background, the share labelled and the
    /// share of those right; empty without ground truth.
    pub fn sparse(score: &crate::metrics::SparseScore) -> Self {
        match score.summary() {
            Some((miou, labelled, accuracy)) => StageResults {
                miou: Some(miou),
                labelled: Some(labelled),
                accuracy: Some(accuracy),
                ..StageResults::default()
            },
            None => StageResults::default(),
        }
    }

    /// Reads `results` as written by any version: `null` (a stage that
    /// scored nothing, as earlier versions wrote it) is the empty results.
    pub(crate) fn null_as_empty<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Option::<StageResults>::deserialize(d)?.unwrap_or_default())
    }
}

/// Which images and masks a stage's scores were measured on.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ScoredOn {
    /// The list scored.
    pub list: String,
    /// Where its masks came from.
    pub masks: String,
    /// How many images had a mask.
    pub images: usize,
}

impl std::fmt::Display for ScoredOn {
    /// "list, masks (n images)".
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}, {} ({} images)", self.list, self.masks, self.images)
    }
}
