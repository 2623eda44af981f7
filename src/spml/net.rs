//! SPML's embedding network: a dilated backbone, DeepLab-v2's ASPP (four
//! 3×3 convolutions at rates 6/12/18/24, summed, no normalisation) from the
//! features to a `dim`-wide embedding, then bilinear upsampling ×2, so the
//! embedding has stride 4 on a stride-8 backbone.

use weakseg_kernels::Result;

use crate::ResizeMode;
use crate::models::heads::AsppHead;
use crate::models::{ArchSpec, Backbone};
use crate::nn::module::child;
use crate::nn::{Builder, Module, Visitor};
use crate::tensor::Tensor;

/// Image → per-pixel embedding. Names: `backbone.*`, `head.*`.
pub struct EmbeddingNet {
    /// The feature extractor.
    pub backbone: Box<dyn Backbone>,
    head: AsppHead,
    dim: usize,
}

impl EmbeddingNet {
    /// A network of `arch` producing `dim` channels (SPML: 64).
    pub fn new(b: &mut Builder, arch: &ArchSpec, dim: usize) -> Result<EmbeddingNet> {
        let backbone = arch.build(b)?;
        let head = AsppHead::new(b, backbone.out_channels(), dim, &AsppHead::RATES)?;
        Ok(EmbeddingNet {
            backbone,
            head,
            dim,
        })
    }

    /// Embedding channels.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Unit-length embeddings [B, dim, 2h, 2w] of images `x` [B, 3, H, W]
    /// whose backbone features are h × w.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let f = self.backbone.features(x)?;
        let e = self.head.forward(&f)?;
        let (h, w) = (e.shape()[2], e.shape()[3]);
        e.interpolate((2 * h, 2 * w), ResizeMode::Bilinear(false))?
            .l2_normalize(1, 1e-12)
    }

    /// Whether a parameter name belongs to the head (a new layer).
    pub fn is_new(name: &str) -> bool {
        !name.starts_with("backbone.")
    }
}

impl Module for EmbeddingNet {
    fn visit(&self, prefix: &str, v: &mut dyn Visitor) {
        self.backbone.visit(&child(prefix, "backbone"), v);
        self.head.visit(&child(prefix, "head"), v);
    }
}
