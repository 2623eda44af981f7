//! CAM-expansion methods: ways of training the classifier (or of reading
//! its maps) so that its class activation maps cover whole objects rather
//! than their most discriminative part.
//!
//! A method is one file: its settings struct (the defaults of its released
//! code or paper, cited there) implementing [`CamMethod`], and the
//! [`Extension`] it adds to the CAM classifier, which carries its training
//! phases, its loss and how its maps are read. One line of the registry
//! below gives it a name. [`MethodNet`] is the network a method trains and
//! [`Trainer`] runs its loss; the `train-cls` and `cam` stages ask only
//! these, never a method by name.

pub mod acol;
pub mod ae;
pub mod attention;
pub mod branch;
pub mod cosa;
pub mod csae;
pub mod fmix;
pub mod gain;
pub mod has;
pub mod manifold;
pub mod mdc;
pub mod mixing;
pub mod mixup;
pub mod net;
pub mod plain;
pub mod rib;
pub mod saliency;
pub mod seam;
pub mod seenet;
pub mod subcat;
pub mod subcat_teach;
pub mod trainer;

use std::any::Any;
use std::future::Future;
use std::pin::Pin;

use serde::{Deserialize, Serialize};
use weakseg_kernels::{Error, Result};

use crate::cam::Normalisation;
use crate::data::Batch;
use crate::models::heads::CamHead;
use crate::models::{ArchSpec, CamNet};
use crate::nn::{Builder, Module};
use crate::tensor::Tensor;

pub use acol::AcolSettings;
pub use ae::AeSettings;
pub use cosa::CosaSettings;
pub use csae::CsaeSettings;
pub use fmix::FmixSettings;
pub use gain::GainSettings;
pub use has::HasSettings;
pub use manifold::ManifoldSettings;
pub use mdc::MdcSettings;
pub use mixup::MixupSettings;
pub use net::{Explore, MethodNet, Parts, Phase};
pub use plain::PlainSettings;
pub use rib::RibSettings;
pub use saliency::{Saliency, SaliencySource};
pub use seam::SeamSettings;
pub use seenet::SeeNetSettings;
pub use subcat::{SubcatSettings, Subcategories};
pub use subcat_teach::SubcatTeachSettings;
pub use trainer::{TrainContext, Trainer};

/// A CAM-expansion method's settings: what the registry maps a name to.
pub trait CamMethod {
    /// Checks the settings' ranges, naming the method and the setting.
    fn validate(&self) -> Result<()> {
        Ok(())
    }

    /// The parts the method adds to the CAM classifier (see [`Build`]).
    fn build(&self, net: Build) -> Result<Box<dyn Extension>>;
}

/// What a method's parts are built from: the builder the base classifier
/// was just built with (so initialisation follows one seed), that
/// classifier, its architecture and the class count.
pub struct Build<'a> {
    /// The network's builder.
    pub builder: &'a mut Builder,
    /// The base CAM classifier.
    pub base: &'a CamNet,
    /// Its architecture, for further classifiers.
    pub arch: &'a ArchSpec,
    /// Foreground classes.
    pub classes: usize,
}

impl Build<'_> {
    /// A further CAM classifier of the same architecture and classes.
    pub fn classifier(&mut self) -> Result<CamNet> {
        CamNet::new(self.builder, self.arch, self.classes)
    }

    /// A bias-free 1×1 classifier with `outputs` outputs on the base's
    /// features.
    pub fn head(&mut self, outputs: usize) -> Result<CamHead> {
        CamHead::new(self.builder, self.base.backbone.out_channels(), outputs)
    }
}

/// Any `'static` value as [`Any`]: how tests and tools reach a method's
/// parts through [`MethodNet::extension`].
pub trait AsAny: Any {
    /// The value as [`Any`].
    fn as_any(&self) -> &dyn Any;
}

impl<T: Any> AsAny for T {
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// A training loss still to be computed: methods that read the device
/// mid-step (CoSA) await it; the others are ready at once.
pub type LossFuture<'a> = Pin<Box<dyn Future<Output = Result<Tensor>> + 'a>>;

/// What a method adds to the CAM classifier (parameters named under its
/// own prefixes by [`Module::visit`]) and how it trains and reads CAMs.
/// A method implements [`Extension::loss`], or [`Extension::loss_async`]
/// where its loss reads the device mid-step (CoSA); every other hook
/// defaults to the plain CAM's behaviour.
pub trait Extension: Module + AsAny {
    /// The training phases in order (each with its own optimiser and resume
    /// folder); one phase training the whole network unless overridden.
    fn phases<'a>(&'a self, net: &'a MethodNet) -> Vec<Phase<'a>> {
        vec![Phase::new(vec![("", net)], None)]
    }

