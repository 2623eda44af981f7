//! 2-D convolution: implicit-GEMM kernels for forward, backward-data and
//! backward-weight; 1×1 stride-1 convolutions go through the GEMM path.

use weakseg_kernels::launch::conv::{self as ck, Conv2d};
use weakseg_kernels::{Error, Result};

use crate::tensor::{DType, Tensor};

/// Stride, padding, dilation and groups of a convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvOpts {
    /// Stride (rows, columns).
    pub stride: (usize, usize),
    /// Zero padding (rows, columns).
    pub padding: (usize, usize),
    /// Dilation (rows, columns).
    pub dilation: (usize, usize),
    /// Groups.
    pub groups: usize,
}

impl Default for ConvOpts {
    fn default() -> Self {
        ConvOpts {
            stride: (1, 1),
            padding: (0, 0),
            dilation: (1, 1),
            groups: 1,
        }
    }
}

impl ConvOpts {
    /// Same stride, padding and dilation on both axes.
    pub fn new(stride: usize, padding: usize, dilation: usize, groups: usize) -> Self {
        ConvOpts {
            stride: (stride, stride),
            padding: (padding, padding),
            dilation: (dilation, dilation),
            groups,
        }
    }
}

fn geometry(x: &Tensor, w: &Tensor, o: ConvOpts) -> Result<Conv2d> {
    let op = "conv2d";
    if x.rank() != 4 || w.rank() != 4 {
        return Err(Error::invalid(
            op,
            format!(
                "input {:?} must be NCHW and weight {:?} OIHW",
                x.shape(),
                w.shape()
            ),
        ));
    }
    let (s, ws) = (x.shape(), w.shape());
    let g = Conv2d {
        n: s[0],
        cin: s[1],
        h: s[2],
        w: s[3],
        cout: ws[0],
        kh: ws[2],
        kw: ws[3],
        stride: o.stride,
        pad: o.padding,
        dilation: o.dilation,
        groups: o.groups,
    };
    g.validate()?;
    if ws[1] * o.groups != s[1] {
        return Err(Error::invalid(
            op,
            format!(
                "weight {ws:?} expects {} input channels, input {s:?} has {}",
                ws[1] * o.groups,
                s[1]
            ),
        ));
    }
    Ok(g)
}

impl Tensor {
    /// conv2d(self [N, Cin, H, W], weight [Cout, Cin/groups, kh, kw]) + bias [Cout].
    pub fn conv2d(&self, weight: &Tensor, bias: Option<&Tensor>, opts: ConvOpts) -> Result<Tensor> {
        self.same_device("conv2d", weight)?;
        let g = geometry(self, weight, opts)?;
        if let Some(b) = bias {
            if b.shape() != [g.cout] {
                return Err(Error::invalid(
                    "conv2d",
                    format!("bias {:?} must be [{}]", b.shape(), g.cout),
                ));
            }
        }
        if self.dtype() == DType::F16 {
            return crate::ops::half::conv2d(self, weight, bias, &g);
        }
        self.check_dtype("conv2d", DType::F32)?;
        weight.check_dtype("conv2d", DType::F32)?;
        if g.kh == 1 && g.kw == 1 && g.stride == (1, 1) && g.pad == (0, 0) && g.groups == 1 {
            let y = weight.reshape(&[g.cout, g.cin])?.matmul(&self.reshape(&[
                g.n,
                g.cin,
                g.h * g.w,
            ])?)?;
            let y = y.reshape(&[g.n, g.cout, g.h, g.w])?;
            return match bias {
                Some(b) => y.add(&b.reshape(&[1, g.cout, 1, 1])?),
                None => Ok(y),
            };
        }
        let y = Tensor::empty(self.gpu(), &[g.n, g.cout, g.ho(), g.wo()], DType::F32)?;
        {
            let (xh, wh, yh) = (self.held(), weight.held(), y.held());
            let bh = bias.map(|b| b.held());
            ck::conv2d_forward(
                self.gpu(),
                &g,
                xh.v(),
                wh.v(),
                bh.as_ref().map(|b| b.v()),
                yh.v(),
            )?;
        }
        let (x, w) = (self.detach(), weight.detach());
        let has_bias = bias.is_some();
        let mut parents = vec![self, weight];
        if let Some(b) = bias {
            parents.push(b);
        }
        Ok(Tensor::record(y, &parents, move |gy| {
            let dx = Tensor::empty(gy.gpu(), x.shape(), DType::F32)?;
            let dw = Tensor::empty(gy.gpu(), w.shape(), DType::F32)?;
            {
                let (gh, xh, wh, dxh, dwh) = (gy.held(), x.held(), w.held(), dx.held(), dw.held());
                ck::conv2d_backward_data(gy.gpu(), &g, gh.v(), wh.v(), dxh.v())?;
                ck::conv2d_backward_weight(gy.gpu(), &g, xh.v(), gh.v(), dwh.v())?;
            }
            let mut out = vec![Some(dx), Some(dw)];
            if has_bias {
                out.push(Some(gy.sum(&[0, 2, 3], false)?));
            }
            Ok(out)
        }))
    }
}
