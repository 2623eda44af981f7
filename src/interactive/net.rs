//! The interactive segmentation network: a DeepLab segmenter with two
//! labels (background, the object) whose input is the image plus the
//! guidance maps. The maps enter through a learned 3×3 convolution whose
//! output is added to the image's three channels: the same as widening the
//! backbone's first convolution with guidance channels, with those
//! filters factored through three, so any three-channel backbone and its
//! ImageNet weights serve unchanged (DEXTR widens the first layer instead).

use weakseg_kernels::{Error, Result};

use crate::ConvOpts;
use crate::models::{ArchSpec, SegHeadKind, SegNet};
use crate::nn::module::child;
use crate::nn::{Builder, Conv2d, Init, Module, Visitor};
use crate::tensor::Tensor;

/// Image + guidance → object logits.
pub struct InteractiveNet {
    /// Guidance maps → an additive image residual.
    pub guide: Conv2d,
    /// The segmenter, two labels.
    pub seg: SegNet,
    channels: usize,
}

impl InteractiveNet {
    /// A network of `arch` with `head` reading `channels` guidance maps.
    /// The guidance convolution starts small (N(0, 0.1²)) so the
    /// pretrained backbone first sees an almost unchanged image.
    pub fn new(
        b: &mut Builder,
        arch: &ArchSpec,
        head: SegHeadKind,
        channels: usize,
    ) -> Result<InteractiveNet> {
        Ok(InteractiveNet {
            guide: Conv2d::with_init(
                b,
                channels,
                3,
                3,
                ConvOpts::new(1, 1, 1, 1),
                true,
                Init::Normal(0.1),
            )?,
            seg: SegNet::new(b, arch, head, 2)?,
            channels,
        })
    }

    /// Guidance maps per image.
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Object logits [B, 2, H, W] of images `x` [B, 3, H, W] under the
    /// guidance `maps` [B, channels, H, W].
    pub fn forward(&self, x: &Tensor, maps: &Tensor) -> Result<Tensor> {
        let (sx, sm) = (x.shape(), maps.shape());
        if sx.len() != 4 || sm != [sx[0], self.channels, sx[2], sx[3]] {
            return Err(Error::invalid(
                "interactive",
                format!(
                    "images {sx:?} with guidance {sm:?}; want [B, 3, H, W] and [B, {}, H, W]",
                    self.channels
                ),
            ));
        }
        self.seg.forward(&x.add(&self.guide.forward(maps)?)?)
    }

    /// Whether `name` belongs to the new layers (head and guidance), which
    /// learn 10× faster under DeepLab's groups.
    pub fn is_new(name: &str) -> bool {
        !name.starts_with("seg.backbone.")
    }
}

impl Module for InteractiveNet {
    fn visit(&self, prefix: &str, v: &mut dyn Visitor) {
        self.guide.visit(&child(prefix, "guide"), v);
        self.seg.visit(&child(prefix, "seg"), v);
    }
}
