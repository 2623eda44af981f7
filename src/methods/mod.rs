//! CAM-expansion methods: ways of training the classifier (or of reading
//! its maps) so that its class activation maps cover whole objects rather
//! than their most discriminative part. Each is a [`Method`] with its
//! settings (the defaults of each method's released code or paper, cited
//! at each settings struct);
//! [`MethodNet`] is the network a method trains, [`Trainer`] its training
//! loss, and both plug into the `train-cls` and `cam` stages unchanged.

pub mod attention;
pub mod cosa;
pub mod csae;
pub mod erasing;
pub mod fmix;
pub mod mdc;
pub mod mixing;
pub mod net;
pub mod rib;
pub mod saliency;
pub mod seam;
pub mod subcat;
pub mod trainer;

use serde::{Deserialize, Serialize};
use weakseg_kernels::{Error, Result};

pub use cosa::CosaSettings;
pub use csae::CsaeSettings;
pub use erasing::{AcolSettings, AeSettings, GainSettings, HasSettings, SeeNetSettings};
pub use mdc::MdcSettings;
pub use mixing::{FmixSettings, ManifoldSettings, MixupSettings};
pub use net::{Explore, MethodNet, Parts, Phase};
pub use rib::RibSettings;
pub use saliency::{Saliency, SaliencySource};
pub use seam::SeamSettings;
pub use subcat::{SubcatSettings, SubcatTeachSettings, Subcategories};
pub use trainer::Trainer;

/// A CAM-expansion method with its settings; `name` selects it in TOML and
/// on the command line (`--method NAME --method-set key=value`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "kebab-case")]
pub enum Method {
    /// The plain CAM classifier (Zhou et al.): the baseline.
    #[default]
    Cam,
    /// Adversarial erasing (Wei et al.): train, erase the high-CAM region,
    /// retrain; the CAM is the union of the rounds' maps.
    Ae(AeSettings),
    /// Hide-and-Seek: random grid patches of each training image hidden.
    Has(HasSettings),
    /// ACoL: two classifier branches, the second on features erased where
    /// the first is confident.
    Acol(AcolSettings),
    /// SeeNet: self-erasing with a ternary mask (erase above δh, negate
    /// below δl).
    Seenet(SeeNetSettings),
    /// GAIN: the classifier's attention masks the image, and the score on
    /// the masked image is pushed down (attention mining).
    Gain(GainSettings),
    /// Class-specific adversarial erasing: an erasing network's class map
    /// must hide its class from a fixed ordinary classifier.
    Csae(CsaeSettings),
    /// Multi-dilated convolution: parallel dilations fused as the undilated
    /// map plus the mean of the dilated ones.
    Mdc(MdcSettings),
    /// Mixup-CAM: mixed images and targets with entropy and concentration
    /// regularisers.
    Mixup(MixupSettings),
    /// FMix-CAM: images mixed through Fourier-sampled binary masks.
    Fmix(FmixSettings),
    /// Manifold-Mixup CAM: feature maps mixed at a random backbone stage.
    Manifold(ManifoldSettings),
    /// Sub-category exploration (SC-CAM): k-means sub-categories of each
    /// class learnt by a second classifier.
    Subcat(SubcatSettings),
    /// Sub-category teaching: a sub-category network's soft predictions
    /// distilled into a fresh student.
    SubcatTeach(SubcatTeachSettings),
    /// SEAM: equivariant regularisation between an image and its rescaled
    /// copy, and a pixel correlation module whose output is the CAM.
    Seam(SeamSettings),
    /// RIB: the plain classifier, fine-tuned on each image at CAM time on
    /// its raw logits pooled over non-discriminative pixels; the CAM sums
    /// the steps' maps.
    Rib(RibSettings),
    /// CoSA: an online network co-trained with its moving average, CAMs
    /// and segmentation swapping assignments, with a dense-CRF loss.
    Cosa(CosaSettings),
}

impl Method {
    /// The names [`Method::from_name`] knows, in the order of the table.
    pub const NAMES: [&'static str; 16] = [
        "cam",
        "ae",
        "has",
        "acol",
        "seenet",
        "gain",
        "csae",
        "mdc",
        "mixup",
        "fmix",
        "manifold",
        "subcat",
        "subcat-teach",
        "seam",
        "rib",
        "cosa",
    ];

