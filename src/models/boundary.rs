//! IRNet's boundary branch (Ahn, Cho & Kwak 2019; `net/resnet50_irn.py`):
//! the backbone's stem (ResNet's conv1 + max-pool) and every stage are each
//! reduced by a bias-free 1×1 convolution to 32 channels and group
//! normalised (4 groups), upsampled bilinearly by a power of two onto the
//! grid (stride `grid_stride`) and cropped to it, then rectified — IRN's
//! order, conv → GN → upsample → ReLU — concatenated and mapped by a 1×1
//! convolution to a boundary logit per grid pixel. At inference the logits
//! of the image and of its mirror image are averaged before the sigmoid
//! (`EdgeDisplacement.forward`). A pair's affinity is 1 − the largest
//! boundary probability on the path between them, so one channel
//! separates regions however textured they are inside. Parameter names:
//! `backbone.*`, `head.reduce.I.{conv,norm}.*` (0 the stem, when the
//! backbone has one), `head.fuse.*`.

use weakseg_kernels::{Error, Result};

use crate::models::{ArchSpec, Backbone};
use crate::nn::init::Fan;
use crate::nn::module::child;
use crate::nn::{Builder, Conv2d, GroupNorm, Init, Module, ModuleExt, Visitor};
use crate::ops::affinity::PairOffsets;
use crate::ops::conv::ConvOpts;
use crate::ops::resize::ResizeMode;
use crate::tensor::{Tensor, no_grad};

/// Channels each tap is reduced to (IRN: 32).
const TAP_WIDTH: usize = 32;
/// Groups of each tap's normalisation (IRN: 4).
const GROUPS: usize = 4;

/// One tap's reduction: 1×1 convolution, group norm, ReLU.
struct Reduce {
    conv: Conv2d,
    norm: GroupNorm,
}

impl Module for Reduce {
    fn visit(&self, prefix: &str, v: &mut dyn Visitor) {
        self.conv.visit(&child(prefix, "conv"), v);
        self.norm.visit(&child(prefix, "norm"), v);
    }
}

/// The boundary network.
pub struct BoundaryNet {
    /// The feature extractor (the CAM classifier's layout).
    pub backbone: Box<dyn Backbone>,
    reduce: Vec<Reduce>,
    fuse: Conv2d,
    frozen_backbone: bool,
    grid_stride: usize,
}

