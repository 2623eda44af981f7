//! Pooling: global average and max (the GAP of CAM classifiers), windowed
//! average and max (indices kept for backward), adaptive average.

use weakseg_kernels::launch::pool::{self as pk, Pool2d};
use weakseg_kernels::{Error, Result};

use weakseg_kernels::launch::half::PoolKind;

use crate::tensor::{DType, Tensor};

fn nchw(op: &'static str, x: &Tensor) -> Result<(usize, usize, usize, usize)> {
    x.check_dtype(op, DType::F32)?;
    match x.shape() {
        &[n, c, h, w] => Ok((n, c, h, w)),
        s => Err(Error::invalid(op, format!("expects NCHW input, got {s:?}"))),
    }
}

impl Tensor {
    /// Global average pooling: [N, C, H, W] → [N, C].
    pub fn global_avg_pool(&self) -> Result<Tensor> {
        let (n, c, h, w) = nchw("global_avg_pool", self)?;
        self.reshape(&[n, c, h * w])?.mean(&[2], false)
    }

    /// Global max pooling: [N, C, H, W] → [N, C].
    pub fn global_max_pool(&self) -> Result<Tensor> {
        let (n, c, h, w) = nchw("global_max_pool", self)?;
        Ok(self.reshape(&[n, c, h * w])?.max_axis(2, false)?.0)
    }

    fn pool_geom(
        &self,
        op: &'static str,
        kernel: usize,
        stride: usize,
        pad: usize,
    ) -> Result<(Pool2d, usize, usize)> {
        let (n, c, h, w) = nchw(op, self)?;
        let g = Pool2d {
            planes: n * c,
            h,
            w,
            kernel: (kernel, kernel),
            stride: (stride, stride),
            pad: (pad, pad),
        };
        g.validate()?;
        Ok((g, n, c))
    }

    /// Average pooling (padding counted in the divisor, as torch's default).
    pub fn avg_pool2d(&self, kernel: usize, stride: usize, pad: usize) -> Result<Tensor> {
        if self.dtype() == DType::F16 {
            return crate::ops::half::pool2d(self, PoolKind::Avg, kernel, stride, pad);
        }
        let (g, n, c) = self.pool_geom("avg_pool2d", kernel, stride, pad)?;
        let y = Tensor::empty(self.gpu(), &[n, c, g.ho(), g.wo()], DType::F32)?;
        {
            let (xh, yh) = (self.held(), y.held());
            pk::avg_pool2d(self.gpu(), &g, xh.v(), yh.v())?;
        }
        let shape = self.shape().to_vec();
        Ok(Tensor::record(y, &[self], move |gy| {
            let dx = Tensor::empty(gy.gpu(), &shape, DType::F32)?;
            let (gh, dh) = (gy.held(), dx.held());
            pk::avg_pool2d_backward(gy.gpu(), &g, gh.v(), dh.v())?;
            drop((gh, dh));
            Ok(vec![Some(dx)])
        }))
    }

    /// Max pooling; the gradient goes to each window's maximum.
    pub fn max_pool2d(&self, kernel: usize, stride: usize, pad: usize) -> Result<Tensor> {
        if self.dtype() == DType::F16 {
            return crate::ops::half::pool2d(self, PoolKind::Max, kernel, stride, pad);
        }
        let (g, n, c) = self.pool_geom("max_pool2d", kernel, stride, pad)?;
        let y = Tensor::empty(self.gpu(), &[n, c, g.ho(), g.wo()], DType::F32)?;
        let arg = Tensor::empty(self.gpu(), &[n, c, g.ho(), g.wo()], DType::U32)?;
        {
            let (xh, yh, ah) = (self.held(), y.held(), arg.held());
            pk::max_pool2d(self.gpu(), &g, xh.v(), yh.v(), ah.v())?;
        }
        let shape = self.shape().to_vec();
        Ok(Tensor::record(y, &[self], move |gy| {
            let dx = Tensor::empty(gy.gpu(), &shape, DType::F32)?;
            let (gh, ah, dh) = (gy.held(), arg.held(), dx.held());
            pk::max_pool2d_backward(gy.gpu(), &g, gh.v(), ah.v(), dh.v())?;
            drop((gh, ah, dh));
            Ok(vec![Some(dx)])
        }))
    }

    /// Adaptive average pooling to `out` = (ho, wo) with torch's bins.
    pub fn adaptive_avg_pool2d(&self, out: (usize, usize)) -> Result<Tensor> {
        let (n, c, h, w) = nchw("adaptive_avg_pool2d", self)?;
        let y = Tensor::empty(self.gpu(), &[n, c, out.0, out.1], DType::F32)?;
        {
            let (xh, yh) = (self.held(), y.held());
            pk::adaptive_avg_pool2d(self.gpu(), n * c, (h, w), out, xh.v(), yh.v())?;
        }
        let shape = self.shape().to_vec();
        Ok(Tensor::record(y, &[self], move |gy| {
            let dx = Tensor::empty(gy.gpu(), &shape, DType::F32)?;
            let (gh, dh) = (gy.held(), dx.held());
            pk::adaptive_avg_pool2d_backward(gy.gpu(), n * c, (h, w), out, gh.v(), dh.v())?;
            drop((gh, dh));
            Ok(vec![Some(dx)])
        }))
    }
}
