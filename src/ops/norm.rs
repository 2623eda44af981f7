//! Normalisation: batch norm (batch statistics or frozen running statistics),
//! group norm and L2 normalisation over an axis.

use weakseg_kernels::launch::elementwise::axpby_inplace;
use weakseg_kernels::launch::norm::{self as nk, BnShape};
use weakseg_kernels::{Error, Result};

use crate::tensor::{DType, Tensor, no_grad};

/// Running statistics a batch-norm layer updates in training mode.
pub struct RunningStats<'a> {
    /// Running mean [C].
    pub mean: &'a Tensor,
    /// Running (unbiased) variance [C].
    pub var: &'a Tensor,
    /// Update factor (torch's momentum, 0.1 by default).
    pub momentum: f32,
}

fn bn_shape(x: &Tensor) -> Result<BnShape> {
    x.check_dtype("batch_norm", DType::F32)?;
    match x.shape() {
        &[n, c] => Ok(BnShape { n, c, hw: 1 }),
        &[n, c, h, w] => Ok(BnShape { n, c, hw: h * w }),
        s => Err(Error::invalid(
            "batch_norm",
            format!("expects [N, C] or NCHW input, got {s:?}"),
        )),
    }
}

impl Tensor {
    /// Batch normalisation with affine gamma/beta [C]. With `batch_stats`
    /// it normalises by the batch's statistics (and updates `running` if
    /// given); otherwise by the running statistics, as a frozen layer.
    pub fn batch_norm(
        &self,
        gamma: &Tensor,
        beta: &Tensor,
        running: Option<RunningStats<'_>>,
        batch_stats: bool,
        eps: f32,
    ) -> Result<Tensor> {
        if self.dtype() == DType::F16 {
            let r = match (&running, batch_stats) {
                (Some(r), false) => r,
                _ => {
                    return Err(Error::invalid(
                        "batch_norm",
                        "f16 input needs evaluation mode with running statistics; training runs in f32",
                    ));
                }
            };
            return crate::ops::half::batch_norm_eval(self, gamma, beta, r.mean, r.var, eps);
        }
        let s = bn_shape(self)?;
        for (name, t) in [("gamma", gamma), ("beta", beta)] {
            if t.shape() != [s.c] {
                return Err(Error::invalid(
                    "batch_norm",
                    format!(
                        "{name} {:?} must be [{}] for input {:?}",
                        t.shape(),
                        s.c,
                        self.shape()
                    ),
                ));
            }
        }
        let stats = if batch_stats {
            let st = Tensor::empty(self.gpu(), &[2 * s.c], DType::F32)?;
            {
                let (xh, sh) = (self.held(), st.held());
                nk::bn_stats(self.gpu(), s, xh.v(), sh.v(), eps)?;
            }
            if let Some(r) = &running {
                update_running(&st, r, s, eps)?;
            }
            st
        } else {
            let r = running.as_ref().ok_or_else(|| {
                Error::invalid("batch_norm", "frozen mode needs running statistics")
            })?;
            no_grad(|| {
                Tensor::concat(
                    &[r.mean.detach(), r.var.detach().add_scalar(eps)?.pow(-0.5)?],
                    0,
                )
            })?
        };
        let y = Tensor::empty(self.gpu(), self.shape(), DType::F32)?;
        {
            let (xh, sh, gh, bh, yh) = (
                self.held(),
                stats.held(),
                gamma.held(),
                beta.held(),
                y.held(),
            );
            nk::bn_apply(self.gpu(), s, xh.v(), sh.v(), gh.v(), bh.v(), yh.v())?;
        }
        let (x, gm) = (self.detach(), gamma.detach());
        Ok(Tensor::record(y, &[self, gamma, beta], move |gy| {
            let sums = Tensor::empty(gy.gpu(), &[2 * s.c], DType::F32)?;
            {
                let (gh, xh, sh, uh) = (gy.held(), x.held(), stats.held(), sums.held());
                nk::bn_grad_sums(gy.gpu(), s, gh.v(), xh.v(), sh.v(), uh.v())?;
            }
            let dx = if batch_stats {
                let dx = Tensor::empty(gy.gpu(), x.shape(), DType::F32)?;
                let (gh, xh, sh, gmh, uh, dh) = (
                    gy.held(),
                    x.held(),
                    stats.held(),
                    gm.held(),
                    sums.held(),
                    dx.held(),
                );
                nk::bn_backward(gy.gpu(), s, gh.v(), xh.v(), sh.v(), gmh.v(), uh.v(), dh.v())?;
                drop((gh, xh, sh, gmh, uh, dh));
                dx
            } else {
                let scale = gm.mul(&stats.narrow(0, s.c, s.c)?)?;
                let bshape = if x.rank() == 4 {
                    vec![1, s.c, 1, 1]
                } else {
                    vec![1, s.c]
                };
                gy.mul(&scale.reshape(&bshape)?)?
            };
            Ok(vec![
                Some(dx),
                Some(sums.narrow(0, s.c, s.c)?),
                Some(sums.narrow(0, 0, s.c)?),
            ])
        }))
    }

    /// Group normalisation over `groups` channel groups, with gamma/beta [C].
    pub fn group_norm(
        &self,
        groups: usize,
        gamma: &Tensor,
        beta: &Tensor,
        eps: f32,
    ) -> Result<Tensor> {
        let &[n, c, h, w] = self.shape() else {
            return Err(Error::invalid(
                "group_norm",
                format!("expects NCHW input, got {:?}", self.shape()),
            ));
        };
        if groups == 0 || c % groups != 0 {
            return Err(Error::invalid(
                "group_norm",
                format!("{groups} groups do not divide {c} channels"),
            ));
        }
        let xg = self.reshape(&[n, groups, (c / groups) * h * w])?;
        let mean = xg.mean(&[2], true)?;
        let centred = xg.sub(&mean)?;
        let var = centred.square()?.mean(&[2], true)?;
        let xn = centred
            .mul(&var.add_scalar(eps)?.pow(-0.5)?)?
            .reshape(&[n, c, h, w])?;
        xn.mul(&gamma.reshape(&[1, c, 1, 1])?)?
            .add(&beta.reshape(&[1, c, 1, 1])?)
    }

    /// x / max(‖x‖₂, eps) along `axis`.
    pub fn l2_normalize(&self, axis: usize, eps: f32) -> Result<Tensor> {
        let norm = self.square()?.sum(&[axis], true)?.sqrt()?;
        let floor = Tensor::full(self.gpu(), &[1], eps)?;
        self.div(&norm.maximum(&floor)?)
    }
}

fn update_running(stats: &Tensor, r: &RunningStats<'_>, s: BnShape, eps: f32) -> Result<()> {
    no_grad(|| {
        let m = (s.n * s.hw) as f32;
        let mean = stats.narrow(0, 0, s.c)?;
        let biased = stats.narrow(0, s.c, s.c)?.pow(-2.0)?.add_scalar(-eps)?;
        let unbiased = biased.mul_scalar(if m > 1.0 { m / (m - 1.0) } else { 1.0 })?;
        for (run, batch) in [(r.mean, &mean), (r.var, &unbiased)] {
            let (rh, bh) = (run.held(), batch.held());
            axpby_inplace(run.gpu(), rh.v(), bh.v(), 1.0 - r.momentum, r.momentum)?;
        }
        Ok(())
    })
}
