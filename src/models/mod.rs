//! Backbones and the networks WSSS stages train: the CAM classifier and the
//! segmentation network. [`ArchSpec`] names an architecture in checkpoint
//! sidecars and on the command line.

pub mod affinity;
pub mod boundary;
pub mod heads;
pub mod resnet;
pub mod resnet38;
pub mod resnet_tiny;
pub mod vgg;

use serde::{Deserialize, Serialize};
use weakseg_kernels::{Error, Result};

use crate::nn::module::child;
use crate::nn::{Builder, Module, Visitor};
use crate::tensor::{DType, Tensor};
use heads::{AsppHead, CamHead, LargeFovHead};
use resnet::{ResNet, ResNetConfig};
use resnet_tiny::{ResNetTiny, TinyConfig};

/// A feature extractor: NCHW images in, a feature map at `output_stride` out.
pub trait Backbone: Module {
    /// The final feature map.
    fn features(&self, x: &Tensor) -> Result<Tensor>;
    /// Channels of the feature map.
    fn out_channels(&self) -> usize;
    /// Input pixels per feature-map pixel.
    fn output_stride(&self) -> usize;
    /// Intermediate feature maps, finest first, the last being
    /// [`Backbone::features`]: what AffinityNet's head reads. By default
    /// only the final map.
    fn taps(&self, x: &Tensor) -> Result<Vec<Tensor>> {
        Ok(vec![self.features(x)?])
    }
    /// Channels of each of [`Backbone::taps`].
    fn tap_channels(&self) -> Vec<usize> {
        vec![self.out_channels()]
    }
    /// Channels of the stem's output (the input of the first stage), for
    /// heads that read it first, as IRN's boundary branch reads ResNet's
    /// conv1 + max-pool; None when the backbone offers no stem tap.
    fn stem_channels(&self) -> Option<usize> {
        None
    }
    /// The stem's output followed by [`Backbone::taps`] (only the taps when
    /// [`Backbone::stem_channels`] is None).
    fn stem_and_taps(&self, x: &Tensor) -> Result<Vec<Tensor>> {
        self.taps(x)
    }
    /// The places [`Backbone::features_with`] can edit: 0 is the input
    /// image, i ≥ 1 the output of stage i. By default only the input.
    fn edit_points(&self) -> usize {
        1
    }
    /// The feature map with `edit` applied to the tensor at edit point `at`
    /// (Manifold Mixup mixes a batch there). By default only `at` = 0.
    fn features_with(
        &self,
        x: &Tensor,
        at: usize,
        edit: &mut dyn FnMut(&Tensor) -> Result<Tensor>,
    ) -> Result<Tensor> {
        if at != 0 {
            return Err(Error::invalid(
                "features_with",
                format!("this backbone edits only its input, not point {at}"),
            ));
        }
        self.features(&edit(x)?)
    }
}

impl<B: Backbone + ?Sized> Backbone for Box<B> {
    fn features(&self, x: &Tensor) -> Result<Tensor> {
        (**self).features(x)
    }
    fn out_channels(&self) -> usize {
        (**self).out_channels()
    }
    fn output_stride(&self) -> usize {
        (**self).output_stride()
    }
    fn taps(&self, x: &Tensor) -> Result<Vec<Tensor>> {
        (**self).taps(x)
    }
    fn tap_channels(&self) -> Vec<usize> {
        (**self).tap_channels()
    }
    fn stem_channels(&self) -> Option<usize> {
        (**self).stem_channels()
    }
    fn stem_and_taps(&self, x: &Tensor) -> Result<Vec<Tensor>> {
        (**self).stem_and_taps(x)
    }
    fn edit_points(&self) -> usize {
        (**self).edit_points()
    }
    fn features_with(
        &self,
        x: &Tensor,
        at: usize,
        edit: &mut dyn FnMut(&Tensor) -> Result<Tensor>,
    ) -> Result<Tensor> {
        (**self).features_with(x, at, edit)
    }
}

