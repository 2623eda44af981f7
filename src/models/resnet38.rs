//! ResNet-38: the wide pre-activation ResNet ("A1", Wu et al.) that psa,
//! SEAM and SC-CAM train, with psa's parameter names (`conv1a`, `b2`,
//! `b2_1`, …, `b7`, `bn7`, and inside blocks `bn_branch2a`,
//! `conv_branch2a`, `bn_branch2b1`, `conv_branch2b1`, `conv_branch1`).
//! Output stride 8 (psa's) or 16; the named taps conv4, conv5 and conv6.

use weakseg_kernels::{Error, Result};

use crate::models::Backbone;
use crate::nn::module::child;
use crate::nn::{BatchNorm2d, Builder, Conv2d, Dropout, Module, Visitor};
use crate::ops::conv::ConvOpts;
use crate::tensor::Tensor;

/// A pre-activation block: two 3×3 convolutions (psa's `ResBlock`) or a
/// 1×1–3×3–1×1 bottleneck with dropout (`ResBlock_bot`, b6 and b7).
pub struct PreActBlock {
    bn_branch2a: BatchNorm2d,
    conv_branch2a: Conv2d,
    bn_branch2b1: BatchNorm2d,
    conv_branch2b1: Conv2d,
    bottleneck: Option<(Dropout, BatchNorm2d, Dropout, Conv2d)>,
    conv_branch1: Option<Conv2d>,
}

/// The 1×1 projection shortcut, when the block changes shape.
fn shortcut(b: &mut Builder, cin: usize, cout: usize, stride: usize) -> Result<Option<Conv2d>> {
    if cin == cout && stride == 1 {
        return Ok(None);
    }
    Conv2d::new(b, cin, cout, 1, ConvOpts::new(stride, 0, 1, 1), false).map(Some)
}

impl PreActBlock {
    /// psa's ResBlock(in, mid, out, stride, first_dilation, dilation).
    fn basic(
        b: &mut Builder,
        cin: usize,
        mid: usize,
        cout: usize,
        stride: usize,
        first_dilation: usize,
        dilation: usize,
    ) -> Result<PreActBlock> {
        Ok(PreActBlock {
            bn_branch2a: BatchNorm2d::new(b, cin)?,
            conv_branch2a: Conv2d::new(
                b,
                cin,
                mid,
                3,
                ConvOpts::new(stride, first_dilation, first_dilation, 1),
                false,
            )?,
            bn_branch2b1: BatchNorm2d::new(b, mid)?,
            conv_branch2b1: Conv2d::new(
                b,
                mid,
                cout,
                3,
                ConvOpts::new(1, dilation, dilation, 1),
                false,
            )?,
            bottleneck: None,
            conv_branch1: shortcut(b, cin, cout, stride)?,
        })
    }

    /// psa's ResBlock_bot(in, out, stride, dilation, dropout).
    fn bottleneck(
        b: &mut Builder,
        cin: usize,
        cout: usize,
        stride: usize,
        dilation: usize,
        dropout: f32,
    ) -> Result<PreActBlock> {
        Ok(PreActBlock {
            bn_branch2a: BatchNorm2d::new(b, cin)?,
            conv_branch2a: Conv2d::new(b, cin, cout / 4, 1, ConvOpts::new(stride, 0, 1, 1), false)?,
            bn_branch2b1: BatchNorm2d::new(b, cout / 4)?,
            conv_branch2b1: Conv2d::new(
                b,
                cout / 4,
                cout / 2,
                3,
                ConvOpts::new(1, dilation, dilation, 1),
                false,
            )?,
            bottleneck: Some((
                Dropout::new_2d(b, dropout),
                BatchNorm2d::new(b, cout / 2)?,
                Dropout::new_2d(b, dropout),
                Conv2d::new(b, cout / 2, cout, 1, ConvOpts::default(), false)?,
            )),
            conv_branch1: shortcut(b, cin, cout, stride)?,
        })
    }

    /// Returns the block output and its BN-ReLU'd input (the tap psa reads).
    fn forward(&self, x: &Tensor) -> Result<(Tensor, Tensor)> {
        let bn_relu = self.bn_branch2a.forward(x)?.relu()?;
        let skip = match &self.conv_branch1 {
            Some(c) => c.forward(&bn_relu)?,
            None => x.clone(),
        };
        let mut y = self.conv_branch2a.forward(&bn_relu)?;
        y = self.bn_branch2b1.forward(&y)?.relu()?;
        match &self.bottleneck {
            None => y = self.conv_branch2b1.forward(&y)?,
            Some((drop1, bn2, drop2, conv3)) => {
                y = self.conv_branch2b1.forward(&drop1.forward(&y)?)?;
                y = bn2.forward(&y)?.relu()?;
                y = conv3.forward(&drop2.forward(&y)?)?;
            }
        }
        Ok((y.add(&skip)?, bn_relu))
    }
}

impl Module for PreActBlock {
    fn visit(&self, prefix: &str, v: &mut dyn Visitor) {
        self.bn_branch2a.visit(&child(prefix, "bn_branch2a"), v);
        self.conv_branch2a.visit(&child(prefix, "conv_branch2a"), v);
        self.bn_branch2b1.visit(&child(prefix, "bn_branch2b1"), v);
        self.conv_branch2b1
            .visit(&child(prefix, "conv_branch2b1"), v);
        if let Some((d1, bn2, d2, c3)) = &self.bottleneck {
            d1.visit(&child(prefix, "dropout_2b1"), v);
            bn2.visit(&child(prefix, "bn_branch2b2"), v);
            d2.visit(&child(prefix, "dropout_2b2"), v);
            c3.visit(&child(prefix, "conv_branch2b2"), v);
        }
        if let Some(c) = &self.conv_branch1 {
            c.visit(&child(prefix, "conv_branch1"), v);
        }
    }
}

