//! Matrix multiply and batched matrix multiply.

use weakseg_kernels::launch::matmul::{self as mk, MatmulShape};
use weakseg_kernels::{Error, Result};

use crate::tensor::{DType, Tensor};

fn product(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    let op = "matmul";
    a.same_device(op, b)?;
    a.check_dtype(op, DType::F32)?;
    b.check_dtype(op, DType::F32)?;
    let bad = || {
        Error::invalid(
            op,
            format!("shapes {:?} and {:?} do not multiply", a.shape(), b.shape()),
        )
    };
    if !(2..=3).contains(&a.rank()) || !(2..=3).contains(&b.rank()) {
        return Err(bad());
    }
    let (ab, m, k) = if a.rank() == 3 {
        (a.shape()[0], a.shape()[1], a.shape()[2])
    } else {
        (1, a.shape()[0], a.shape()[1])
    };
    let (bb, k2, n) = if b.rank() == 3 {
        (b.shape()[0], b.shape()[1], b.shape()[2])
    } else {
        (1, b.shape()[0], b.shape()[1])
    };
    if k != k2 || (ab != bb && ab != 1 && bb != 1) {
        return Err(bad());
    }
    let batch = ab.max(bb);
    let shape = if a.rank() == 3 || b.rank() == 3 {
        vec![batch, m, n]
    } else {
        vec![m, n]
    };
    let out = Tensor::empty(a.gpu(), &shape, DType::F32)?;
    let s = MatmulShape {
        batch,
        m,
        k,
        n,
        a_batch_stride: if ab == 1 { 0 } else { m * k },
        b_batch_stride: if bb == 1 { 0 } else { k * n },
    };
    let (ah, bh, oh) = (a.held(), b.held(), out.held());
    mk::matmul(a.gpu(), ah.v(), bh.v(), oh.v(), s)?;
    Ok(out)
}

fn t_last2(x: &Tensor) -> Result<Tensor> {
    x.transpose(x.rank() - 2, x.rank() - 1)
}

impl Tensor {
    /// Matrix product of [m, k] or [b, m, k] with [k, n] or [b, k, n]; a batch
    /// of 1 (or a 2-D operand) broadcasts over the other's batch.
    pub fn matmul(&self, other: &Tensor) -> Result<Tensor> {
        let y = product(self, other)?;
        let (a, b) = (self.detach(), other.detach());
        Ok(Tensor::record(y, &[self, other], move |g| {
            let ga = product(g, &t_last2(&b)?)?;
            let gb = product(&t_last2(&a)?, g)?;
            let fit = |gx: Tensor, like: &Tensor| -> Result<Tensor> {
                if gx.rank() == like.rank() && gx.shape() == like.shape() {
                    return Ok(gx);
                }
                gx.sum(&[0], false)?.reshape(like.shape())
            };
            Ok(vec![Some(fit(ga, &a)?), Some(fit(gb, &b)?)])
        }))
    }
}
