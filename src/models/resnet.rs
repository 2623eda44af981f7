//! ResNet-50/101 with torchvision's parameter names (`conv1`, `bn1`,
//! `layer1.0.conv1`, `layer1.0.downsample.0`, `fc`), so a torchvision
//! state_dict saved as safetensors loads without renaming. Per-stage strides
//! and dilations are explicit; [`ResNetConfig::output_stride`] gives
//! torchvision's `replace_stride_with_dilation` settings for 32, 16 or 8.

use weakseg_kernels::{Error, Result};

use crate::models::{Backbone, Precision};
use crate::nn::module::child;
use crate::nn::{BatchNorm2d, Builder, Conv2d, Linear, Module, Visitor};
use crate::ops::conv::ConvOpts;
use crate::tensor::Tensor;

/// Depth, per-stage strides and dilations, and the optional ImageNet head.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResNetConfig {
    /// Bottleneck blocks per stage: [3, 4, 6, 3] (50) or [3, 4, 23, 3] (101).
    pub blocks: [usize; 4],
    /// Stride of each stage's first block (stage 1 is normally 1).
    pub strides: [usize; 4],
    /// Dilation of each stage's 3×3 convolutions.
    pub dilations: [usize; 4],
    /// Classes of the `fc` head, if any (1000 for ImageNet).
    pub num_classes: Option<usize>,
}

impl ResNetConfig {
    /// ResNet-50 or ResNet-101 at output stride 32, 16 or 8, without `fc`.
    pub fn new(depth: usize, output_stride: usize) -> Result<ResNetConfig> {
        let blocks = match depth {
            50 => [3, 4, 6, 3],
            101 => [3, 4, 23, 3],
            d => {
                return Err(Error::invalid(
                    "ResNet",
                    format!("depth {d} is not supported (50 or 101)"),
                ));
            }
        };
        let (strides, dilations) = Self::output_stride(output_stride)?;
        Ok(ResNetConfig {
            blocks,
            strides,
            dilations,
            num_classes: None,
        })
    }

    /// Stage strides and dilations for an output stride of 32, 16 or 8.
    pub fn output_stride(os: usize) -> Result<([usize; 4], [usize; 4])> {
        match os {
            32 => Ok(([1, 2, 2, 2], [1, 1, 1, 1])),
            16 => Ok(([1, 2, 2, 1], [1, 1, 1, 2])),
            8 => Ok(([1, 2, 1, 1], [1, 1, 2, 4])),
            o => Err(Error::invalid(
                "ResNet",
                format!("output stride {o} is not supported (32, 16 or 8)"),
            )),
        }
    }

    /// With the ImageNet `fc` head of `n` classes.
    pub fn with_classes(mut self, n: usize) -> ResNetConfig {
        self.num_classes = Some(n);
        self
    }
}

/// torchvision's Bottleneck (stride on the 3×3 convolution, ResNet v1.5).
pub struct Bottleneck {
    conv1: Conv2d,
    bn1: BatchNorm2d,
    conv2: Conv2d,
    bn2: BatchNorm2d,
    conv3: Conv2d,
    bn3: BatchNorm2d,
    downsample: Option<(Conv2d, BatchNorm2d)>,
}

