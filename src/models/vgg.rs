//! VGG-16 in DeepLab-LargeFOV form: 3×3/2 max pools (pool4 and pool5 at
//! stride 1), conv5 dilated by 2, then a 3×3/1 average pool, for output
//! stride 8. Layer names follow the Caffe prototxt (`conv1_1` … `conv5_3`);
//! fc6/fc7/fc8 form the [`LargeFovHead`](crate::models::heads::LargeFovHead).

use weakseg_kernels::Result;

use crate::models::Backbone;
use crate::nn::module::child;
use crate::nn::{Builder, Conv2d, Module, Visitor};
use crate::ops::conv::ConvOpts;
use crate::tensor::Tensor;

/// The VGG-16 trunk of DeepLab-LargeFOV (512 channels out, stride 8).
pub struct Vgg16 {
    convs: Vec<(String, Conv2d)>,
}

const STAGES: [(usize, usize); 5] = [(2, 64), (2, 128), (3, 256), (3, 512), (3, 512)];

impl Vgg16 {
    /// Builds the trunk (convolutions with bias, Kaiming-normal weights).
    pub fn new(b: &mut Builder) -> Result<Vgg16> {
        let mut convs = Vec::new();
        let mut cin = 3;
        for (s, &(n, c)) in STAGES.iter().enumerate() {
            let d = if s == 4 { 2 } else { 1 };
            for i in 0..n {
                let conv = Conv2d::new(b, cin, c, 3, ConvOpts::new(1, d, d, 1), true)?;
                convs.push((format!("conv{}_{}", s + 1, i + 1), conv));
                cin = c;
            }
        }
        Ok(Vgg16 { convs })
    }
}

impl Backbone for Vgg16 {
    fn features(&self, x: &Tensor) -> Result<Tensor> {
        let mut y = x.clone();
        let mut it = self.convs.iter();
        for (s, &(n, _)) in STAGES.iter().enumerate() {
            for (_, conv) in it.by_ref().take(n) {
                y = conv.forward(&y)?.relu()?;
            }
            y = y.max_pool2d(3, if s < 3 { 2 } else { 1 }, 1)?;
        }
        y.avg_pool2d(3, 1, 1)
    }

    fn out_channels(&self) -> usize {
        512
    }

    fn output_stride(&self) -> usize {
        8
    }
}

impl Module for Vgg16 {
    fn visit(&self, prefix: &str, v: &mut dyn Visitor) {
        for (name, conv) in &self.convs {
            conv.visit(&child(prefix, name), v);
        }
    }
}
