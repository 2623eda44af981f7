//! Losses: binary cross-entropy with logits (the multilabel soft-margin loss
//! of WSSS classifiers), pixel-wise cross-entropy with ignore index and class
//! weights, L1 and MSE.

use weakseg_kernels::launch::loss::{self as lk, CeShape};
use weakseg_kernels::{Error, Result};

use crate::tensor::{DType, Tensor};

/// The ignore label of VOC-style masks.
pub const IGNORE_INDEX: u32 = 255;

impl Tensor {
    /// Mean binary cross-entropy of logits `self` against targets in [0, 1]
    /// (torch's multilabel_soft_margin_loss when averaged over classes and batch).
    pub fn bce_with_logits(&self, targets: &Tensor) -> Result<Tensor> {
        if self.shape() != targets.shape() {
            return Err(Error::invalid(
                "bce_with_logits",
                format!(
                    "logits {:?} and targets {:?} differ",
                    self.shape(),
                    targets.shape()
                ),
            ));
        }
        self.bce_with_logits_terms(targets)?.mean_all()
    }

    /// Cross-entropy of logits [N, C, ...] against u32 targets [N, ...],
    /// skipping `ignore` and weighting classes by `weights` [C]; the mean
    /// is over the weights of the counted pixels, as torch computes it.
    pub fn cross_entropy(
        &self,
        target: &Tensor,
        weights: Option<&Tensor>,
        ignore: u32,
    ) -> Result<Tensor> {
        let op = "cross_entropy";
        self.check_dtype(op, DType::F32)?;
        target.check_dtype(op, DType::U32)?;
        self.same_device(op, target)?;
        if self.rank() < 2 {
            return Err(Error::invalid(
                op,
                format!("logits {:?} need [N, C, ...]", self.shape()),
            ));
        }
        let (n, c) = (self.shape()[0], self.shape()[1]);
        let mut want = vec![n];
        want.extend_from_slice(&self.shape()[2..]);
        if target.shape() != want.as_slice() {
            return Err(Error::invalid(
                op,
                format!(
                    "target {:?} must be {want:?} for logits {:?}",
                    target.shape(),
                    self.shape()
                ),
            ));
        }
        if let Some(w) = weights {
            if w.shape() != [c] {
                return Err(Error::invalid(
                    op,
                    format!("class weights {:?} must be [{c}]", w.shape()),
                ));
            }
        }
        let sh = CeShape {
            n,
            c,
            s: self.shape()[2..].iter().product(),
            ignore,
        };
        let per = Tensor::empty(self.gpu(), &[n * sh.s], DType::F32)?;
        let wsum = Tensor::empty(self.gpu(), &[n * sh.s], DType::F32)?;
        {
            let (xh, th, ph, wh) = (self.held(), target.held(), per.held(), wsum.held());
            let cwh = weights.map(|w| w.held());
            lk::ce_forward(
                self.gpu(),
                sh,
                xh.v(),
                th.v(),
                cwh.as_ref().map(|w| w.v()),
                ph.v(),
                wh.v(),
            )?;
        }
        let den = wsum.sum_all()?;
        let loss = per.sum_all()?.div(&den)?;
        let (x, t, w) = (self.detach(), target.clone(), weights.map(|w| w.detach()));
        Ok(Tensor::record(loss.detach(), &[self], move |g| {
            let scale = g.div(&den)?;
            let dx = Tensor::empty(g.gpu(), x.shape(), DType::F32)?;
            let (xh, th, sh2, dh) = (x.held(), t.held(), scale.held(), dx.held());
            let cwh = w.as_ref().map(|w| w.held());
            lk::ce_backward(
                g.gpu(),
                sh,
                xh.v(),
                th.v(),
                cwh.as_ref().map(|w| w.v()),
                sh2.v(),
                dh.v(),
            )?;
            drop((xh, th, sh2, dh, cwh));
            Ok(vec![Some(dx)])
        }))
    }

    /// Mean absolute error.
    pub fn l1_loss(&self, target: &Tensor) -> Result<Tensor> {
        self.sub(target)?.abs()?.mean_all()
    }

    /// Mean squared error.
    pub fn mse_loss(&self, target: &Tensor) -> Result<Tensor> {
        self.sub(target)?.square()?.mean_all()
    }
}