/// Numeric precision of a backbone's forward pass.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// f32 throughout: training and inference.
    #[default]
    F32,
    /// Weights and activations stored in f16, accumulation in f32: the
    /// inference forward pass on adapters with shader-f16. Batch norm must
    /// be in evaluation mode; heads and outputs stay in f32.
    F16,
}

impl Precision {
    /// The backbone's feature map of `x` at this precision, returned in f32.
    pub fn features(self, backbone: &dyn Backbone, x: &Tensor) -> Result<Tensor> {
        match self {
            Precision::F32 => backbone.features(x),
            Precision::F16 => backbone
                .features(&x.to_dtype(DType::F16)?)?
                .to_dtype(DType::F32),
        }
    }
}

/// An architecture by name and stride: what a checkpoint sidecar records.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchSpec {
    /// `resnet50`, `resnet101`, `resnet38`, `vgg16` or `resnet-tiny`.
    pub name: String,
    /// Output stride (8, 16 or 32 where the backbone allows it).
    pub output_stride: usize,
    /// Stage widths (resnet-tiny only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub widths: Option<[usize; 4]>,
}

impl ArchSpec {
    /// The architectures [`ArchSpec::build`] knows.
    pub const NAMES: [&'static str; 5] =
        ["resnet50", "resnet101", "resnet38", "vgg16", "resnet-tiny"];

    /// An architecture at output stride `os`.
    pub fn new(name: &str, output_stride: usize) -> ArchSpec {
        ArchSpec {
            name: name.to_string(),
            output_stride,
            widths: None,
        }
    }

    /// Checks the name and the output stride without building anything,
    /// so a run can refuse a bad architecture before its first stage.
    pub fn validate(&self) -> Result<()> {
        let os = self.output_stride;
        match self.name.as_str() {
            "resnet50" | "resnet101" => ResNetConfig::output_stride(os).map(drop),
            "resnet38" => resnet38::ResNet38::dilations(os).map(drop),
            "vgg16" if os == 8 => Ok(()),
            "vgg16" => Err(Error::invalid(
                "vgg16",
                format!("DeepLab-LargeFOV VGG-16 has output stride 8, not {os}"),
            )),
            "resnet-tiny" => TinyConfig::with_output_stride(os).map(drop),
            other => Err(Error::invalid(
                "arch",
                format!(
                    "unknown architecture {other:?} (known: {})",
                    Self::NAMES.join(", ")
                ),
            )),
        }
    }

    /// Builds the backbone (after [`ArchSpec::validate`]).
    pub fn build(&self, b: &mut Builder) -> Result<Box<dyn Backbone>> {
        self.validate()?;
        let os = self.output_stride;
        Ok(match self.name.as_str() {
            "resnet50" => Box::new(ResNet::new(b, &ResNetConfig::new(50, os)?)?),
            "resnet101" => Box::new(ResNet::new(b, &ResNetConfig::new(101, os)?)?),
            "resnet38" => Box::new(resnet38::ResNet38::new(b, os)?),
            "vgg16" => Box::new(vgg::Vgg16::new(b)?),
            // `validate` admitted only the names above and this one.
            _ => {
                let mut cfg = TinyConfig::with_output_stride(os)?;
                if let Some(w) = self.widths {
                    cfg.widths = w;
                }
                Box::new(ResNetTiny::new(b, &cfg)?)
            }
        })
    }
}

/// A backbone with the CAM classifier head: the first stage of every
/// image-label WSSS method. Parameter names: `backbone.*`, `head.classifier.*`.
pub struct CamNet {
    /// The feature extractor.
    pub backbone: Box<dyn Backbone>,
    /// GAP + bias-free 1×1 classifier.
    pub head: CamHead,
    /// Precision of the backbone's forward pass (f32 unless set).
    pub precision: Precision,
}

impl CamNet {
    /// A CAM network of `arch` for `classes` foreground classes.
    pub fn new(b: &mut Builder, arch: &ArchSpec, classes: usize) -> Result<CamNet> {
        let backbone = arch.build(b)?;
        let head = CamHead::new(b, backbone.out_channels(), classes)?;
        Ok(CamNet {
            backbone,
            head,
            precision: Precision::F32,
        })
    }

