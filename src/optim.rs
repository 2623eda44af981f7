//! Optimisers and learning-rate schedules. An optimiser gathers each
//! parameter group into one device arena (parameters, gradients and state
//! side by side), so a step over any number of tensors is one dispatch per
//! group, and `zero_grad` one fill per group.

use std::rc::Rc;

use weakseg_kernels::launch::layout::fill;
use weakseg_kernels::launch::optim::{AdamWStep, SgdStep, adamw, sgd};
use weakseg_kernels::{Error, Gpu, GpuBuffer, Result, View};

use crate::tensor::{DType, Storage, Tensor};

/// Parameters that share learning-rate and weight-decay multipliers (the
/// psa/IRN recipe: backbone ×1, new layers ×10, biases ×2 without decay).
pub struct ParamGroup {
    /// The parameter tensors (leaves that require gradients).
    pub params: Vec<Tensor>,
    /// Multiplier of the base learning rate.
    pub lr_mult: f32,
    /// Multiplier of the base weight decay.
    pub wd_mult: f32,
}

impl ParamGroup {
    /// A group with multipliers 1.
    pub fn new(params: Vec<Tensor>) -> Self {
        ParamGroup {
            params,
            lr_mult: 1.0,
            wd_mult: 1.0,
        }
    }
}

struct Arena {
    params: Rc<GpuBuffer>,
    grads: Rc<GpuBuffer>,
    state: Vec<Rc<GpuBuffer>>,
    len: usize,
    lr_mult: f32,
    wd_mult: f32,
    tensors: Vec<Tensor>,
}

impl Arena {
    fn build(gpu: &Gpu, g: ParamGroup, states: usize) -> Result<Arena> {
        let align = (gpu.limits().min_storage_buffer_offset_alignment as usize / 4).max(64);
        let mut offsets = Vec::new();
        let mut len = 0;
        for p in &g.params {
            if !p.requires_grad() || p.dtype() != DType::F32 {
                return Err(Error::invalid(
                    "optimizer",
                    format!(
                        "parameter {:?} must be an f32 leaf that requires gradients",
                        p.shape()
                    ),
                ));
            }
            if p.gpu().id() != gpu.id() {
                return Err(Error::DeviceMismatch { op: "optimizer" });
            }
            offsets.push(len);
            len += p.numel().div_ceil(align) * align;
        }
        let len = len.max(1);
        let zeroed = |n: usize| -> Result<GpuBuffer> {
            let b = gpu.alloc(n as u64 * 4)?;
            fill(gpu, View::new(&b, n), 0)?;
            Ok(b)
        };
        let params = Rc::new(zeroed(len)?);
        let grads = Rc::new(zeroed(len)?);
        let state = (0..states)
            .map(|_| zeroed(len).map(Rc::new))
            .collect::<Result<Vec<_>>>()?;
        for (p, &off) in g.params.iter().zip(&offsets) {
            let s = p.storage();
            gpu.copy(
                &s.buf,
                s.offset,
                &params,
                off as u64 * 4,
                p.numel() as u64 * 4,
            )?;
            let at = |buf: &Rc<GpuBuffer>| {
                Rc::new(Storage {
                    buf: buf.clone(),
                    offset: off as u64 * 4,
                })
            };
            p.relocate(at(&params), at(&grads));
        }
        Ok(Arena {
            params,
            grads,
            state,
            len,
            lr_mult: g.lr_mult,
            wd_mult: g.wd_mult,
            tensors: g.params,
        })
    }

    fn zero_grad(&self, gpu: &Gpu) -> Result<()> {
        fill(gpu, View::new(&self.grads, self.len), 0)
    }
}

/// Tensor views of every arena's state buffers, named `group{i}.state{k}`.
fn state_views(gpu: &Gpu, arenas: &[Arena]) -> Vec<(String, Tensor)> {
    let mut out = Vec::new();
    for (i, a) in arenas.iter().enumerate() {
        for (k, buf) in a.state.iter().enumerate() {
            let storage = Rc::new(Storage {
                buf: buf.clone(),
                offset: 0,
            });
            out.push((
                format!("group{i}.state{k}"),
                Tensor::from_storage(gpu, storage, vec![a.len]),
            ));
        }
    }
    out
}

