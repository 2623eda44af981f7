//! SPML's second stage for tags and boxes: the CAM propagated by a random
//! walk over the learned embedding. Pixel affinities are
//! exp(τ (cos − 1)) between every pair of embedding pixels (τ 5), averaged
//! over the image and its mirror, raised to β (20), column-normalised into
//! a transition T, and T^(2^log_t) formed by squaring (6 times: 64 steps);
//! the scores v (background (1 − max)^α, α 6, then the CAMs) become v T.
//! Dense, so meant for embedding grids of a few thousand pixels.

use serde::{Deserialize, Serialize};
use weakseg_kernels::{Error, Result};

use crate::tensor::{Tensor, no_grad};

/// Settings of the walk.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmbeddingWalk {
    /// Temperature τ of the affinity exp(τ (cos − 1)).
    pub temperature: f32,
    /// Power β of the affinities.
    pub beta: f32,
    /// log₂ of the steps (squarings of T).
    pub log_t: u32,
    /// Background power α of the walked scores.
    pub alpha: f32,
}

impl Default for EmbeddingWalk {
    /// SPML's `pseudo_camrw_crf`: τ 5, β 20, 6 squarings, α 6.
    fn default() -> Self {
        EmbeddingWalk {
            temperature: 5.0,
            beta: 20.0,
            log_t: 6,
            alpha: 6.0,
        }
    }
}

impl EmbeddingWalk {
    /// The transition T [n, n] from views of the same pixels' unit
    /// embeddings (each [n, D]; the image and its mirror flipped back).
    pub fn transition(&self, views: &[Tensor]) -> Result<Tensor> {
        let op = "embedding walk";
        if !(self.temperature > 0.0 && self.beta > 0.0) || self.log_t > 16 {
            return Err(Error::invalid(op, format!("settings {self:?}")));
        }
        let Some(first) = views.first() else {
            return Err(Error::invalid(op, "no embedding view"));
        };
        if views
            .iter()
            .any(|v| v.shape() != first.shape() || v.rank() != 2)
        {
            return Err(Error::invalid(op, "views must share one [n, D] shape"));
        }
        no_grad(|| {
            let mut aff: Option<Tensor> = None;
            for v in views {
                let a = v
                    .matmul(&v.transpose(0, 1)?)?
                    .affine(self.temperature, -self.temperature)?
                    .exp()?;
                aff = Some(match aff {
                    Some(s) => s.add(&a)?,
                    None => a,
                });
            }
            let aff = aff
                .ok_or_else(|| Error::invalid(op, "no embedding view"))?
                .mul_scalar(1.0 / views.len() as f32)?
                .pow(self.beta)?;
            let mut t = aff.div(&aff.sum(&[0], true)?)?;
            for _ in 0..self.log_t {
                t = t.matmul(&t)?;
            }
            Ok(t)
        })
    }

    /// Walks `scores` [K, n] over `views` (see [`EmbeddingWalk::transition`]).
    pub fn propagate(&self, views: &[Tensor], scores: &Tensor) -> Result<Tensor> {
        let t = self.transition(views)?;
        if scores.rank() != 2 || scores.shape()[1] != t.shape()[0] {
            return Err(Error::invalid(
                "embedding walk",
                format!("scores {:?} for {} pixels", scores.shape(), t.shape()[0]),
            ));
        }
        no_grad(|| scores.matmul(&t))
    }
}
