//! Stage `train-cls`: the CAM classifier trained with the multilabel
//! soft-margin loss on image-level labels (psa's recipe: SGD, poly decay,
//! flips, optional rescale/jitter/crop), checkpointed every epoch so an
//! interrupted run resumes.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use weakseg_kernels::{Gpu, Result};

use crate::data::augment::Augment;
use crate::data::voc::{VocDataset, VocOptions, list_path};
use crate::io::checkpoint::{self, SaveDtype, Sidecar};
use crate::methods::{Method, MethodNet, Trainer, subcat};
use crate::models::{ArchSpec, CamNet};
use crate::nn::{Builder, GroupRecipe, ModuleExt};
use crate::pipeline::fingerprint::Input;
use crate::pipeline::results::StageResults;
use crate::pipeline::stage::{Manifest, Stage};
use crate::pipeline::validate;
use crate::train::check_schedule;
use crate::train::{Reporter, fit};

/// File name of the trained classifier in the stage directory.
pub const CHECKPOINT: &str = "classifier.safetensors";

/// Settings of the classifier stage.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClassifierSettings {
    /// Backbone name (see [`ArchSpec`]).
    pub arch: String,
    /// Backbone output stride.
    pub output_stride: usize,
    /// Training list (split name or file).
    pub list: String,
    /// Passes over the list.
    pub epochs: usize,
    /// Images per step.
    pub batch_size: usize,
    /// Base learning rate (new layers and backbone alike when training from
    /// scratch).
    pub lr: f32,
    /// SGD weight decay.
    pub weight_decay: f32,
    /// Seed of initialisation, order and augmentation.
    pub seed: u64,
    /// psa's augmentation with this crop side (rescale, jitter, crop);
    /// flips only when absent.
    pub crop: Option<usize>,
    /// ImageNet weights for the backbone (safetensors in its names); new
    /// layers then learn 10× faster (psa's groups). From scratch when absent.
    pub pretrained: Option<PathBuf>,
    /// The CAM-expansion method and its settings (the plain CAM when
    /// absent; left out of the fingerprint then, so earlier runs stay valid).
    #[serde(skip_serializing_if = "Method::is_cam")]
    pub method: Method,
}

impl Default for ClassifierSettings {
    /// The synthetic benchmark's recipe: resnet-tiny at stride 8, 15
    /// epochs of batch 16 at lr 0.05, flips.
    fn default() -> Self {
        ClassifierSettings {
            arch: "resnet-tiny".into(),
            output_stride: 8,
            list: "train".into(),
            epochs: 15,
            batch_size: 16,
            lr: 0.05,
            weight_decay: 1e-4,
            seed: 1,
            crop: None,
            pretrained: None,
            method: Method::default(),
        }
    }
}

impl ClassifierSettings {
    /// Everything the stage can check before any work: the list, the
    /// architecture, the schedule, the crop, the method's settings and the
    /// pretrained weights' file.
    pub fn validate(&self, data: &Path) -> Result<()> {
        ArchSpec::new(&self.arch, self.output_stride).validate()?;
        check_schedule(self.epochs, self.batch_size, 1)?;
        self.augment()?;
        self.method.validate()?;
        validate::list("train-cls", data, &self.list)?;
        validate::weights(self.pretrained.as_deref())
    }

    /// The augmentation these settings ask for, the crop side checked.
    pub fn augment(&self) -> Result<Augment> {
        match self.crop {
            Some(side) => {
                crate::data::augment::check_crop(side)?;
                Ok(Augment::psa(side))
            }
            None => Ok(Augment {
                hflip: true,
                ..Augment::default()
            }),
        }
    }
}

/// Trains the classifier on `data` into `out` (skipped when an identical
/// run finished there); returns the stage manifest.
pub fn train(
    gpu: &Gpu,
    data: &Path,
    out: &Path,
    s: &ClassifierSettings,
    reporter: &mut dyn Reporter,
) -> Result<Manifest> {
    s.validate(data)?;
    let augment = s.augment()?;
    let list = list_path(data, &s.list);
    let mut inputs = vec![Input::data(data, &list)];
    inputs.extend(s.pretrained.as_deref().map(Input::file));
    let mut stage = Stage::new("train-cls", out, s, &inputs)?;
    if let Some(m) = stage.done()? {
        return Ok(m);
    }
    let t = Instant::now();
    let mut opts = VocOptions::split(&s.list);
    opts.augment = augment;
    let ds = VocDataset::open(data, &opts)?;
    let k = ds.classes.len();
    let arch = ArchSpec::new(&s.arch, s.output_stride);
    let net = MethodNet::new(&mut Builder::new(gpu, s.seed), &s.method, &arch, k)?;
    let recipe = match &s.pretrained {
        Some(p) => {
            for net in net.backbones() {
                checkpoint::load_backbone(net, p)?;
            }
            GroupRecipe::PSA
        }
        None => GroupRecipe::UNIFORM,
    };
    let sidecar = Sidecar::with_settings(Some(arch), Some(k), s, "train-cls")?;
    let mut trainer = Trainer::new(s.seed);
    let mut epoch_losses = Vec::new();
    let phases = net.phases();
    // The un-augmented images sub-category discovery reads, opened once.
    let mut plain: Option<VocDataset> = None;
    for (r, phase) in phases.iter().enumerate() {
        // Multi-phase methods (adversarial erasing's rounds, sub-category
        // rounds, a teacher then its student) train each phase with its own
        // optimiser and resume directory.
        if let Some(e) = &phase.explore {
            if plain.is_none() {
                plain = Some(VocDataset::open(data, &VocOptions::split(&s.list))?);
            }
            if let Some(plain) = &plain {
                trainer.set_subcategories(pollster::block_on(subcat::explore(
                    e.net, plain, k, e.k, e.max_iter,
                ))?);
            }
        }
        let mut opt = recipe.sgd(&phase.model, CamNet::is_new, s.lr, s.weight_decay)?;
        let mut cfg = stage.train_config(s.epochs, s.batch_size, s.lr, s.seed);
        if phases.len() > 1 {
            cfg.checkpoint_dir = cfg.checkpoint_dir.map(|d| d.join(format!("round{r}")));
        }
        trainer.set_round(r);
        trainer.set_total_steps((ds.records.len().div_ceil(s.batch_size.max(1)) * s.epochs) as u64);
        let summary = fit(
            gpu,
            &cfg,
            &phase.model,
            &mut opt,
            &ds,
            &sidecar,
            reporter,
            |b| pollster::block_on(trainer.loss(&net, b)),
        )?;
        phase.model.set_train(false);
        epoch_losses.extend(summary.epoch_losses);
    }
    net.set_train(false);
    let path: PathBuf = out.join(CHECKPOINT);
    checkpoint::save(&path, &net, &sidecar, SaveDtype::F32)?;
    stage.finish(
        t.elapsed().as_secs_f64(),
        vec![CHECKPOINT.into(), "classifier.json".into()],
        StageResults {
            epoch_losses: Some(epoch_losses),
            method: Some(s.method.name().into()),
            ..StageResults::default()
        },
    )
}
