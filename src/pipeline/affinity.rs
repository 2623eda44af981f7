//! Stage `train-aff` (psa's `train_aff.py`): AffinityNet trained on the
//! affinity labels of the `aff-labels` stage (psa's: its probability maps,
//! cropped with the image and block-averaged per sample; IRN's: its label
//! maps) with the balanced pair loss
//! (bg+/4 + fg+/4 + neg/2) over pairs within a radius. Given ImageNet
//! weights (`pretrained`), the backbone starts from them as psa's and
//! IRN's do: AffinityNet fine-tuned with psa's groups (1/2/10/20×), IRN's
//! boundary branch on a fixed backbone. Without them (the synthetic demo)
//! it starts from the CAM classifier's backbone and is fine-tuned with the
//! head; IRN's frozen backbone is then an option (on the synthetic
//! benchmark clearly worse: see docs/results.md). The pairs' relation is read
//! either from AffinityNet's features (psa) or from IRN's boundary map
//! ([`Relation`]); the loss is the same.

use std::path::Path;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use weakseg_kernels::{Error, Gpu, Result};

use crate::data::augment::{Augment, Crop};
use crate::data::voc::{MaskSource, VocDataset, VocOptions, list_path};
use crate::data::{Dataset, Sample};
use crate::io::checkpoint::{self, HostTensor, Match, SaveDtype, Sidecar};
use crate::models::affinity::{AffinityConfig, AffinityNet};
use crate::models::boundary::BoundaryNet;
use crate::nn::{Builder, GroupRecipe, Module, ModuleExt, Visitor};
use crate::ops::affinity::PairOffsets;
use crate::pipeline::aff_labels::PROBS;
use crate::pipeline::fingerprint::Input;
use crate::pipeline::results::StageResults;
use crate::pipeline::stage::{Manifest, Stage};
use crate::pipeline::validate;
use crate::refine::affinity::{affinity_loss, block_labels};
use crate::tensor::Tensor;
use crate::train::check_schedule;
use crate::train::{Reporter, fit};

/// Where a pair's affinity comes from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Relation {
    /// psa's AffinityNet: exp(−mean L1 distance) of the two pixels'
    /// features.
    #[default]
    Features,
    /// IRN: 1 − the largest boundary probability on the path between them.
    Boundary,
}

impl Relation {
    /// Whether this is psa's default (left out of stage fingerprints).
    pub fn is_features(&self) -> bool {
        *self == Relation::Features
    }
}

/// A trained network that predicts pair affinities: AffinityNet or IRN's
/// boundary branch.
pub enum RelationNet {
    /// psa's feature affinities.
    Features(AffinityNet),
    /// IRN's boundary affinities.
    Boundary(BoundaryNet),
}

impl RelationNet {
    /// The network `s` describes on `arch`'s backbone.
    fn new(b: &mut Builder, arch: &crate::models::ArchSpec, s: &AffinitySettings) -> Result<Self> {
        Ok(match s.relation {
            Relation::Features => RelationNet::Features(AffinityNet::new(b, arch, &s.net)?),
            Relation::Boundary => {
                RelationNet::Boundary(BoundaryNet::new(b, arch, s.net.grid_stride)?)
            }
        })
    }

    /// Pair affinities [N, D, gh, gw] of NCHW images for `offsets`.
    pub fn affinities(&self, x: &Tensor, offsets: &PairOffsets) -> Result<Tensor> {
        match self {
            RelationNet::Features(n) => n.affinities(x, offsets),
            RelationNet::Boundary(n) => n.affinities(x, offsets),
        }
    }

    /// The grid of an h×w image.
    pub fn grid(&self, h: usize, w: usize) -> (usize, usize) {
        match self {
            RelationNet::Features(n) => n.grid(h, w),
            RelationNet::Boundary(n) => n.grid(h, w),
        }
    }

    /// Input pixels per grid pixel.
    pub fn grid_stride(&self) -> usize {
        match self {
            RelationNet::Features(n) => n.grid_stride(),
            RelationNet::Boundary(n) => n.grid_stride(),
        }
    }

    fn freeze_backbone(&mut self) {
        match self {
            RelationNet::Features(n) => n.freeze_backbone(),
            RelationNet::Boundary(n) => n.freeze_backbone(),
        }
    }
}

impl Module for RelationNet {
    fn visit(&self, prefix: &str, v: &mut dyn Visitor) {
        match self {
            RelationNet::Features(n) => n.visit(prefix, v),
            RelationNet::Boundary(n) => n.visit(prefix, v),
        }
    }
}

/// File name of the trained affinity network in the stage directory.
pub const CHECKPOINT: &str = "affinity.safetensors";