/// What a training loop needs of an optimiser: zero, step, set the rate,
/// and expose its state so a checkpoint can resume it.
pub trait Optimizer {
    /// Zeroes every gradient.
    fn zero_grad(&self) -> Result<()>;
    /// One update of every parameter.
    fn step(&mut self) -> Result<()>;
    /// Sets the base learning rate (group multipliers still apply).
    fn set_lr(&mut self, lr: f32);
    /// Updates taken so far.
    fn steps(&self) -> u64;
    /// Sets the update count (when resuming).
    fn set_steps(&mut self, steps: u64);
    /// The state buffers (momentum, moments) by name, as device tensors
    /// that can be read for a checkpoint and assigned when resuming.
    fn state(&self) -> Vec<(String, Tensor)>;
}

fn build_arenas(groups: Vec<ParamGroup>, states: usize) -> Result<(Gpu, Vec<Arena>)> {
    let gpu = groups
        .iter()
        .flat_map(|g| g.params.first())
        .next()
        .map(|p| p.gpu().clone())
        .ok_or_else(|| Error::invalid("optimizer", "no parameters given"))?;
    let arenas = groups
        .into_iter()
        .map(|g| Arena::build(&gpu, g, states))
        .collect::<Result<Vec<_>>>()?;
    Ok((gpu, arenas))
}

/// Stochastic gradient descent with momentum, Nesterov and weight decay (torch semantics).
pub struct Sgd {
    gpu: Gpu,
    arenas: Vec<Arena>,
    /// Base learning rate (schedules set it each step).
    pub lr: f32,
    /// Momentum.
    pub momentum: f32,
    /// Dampening.
    pub dampening: f32,
    /// Base weight decay.
    pub weight_decay: f32,
    /// Nesterov momentum.
    pub nesterov: bool,
    steps: u64,
}

impl Sgd {
    /// Gathers the groups into arenas; the parameters keep working as before.
    pub fn new(
        groups: Vec<ParamGroup>,
        lr: f32,
        momentum: f32,
        weight_decay: f32,
        nesterov: bool,
    ) -> Result<Sgd> {
        let (gpu, arenas) = build_arenas(groups, 1)?;
        Ok(Sgd {
            gpu,
            arenas,
            lr,
            momentum,
            dampening: 0.0,
            weight_decay,
            nesterov,
            steps: 0,
        })
    }

    /// Zeroes every gradient (one fill per group).
    pub fn zero_grad(&self) -> Result<()> {
        self.arenas.iter().try_for_each(|a| a.zero_grad(&self.gpu))
    }

    /// One update of every parameter (one dispatch per group).
    pub fn step(&mut self) -> Result<()> {
        crate::tensor::bump_weights_epoch();
        for a in &self.arenas {
            let s = SgdStep {
                lr: self.lr * a.lr_mult,
                momentum: self.momentum,
                dampening: self.dampening,
                weight_decay: self.weight_decay * a.wd_mult,
                nesterov: self.nesterov,
                first: self.steps == 0,
            };
            sgd(
                &self.gpu,
                View::new(&a.params, a.len),
                View::new(&a.grads, a.len),
                View::new(&a.state[0], a.len),
                s,
            )?;
        }
        self.steps += 1;
        Ok(())
    }

    /// The parameters, group by group.
    pub fn params(&self) -> impl Iterator<Item = &Tensor> {
        self.arenas.iter().flat_map(|a| a.tensors.iter())
    }
}

impl Optimizer for Sgd {
    fn zero_grad(&self) -> Result<()> {
        Sgd::zero_grad(self)
    }
    fn step(&mut self) -> Result<()> {
        Sgd::step(self)
    }
    fn set_lr(&mut self, lr: f32) {
        self.lr = lr;
    }
    fn steps(&self) -> u64 {
        self.steps
    }
    fn set_steps(&mut self, steps: u64) {
        self.steps = steps;
    }
    fn state(&self) -> Vec<(String, Tensor)> {
        state_views(&self.gpu, &self.arenas)
    }
}