    /// Image-level logits [N, K].
    pub fn logits(&self, x: &Tensor) -> Result<Tensor> {
        self.head
            .logits(&self.precision.features(&self.backbone, x)?)
    }

    /// Logits and raw CAMs [N, K, h, w] from one forward pass.
    pub fn logits_and_cams(&self, x: &Tensor) -> Result<(Tensor, Tensor)> {
        let f = self.precision.features(&self.backbone, x)?;
        Ok((self.head.logits(&f)?, self.head.cams(&f)?))
    }

    /// Whether a parameter name belongs to a new (non-backbone) layer.
    pub fn is_new(name: &str) -> bool {
        !name.starts_with("backbone.")
    }
}

impl Module for CamNet {
    fn visit(&self, prefix: &str, v: &mut dyn Visitor) {
        self.backbone.visit(&child(prefix, "backbone"), v);
        self.head.visit(&child(prefix, "head"), v);
    }
}

/// Which segmentation head a [`SegNet`] uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SegHeadKind {
    /// DeepLab-LargeFOV (v1).
    LargeFov,
    /// DeepLab-v2 ASPP, rates 6/12/18/24.
    Aspp,
}

enum SegHead {
    LargeFov(Box<LargeFovHead>),
    Aspp(AsppHead),
}

/// A segmentation network: backbone, DeepLab head, and bilinear upsampling
/// of the scores to the input size. Names: `backbone.*`, `head.*`.
pub struct SegNet {
    /// The feature extractor.
    pub backbone: Box<dyn Backbone>,
    head: SegHead,
    /// Precision of the backbone's forward pass (f32 unless set).
    pub precision: Precision,
}

impl SegNet {
    /// A segmenter of `arch` with `classes` classes (background included).
    pub fn new(
        b: &mut Builder,
        arch: &ArchSpec,
        head: SegHeadKind,
        classes: usize,
    ) -> Result<SegNet> {
        let backbone = arch.build(b)?;
        let c = backbone.out_channels();
        let head = match head {
            SegHeadKind::LargeFov => SegHead::LargeFov(Box::new(LargeFovHead::new(b, c, classes)?)),
            SegHeadKind::Aspp => SegHead::Aspp(AsppHead::new(b, c, classes, &AsppHead::RATES)?),
        };
        Ok(SegNet {
            backbone,
            head,
            precision: Precision::F32,
        })
    }

    /// Class scores at the feature resolution [N, K, h, w].
    pub fn scores(&self, x: &Tensor) -> Result<Tensor> {
        let f = self.precision.features(&self.backbone, x)?;
        match &self.head {
            SegHead::LargeFov(h) => h.forward(&f),
            SegHead::Aspp(h) => h.forward(&f),
        }
    }

    /// Class scores upsampled (bilinear, align_corners false) to the input size.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let s = self.scores(x)?;
        let (h, w) = (x.shape()[2], x.shape()[3]);
        s.interpolate((h, w), crate::ResizeMode::Bilinear(false))
    }

    /// Whether a parameter name belongs to the head (a new layer).
    pub fn is_new(name: &str) -> bool {
        !name.starts_with("backbone.")
    }
}

impl Module for SegNet {
    fn visit(&self, prefix: &str, v: &mut dyn Visitor) {
        self.backbone.visit(&child(prefix, "backbone"), v);
        let p = child(prefix, "head");
        match &self.head {
            SegHead::LargeFov(h) => h.visit(&p, v),
            SegHead::Aspp(h) => h.visit(&p, v),
        }
    }
}
