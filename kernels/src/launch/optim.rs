//! Launchers for `shaders/optim.wgsl`: one dispatch per parameter arena.

use crate::batch::Params;
use crate::device::Gpu;
use crate::error::Result;
use crate::pipeline::Kernel;
use crate::shaders::Shader;
use crate::view::{View, u32_of};

/// Hyper-parameters of one SGD step (torch semantics).
#[derive(Clone, Copy, Debug)]
pub struct SgdStep {
    /// Learning rate.
    pub lr: f32,
    /// Momentum (0 disables the buffer).
    pub momentum: f32,
    /// Dampening of the gradient in the momentum buffer.
    pub dampening: f32,
    /// L2 weight decay added to the gradient.
    pub weight_decay: f32,
    /// Nesterov momentum.
    pub nesterov: bool,
    /// First step: the momentum buffer starts as the gradient.
    pub first: bool,
}

/// p ← SGD(p, g, m).
pub fn sgd(gpu: &Gpu, p: View, g: View, m: View, s: SgdStep) -> Result<()> {
    let n = p.len;
    let prm = Params::new(&[u32_of("sgd", n)?])
        .f(1, s.lr)
        .f(2, s.momentum)
        .f(3, s.dampening)
        .f(4, s.weight_decay)
        .u(5, s.nesterov as u32)
        .u(6, s.first as u32);
    gpu.launch(
        "sgd",
        Kernel::new(Shader::Optim, "sgd"),
        &prm,
        &[p.write(1), g.read(2), m.write(3)],
        n as u64,
    )
}

/// Hyper-parameters of one AdamW step.
#[derive(Clone, Copy, Debug)]
pub struct AdamWStep {
    /// Learning rate.
    pub lr: f32,
    /// β₁.
    pub beta1: f32,
    /// β₂.
    pub beta2: f32,
    /// ε.
    pub eps: f32,
    /// Decoupled weight decay.
    pub weight_decay: f32,
    /// Step number t ≥ 1 (for bias correction).
    pub t: u32,
}

/// p ← AdamW(p, g, m, v).
pub fn adamw(gpu: &Gpu, p: View, g: View, m: View, v: View, s: AdamWStep) -> Result<()> {
    let n = p.len;
    let t = s.t.max(1) as i32;
    let prm = Params::new(&[u32_of("adamw", n)?])
        .f(1, s.lr)
        .f(2, s.beta1)
        .f(3, s.beta2)
        .f(4, s.eps)
        .f(5, s.weight_decay)
        .f(6, 1.0 - s.beta1.powi(t))
        .f(7, 1.0 - s.beta2.powi(t));
    gpu.launch(
        "adamw",
        Kernel::new(Shader::Optim, "adamw"),
        &prm,
        &[p.write(1), g.read(2), m.write(3), v.write(4)],
        n as u64,
    )
}

/// teacher ← m·teacher + (1 − m)·student: the exponential moving average
/// that keeps a mean-teacher network (CoSA's assignment network) trailing
/// the online one.
pub fn ema(gpu: &Gpu, teacher: View, student: View, momentum: f32) -> Result<()> {
    let op = "ema";
    if student.len != teacher.len {
        return Err(crate::error::Error::invalid(
            op,
            format!(
                "teacher has {} values, student {}",
                teacher.len, student.len
            ),
        ));
    }
    let prm = Params::new(&[u32_of(op, teacher.len)?]).f(1, momentum);
    gpu.launch(
        op,
        Kernel::new(Shader::Optim, "ema"),
        &prm,
        &[teacher.write(1), student.read(2)],
        teacher.len as u64,
    )
}
