//! resnet-tiny: a small ResNet of basic blocks with configurable widths, the
//! demo's default backbone. At the default widths it costs under 0.1 GFLOP
//! per 96-px image (see [`ResNetTiny::flops`]) and trains in minutes on a
//! CPU adapter. A 3×3/2 stem, then one basic block per stage.

use weakseg_kernels::{Error, Result};

use crate::models::Backbone;
use crate::nn::module::child;
use crate::nn::{BatchNorm2d, Builder, Conv2d, Module, Visitor};
use crate::ops::conv::ConvOpts;
use crate::tensor::Tensor;

/// Widths, strides and dilations of the four stages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TinyConfig {
    /// Channels of the stem and of stages 1–4.
    pub widths: [usize; 4],
    /// Stride of each stage's first block.
    pub strides: [usize; 4],
    /// Dilation of each stage.
    pub dilations: [usize; 4],
}

impl Default for TinyConfig {
    /// Widths 16/32/64/96 at output stride 8 (stage 4 dilated by 2).
    fn default() -> Self {
        TinyConfig {
            widths: [16, 32, 64, 96],
            strides: [1, 2, 2, 1],
            dilations: [1, 1, 1, 2],
        }
    }
}

impl TinyConfig {
    /// The default widths at output stride 8 or 16.
    pub fn with_output_stride(os: usize) -> Result<TinyConfig> {
        let (strides, dilations) = match os {
            8 => ([1, 2, 2, 1], [1, 1, 1, 2]),
            16 => ([1, 2, 2, 2], [1, 1, 1, 1]),
            o => {
                return Err(Error::invalid(
                    "resnet-tiny",
                    format!("output stride {o} is not supported (8 or 16)"),
                ));
            }
        };
        Ok(TinyConfig {
            strides,
            dilations,
            ..TinyConfig::default()
        })
    }
}

/// A basic residual block: two 3×3 convolutions with BN, 1×1 shortcut when
/// the shape changes (torchvision's names: conv1, bn1, conv2, bn2, downsample).
pub struct BasicBlock {
    conv1: Conv2d,
    bn1: BatchNorm2d,
    conv2: Conv2d,
    bn2: BatchNorm2d,
    downsample: Option<(Conv2d, BatchNorm2d)>,
}