/// The three feature taps psa and SEAM read.
pub struct Taps {
    /// BN-ReLU input of b5 (512 channels).
    pub conv4: Tensor,
    /// BN-ReLU input of b6 (1024 channels).
    pub conv5: Tensor,
    /// Final BN-ReLU output (4096 channels).
    pub conv6: Tensor,
}

/// ResNet-38 (124 M parameters at full width).
pub struct ResNet38 {
    conv1a: Conv2d,
    blocks: Vec<(String, PreActBlock)>,
    bn7: BatchNorm2d,
    stride: usize,
}

impl ResNet38 {
    /// Block 5's stride and the dilations of blocks 5 and 6 at output
    /// stride 8 (psa) or 16; any other is an error.
    pub fn dilations(output_stride: usize) -> Result<(usize, usize, usize)> {
        match output_stride {
            8 => Ok((1, 2, 4)),
            16 => Ok((2, 1, 2)),
            o => Err(Error::invalid(
                "ResNet38",
                format!("output stride {o} is not supported (8 or 16)"),
            )),
        }
    }

    /// Builds the network at output stride 8 (psa) or 16.
    pub fn new(b: &mut Builder, output_stride: usize) -> Result<ResNet38> {
        let (s5, d5, d6) = Self::dilations(output_stride)?;
        let mut blocks = Vec::new();
        let mut add = |name: &str, blk: PreActBlock| blocks.push((name.to_string(), blk));
        add("b2", PreActBlock::basic(b, 64, 128, 128, 2, 1, 1)?);
        add("b2_1", PreActBlock::basic(b, 128, 128, 128, 1, 1, 1)?);
        add("b2_2", PreActBlock::basic(b, 128, 128, 128, 1, 1, 1)?);
        add("b3", PreActBlock::basic(b, 128, 256, 256, 2, 1, 1)?);
        add("b3_1", PreActBlock::basic(b, 256, 256, 256, 1, 1, 1)?);
        add("b3_2", PreActBlock::basic(b, 256, 256, 256, 1, 1, 1)?);
        add("b4", PreActBlock::basic(b, 256, 512, 512, 2, 1, 1)?);
        for i in 1..6 {
            add(
                &format!("b4_{i}"),
                PreActBlock::basic(b, 512, 512, 512, 1, 1, 1)?,
            );
        }
        add("b5", PreActBlock::basic(b, 512, 512, 1024, s5, 1, d5)?);
        add("b5_1", PreActBlock::basic(b, 1024, 512, 1024, 1, d5, d5)?);
        add("b5_2", PreActBlock::basic(b, 1024, 512, 1024, 1, d5, d5)?);
        add("b6", PreActBlock::bottleneck(b, 1024, 2048, 1, d6, 0.3)?);
        add("b7", PreActBlock::bottleneck(b, 2048, 4096, 1, d6, 0.5)?);
        Ok(ResNet38 {
            conv1a: Conv2d::new(b, 3, 64, 3, ConvOpts::new(1, 1, 1, 1), false)?,
            blocks,
            bn7: BatchNorm2d::new(b, 4096)?,
            stride: output_stride,
        })
    }

    /// conv4, conv5 and conv6 for NCHW `x`.
    pub fn taps(&self, x: &Tensor) -> Result<Taps> {
        let mut y = self.conv1a.forward(x)?;
        let (mut conv4, mut conv5) = (None, None);
        for (name, blk) in &self.blocks {
            let (out, bn_relu) = blk.forward(&y)?;
            match name.as_str() {
                "b5" => conv4 = Some(bn_relu),
                "b6" => conv5 = Some(bn_relu),
                _ => {}
            }
            y = out;
        }
        let missing = || Error::invalid("ResNet38", "missing b5/b6 taps");
        Ok(Taps {
            conv4: conv4.ok_or_else(missing)?,
            conv5: conv5.ok_or_else(missing)?,
            conv6: self.bn7.forward(&y)?.relu()?,
        })
    }
}

impl Backbone for ResNet38 {
    fn features(&self, x: &Tensor) -> Result<Tensor> {
        Ok(self.taps(x)?.conv6)
    }

    fn out_channels(&self) -> usize {
        4096
    }

    fn output_stride(&self) -> usize {
        self.stride
    }

    /// psa's three: conv4, conv5, conv6.
    fn taps(&self, x: &Tensor) -> Result<Vec<Tensor>> {
        let t = ResNet38::taps(self, x)?;
        Ok(vec![t.conv4, t.conv5, t.conv6])
    }

    fn tap_channels(&self) -> Vec<usize> {
        vec![512, 1024, 4096]
    }
}

impl Module for ResNet38 {
    fn visit(&self, prefix: &str, v: &mut dyn Visitor) {
        self.conv1a.visit(&child(prefix, "conv1a"), v);
        for (name, blk) in &self.blocks {
            blk.visit(&child(prefix, name), v);
        }
        self.bn7.visit(&child(prefix, "bn7"), v);
    }
}
