//! Launchers for `shaders/norm.wgsl` (batch normalisation, NCHW).

use crate::batch::Params;
use crate::device::Gpu;
use crate::error::Result;
use crate::pipeline::Kernel;
use crate::shaders::Shader;
use crate::view::{View, loop_bound, u32_of};

/// Layout of a batch-norm operand: [n, c, hw].
#[derive(Clone, Copy, Debug)]
pub struct BnShape {
    /// Batch.
    pub n: usize,
    /// Channels.
    pub c: usize,
    /// Spatial size H·W (1 for [N, C] inputs).
    pub hw: usize,
}

impl BnShape {
    /// The statistics and gradient-sum kernels walk every (batch, plane)
    /// element of a channel in one thread: both walks must stay within the
    /// CPU adapters' loop bound. The elementwise kernels have no such walk.
    fn within_loop_bound(&self, op: &'static str) -> Result<()> {
        loop_bound(op, "a batch", self.n)?;
        loop_bound(op, "a plane", self.hw)
    }

    fn params(&self, op: &'static str, eps: f32) -> Result<Params> {
        let total = self.n * self.c * self.hw;
        Ok(Params::new(&[
            u32_of(op, self.c)?,
            u32_of(op, self.n)?,
            u32_of(op, self.hw)?,
        ])
        .f(3, eps)
        .u(4, u32_of(op, total)?))
    }
}

/// Batch statistics: stats = [mean (C), 1/√(var + eps) (C)], biased variance.
pub fn bn_stats(gpu: &Gpu, s: BnShape, x: View, stats: View, eps: f32) -> Result<()> {
    stats.need("batch_norm", "stats", 2 * s.c)?;
    s.within_loop_bound("batch_norm")?;
    let p = s.params("batch_norm", eps)?;
    gpu.launch(
        "batch_norm",
        Kernel::new(Shader::Norm, "bn_stats"),
        &p,
        &[x.read(1), stats.write(2)],
        s.c as u64,
    )
}

/// y = (x − mean)·inv_std·gamma + beta with stats laid out as [mean, inv_std].
pub fn bn_apply(
    gpu: &Gpu,
    s: BnShape,
    x: View,
    stats: View,
    gamma: View,
    beta: View,
    y: View,
) -> Result<()> {
    let p = s.params("batch_norm", 0.0)?;
    let n = s.n * s.c * s.hw;
    let (entry, xb, yb, threads) = if s.hw.is_multiple_of(4) {
        ("bn_apply4", x.read(8), y.write(9), n / 4)
    } else {
        ("bn_apply", x.read(1), y.write(7), n)
    };
    let binds = [xb, stats.read(3), gamma.read(4), beta.read(5), yb];
    gpu.launch(
        "batch_norm",
        Kernel::new(Shader::Norm, entry),
        &p,
        &binds,
        threads as u64,
    )
}

/// sums = [Σg (C), Σg·x̂ (C)]: the beta and gamma gradients.
pub fn bn_grad_sums(
    gpu: &Gpu,
    s: BnShape,
    g: View,
    x: View,
    stats: View,
    sums: View,
) -> Result<()> {
    s.within_loop_bound("batch_norm_backward")?;
    let p = s.params("batch_norm_backward", 0.0)?;
    let binds = [x.read(1), sums.write(2), stats.read(3), g.read(6)];
    gpu.launch(
        "batch_norm_backward",
        Kernel::new(Shader::Norm, "bn_grad_sums"),
        &p,
        &binds,
        s.c as u64,
    )
}

/// dx under batch statistics, from g, x, stats, gamma and the sums.
#[allow(clippy::too_many_arguments)]
pub fn bn_backward(
    gpu: &Gpu,
    s: BnShape,
    g: View,
    x: View,
    stats: View,
    gamma: View,
    sums: View,
    dx: View,
) -> Result<()> {
    let p = s.params("batch_norm_backward", 0.0)?;
    let binds = [
        x.read(1),
        stats.read(3),
        gamma.read(4),
        sums.read(5),
        g.read(6),
        dx.write(7),
    ];
    gpu.launch(
        "batch_norm_backward",
        Kernel::new(Shader::Norm, "bn_backward"),
        &p,
        &binds,
        (s.n * s.c * s.hw) as u64,
    )
}
