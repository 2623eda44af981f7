//! The network a method trains: the plain CAM classifier (`backbone.*`,
//! `head.classifier.*` in every method, so the affinity stage and every
//! checkpoint reader see the same backbone) and the method's
//! [`Extension`], which names its own parameters. Training phases and the
//! maps a method reads come from the extension.

use weakseg_kernels::Result;

use crate::cam::{self, CamSource};
use crate::models::{ArchSpec, CamNet};
use crate::nn::module::child;
use crate::nn::{Builder, Module, Visitor};
use crate::tensor::{Tensor, no_grad};

use super::{Build, Extension, Method, RibSettings};

/// Named parts of a network trained together: what one training phase
/// optimises and checkpoints. A part named "" keeps its own names.
pub struct Parts<'a>(Vec<(&'static str, &'a dyn Module)>);

impl<'a> Parts<'a> {
    /// Parts under their names ("" keeps a part's own names).
    pub fn new(parts: Vec<(&'static str, &'a dyn Module)>) -> Self {
        Parts(parts)
    }
}

impl Module for Parts<'_> {
    fn visit(&self, prefix: &str, v: &mut dyn Visitor) {
        for (name, m) in &self.0 {
            if name.is_empty() {
                m.visit(prefix, v);
            } else {
                m.visit(&child(prefix, name), v);
            }
        }
    }
}

/// Sub-category discovery to run before a phase: k-means with `k` clusters
/// per class on the GAP features of `net`.
pub struct Explore<'a> {
    /// The network whose features are clustered.
    pub net: &'a CamNet,
    /// Sub-categories per class.
    pub k: usize,
    /// Most k-means iterations.
    pub max_iter: usize,
}

/// One phase of a method's training: the parts it trains, with sub-category
/// discovery first where the method asks for it.
pub struct Phase<'a> {
    /// The parameters this phase optimises.
    pub model: Parts<'a>,
    /// Sub-categories to (re)discover before the phase.
    pub explore: Option<Explore<'a>>,
}

impl<'a> Phase<'a> {
    /// A phase training `parts` (named as in [`Parts::new`]), after
    /// `explore` where given.
    pub fn new(parts: Vec<(&'static str, &'a dyn Module)>, explore: Option<Explore<'a>>) -> Self {
        Phase {
            model: Parts(parts),
            explore,
        }
    }
}

/// A method's classifier: the base CAM network and what the method adds.
pub struct MethodNet {
    /// The method (and settings) the network was built for.
    pub method: Method,
    /// The backbone and first classifier (branch A; AE's first round).
    pub base: CamNet,
    extension: Box<dyn Extension>,
}

impl MethodNet {
    /// The network of `method` for `arch` and `classes` classes.
    pub fn new(b: &mut Builder, method: &Method, arch: &ArchSpec, classes: usize) -> Result<Self> {
        method.validate()?;
        let base = CamNet::new(b, arch, classes)?;
        let extension = method.cam_method().build(Build {
            builder: b,
            base: &base,
            arch,
            classes,
        })?;
        Ok(MethodNet {
            method: method.clone(),
            base,
            extension,
        })
    }

    /// Loads a classifier checkpoint written by the `train-cls` stage,
    /// built for the method its sidecar records (the plain CAM when it
    /// records none).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn load(gpu: &crate::Gpu, path: &std::path::Path) -> Result<MethodNet> {
        use crate::io::checkpoint;
        use crate::nn::ModuleExt;
        use weakseg_kernels::Error;
        let side = checkpoint::read_sidecar(path)?.ok_or_else(|| {
            Error::format(
                path.display().to_string(),
                "no sidecar (.json) naming the architecture",
            )
        })?;
        let method: Method = match side.config.get("method") {
            Some(m) => serde_json::from_value(m.clone()).map_err(|e| {
                Error::format(
                    checkpoint::sidecar_path(path).display().to_string(),
                    format!("method: {e}"),
                )
            })?,
            None => Method::default(),
        };
        let (arch, k) = side.arch.zip(side.classes).ok_or_else(|| {
            Error::format(
                path.display().to_string(),
                "sidecar lacks the architecture or class count",
            )
        })?;
        let net = MethodNet::new(&mut Builder::new(gpu, 0), &method, &arch, k)?;
        checkpoint::load(path, &net)?;
        net.set_train(false);
        Ok(net)
    }

    /// Image-level logits [N, K] of the first classifier (branch A, AE's
    /// first round): what tells which classes an unlabelled image holds.
    pub fn logits(&self, x: &Tensor) -> Result<Tensor> {
        self.base.logits(x)
    }

    /// The method's parts as their concrete type `T` (None when the
    /// method adds something else): how tests and tools reach them.
    pub fn extension<T: 'static>(&self) -> Option<&T> {
        self.extension.as_any().downcast_ref()
    }

    /// The method's parts and hooks.
    pub fn hooks(&self) -> &dyn Extension {
        self.extension.as_ref()
    }

    /// Every classifier that starts from the pretrained backbone: the base
    /// and the method's further ones.
    pub fn backbones(&self) -> Vec<&CamNet> {
        let mut all = vec![&self.base];
        all.extend(self.extension.backbones());
        all
    }

    /// The training phases in order (see [`Extension::phases`]).
    pub fn phases(&self) -> Vec<Phase<'_>> {
        self.extension.phases(self)
    }

    /// RIB's settings where the method fine-tunes per image at CAM time.
    pub fn cam_time_tuning(&self) -> Option<&RibSettings> {
        self.extension.cam_time_tuning()
    }
}

impl CamSource for MethodNet {
    /// The method's normalisation ([`Extension::normalisation`]).
    fn normalisation(&self) -> cam::Normalisation {
        self.extension.normalisation()
    }

    /// The method's maps ([`Extension::cam_maps`]), without autograd.
    fn cam_maps(&self, x: &Tensor, present: &[bool]) -> Result<Tensor> {
        no_grad(|| self.extension.cam_maps(&self.base, x, present))
    }
}

impl Module for MethodNet {
    fn visit(&self, prefix: &str, v: &mut dyn Visitor) {
        self.base.visit(prefix, v);
        self.extension.visit(prefix, v);
    }
}