/// AdamW: Adam with decoupled weight decay.
pub struct AdamW {
    gpu: Gpu,
    arenas: Vec<Arena>,
    /// Base learning rate.
    pub lr: f32,
    /// β₁, β₂.
    pub betas: (f32, f32),
    /// ε.
    pub eps: f32,
    /// Base weight decay.
    pub weight_decay: f32,
    steps: u32,
}

impl AdamW {
    /// Gathers the groups into arenas with first and second moment state.
    pub fn new(groups: Vec<ParamGroup>, lr: f32, weight_decay: f32) -> Result<AdamW> {
        let (gpu, arenas) = build_arenas(groups, 2)?;
        Ok(AdamW {
            gpu,
            arenas,
            lr,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay,
            steps: 0,
        })
    }

    /// Zeroes every gradient.
    pub fn zero_grad(&self) -> Result<()> {
        self.arenas.iter().try_for_each(|a| a.zero_grad(&self.gpu))
    }

    /// One update of every parameter (one dispatch per group).
    pub fn step(&mut self) -> Result<()> {
        crate::tensor::bump_weights_epoch();
        self.steps += 1;
        for a in &self.arenas {
            let s = AdamWStep {
                lr: self.lr * a.lr_mult,
                beta1: self.betas.0,
                beta2: self.betas.1,
                eps: self.eps,
                weight_decay: self.weight_decay * a.wd_mult,
                t: self.steps,
            };
            let n = a.len;
            adamw(
                &self.gpu,
                View::new(&a.params, n),
                View::new(&a.grads, n),
                View::new(&a.state[0], n),
                View::new(&a.state[1], n),
                s,
            )?;
        }
        Ok(())
    }
}

impl Optimizer for AdamW {
    fn zero_grad(&self) -> Result<()> {
        AdamW::zero_grad(self)
    }
    fn step(&mut self) -> Result<()> {
        AdamW::step(self)
    }
    fn set_lr(&mut self, lr: f32) {
        self.lr = lr;
    }
    fn steps(&self) -> u64 {
        self.steps as u64
    }
    fn set_steps(&mut self, steps: u64) {
        self.steps = steps.min(u32::MAX as u64) as u32;
    }
    fn state(&self) -> Vec<(String, Tensor)> {
        state_views(&self.gpu, &self.arenas)
    }
}

/// Learning-rate schedules.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LrSchedule {
    /// The base rate throughout.
    Constant,
    /// base·(1 − step/total)^power after a linear warm-up of `warmup` steps
    /// from `warmup_ratio`·base (psa/IRN use power 0.9 and no warm-up).
    Poly {
        /// Exponent (0.9).
        power: f32,
        /// Warm-up steps.
        warmup: u64,
        /// Starting fraction of the base rate during warm-up.
        warmup_ratio: f32,
    },
    /// base·gamma^⌊step/every⌋.
    Step {
        /// Steps between decays.
        every: u64,
        /// Decay factor.
        gamma: f32,
    },
    /// Cosine from base to `min` over the run.
    Cosine {
        /// Final rate.
        min: f32,
    },
}

impl LrSchedule {
    /// The learning rate at `step` of `total` for base rate `base`.
    pub fn at(&self, base: f32, step: u64, total: u64) -> f32 {
        let total = total.max(1);
        let frac = (step.min(total) as f32) / total as f32;
        match *self {
            LrSchedule::Constant => base,
            LrSchedule::Poly {
                power,
                warmup,
                warmup_ratio,
            } => {
                if step < warmup {
                    let t = step as f32 / warmup as f32;
                    base * (warmup_ratio + (1.0 - warmup_ratio) * t)
                } else {
                    base * (1.0 - frac).max(0.0).powf(power)
                }
            }
            LrSchedule::Step { every, gamma } => base * gamma.powi((step / every.max(1)) as i32),
            LrSchedule::Cosine { min } => {
                min + (base - min) * 0.5 * (1.0 + (std::f32::consts::PI * frac).cos())
            }
        }
    }
}
