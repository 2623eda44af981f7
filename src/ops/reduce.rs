//! Reductions over axes (sum, mean, max/min with indices, logsumexp) and
//! softmax / log_softmax with a temperature.

use weakseg_kernels::launch::reduce::{self as rk, Axis, Reduce};
use weakseg_kernels::{Error, Result};

use crate::tensor::{DType, Tensor};

fn axis_of(op: &'static str, shape: &[usize], axis: usize) -> Result<Axis> {
    if axis >= shape.len() {
        return Err(Error::invalid(
            op,
            format!("axis {axis} out of range for shape {shape:?}"),
        ));
    }
    Ok(Axis {
        outer: shape[..axis].iter().product(),
        l: shape[axis],
        inner: shape[axis + 1..].iter().product(),
    })
}

fn kept(shape: &[usize], axis: usize) -> Vec<usize> {
    let mut s = shape.to_vec();
    s[axis] = 1;
    s
}

fn dropped(shape: &[usize], axes: &[usize]) -> Vec<usize> {
    shape
        .iter()
        .enumerate()
        .filter(|(i, _)| !axes.contains(i))
        .map(|(_, &d)| d)
        .collect()
}

fn reduce_raw(x: &Tensor, op: Reduce, axis: usize) -> Result<Tensor> {
    x.check_dtype("reduce", DType::F32)?;
    let ax = axis_of("reduce", x.shape(), axis)?;
    if ax.l == 0 {
        return Err(Error::invalid(
            "reduce",
            format!("cannot reduce an empty axis {axis} of {:?}", x.shape()),
        ));
    }
    let out = Tensor::empty(x.gpu(), &kept(x.shape(), axis), DType::F32)?;
    let (xh, oh) = (x.held(), out.held());
    rk::reduce(x.gpu(), op, xh.v(), oh.v(), ax)?;
    Ok(out)
}

impl Tensor {
    /// Σ over `axes` (all axes when empty), keeping them as size 1 if `keepdim`.
    pub fn sum(&self, axes: &[usize], keepdim: bool) -> Result<Tensor> {
        let all: Vec<usize> = (0..self.rank()).collect();
        let mut axes: Vec<usize> = if axes.is_empty() { all } else { axes.to_vec() };
        axes.sort_unstable();
        axes.dedup();
        let mut y = self.detach();
        for &a in axes.iter().rev() {
            y = reduce_raw(&y, Reduce::Sum, a)?;
        }
        let keep_shape = y.shape().to_vec();
        let out_shape = if keepdim {
            keep_shape.clone()
        } else {
            dropped(self.shape(), &axes)
        };
        let y = y.alias(out_shape);
        let in_shape = self.shape().to_vec();
        Ok(Tensor::record(y, &[self], move |g| {
            Ok(vec![Some(g.reshape(&keep_shape)?.expand(&in_shape)?)])
        }))
    }

    /// Σ of every element, as a one-element tensor of shape [1].
    pub fn sum_all(&self) -> Result<Tensor> {
        self.reshape(&[self.numel()])?.sum(&[0], true)
    }

    /// Mean over `axes` (all when empty).
    pub fn mean(&self, axes: &[usize], keepdim: bool) -> Result<Tensor> {
        let count: usize = if axes.is_empty() {
            self.numel()
        } else {
            axes.iter()
                .map(|&a| self.shape().get(a).copied().unwrap_or(1))
                .product()
        };
        self.sum(axes, keepdim)?
            .mul_scalar(1.0 / count.max(1) as f32)
    }

    /// Mean of every element, shape [1].
    pub fn mean_all(&self) -> Result<Tensor> {
        self.sum_all()?.mul_scalar(1.0 / self.numel().max(1) as f32)
    }

