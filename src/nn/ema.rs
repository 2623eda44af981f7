//! Mean-teacher weights: a network kept as the exponential moving average
//! of another of the same architecture (CoSA's assignment network, mean
//! teachers in semi-supervised training), one kernel launch per tensor.

use weakseg_kernels::launch::optim::ema;
use weakseg_kernels::{Error, Result};

use super::{Module, ModuleExt};

/// teacher ← m·teacher + (1 − m)·student for every parameter, matched by
/// name; names or shapes that differ are an error, checked before any
/// update.
pub fn update(teacher: &dyn Module, student: &dyn Module, momentum: f32) -> Result<()> {
    if !(0.0..=1.0).contains(&momentum) {
        return Err(Error::invalid(
            "ema",
            format!("momentum {momentum} must lie in [0, 1]"),
        ));
    }
    let (t, s) = (teacher.named_params(), student.named_params());
    let names = |v: &[(String, super::Param)]| {
        v.iter()
            .map(|(n, p)| (n.clone(), p.get().shape().to_vec()))
            .collect::<Vec<_>>()
    };
    if names(&t) != names(&s) {
        return Err(Error::invalid(
            "ema",
            "teacher and student differ in parameter names or shapes",
        ));
    }
    for ((_, tp), (_, sp)) in t.iter().zip(&s) {
        let (tt, st) = (tp.get(), sp.get());
        let (th, sh) = (tt.held(), st.held());
        ema(tt.gpu(), th.v(), sh.v(), momentum)?;
    }
    Ok(())
}