impl BasicBlock {
    fn new(b: &mut Builder, cin: usize, cout: usize, stride: usize, d: usize) -> Result<Self> {
        Ok(BasicBlock {
            conv1: Conv2d::new(b, cin, cout, 3, ConvOpts::new(stride, d, d, 1), false)?,
            bn1: BatchNorm2d::new(b, cout)?,
            conv2: Conv2d::new(b, cout, cout, 3, ConvOpts::new(1, d, d, 1), false)?,
            bn2: BatchNorm2d::new(b, cout)?,
            downsample: if stride != 1 || cin != cout {
                Some((
                    Conv2d::new(b, cin, cout, 1, ConvOpts::new(stride, 0, 1, 1), false)?,
                    BatchNorm2d::new(b, cout)?,
                ))
            } else {
                None
            },
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let y = self.bn1.forward(&self.conv1.forward(x)?)?.relu()?;
        let y = self.bn2.forward(&self.conv2.forward(&y)?)?;
        let skip = match &self.downsample {
            Some((c, bn)) => bn.forward(&c.forward(x)?)?,
            None => x.clone(),
        };
        y.add(&skip)?.relu()
    }
}

impl Module for BasicBlock {
    fn visit(&self, prefix: &str, v: &mut dyn Visitor) {
        self.conv1.visit(&child(prefix, "conv1"), v);
        self.bn1.visit(&child(prefix, "bn1"), v);
        self.conv2.visit(&child(prefix, "conv2"), v);
        self.bn2.visit(&child(prefix, "bn2"), v);
        if let Some((c, bn)) = &self.downsample {
            c.visit(&child(prefix, "downsample.0"), v);
            bn.visit(&child(prefix, "downsample.1"), v);
        }
    }
}

/// The resnet-tiny backbone.
pub struct ResNetTiny {
    conv1: Conv2d,
    bn1: BatchNorm2d,
    layers: Vec<BasicBlock>,
    cfg: TinyConfig,
}

impl ResNetTiny {
    /// Builds the network.
    pub fn new(b: &mut Builder, cfg: &TinyConfig) -> Result<ResNetTiny> {
        let w = cfg.widths;
        let mut layers = Vec::new();
        let mut cin = w[0];
        #[allow(clippy::needless_range_loop)] // s indexes several per-stage arrays
        for s in 0..4 {
            layers.push(BasicBlock::new(
                b,
                cin,
                w[s],
                cfg.strides[s],
                cfg.dilations[s],
            )?);
            cin = w[s];
        }
        Ok(ResNetTiny {
            conv1: Conv2d::new(b, 3, w[0], 3, ConvOpts::new(2, 1, 1, 1), false)?,
            bn1: BatchNorm2d::new(b, w[0])?,
            layers,
            cfg: cfg.clone(),
        })
    }

    /// Multiply-adds ×2 of the convolutions for one h×w image.
    pub fn flops(&self, h: usize, w: usize) -> f64 {
        let conv = |hw: (usize, usize), cin: usize, cout: usize, k: usize| {
            2.0 * (hw.0 * hw.1 * cin * cout * k * k) as f64
        };
        let down = |v: usize, s: usize| v.div_ceil(s);
        let mut hw = (down(h, 2), down(w, 2));
        let widths = self.cfg.widths;
        let mut total = conv(hw, 3, widths[0], 3);
        let mut cin = widths[0];
        #[allow(clippy::needless_range_loop)] // s indexes several per-stage arrays
        for s in 0..4 {
            let st = self.cfg.strides[s];
            hw = (down(hw.0, st), down(hw.1, st));
            let c = widths[s];
            total += conv(hw, cin, c, 3) + conv(hw, c, c, 3);
            if st != 1 || cin != c {
                total += conv(hw, cin, c, 1);
            }
            cin = c;
        }
        total
    }
}

impl Backbone for ResNetTiny {
    fn features(&self, x: &Tensor) -> Result<Tensor> {
        self.taps(x)?
            .pop()
            .ok_or_else(|| Error::invalid("resnet-tiny", "no stages"))
    }

    /// The outputs of the four stages (strides 2, 4, 8 and 8 at the
    /// default output stride).
    fn taps(&self, x: &Tensor) -> Result<Vec<Tensor>> {
        Ok(self.stem_and_taps(x)?.split_off(1))
    }

    fn tap_channels(&self) -> Vec<usize> {
        self.cfg.widths.to_vec()
    }

    /// conv1, bn1, ReLU: the first width.
    fn stem_channels(&self) -> Option<usize> {
        Some(self.cfg.widths[0])
    }

    fn stem_and_taps(&self, x: &Tensor) -> Result<Vec<Tensor>> {
        let mut y = self.bn1.forward(&self.conv1.forward(x)?)?.relu()?;
        let mut out = Vec::with_capacity(self.layers.len() + 1);
        out.push(y.clone());
        for l in &self.layers {
            y = l.forward(&y)?;
            out.push(y.clone());
        }
        Ok(out)
    }

    /// The input and the outputs of stages 1–3 (editing the last stage's
    /// output would leave nothing to learn from the edit before the head).
    fn edit_points(&self) -> usize {
        self.layers.len()
    }

    fn features_with(
        &self,
        x: &Tensor,
        at: usize,
        edit: &mut dyn FnMut(&Tensor) -> Result<Tensor>,
    ) -> Result<Tensor> {
        if at >= self.edit_points() {
            return Err(Error::invalid(
                "resnet-tiny",
                format!("edit point {at} of {}", self.edit_points()),
            ));
        }
        let x = if at == 0 { edit(x)? } else { x.clone() };
        let mut y = self.bn1.forward(&self.conv1.forward(&x)?)?.relu()?;
        for (i, l) in self.layers.iter().enumerate() {
            y = l.forward(&y)?;
            if i + 1 == at {
                y = edit(&y)?;
            }
        }
        Ok(y)
    }

    fn out_channels(&self) -> usize {
        self.cfg.widths[3]
    }

    fn output_stride(&self) -> usize {
        2 * self.cfg.strides.iter().product::<usize>()
    }
}

impl Module for ResNetTiny {
    fn visit(&self, prefix: &str, v: &mut dyn Visitor) {
        self.conv1.visit(&child(prefix, "conv1"), v);
        self.bn1.visit(&child(prefix, "bn1"), v);
        for (i, l) in self.layers.iter().enumerate() {
            l.visit(&child(prefix, &format!("layer{}", i + 1)), v);
        }
    }
}