/// Settings of the affinity stage.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AffinitySettings {
    /// Training list (split name or file).
    pub list: String,
    /// Pair radius on the grid (psa: 5, 34 offsets).
    pub radius: usize,
    /// Features (psa) or boundary (IRN) affinities (left out of the
    /// fingerprint when psa's).
    #[serde(skip_serializing_if = "Relation::is_features")]
    pub relation: Relation,
    /// Head widths (the feature relation's) and grid stride (both).
    pub net: AffinityConfig,
    /// Keep the classifier's backbone fixed (IRN) instead of fine-tuning it.
    pub freeze_backbone: bool,
    /// Passes over the list.
    pub epochs: usize,
    /// Images per step.
    pub batch_size: usize,
    /// Base learning rate.
    pub lr: f32,
    /// SGD weight decay.
    pub weight_decay: f32,
    /// Seed of the head's initialisation, order and flips.
    pub seed: u64,
    /// ImageNet weights for the backbone (safetensors, as the
    /// classifier's): the start psa and IRN use. From the classifier's
    /// backbone when absent. Left out of the fingerprint when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pretrained: Option<std::path::PathBuf>,
    /// A fixed-size crop (rescale, flip, jitter as its settings say) so
    /// images of varied sizes batch, as the reference trainer crops; flips
    /// only when absent (images of one size). Left out of the fingerprint
    /// when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crop: Option<Crop>,
}

impl AffinitySettings {
    /// The list, the schedule, the crop and the pretrained weights' file,
    /// checked before any work.
    pub fn validate(&self, data: &Path) -> Result<()> {
        check_schedule(self.epochs, self.batch_size, 1)?;
        if let Some(c) = &self.crop {
            c.augment()?;
        }
        validate::list("train-aff", data, &self.list)?;
        validate::weights(self.pretrained.as_deref())
    }
}

impl Default for AffinitySettings {
    /// Radius 5, 8 epochs (psa) of batch 16 at lr 0.1, backbone fine-tuned.
    fn default() -> Self {
        AffinitySettings {
            list: "train".into(),
            radius: 5,
            relation: Relation::Features,
            net: AffinityConfig::default(),
            freeze_backbone: false,
            epochs: 8,
            batch_size: 16,
            lr: 0.1,
            weight_decay: 1e-4,
            seed: 3,
            pretrained: None,
            crop: None,
        }
    }
}

/// psa's affinity labels made per sample (`voc12/data.py`
/// `VOC12AffDataset`): the `aff-labels` stage's CRF probability maps travel
/// with the image through cropping and flipping, and each sample's mask is
/// their block-averaged labels ([`block_labels`]).
struct PsaLabels {
    inner: VocDataset,
    stride: usize,
}

impl Dataset for PsaLabels {
    fn len(&self) -> usize {
        self.inner.len()
    }

    fn sample(&self, index: usize, seed: u64) -> Result<Sample> {
        let mut s = self.inner.sample(index, seed)?;
        let probs = s.cam.take().ok_or_else(|| {
            Error::invalid("train-aff", "a sample without its label probabilities")
        })?;
        s.mask = Some(
            block_labels(&probs, (s.height, s.width), self.stride)?
                .into_iter()
                .map(u32::from)
                .collect(),
        );
        Ok(s)
    }
}

/// Whether the `aff-labels` stage in `dir` wrote psa's probability maps
/// (its psa mode; IRN's mode writes label maps only).
fn has_psa_probs(dir: &Path) -> Result<bool> {
    let path = dir.join("stage.json");
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(path.display(), e))?;
    let m: Manifest = serde_json::from_str(&text)
        .map_err(|e| Error::format(path.display().to_string(), e.to_string()))?;
    Ok(m.outputs
        .iter()
        .any(|o| o.path.starts_with(&format!("{PROBS}/"))))
}

/// The classifier's backbone tensors, renamed for [`checkpoint::apply`]
/// under the `backbone.` prefix.
fn backbone_of(classifier: &Path) -> Result<Vec<HostTensor>> {
    Ok(checkpoint::read(classifier)?
        .into_iter()
        .filter_map(|t| {
            let name = t.name.strip_prefix("backbone.")?.to_string();
            Some(HostTensor { name, ..t })
        })
        .collect())
}

