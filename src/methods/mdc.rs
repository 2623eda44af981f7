//! Multi-dilated convolution (MDC, Wei et al. CVPR18): parallel 3×3
//! blocks of dilation 1, 3, 6 and 9 on the backbone's features, each with
//! its own classifier; the CAM is the undilated map plus the mean of the
//! dilated ones, so the wider receptive fields spread the map over the
//! object while averaging damps their false positives.

use serde::{Deserialize, Serialize};
use weakseg_kernels::{Error, Result};

use crate::cam;
use crate::data::Batch;
use crate::models::CamNet;
use crate::models::heads::CamHead;
use crate::nn::module::child;
use crate::nn::{Builder, Conv2d, Module, Visitor};
use crate::ops::conv::ConvOpts;
use crate::tensor::Tensor;

use super::{Build, CamMethod, Extension, TrainContext, invalid};

/// MDC's settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MdcSettings {
    /// Dilations of the parallel blocks; the first is the undilated one.
    pub dilations: Vec<usize>,
}

impl Default for MdcSettings {
    /// Dilations 1, 3, 6, 9.
    fn default() -> Self {
        MdcSettings {
            dilations: vec![1, 3, 6, 9],
        }
    }
}

impl CamMethod for MdcSettings {
    fn validate(&self) -> Result<()> {
        if self.dilations.len() < 2 || self.dilations.contains(&0) {
            return Err(invalid(
                "mdc",
                "needs the undilated branch and at least one dilation, all positive",
            ));
        }
        Ok(())
    }

    fn build(&self, net: Build) -> Result<Box<dyn Extension>> {
        let c = net.base.backbone.out_channels();
        Ok(Box::new(Mdc(MdcHead::new(
            net.builder,
            c,
            net.classes,
            &self.dilations,
        )?)))
    }
}

/// MDC's blocks (`mdc.*`).
pub struct Mdc(pub MdcHead);

impl Module for Mdc {
    fn visit(&self, prefix: &str, v: &mut dyn Visitor) {
        self.0.visit(&child(prefix, "mdc"), v);
    }
}

impl Extension for Mdc {
    /// The mean of the blocks' classification losses.
    fn loss(&self, base: &CamNet, batch: &Batch, _: &mut TrainContext) -> Result<Tensor> {
        let f = base.precision.features(&base.backbone, &batch.images)?;
        let blocks = self.0.blocks(&f)?;
        let mut total: Option<Tensor> = None;
        for (i, g) in blocks.iter().enumerate() {
            let l = self
                .0
                .classifier(&base.head, i)
                .logits(g)?
                .bce_with_logits(&batch.labels)?;
            total = Some(match total {
                None => l,
                Some(t) => t.add(&l)?,
            });
        }
        total
            .ok_or_else(|| Error::invalid("mdc", "no blocks"))?
            .mul_scalar(1.0 / blocks.len() as f32)
    }

    /// The undilated block's map plus the mean of the dilated ones.
    fn cam_maps(&self, base: &CamNet, x: &Tensor, present: &[bool]) -> Result<Tensor> {
        let f = base.precision.features(&base.backbone, x)?;
        let blocks = self.0.blocks(&f)?;
        let mut dilated: Option<Tensor> = None;
        for (i, g) in blocks.iter().enumerate().skip(1) {
            let m = cam::maps(
                g,
                &self.0.classifier(&base.head, i).classifier.weight.get(),
                present,
            )?;
            dilated = Some(match dilated {
                None => m,
                Some(d) => d.add(&m)?,
            });
        }
        let undilated = cam::maps(&blocks[0], &base.head.classifier.weight.get(), present)?;
        match dilated {
            Some(d) => undilated.add(&d.mul_scalar(1.0 / (blocks.len() - 1) as f32)?),
            None => Ok(undilated),
        }
    }
}

/// The parallel blocks: block i is a 3×3 convolution of dilation d_i
/// (channels kept, bias, ReLU) read by its own classifier. Block 0's
/// classifier is the network's ordinary CAM head, kept outside (so the
/// names `head.classifier.*` mean the same in every method); the dilated
/// blocks' classifiers live here. Names: `conv{i}.*`, `classifier{i}.*`.
pub struct MdcHead {
    convs: Vec<Conv2d>,
    classifiers: Vec<CamHead>,
}

impl MdcHead {
    /// Blocks of `dilations` on `channels` features for `classes` classes.
    pub fn new(
        b: &mut Builder,
        channels: usize,
        classes: usize,
        dilations: &[usize],
    ) -> Result<MdcHead> {
        if dilations.is_empty() || dilations.contains(&0) {
            return Err(Error::invalid(
                "mdc",
                format!("dilations {dilations:?} must be positive and at least one"),
            ));
        }
        let convs = dilations
            .iter()
            .map(|&d| Conv2d::new(b, channels, channels, 3, ConvOpts::new(1, d, d, 1), true))
            .collect::<Result<Vec<_>>>()?;
        let classifiers = dilations[1..]
            .iter()
            .map(|_| CamHead::new(b, channels, classes))
            .collect::<Result<Vec<_>>>()?;
        Ok(MdcHead { convs, classifiers })
    }

    /// Each block's output (ReLU'd), undilated first.
    pub fn blocks(&self, features: &Tensor) -> Result<Vec<Tensor>> {
        self.convs
            .iter()
            .map(|c| c.forward(features)?.relu())
            .collect()
    }

    /// The classifier of block `i` (block 0 reads `base`, the CAM head).
    pub fn classifier<'a>(&'a self, base: &'a CamHead, i: usize) -> &'a CamHead {
        if i == 0 {
            base
        } else {
            &self.classifiers[i - 1]
        }
    }
}

impl Module for MdcHead {
    fn visit(&self, prefix: &str, v: &mut dyn Visitor) {
        for (i, c) in self.convs.iter().enumerate() {
            c.visit(&child(prefix, &format!("conv{i}")), v);
        }
        for (i, c) in self.classifiers.iter().enumerate() {
            c.visit(&child(prefix, &format!("classifier{}", i + 1)), v);
        }
    }
}
