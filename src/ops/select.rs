//! Top-k selection along the last axis (SEAM's hard-pixel mining, the
//! adaptive min-pooling of its PCM output), differentiable in the values.

use weakseg_kernels::launch::select::{self as sk, TopK};
use weakseg_kernels::{Error, Result};

use crate::tensor::{DType, Tensor};

impl Tensor {
    /// The `k` largest (or, with `smallest`, smallest) entries along the last
    /// axis and their positions (u32), shape `[.., k]` each, in index order
    /// (ties at the k-th value lowest index first). Gradients flow to the
    /// selected entries.
    pub fn topk(&self, k: usize, smallest: bool) -> Result<(Tensor, Tensor)> {
        let op = "topk";
        self.check_dtype(op, DType::F32)?;
        let shape = self.shape().to_vec();
        let Some((&n, lead)) = shape.split_last() else {
            return Err(Error::invalid(op, "needs at least one axis"));
        };
        let rows: usize = lead.iter().product();
        let s = TopK {
            rows,
            n,
            k,
            smallest,
        };
        let mut out_shape = lead.to_vec();
        out_shape.push(k);
        let values = Tensor::empty(self.gpu(), &out_shape, DType::F32)?;
        let indices = Tensor::empty(self.gpu(), &out_shape, DType::U32)?;
        {
            let (xh, vh, ih) = (self.held(), values.held(), indices.held());
            sk::topk(self.gpu(), xh.v(), s, vh.v(), ih.v())?;
        }
        let idx = indices.clone();
        let values = Tensor::record(values, &[self], move |g| {
            let gx = Tensor::empty(g.gpu(), &shape, DType::F32)?;
            {
                let (gh, ih, xh) = (g.held(), idx.held(), gx.held());
                sk::topk_backward(g.gpu(), gh.v(), ih.v(), s, xh.v())?;
            }
            Ok(vec![Some(gx)])
        });
        Ok((values, indices))
    }
}
