//! IRNet's boundary branch (Ahn, Cho & Kwak 2019): a backbone whose taps
//! are each reduced by a bias-free 1×1 convolution to 32 channels, group
//! normalised (4 groups) and rectified, resized to one grid (stride
//! `grid_stride`), concatenated and mapped by a 1×1 convolution and a
//! sigmoid to a boundary probability per grid pixel. A pair's affinity is
//! 1 − the largest boundary probability on the path between them, so one
//! channel separates regions however textured they are inside. Parameter
//! names: `backbone.*`, `head.reduce.I.{conv,norm}.*`, `head.fuse.*`.

use weakseg_kernels::{Error, Result};

use crate::models::affinity::taps_on_grid;
use crate::models::{ArchSpec, Backbone};
use crate::nn::init::Fan;
use crate::nn::module::child;
use crate::nn::{Builder, Conv2d, GroupNorm, Init, Module, ModuleExt, Visitor};
use crate::ops::affinity::PairOffsets;
use crate::ops::conv::ConvOpts;
use crate::tensor::Tensor;

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
            .tap_channels()
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

    /// Boundary probabilities [N, 1, gh, gw] of NCHW images.
    pub fn boundary(&self, x: &Tensor) -> Result<Tensor> {
        let parts = taps_on_grid(
            "BoundaryNet",
            self.backbone.as_ref(),
            self.frozen_backbone,
            x,
            self.grid(x.shape()[2], x.shape()[3]),
            &self.reduce,
            |r, t| r.norm.forward(&r.conv.forward(t)?)?.relu(),
        )?;
        self.fuse.forward(&Tensor::concat(&parts, 1)?)?.sigmoid()
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

impl Module for BoundaryNet {
    fn visit(&self, prefix: &str, v: &mut dyn Visitor) {
        self.backbone.visit(&child(prefix, "backbone"), v);
        let head = child(prefix, "head");
        self.reduce.visit(&child(&head, "reduce"), v);
        self.fuse.visit(&child(&head, "fuse"), v);
    }
}