    /// The loss of `batch` in phase `ctx.round` with the classifier `base`.
    fn loss(&self, base: &CamNet, batch: &Batch, ctx: &mut TrainContext) -> Result<Tensor> {
        let _ = (base, batch, ctx);
        Err(Error::invalid(
            "method",
            "defines its loss as loss_async: await that instead",
        ))
    }

    /// [`Extension::loss`] as a future: what the trainer awaits.
    fn loss_async<'a>(
        &'a self,
        base: &'a CamNet,
        batch: &'a Batch,
        ctx: &'a mut TrainContext,
    ) -> LossFuture<'a> {
        Box::pin(async move { self.loss(base, batch, ctx) })
    }

    /// The method's CAMs of `x` for the classes flagged in `present`
    /// (called without autograd): the classifier's CAMs unless overridden.
    fn cam_maps(&self, base: &CamNet, x: &Tensor, present: &[bool]) -> Result<Tensor> {
        crate::cam::CamSource::cam_maps(base, x, present)
    }

    /// How the maps are normalised per class: by their maximum, as psa and
    /// IRN do, unless overridden.
    fn normalisation(&self) -> Normalisation {
        Normalisation::Max
    }

    /// The method's further classifiers that start from the pretrained
    /// backbone, as the base does (adversarial erasing's later rounds, a
    /// teacher, an ordinary classifier).
    fn backbones(&self) -> Vec<&CamNet> {
        Vec::new()
    }

    /// Settings of a per-image fine-tuning at CAM time (RIB's procedure),
    /// for methods that read their CAMs that way.
    fn cam_time_tuning(&self) -> Option<&RibSettings> {
        None
    }
}

/// A method that adds no parameters to the classifier: its settings and a
/// loss on a batch are all it needs; [`LossOnly`] makes it an
/// [`Extension`].
pub trait BatchLoss: 'static {
    /// The loss of `batch` with the classifier `base`.
    fn batch_loss(&self, base: &CamNet, batch: &Batch, ctx: &mut TrainContext) -> Result<Tensor>;

    /// As [`Extension::cam_time_tuning`].
    fn cam_time_tuning(&self) -> Option<&RibSettings> {
        None
    }
}

/// The extension of a [`BatchLoss`] method: no parameters, the plain CAM's
/// maps, the method's loss.
pub struct LossOnly<S>(pub S);

impl<S: BatchLoss + Clone> LossOnly<S> {
    /// The extension of `settings`, boxed for [`CamMethod::build`].
    pub fn boxed(settings: &S) -> Result<Box<dyn Extension>> {
        Ok(Box::new(LossOnly(settings.clone())))
    }
}

impl<S> Module for LossOnly<S> {
    fn visit(&self, _: &str, _: &mut dyn crate::nn::Visitor) {}
}

impl<S: BatchLoss> Extension for LossOnly<S> {
    fn loss(&self, base: &CamNet, batch: &Batch, ctx: &mut TrainContext) -> Result<Tensor> {
        self.0.batch_loss(base, batch, ctx)
    }

    fn cam_time_tuning(&self) -> Option<&RibSettings> {
        self.0.cam_time_tuning()
    }
}

