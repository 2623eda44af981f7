//! AffinityNet (Ahn & Kwak 2018): a backbone with a head that maps its taps
//! to one feature grid whose L1 distances give pixel-pair affinities. Each
//! tap is reduced by a bias-free 1×1 convolution and ELU, resized to the
//! grid (stride `grid_stride`), concatenated, then fused by a 1×1
//! convolution and ELU. Parameter names: `backbone.*`, `head.reduce.I.*`,
//! `head.fuse.*`.

use serde::{Deserialize, Serialize};
use weakseg_kernels::{Error, Result};

use crate::models::{ArchSpec, Backbone};
use crate::nn::init::Fan;
use crate::nn::module::child;
use crate::nn::{Builder, Conv2d, Init, Module, ModuleExt, Visitor};
use crate::ops::affinity::PairOffsets;
use crate::ops::conv::ConvOpts;
use crate::tensor::Tensor;
use crate::{ResizeMode, no_grad};

/// Widths and grid of the affinity head.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AffinityConfig {
    /// Channels each tap is reduced to (psa: 64/128/256 on ResNet-38).
    pub tap_width: usize,
    /// Channels of the affinity features (psa: 448).
    pub width: usize,
    /// Input pixels per grid pixel (psa: 8; IRN: 4).
    pub grid_stride: usize,
}

impl Default for AffinityConfig {
    /// 32 per tap, 128 out, stride 4: sized for resnet-tiny on small images.
    fn default() -> Self {
        AffinityConfig {
            tap_width: 32,
            width: 128,
            grid_stride: 4,
        }
    }
}

/// The affinity network.
pub struct AffinityNet {
    /// The feature extractor (shared with the CAM classifier's layout).
    pub backbone: Box<dyn Backbone>,
    reduce: Vec<Conv2d>,
    fuse: Conv2d,
    frozen_backbone: bool,
    cfg: AffinityConfig,
}

impl AffinityNet {
    /// An affinity network on `arch`'s backbone.
    pub fn new(b: &mut Builder, arch: &ArchSpec, cfg: &AffinityConfig) -> Result<AffinityNet> {
        if cfg.tap_width == 0 || cfg.width == 0 || cfg.grid_stride == 0 {
            return Err(Error::invalid(
                "AffinityNet",
                "tap_width, width and grid_stride must be positive",
            ));
        }
        let backbone = arch.build(b)?;
        let reduce = backbone
            .tap_channels()
            .iter()
            .map(|&c| {
                Conv2d::with_init(
                    b,
                    c,
                    cfg.tap_width,
                    1,
                    ConvOpts::default(),
                    false,
                    Init::KaimingNormal(Fan::In),
                )
            })
            .collect::<Result<Vec<_>>>()?;
        let fuse = Conv2d::with_init(
            b,
            cfg.tap_width * reduce.len(),
            cfg.width,
            1,
            ConvOpts::default(),
            false,
            Init::XavierUniform(4.0),
        )?;
        Ok(AffinityNet {
            backbone,
            reduce,
            fuse,
            frozen_backbone: false,
            cfg: cfg.clone(),
        })
    }

    /// Fixes the backbone (IRN): its parameters and batch-norm statistics
    /// stay as loaded and its forward pass records no gradient.
    pub fn freeze_backbone(&mut self) {
        self.set_frozen("backbone", true);
        self.frozen_backbone = true;
    }

    /// The grid of an h×w image: ⌈h/s⌉ × ⌈w/s⌉.
    pub fn grid(&self, h: usize, w: usize) -> (usize, usize) {
        (
            h.div_ceil(self.cfg.grid_stride),
            w.div_ceil(self.cfg.grid_stride),
        )
    }

    /// Input pixels per grid pixel.
    pub fn grid_stride(&self) -> usize {
        self.cfg.grid_stride
    }

    /// Affinity features [N, width, gh, gw] of NCHW images.
    pub fn features(&self, x: &Tensor) -> Result<Tensor> {
        let parts = taps_on_grid(
            "AffinityNet",
            self.backbone.as_ref(),
            self.frozen_backbone,
            x,
            self.grid(x.shape()[2], x.shape()[3]),
            &self.reduce,
            |conv, t| conv.forward(t)?.elu(1.0),
        )?;
        self.fuse.forward(&Tensor::concat(&parts, 1)?)?.elu(1.0)
    }

    /// Pair affinities [N, D, gh, gw] for `offsets`.
    pub fn affinities(&self, x: &Tensor, offsets: &PairOffsets) -> Result<Tensor> {
        self.features(x)?.pair_affinity(offsets)
    }

    /// Whether a parameter name belongs to the head (a new layer).
    pub fn is_new(name: &str) -> bool {
        !name.starts_with("backbone.")
    }
}

/// The front shared by AffinityNet and IRN's boundary branch: the
/// backbone's taps of `x` (without gradient when `frozen`), each mapped by
/// `reduce` with its own layers and resized bilinearly to the `grid`. A
/// backbone whose tap count differs from the layers' is an error naming
/// `op`.
pub(crate) fn taps_on_grid<L>(
    op: &'static str,
    backbone: &dyn Backbone,
    frozen: bool,
    x: &Tensor,
    (gh, gw): (usize, usize),
    layers: &[L],
    reduce: impl Fn(&L, &Tensor) -> Result<Tensor>,
) -> Result<Vec<Tensor>> {
    let taps = if frozen {
        no_grad(|| backbone.taps(x))?
    } else {
        backbone.taps(x)?
    };
    if taps.len() != layers.len() {
        return Err(Error::invalid(
            op,
            format!("{} taps for {} reducers", taps.len(), layers.len()),
        ));
    }
    taps.iter()
        .zip(layers)
        .map(|(t, l)| {
            let y = reduce(l, t)?;
            if (y.shape()[2], y.shape()[3]) == (gh, gw) {
                Ok(y)
            } else {
                y.interpolate((gh, gw), ResizeMode::Bilinear(false))
            }
        })
        .collect()
}

impl Module for AffinityNet {
    fn visit(&self, prefix: &str, v: &mut dyn Visitor) {
        self.backbone.visit(&child(prefix, "backbone"), v);
        let head = child(prefix, "head");
        self.reduce.visit(&child(&head, "reduce"), v);
        self.fuse.visit(&child(&head, "fuse"), v);
    }
}
