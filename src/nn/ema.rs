//! Mean-teacher weights: a network kept as the exponential moving average
//! of another of the same architecture (CoSA's assignment network, mean
//! teachers in semi-supervised training), one kernel launch per tensor.

use weakseg_kernels::launch::optim::ema;
use weakseg_kernels::{Error, Result};

use super::{Module, ModuleExt};
use crate::tensor::{DType, Tensor};

/// teacher ← m·teacher + (1 − m)·student for every parameter and buffer
/// (batch-norm running statistics average too, so a teacher in evaluation
/// mode normalises as its weights expect), matched by name; names or shapes
/// that differ are an error, checked before any update.
pub fn update(teacher: &dyn Module, student: &dyn Module, momentum: f32) -> Result<()> {
    if !(0.0..=1.0).contains(&momentum) {
        return Err(Error::invalid(
            "ema",
            format!("momentum {momentum} must lie in [0, 1]"),
        ));
    }
    let (t, s) = (teacher.state(), student.state());
    let names = |v: &[(String, Tensor)]| {
        v.iter()
            .map(|(n, p)| (n.clone(), p.shape().to_vec(), p.dtype()))
            .collect::<Vec<_>>()
    };
    if names(&t) != names(&s) {
        return Err(Error::invalid(
            "ema",
            "teacher and student differ in parameter names or shapes",
        ));
    }
    crate::tensor::bump_weights_epoch();
    if let Some((name, _)) = t.iter().find(|(_, v)| v.dtype() != DType::F32) {
        return Err(Error::invalid(
            "ema",
            format!("{name} is not f32, so it cannot be averaged"),
        ));
    }
    for ((_, tt), (_, st)) in t.iter().zip(&s) {
        let (th, sh) = (tt.held(), st.held());
        ema(tt.gpu(), th.v(), sh.v(), momentum)?;
    }
    Ok(())
}