    fn arg_reduce(&self, axis: usize, keepdim: bool, argmax: bool) -> Result<(Tensor, Tensor)> {
        let op = if argmax { "max" } else { "min" };
        self.check_dtype(op, DType::F32)?;
        let ax = axis_of(op, self.shape(), axis)?;
        let shape = kept(self.shape(), axis);
        let vals = Tensor::empty(self.gpu(), &shape, DType::F32)?;
        let idx = Tensor::empty(self.gpu(), &shape, DType::U32)?;
        {
            let (xh, vh, ih) = (self.held(), vals.held(), idx.held());
            rk::arg_reduce(self.gpu(), argmax, xh.v(), vh.v(), ih.v(), ax)?;
        }
        let out_shape = if keepdim {
            shape.clone()
        } else {
            dropped(self.shape(), &[axis])
        };
        let (vals, idx) = (vals.alias(out_shape.clone()), idx.alias(out_shape));
        let (saved, in_shape) = (idx.clone(), self.shape().to_vec());
        let vals = Tensor::record(vals, &[self], move |g| {
            let gx = Tensor::empty(g.gpu(), &in_shape, DType::F32)?;
            let (gh, ih, oh) = (g.held(), saved.held(), gx.held());
            rk::arg_backward(g.gpu(), gh.v(), ih.v(), oh.v(), ax)?;
            Ok(vec![Some(gx)])
        });
        Ok((vals, idx))
    }

    /// Maximum over an axis with the (u32) index of each maximum.
    pub fn max_axis(&self, axis: usize, keepdim: bool) -> Result<(Tensor, Tensor)> {
        self.arg_reduce(axis, keepdim, true)
    }

    /// Minimum over an axis with its indices.
    pub fn min_axis(&self, axis: usize, keepdim: bool) -> Result<(Tensor, Tensor)> {
        self.arg_reduce(axis, keepdim, false)
    }

    /// Index of the maximum along an axis (u32, axis removed).
    pub fn argmax(&self, axis: usize) -> Result<Tensor> {
        Ok(self.detach().arg_reduce(axis, false, true)?.1)
    }

    /// log Σ exp over an axis.
    pub fn logsumexp(&self, axis: usize, keepdim: bool) -> Result<Tensor> {
        let y = reduce_raw(self, Reduce::LogSumExp, axis)?;
        let k = y.detach();
        let out_shape = if keepdim {
            y.shape().to_vec()
        } else {
            dropped(self.shape(), &[axis])
        };
        let keep_shape = y.shape().to_vec();
        let y = y.alias(out_shape);
        let x = self.clone();
        Ok(Tensor::record(y, &[self], move |g| {
            let p = x.detach().sub(&k)?.exp()?;
            Ok(vec![Some(p.mul(&g.reshape(&keep_shape)?)?)])
        }))
    }

    fn softmax_impl(&self, axis: usize, temperature: f32, log: bool) -> Result<Tensor> {
        let op = if log { "log_softmax" } else { "softmax" };
        self.check_dtype(op, DType::F32)?;
        if temperature <= 0.0 {
            return Err(Error::invalid(
                op,
                format!("temperature {temperature} must be positive"),
            ));
        }
        let ax = axis_of(op, self.shape(), axis)?;
        let t = 1.0 / temperature;
        let y = Tensor::empty(self.gpu(), self.shape(), DType::F32)?;
        {
            let (xh, yh) = (self.held(), y.held());
            rk::softmax(self.gpu(), log, xh.v(), yh.v(), ax, t)?;
        }
        let ys = y.detach();
        Ok(Tensor::record(y, &[self], move |g| {
            let gx = Tensor::empty(g.gpu(), g.shape(), DType::F32)?;
            let (gh, yh, oh) = (g.held(), ys.held(), gx.held());
            rk::softmax_backward(g.gpu(), log, gh.v(), yh.v(), oh.v(), ax, t)?;
            Ok(vec![Some(gx)])
        }))
    }

    /// softmax along an axis.
    pub fn softmax(&self, axis: usize) -> Result<Tensor> {
        self.softmax_impl(axis, 1.0, false)
    }

    /// softmax(x / temperature) along an axis.
    pub fn softmax_t(&self, axis: usize, temperature: f32) -> Result<Tensor> {
        self.softmax_impl(axis, temperature, false)
    }

    /// log_softmax along an axis.
    pub fn log_softmax(&self, axis: usize) -> Result<Tensor> {
        self.softmax_impl(axis, 1.0, true)
    }

    /// log_softmax(x / temperature) along an axis.
    pub fn log_softmax_t(&self, axis: usize, temperature: f32) -> Result<Tensor> {
        self.softmax_impl(axis, temperature, true)
    }
}
