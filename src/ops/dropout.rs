//! Dropout and Dropout2d with explicit seeds, so runs are reproducible.

use weakseg_kernels::launch::random::bernoulli;
use weakseg_kernels::{Error, Result};

use crate::tensor::{DType, Tensor, no_grad};

impl Tensor {
    fn dropout_impl(
        &self,
        p: f32,
        seed: u32,
        group: usize,
        mask_shape: &[usize],
    ) -> Result<Tensor> {
        if p == 0.0 {
            return Ok(self.clone());
        }
        let mask = no_grad(|| -> Result<Tensor> {
            let m = Tensor::empty(self.gpu(), mask_shape, DType::F32)?;
            let mh = m.held();
            bernoulli(self.gpu(), mh.v(), group, seed, p)?;
            drop(mh);
            Ok(m)
        })?;
        self.mul(&mask)
    }

    /// Zeroes each element with probability p and scales the rest by 1/(1−p).
    pub fn dropout(&self, p: f32, seed: u32) -> Result<Tensor> {
        self.dropout_impl(p, seed, 1, self.shape())
    }

    /// Zeroes whole channels of an NCHW tensor with probability p.
    pub fn dropout2d(&self, p: f32, seed: u32) -> Result<Tensor> {
        let &[n, c, _, _] = self.shape() else {
            return Err(Error::invalid(
                "dropout2d",
                format!("expects NCHW input, got {:?}", self.shape()),
            ));
        };
        self.dropout_impl(p, seed, 1, &[n, c, 1, 1])
    }
}