/// Loads an affinity network written by this stage, with its offsets.
pub fn load(gpu: &Gpu, path: &Path) -> Result<(RelationNet, PairOffsets)> {
    let side = checkpoint::read_sidecar(path)?.ok_or_else(|| {
        Error::format(
            path.display().to_string(),
            "no sidecar (.json) naming the architecture",
        )
    })?;
    let arch = side.arch.clone().ok_or_else(|| {
        Error::format(path.display().to_string(), "sidecar lacks the architecture")
    })?;
    let s: AffinitySettings = serde_json::from_value(side.config.clone())
        .map_err(|e| Error::format(path.display().to_string(), format!("sidecar settings: {e}")))?;
    let net = RelationNet::new(&mut Builder::new(gpu, 0), &arch, &s)?;
    checkpoint::load(path, &net)?;
    net.set_train(false);
    Ok((net, PairOffsets::half_disc(gpu, s.radius)?))
}

/// Trains AffinityNet on the labels in `aff_labels_dir/aff` (the
/// `aff-labels` stage), starting from the classifier at `classifier`.
pub fn train(
    gpu: &Gpu,
    data: &Path,
    classifier: &Path,
    aff_labels_dir: &Path,
    out: &Path,
    s: &AffinitySettings,
    reporter: &mut dyn Reporter,
) -> Result<Manifest> {
    s.validate(data)?;
    let list = list_path(data, &s.list);
    let mut inputs = vec![
        Input::data(data, &list),
        Input::file(classifier),
        Input::upstream(aff_labels_dir, &list),
    ];
    inputs.extend(s.pretrained.as_deref().map(Input::file));
    let mut stage = Stage::new("train-aff", out, s, &inputs)?;
    if let Some(m) = stage.done()? {
        return Ok(m);
    }
    let t = Instant::now();
    let side = checkpoint::read_sidecar(classifier)?
        .and_then(|sc| sc.arch)
        .ok_or_else(|| {
            Error::format(
                classifier.display().to_string(),
                "no sidecar naming the architecture",
            )
        })?;
    let mut opts = VocOptions::split(&s.list);
    opts.augment = match &s.crop {
        Some(c) => c.augment()?,
        None => Augment {
            hflip: true,
            ..Augment::default()
        },
    };
    let mut net = RelationNet::new(&mut Builder::new(gpu, s.seed), &side, s)?;
    let psa = has_psa_probs(aff_labels_dir)?;
    let ds: Box<dyn Dataset + Sync> = if psa {
        opts.masks = MaskSource::None;
        opts.cams = Some(aff_labels_dir.join(PROBS));
        Box::new(PsaLabels {
            inner: VocDataset::open(data, &opts)?,
            stride: net.grid_stride(),
        })
    } else {
        opts.masks = MaskSource::Dir(aff_labels_dir.join("aff"));
        Box::new(VocDataset::open(data, &opts)?)
    };
    let recipe = match (&s.pretrained, s.relation) {
        (Some(p), Relation::Features) => {
            crate::io::checkpoint::load_backbone(&net, p)?;
            GroupRecipe::PSA
        }
        (Some(p), Relation::Boundary) => {
            crate::io::checkpoint::load_backbone(&net, p)?;
            net.freeze_backbone();
            GroupRecipe::UNIFORM
        }
        (None, _) => {
            checkpoint::apply(&net, &backbone_of(classifier)?, "backbone.", Match::Strict)
                .map_err(|e| Error::format(classifier.display().to_string(), e.to_string()))?;
            GroupRecipe::UNIFORM
        }
    };
    if s.freeze_backbone {
        net.freeze_backbone();
    }
    let offsets = PairOffsets::half_disc(gpu, s.radius)?;
    let mut opt = recipe.sgd(&net, AffinityNet::is_new, s.lr, s.weight_decay)?;
    let cfg = stage.train_config(s.epochs, s.batch_size, s.lr, s.seed);
    let sidecar = Sidecar::with_settings(Some(side), None, s, "train-aff")?;
    let stride = net.grid_stride();
    let summary = fit(
        gpu,
        &cfg,
        &net,
        &mut opt,
        ds.as_ref(),
        &sidecar,
        reporter,
        |b| {
            let labels = b
                .host_masks
                .as_ref()
                .ok_or_else(|| Error::invalid("train-aff", "a batch without affinity labels"))?;
            let (h, w) = (b.images.shape()[2], b.images.shape()[3]);
            let aff = net.affinities(&b.images, &offsets)?;
            affinity_loss(gpu, &aff, &offsets, labels, (h, w), stride)
        },
    )?;
    net.set_train(false);
    checkpoint::save(&out.join(CHECKPOINT), &net, &sidecar, SaveDtype::F32)?;
    stage.finish(
        t.elapsed().as_secs_f64(),
        vec![CHECKPOINT.into(), "affinity.json".into()],
        StageResults::training(summary.epoch_losses),
    )
}