/// Declares the registry: the [`Method`] enum (one variant per method,
/// tagged by its name in TOML and JSON), its names and the dispatch to
/// each settings struct's [`CamMethod`].
macro_rules! registry {
    ($($(#[$doc:meta])* $variant:ident($settings:ty) = $name:literal,)*) => {
        /// A CAM-expansion method with its settings; `name` selects it in
        /// TOML and on the command line (`--method NAME --method-set
        /// key=value`).
        #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "name")]
        pub enum Method {
            $($(#[$doc])* #[serde(rename = $name)] $variant($settings),)*
        }

        impl Method {
            /// The names [`Method::from_name`] knows, in the order of the
            /// methods table.
            pub const NAMES: [&'static str; [$($name),*].len()] = [$($name),*];

            /// The method's name.
            pub fn name(&self) -> &'static str {
                match self {
                    $(Method::$variant(_) => $name,)*
                }
            }

            /// The method's settings as a [`CamMethod`].
            pub fn cam_method(&self) -> &dyn CamMethod {
                match self {
                    $(Method::$variant(s) => s,)*
                }
            }
        }
    };
}

registry! {
    /// The plain CAM classifier (Zhou et al.): the baseline.
    Cam(PlainSettings) = "cam",
    /// Adversarial erasing (Wei et al.): train, erase the high-CAM region,
    /// retrain; the CAM is the union of the rounds' maps.
    Ae(AeSettings) = "ae",
    /// Hide-and-Seek: random grid patches of each training image hidden.
    Has(HasSettings) = "has",
    /// ACoL: two classifier branches, the second on features erased where
    /// the first is confident.
    Acol(AcolSettings) = "acol",
    /// SeeNet: self-erasing with a ternary mask (erase above δh, negate
    /// below δl).
    Seenet(SeeNetSettings) = "seenet",
    /// GAIN: the classifier's attention masks the image, and the score on
    /// the masked image is pushed down (attention mining).
    Gain(GainSettings) = "gain",
    /// Class-specific adversarial erasing: an erasing network's class map
    /// must hide its class from a fixed ordinary classifier.
    Csae(CsaeSettings) = "csae",
    /// Multi-dilated convolution: parallel dilations fused as the undilated
    /// map plus the mean of the dilated ones.
    Mdc(MdcSettings) = "mdc",
    /// Mixup-CAM: mixed images and targets with entropy and concentration
    /// regularisers.
    Mixup(MixupSettings) = "mixup",
    /// FMix-CAM: images mixed through Fourier-sampled binary masks.
    Fmix(FmixSettings) = "fmix",
    /// Manifold-Mixup CAM: feature maps mixed at a random backbone stage.
    Manifold(ManifoldSettings) = "manifold",
    /// Sub-category exploration (SC-CAM): k-means sub-categories of each
    /// class learnt by a second classifier.
    Subcat(SubcatSettings) = "subcat",
    /// Sub-category teaching: a sub-category network's soft predictions
    /// distilled into a fresh student.
    SubcatTeach(SubcatTeachSettings) = "subcat-teach",
    /// SEAM: equivariant regularisation between an image and its rescaled
    /// copy, and a pixel correlation module whose output is the CAM.
    Seam(SeamSettings) = "seam",
    /// RIB: the plain classifier, fine-tuned on each image at CAM time on
    /// its raw logits pooled over non-discriminative pixels; the CAM sums
    /// the steps' maps.
    Rib(RibSettings) = "rib",
    /// CoSA: an online network co-trained with its moving average, CAMs
    /// and segmentation swapping assignments, with a dense-CRF loss.
    Cosa(CosaSettings) = "cosa",
}

impl Default for Method {
    /// The plain CAM.
    fn default() -> Self {
        Method::Cam(PlainSettings {})
    }
}

impl Method {
    /// Whether this is the plain CAM (the default, left out of settings
    /// files and fingerprints so that earlier runs stay valid).
    pub fn is_cam(&self) -> bool {
        matches!(self, Method::Cam(_))
    }

    /// The method `name` with its defaults, then each `key=value` of
    /// `settings` applied (values parse as TOML: numbers, booleans, arrays).
    /// Names methods and keys that do not exist.
    pub fn from_name(name: &str, settings: &[String]) -> Result<Method> {
        if !Self::NAMES.contains(&name) {
            return Err(Error::invalid(
                "method",
                format!(
                    "unknown method {name:?} (known: {})",
                    Self::NAMES.join(", ")
                ),
            ));
        }
        let mut text = format!("name = {name:?}\n");
        for kv in settings {
            let (k, v) = kv.split_once('=').ok_or_else(|| {
                Error::invalid("method", format!("setting {kv:?} is not key=value"))
            })?;
            text.push_str(&format!("{} = {}\n", k.trim(), v.trim()));
        }
        toml::from_str(&text).map_err(|e| {
            Error::invalid(
                "method",
                format!("settings of {name}: {}", e.message().trim()),
            )
        })
    }

    /// Checks the settings' ranges.
    pub fn validate(&self) -> Result<()> {
        self.cam_method().validate()
    }
}

/// An error naming method `name` and what is wrong with its settings.
pub(crate) fn invalid(name: &'static str, what: &str) -> Error {
    Error::invalid(name, what.to_string())
}