    /// The method's name.
    pub fn name(&self) -> &'static str {
        match self {
            Method::Cam => "cam",
            Method::Ae(_) => "ae",
            Method::Has(_) => "has",
            Method::Acol(_) => "acol",
            Method::Seenet(_) => "seenet",
            Method::Gain(_) => "gain",
            Method::Csae(_) => "csae",
            Method::Mdc(_) => "mdc",
            Method::Mixup(_) => "mixup",
            Method::Fmix(_) => "fmix",
            Method::Manifold(_) => "manifold",
            Method::Subcat(_) => "subcat",
            Method::SubcatTeach(_) => "subcat-teach",
            Method::Seam(_) => "seam",
            Method::Rib(_) => "rib",
            Method::Cosa(_) => "cosa",
        }
    }

    /// Whether this is the plain CAM (the default, left out of settings
    /// files and fingerprints so that earlier runs stay valid).
    pub fn is_cam(&self) -> bool {
        matches!(self, Method::Cam)
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
        let bad = |what: &str| Err(Error::invalid(self.name(), what.to_string()));
        match self {
            Method::Cam => Ok(()),
            Method::Ae(s) if s.rounds == 0 => bad("needs at least one round"),
            Method::Ae(s) if !(0.0..1.0).contains(&s.threshold) => {
                bad("the erasing threshold must lie in [0, 1)")
            }
            Method::Has(s) if !(0.0..=1.0).contains(&s.hide_probability) => {
                bad("hide_probability must lie in [0, 1]")
            }
            Method::Has(s) if s.grid_sizes.is_empty() || s.reference_size == 0 => {
                bad("needs grid sizes and a positive reference size")
            }
            Method::Acol(s) if !(0.0..=1.0).contains(&s.threshold) => {
                bad("the erasing threshold must lie in [0, 1]")
            }
            Method::Seenet(s) if s.low.partial_cmp(&s.high) != Some(std::cmp::Ordering::Less) => {
                bad("δl must be below δh")
            }
            Method::Mdc(s) if s.dilations.len() < 2 || s.dilations.contains(&0) => {
                bad("needs the undilated branch and at least one dilation, all positive")
            }
            Method::Mixup(s) if s.alpha <= 0.0 => bad("alpha must be positive"),
            Method::Fmix(s) if s.alpha <= 0.0 || s.decay <= 0.0 => {
                bad("alpha and decay must be positive")
            }
            Method::Manifold(s) if s.alpha <= 0.0 => bad("alpha must be positive"),
            Method::Subcat(s) if s.k == 0 || s.rounds == 0 || s.max_iter == 0 => {
                bad("k, rounds and max_iter must be positive")
            }
            Method::SubcatTeach(s) if s.k == 0 || s.max_iter == 0 => {
                bad("k and max_iter must be positive")
            }
            Method::Csae(s) if s.adversarial < 0.0 || s.area < 0.0 => {
                bad("the loss weights must not be negative")
            }
            Method::Seam(s) if !(s.scale > 0.0 && s.scale < 1.0) => {
                bad("the rescaling factor must lie in (0, 1)")
            }
            Method::Seam(s)
                if !(0.0..=1.0).contains(&s.hard_fraction) || s.hard_fraction == 0.0 =>
            {
                bad("the hard-mining fraction must lie in (0, 1]")
            }
            Method::Seam(s)
                if !(0.0..=1.0).contains(&s.min_pool_fraction) || s.min_pool_fraction == 0.0 =>
            {
                bad("the min-pooling fraction must lie in (0, 1]")
            }
            Method::Rib(s) if s.iterations == 0 || s.lr < 0.0 || s.weight_decay < 0.0 => {
                bad("needs at least one iteration and non-negative rates")
            }
            Method::Rib(s)
                if !(0.0..=1.0).contains(&s.explode_threshold)
                    || !(0.0..=1.0).contains(&s.explode_ratio) =>
            {
                bad("the explode threshold and ratio must lie in [0, 1]")
            }
            Method::Cosa(s) if !(0.0 <= s.low && s.low <= s.high && s.high < 1.0) => {
                bad("thresholds need 0 ≤ low ≤ high < 1")
            }
            Method::Cosa(s) if !(s.momentum > 0.0 && s.momentum < 1.0) || s.temperature <= 0.0 => {
                bad("momentum must lie in (0, 1) and the temperature be positive")
            }
            Method::Cosa(s) if s.scales.is_empty() || s.scales.iter().any(|v| *v <= 0.0) => {
                bad("the assignment scales must be positive")
            }
            Method::Cosa(s) if s.decoder_channels == 0 || s.gmm_queue == 0 => {
                bad("decoder_channels and gmm_queue must be positive")
            }
            _ => Ok(()),
        }
    }
}
