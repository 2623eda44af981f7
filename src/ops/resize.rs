//! Spatial resizing of NCHW tensors: bilinear (align_corners true/false)
//! and nearest, up and down.

use weakseg_kernels::launch::resize::{self as rk, Mode};
use weakseg_kernels::{Error, Result};

use crate::tensor::{DType, Tensor};

pub use weakseg_kernels::launch::resize::Mode as ResizeMode;

impl Tensor {
    /// Resizes the two spatial axes to `size` = (h, w).
    pub fn interpolate(&self, size: (usize, usize), mode: Mode) -> Result<Tensor> {
        self.check_dtype("interpolate", DType::F32)?;
        let &[n, c, h, w] = self.shape() else {
            return Err(Error::invalid(
                "interpolate",
                format!("expects NCHW input, got {:?}", self.shape()),
            ));
        };
        let y = Tensor::empty(self.gpu(), &[n, c, size.0, size.1], DType::F32)?;
        {
            let (xh, yh) = (self.held(), y.held());
            rk::resize(self.gpu(), n * c, (h, w), size, mode, xh.v(), yh.v())?;
        }
        let shape = self.shape().to_vec();
        Ok(Tensor::record(y, &[self], move |gy| {
            let dx = Tensor::empty(gy.gpu(), &shape, DType::F32)?;
            let (gh, dh) = (gy.held(), dx.held());
            rk::resize_backward(gy.gpu(), n * c, (h, w), size, mode, gh.v(), dh.v())?;
            drop((gh, dh));
            Ok(vec![Some(dx)])
        }))
    }

    /// Horizontal flip of an NCHW tensor (the last axis).
    pub fn hflip(&self) -> Result<Tensor> {
        if self.rank() < 1 {
            return Err(Error::invalid("hflip", "a scalar has no width"));
        }
        self.flip(self.rank() - 1)
    }
}