impl Bottleneck {
    fn new(
        b: &mut Builder,
        cin: usize,
        planes: usize,
        stride: usize,
        dilation: usize,
    ) -> Result<Bottleneck> {
        let cout = planes * 4;
        let downsample = if stride != 1 || cin != cout {
            Some((
                Conv2d::new(b, cin, cout, 1, ConvOpts::new(stride, 0, 1, 1), false)?,
                BatchNorm2d::new(b, cout)?,
            ))
        } else {
            None
        };
        Ok(Bottleneck {
            conv1: Conv2d::new(b, cin, planes, 1, ConvOpts::default(), false)?,
            bn1: BatchNorm2d::new(b, planes)?,
            conv2: Conv2d::new(
                b,
                planes,
                planes,
                3,
                ConvOpts::new(stride, dilation, dilation, 1),
                false,
            )?,
            bn2: BatchNorm2d::new(b, planes)?,
            conv3: Conv2d::new(b, planes, cout, 1, ConvOpts::default(), false)?,
            bn3: BatchNorm2d::new(b, cout)?,
            downsample,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let y = self.bn1.forward(&self.conv1.forward(x)?)?.relu()?;
        let y = self.bn2.forward(&self.conv2.forward(&y)?)?.relu()?;
        let y = self.bn3.forward(&self.conv3.forward(&y)?)?;
        let skip = match &self.downsample {
            Some((c, bn)) => bn.forward(&c.forward(x)?)?,
            None => x.clone(),
        };
        y.add(&skip)?.relu()
    }
}

impl Module for Bottleneck {
    fn visit(&self, prefix: &str, v: &mut dyn Visitor) {
        self.conv1.visit(&child(prefix, "conv1"), v);
        self.bn1.visit(&child(prefix, "bn1"), v);
        self.conv2.visit(&child(prefix, "conv2"), v);
        self.bn2.visit(&child(prefix, "bn2"), v);
        self.conv3.visit(&child(prefix, "conv3"), v);
        self.bn3.visit(&child(prefix, "bn3"), v);
        if let Some((c, bn)) = &self.downsample {
            c.visit(&child(prefix, "downsample.0"), v);
            bn.visit(&child(prefix, "downsample.1"), v);
        }
    }
}

/// ResNet-50/101.
pub struct ResNet {
    conv1: Conv2d,
    bn1: BatchNorm2d,
    layers: [Vec<Bottleneck>; 4],
    fc: Option<Linear>,
    stride: usize,
}

impl ResNet {
    /// Builds the network (Kaiming-normal weights, BN γ = 1).
    pub fn new(b: &mut Builder, cfg: &ResNetConfig) -> Result<ResNet> {
        let conv1 = Conv2d::new(b, 3, 64, 7, ConvOpts::new(2, 3, 1, 1), false)?;
        let bn1 = BatchNorm2d::new(b, 64)?;
        let mut cin = 64;
        let mut prev_dilation = 1;
        let mut layers: [Vec<Bottleneck>; 4] = Default::default();
        #[allow(clippy::needless_range_loop)] // s indexes several per-stage arrays
        for s in 0..4 {
            let planes = 64 << s;
            for i in 0..cfg.blocks[s] {
                let (stride, dilation) = if i == 0 {
                    (cfg.strides[s], prev_dilation)
                } else {
                    (1, cfg.dilations[s])
                };
                layers[s].push(Bottleneck::new(b, cin, planes, stride, dilation)?);
                cin = planes * 4;
            }
            prev_dilation = cfg.dilations[s];
        }
        let fc = match cfg.num_classes {
            Some(n) => Some(Linear::new(b, 2048, n, true)?),
            None => None,
        };
        Ok(ResNet {
            conv1,
            bn1,
            layers,
            fc,
            stride: 4 * cfg.strides.iter().product::<usize>(),
        })
    }

    /// The outputs of layer1 … layer4 (strides 4, 8, then as configured).
    pub fn stages(&self, x: &Tensor) -> Result<Vec<Tensor>> {
        Ok(self.stem_and_stages(x)?.split_off(1))
    }

    /// The stem's output (conv1, bn1, ReLU, max-pool: 64 channels at
    /// stride 4) followed by the four stages' outputs.
    pub fn stem_and_stages(&self, x: &Tensor) -> Result<Vec<Tensor>> {
        let mut y = self
            .bn1
            .forward(&self.conv1.forward(x)?)?
            .relu()?
            .max_pool2d(3, 2, 1)?;
        let mut out = Vec::with_capacity(5);
        out.push(y.clone());
        for layer in &self.layers {
            for block in layer {
                y = block.forward(&y)?;
            }
            out.push(y.clone());
        }
        Ok(out)
    }

    /// ImageNet logits: global average pool, then `fc`.
    pub fn classify(&self, x: &Tensor) -> Result<Tensor> {
        self.classify_at(x, Precision::F32)
    }

    /// [`ResNet::classify`] with the trunk at `precision` (the fc layer runs in f32).
    pub fn classify_at(&self, x: &Tensor, precision: Precision) -> Result<Tensor> {
        let fc = self
            .fc
            .as_ref()
            .ok_or_else(|| Error::invalid("ResNet::classify", "built without an fc head"))?;
        fc.forward(&precision.features(self, x)?.global_avg_pool()?)
    }
}

impl Backbone for ResNet {
    fn features(&self, x: &Tensor) -> Result<Tensor> {
        let mut s = self.stages(x)?;
        s.pop().ok_or_else(|| Error::invalid("ResNet", "no stages"))
    }

    fn out_channels(&self) -> usize {
        2048
    }

    fn output_stride(&self) -> usize {
        self.stride
    }

    fn taps(&self, x: &Tensor) -> Result<Vec<Tensor>> {
        self.stages(x)
    }

    fn tap_channels(&self) -> Vec<usize> {
        vec![256, 512, 1024, 2048]
    }

    fn stem_channels(&self) -> Option<usize> {
        Some(64)
    }

    fn stem_and_taps(&self, x: &Tensor) -> Result<Vec<Tensor>> {
        self.stem_and_stages(x)
    }
}

impl Module for ResNet {
    fn visit(&self, prefix: &str, v: &mut dyn Visitor) {
        self.conv1.visit(&child(prefix, "conv1"), v);
        self.bn1.visit(&child(prefix, "bn1"), v);
        for (i, l) in self.layers.iter().enumerate() {
            l.visit(&child(prefix, &format!("layer{}", i + 1)), v);
        }
        self.fc.visit(&child(prefix, "fc"), v);
    }
}
