//! Launchers for `shaders/loss.wgsl` (pixel-wise cross-entropy).

use crate::batch::Params;
use crate::device::Gpu;
use crate::error::Result;
use crate::pipeline::Kernel;
use crate::shaders::Shader;
use crate::view::{View, u32_of};

/// Layout of a cross-entropy problem: logits [n, c, s], targets [n, s].
#[derive(Clone, Copy, Debug)]
pub struct CeShape {
    /// Batch.
    pub n: usize,
    /// Classes.
    pub c: usize,
    /// Spatial positions per image (1 for classification).
    pub s: usize,
    /// Target value that is ignored (255 in VOC).
    pub ignore: u32,
}

impl CeShape {
    fn params(&self, op: &'static str, count: usize, weighted: bool) -> Result<Params> {
        Ok(Params::new(&[
            u32_of(op, count)?,
            u32_of(op, self.c)?,
            u32_of(op, self.s)?,
            self.ignore,
            weighted as u32,
        ]))
    }
}

/// Per-pixel weighted losses and weights (0 where ignored).
pub fn ce_forward(
    gpu: &Gpu,
    sh: CeShape,
    logits: View,
    target: View,
    weights: Option<View>,
    loss: View,
    wsum: View,
) -> Result<()> {
    let n = sh.n * sh.s;
    let p = sh.params("cross_entropy", n, weights.is_some())?;
    let w = weights.unwrap_or(logits);
    let binds = [
        logits.read(1),
        target.read(2),
        w.read(3),
        loss.write(4),
        wsum.write(5),
    ];
    gpu.launch(
        "cross_entropy",
        Kernel::new(Shader::Loss, "ce_forward"),
        &p,
        &binds,
        n as u64,
    )
}

/// dlogits = scale[0]·w_t·(softmax − onehot); `scale` holds dL/Σw.
pub fn ce_backward(
    gpu: &Gpu,
    sh: CeShape,
    logits: View,
    target: View,
    weights: Option<View>,
    scale: View,
    dx: View,
) -> Result<()> {
    let n = sh.n * sh.c * sh.s;
    let p = sh.params("cross_entropy_backward", n, weights.is_some())?;
    let w = weights.unwrap_or(logits);
    let binds = [
        logits.read(1),
        target.read(2),
        w.read(3),
        dx.write(4),
        scale.read(6),
    ];
    gpu.launch(
        "cross_entropy_backward",
        Kernel::new(Shader::Loss, "ce_backward"),
        &p,
        &binds,
        n as u64,
    )
}
