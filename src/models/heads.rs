//! Heads: the CAM classifier and the DeepLab segmentation heads
//! (LargeFOV and ASPP).

use weakseg_kernels::Result;

use crate::nn::module::child;
use crate::nn::{Builder, Conv2d, Dropout, Init, Module, Visitor};
use crate::ops::conv::ConvOpts;
use crate::tensor::Tensor;

/// The CAM classifier: global average pooling, then a bias-free 1×1
/// convolution whose weights also turn the feature map into class
/// activation maps (Zhou et al.; psa's fc8, IRN's classifier).
pub struct CamHead {
    /// The 1×1 classifier, weight [K, C, 1, 1].
    pub classifier: Conv2d,
}

impl CamHead {
    /// A head from `channels` features to `classes` (Xavier-uniform, as psa).
    pub fn new(b: &mut Builder, channels: usize, classes: usize) -> Result<CamHead> {
        Ok(CamHead {
            classifier: Conv2d::with_init(
                b,
                channels,
                classes,
                1,
                ConvOpts::default(),
                false,
                Init::XavierUniform(1.0),
            )?,
        })
    }

    /// Image-level logits [N, K]: GAP, then the classifier.
    pub fn logits(&self, features: &Tensor) -> Result<Tensor> {
        let g = features.global_avg_pool()?;
        let (n, c) = (g.shape()[0], g.shape()[1]);
        let y = self.classifier.forward(&g.reshape(&[n, c, 1, 1])?)?;
        y.reshape(&[n, y.shape()[1]])
    }

    /// Raw class activation maps [N, K, h, w] (before ReLU and normalisation).
    pub fn cams(&self, features: &Tensor) -> Result<Tensor> {
        self.classifier.forward(features)
    }
}

impl Module for CamHead {
    fn visit(&self, prefix: &str, v: &mut dyn Visitor) {
        self.classifier.visit(&child(prefix, "classifier"), v);
    }
}

/// DeepLab-LargeFOV: fc6 (3×3, dilation 12, 1024) → ReLU → dropout → fc7
/// (1×1, 1024) → ReLU → dropout → fc8 (1×1, classes).
pub struct LargeFovHead {
    fc6: Conv2d,
    drop6: Dropout,
    fc7: Conv2d,
    drop7: Dropout,
    fc8: Conv2d,
}

impl LargeFovHead {
    /// A head from `channels` to `classes`; fc8 initialised N(0, 0.01²) as DeepLab.
    pub fn new(b: &mut Builder, channels: usize, classes: usize) -> Result<LargeFovHead> {
        Ok(LargeFovHead {
            fc6: Conv2d::new(b, channels, 1024, 3, ConvOpts::new(1, 12, 12, 1), true)?,
            drop6: Dropout::new(b, 0.5),
            fc7: Conv2d::new(b, 1024, 1024, 1, ConvOpts::default(), true)?,
            drop7: Dropout::new(b, 0.5),
            fc8: Conv2d::with_init(
                b,
                1024,
                classes,
                1,
                ConvOpts::default(),
                true,
                Init::Normal(0.01),
            )?,
        })
    }

    /// Per-pixel class scores at the feature resolution.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let y = self.drop6.forward(&self.fc6.forward(x)?.relu()?)?;
        let y = self.drop7.forward(&self.fc7.forward(&y)?.relu()?)?;
        self.fc8.forward(&y)
    }
}

impl Module for LargeFovHead {
    fn visit(&self, prefix: &str, v: &mut dyn Visitor) {
        self.fc6.visit(&child(prefix, "fc6"), v);
        self.drop6.visit(&child(prefix, "drop6"), v);
        self.fc7.visit(&child(prefix, "fc7"), v);
        self.drop7.visit(&child(prefix, "drop7"), v);
        self.fc8.visit(&child(prefix, "fc8"), v);
    }
}

/// DeepLab-v2 ASPP: parallel 3×3 convolutions at rates 6/12/18/24 straight
/// to class scores, summed (`conv2d_list.0` … `conv2d_list.3`).
pub struct AsppHead {
    branches: Vec<Conv2d>,
}

impl AsppHead {
    /// DeepLab-v2's rates.
    pub const RATES: [usize; 4] = [6, 12, 18, 24];

    /// A head from `channels` to `classes` at `rates`, weights N(0, 0.01²).
    pub fn new(
        b: &mut Builder,
        channels: usize,
        classes: usize,
        rates: &[usize],
    ) -> Result<AsppHead> {
        if rates.is_empty() {
            return Err(weakseg_kernels::Error::invalid(
                "AsppHead",
                "needs at least one rate",
            ));
        }
        let branches = rates
            .iter()
            .map(|&r| {
                Conv2d::with_init(
                    b,
                    channels,
                    classes,
                    3,
                    ConvOpts::new(1, r, r, 1),
                    true,
                    Init::Normal(0.01),
                )
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(AsppHead { branches })
    }

    /// The sum of the branches' class scores.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut y = self.branches[0].forward(x)?;
        for b in &self.branches[1..] {
            y = y.add(&b.forward(x)?)?;
        }
        Ok(y)
    }
}

impl Module for AsppHead {
    fn visit(&self, prefix: &str, v: &mut dyn Visitor) {
        self.branches.visit(&child(prefix, "conv2d_list"), v);
    }
}