impl BoundaryNet {
    /// A boundary network on `arch`'s backbone with its grid at
    /// `grid_stride` input pixels per grid pixel (IRN: 4).
    pub fn new(b: &mut Builder, arch: &ArchSpec, grid_stride: usize) -> Result<BoundaryNet> {
        if grid_stride == 0 {
            return Err(Error::invalid(
                "BoundaryNet",
                "grid_stride must be positive",
            ));
        }
        let backbone = arch.build(b)?;
        let reduce = backbone
            .stem_channels()
            .into_iter()
            .chain(backbone.tap_channels())
            .collect::<Vec<_>>()
            .iter()
            .map(|&c| {
                Ok(Reduce {
                    conv: Conv2d::with_init(
                        b,
                        c,
                        TAP_WIDTH,
                        1,
                        ConvOpts::default(),
                        false,
                        Init::KaimingNormal(Fan::In),
                    )?,
                    norm: GroupNorm::new(b, GROUPS, TAP_WIDTH)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let fuse = Conv2d::with_init(
            b,
            TAP_WIDTH * reduce.len(),
            1,
            1,
            ConvOpts::default(),
            true,
            Init::KaimingNormal(Fan::In),
        )?;
        Ok(BoundaryNet {
            backbone,
            reduce,
            fuse,
            frozen_backbone: false,
            grid_stride,
        })
    }

    /// Fixes the backbone (IRN's training): its parameters and batch-norm
    /// statistics stay as loaded and its forward pass records no gradient.
    pub fn freeze_backbone(&mut self) {
        self.set_frozen("backbone", true);
        self.frozen_backbone = true;
    }

    /// The grid of an h×w image: ⌈h/s⌉ × ⌈w/s⌉.
    pub fn grid(&self, h: usize, w: usize) -> (usize, usize) {
        (h.div_ceil(self.grid_stride), w.div_ceil(self.grid_stride))
    }

    /// Input pixels per grid pixel.
    pub fn grid_stride(&self) -> usize {
        self.grid_stride
    }

    /// Boundary logits [N, 1, gh, gw] of NCHW images.
    pub fn logits(&self, x: &Tensor) -> Result<Tensor> {
        let taps = if self.frozen_backbone {
            no_grad(|| self.backbone.stem_and_taps(x))?
        } else {
            self.backbone.stem_and_taps(x)?
        };
        if taps.len() != self.reduce.len() {
            return Err(Error::invalid(
                "BoundaryNet",
                format!("{} taps for {} reducers", taps.len(), self.reduce.len()),
            ));
        }
        let grid = self.grid(x.shape()[2], x.shape()[3]);
        let parts = taps
            .iter()
            .zip(&self.reduce)
            .map(|(t, r)| on_grid(&r.norm.forward(&r.conv.forward(t)?)?, grid)?.relu())
            .collect::<Result<Vec<_>>>()?;
        self.fuse.forward(&Tensor::concat(&parts, 1)?)
    }

    /// Boundary probabilities [N, 1, gh, gw] of NCHW images: one pass, as
    /// IRN trains.
    pub fn boundary(&self, x: &Tensor) -> Result<Tensor> {
        self.logits(x)?.sigmoid()
    }

    /// Boundary probabilities as IRN infers them: the sigmoid of the mean
    /// of the image's logits and its mirror image's (mirrored back).
    pub fn boundary_flip_averaged(&self, x: &Tensor) -> Result<Tensor> {
        let n = x.shape()[0];
        let l = self.logits(&Tensor::concat(&[x.clone(), x.flip(3)?], 0)?)?;
        l.narrow(0, 0, n)?
            .add(&l.narrow(0, n, n)?.flip(3)?)?
            .mul_scalar(0.5)?
            .sigmoid()
    }

    /// Pair affinities [N, D, gh, gw] for `offsets`: 1 − the largest
    /// boundary probability on each pair's path.
    pub fn affinities(&self, x: &Tensor, offsets: &PairOffsets) -> Result<Tensor> {
        self.boundary(x)?.path_affinity(offsets)
    }

    /// Whether a parameter name belongs to the head (a new layer).
    pub fn is_new(name: &str) -> bool {
        !name.starts_with("backbone.")
    }
}

/// A reduced tap moved onto the `grid` as IRN does: upsampled bilinearly
/// (corners not aligned) by the smallest power of two that covers the
/// grid, then cropped to it at the top left (`[..., :h, :w]`); a tap finer
/// than the grid is resized to it.
fn on_grid(y: &Tensor, (gh, gw): (usize, usize)) -> Result<Tensor> {
    let (h, w) = (y.shape()[2], y.shape()[3]);
    if (h, w) == (gh, gw) {
        return Ok(y.clone());
    }
    if h > gh || w > gw {
        return y.interpolate((gh, gw), ResizeMode::Bilinear(false));
    }
    let mut f = 1;
    while h * f < gh || w * f < gw {
        f *= 2;
    }
    let up = if f == 1 {
        y.clone()
    } else {
        y.interpolate((h * f, w * f), ResizeMode::Bilinear(false))?
    };
    up.narrow(2, 0, gh)?.narrow(3, 0, gw)
}

impl Module for BoundaryNet {
    fn visit(&self, prefix: &str, v: &mut dyn Visitor) {
        self.backbone.visit(&child(prefix, "backbone"), v);
        let head = child(prefix, "head");
        self.reduce.visit(&child(&head, "reduce"), v);
        self.fuse.visit(&child(&head, "fuse"), v);
    }
}
