//! The layers WSSS networks are made of: convolution, batch and group
//! normalisation, linear, dropout, activations. Parameter names follow torch
//! (`weight`, `bias`, `running_mean`, `running_var`).

use std::cell::Cell;

use weakseg_kernels::{Error, Gpu, Result};

use crate::nn::init::{Fan, Init, Initializer};
use crate::nn::module::{LayerMode, ModeKind, Module, Param, Role, Visitor, child};
use crate::ops::conv::ConvOpts;
use crate::ops::norm::RunningStats;
use crate::tensor::{DType, Tensor};

/// Creates layers on one device from one seeded initialiser, so a model
/// built twice with the same seed has the same weights and dropout masks.
pub struct Builder {
    gpu: Gpu,
    init: Initializer,
    seeds: u32,
}

impl Builder {
    /// A builder for `gpu`, seeded.
    pub fn new(gpu: &Gpu, seed: u64) -> Builder {
        Builder {
            gpu: gpu.clone(),
            init: Initializer::new(seed),
            seeds: (seed as u32).wrapping_mul(0x9E37_79B9),
        }
    }

    /// The device.
    pub fn gpu(&self) -> &Gpu {
        &self.gpu
    }

    /// A new parameter of `shape` drawn from `rule`.
    pub fn param(&mut self, shape: &[usize], rule: Init, role: Role) -> Result<Param> {
        let v = self.init.values(shape, rule);
        Ok(Param::new(Tensor::from_slice(&self.gpu, &v, shape)?, role))
    }

    /// A non-trainable tensor filled with `value`.
    pub fn buffer(&self, shape: &[usize], value: f32) -> Result<Tensor> {
        Tensor::full(&self.gpu, shape, value)
    }

    fn next_seed(&mut self) -> u32 {
        self.seeds = self.seeds.wrapping_add(0x6D2B_79F5);
        self.seeds
    }
}

/// A 2-D convolution, weight [out, in/groups, k, k].
pub struct Conv2d {
    /// Kernel weights.
    pub weight: Param,
    /// Optional bias [out].
    pub bias: Option<Param>,
    /// Stride, padding, dilation, groups.
    pub opts: ConvOpts,
}

impl Conv2d {
    /// A k×k convolution initialised Kaiming-normal (fan_out), bias zero.
    pub fn new(
        b: &mut Builder,
        cin: usize,
        cout: usize,
        k: usize,
        opts: ConvOpts,
        bias: bool,
    ) -> Result<Conv2d> {
        Self::with_init(b, cin, cout, k, opts, bias, Init::KaimingNormal(Fan::Out))
    }

    /// A k×k convolution with an explicit weight initialiser.
    pub fn with_init(
        b: &mut Builder,
        cin: usize,
        cout: usize,
        k: usize,
        opts: ConvOpts,
        bias: bool,
        init: Init,
    ) -> Result<Conv2d> {
        if opts.groups == 0 || !cin.is_multiple_of(opts.groups) || !cout.is_multiple_of(opts.groups)
        {
            return Err(Error::invalid(
                "Conv2d",
                format!(
                    "{cin}→{cout} channels do not divide into {} groups",
                    opts.groups
                ),
            ));
        }
        let weight = b.param(&[cout, cin / opts.groups, k, k], init, Role::Weight)?;
        let bias = if bias {
            Some(b.param(&[cout], Init::Constant(0.0), Role::Bias)?)
        } else {
            None
        };
        Ok(Conv2d { weight, bias, opts })
    }

    /// Applies the convolution to NCHW `x`. An f16 input runs the f16 forward pass with the layer's cached f16 weights.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let bias = self.bias.as_ref().map(Param::get);
        let weight = if x.dtype() == DType::F16 {
            self.weight.half()?
        } else {
            self.weight.get()
        };
        x.conv2d(&weight, bias.as_ref(), self.opts)
    }

    /// Output channels.
    pub fn out_channels(&self) -> usize {
        self.weight.leaf().shape()[0]
    }
}

/// Visits a `weight` and an optional `bias` (convolution and linear layers).
fn visit_weight_bias(prefix: &str, weight: &Param, bias: Option<&Param>, v: &mut dyn Visitor) {
    v.param(&child(prefix, "weight"), weight);
    if let Some(b) = bias {
        v.param(&child(prefix, "bias"), b);
    }
}

impl Module for Conv2d {
    fn visit(&self, prefix: &str, v: &mut dyn Visitor) {
        visit_weight_bias(prefix, &self.weight, self.bias.as_ref(), v);
    }
}

/// Batch normalisation over channels, with running statistics and a frozen
/// mode (statistics and affine fixed).
pub struct BatchNorm2d {
    /// Scale γ [C].
    pub weight: Param,
    /// Shift β [C].
    pub bias: Param,
    /// Running mean [C].
    pub running_mean: Tensor,
    /// Running variance [C].
    pub running_var: Tensor,
    /// Variance epsilon.
    pub eps: f32,
    /// Running-statistics update factor.
    pub momentum: f32,
    /// Training / evaluation / frozen.
    pub mode: LayerMode,
}

impl BatchNorm2d {
    /// γ = 1, β = 0, mean 0, variance 1, eps 1e-5, momentum 0.1 (torch's defaults).
    pub fn new(b: &mut Builder, c: usize) -> Result<BatchNorm2d> {
        Ok(BatchNorm2d {
            weight: b.param(&[c], Init::Constant(1.0), Role::Weight)?,
            bias: b.param(&[c], Init::Constant(0.0), Role::Bias)?,
            running_mean: b.buffer(&[c], 0.0)?,
            running_var: b.buffer(&[c], 1.0)?,
            eps: 1e-5,
            momentum: 0.1,
            mode: LayerMode::new(ModeKind::BatchNorm),
        })
    }

    /// Normalises NCHW (or [N, C]) `x`: batch statistics when training,
    /// running statistics in evaluation or frozen mode.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let running = RunningStats {
            mean: &self.running_mean,
            var: &self.running_var,
            momentum: self.momentum,
        };
        x.batch_norm(
            &self.weight.get(),
            &self.bias.get(),
            Some(running),
            self.mode.training(),
            self.eps,
        )
    }
}

impl Module for BatchNorm2d {
    fn visit(&self, prefix: &str, v: &mut dyn Visitor) {
        v.param(&child(prefix, "weight"), &self.weight);
        v.param(&child(prefix, "bias"), &self.bias);
        v.buffer(&child(prefix, "running_mean"), &self.running_mean);
        v.buffer(&child(prefix, "running_var"), &self.running_var);
        v.mode(prefix, &self.mode);
    }
}

/// Group normalisation with affine γ, β.
pub struct GroupNorm {
    /// Number of groups.
    pub groups: usize,
    /// Scale γ [C].
    pub weight: Param,
    /// Shift β [C].
    pub bias: Param,
    /// Variance epsilon.
    pub eps: f32,
}

impl GroupNorm {
    /// γ = 1, β = 0, eps 1e-5.
    pub fn new(b: &mut Builder, groups: usize, c: usize) -> Result<GroupNorm> {
        if groups == 0 || !c.is_multiple_of(groups) {
            return Err(Error::invalid(
                "GroupNorm",
                format!("{c} channels do not divide into {groups} groups"),
            ));
        }
        Ok(GroupNorm {
            groups,
            weight: b.param(&[c], Init::Constant(1.0), Role::Weight)?,
            bias: b.param(&[c], Init::Constant(0.0), Role::Bias)?,
            eps: 1e-5,
        })
    }

    /// Normalises NCHW `x` per sample and group.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.group_norm(self.groups, &self.weight.get(), &self.bias.get(), self.eps)
    }
}

impl Module for GroupNorm {
    fn visit(&self, prefix: &str, v: &mut dyn Visitor) {
        v.param(&child(prefix, "weight"), &self.weight);
        v.param(&child(prefix, "bias"), &self.bias);
    }
}

/// A fully connected layer, weight [out, in] (torch's layout).
pub struct Linear {
    /// Weights [out, in].
    pub weight: Param,
    /// Optional bias [out].
    pub bias: Option<Param>,
}

impl Linear {
    /// Xavier-uniform weights (gain 1), zero bias.
    pub fn new(b: &mut Builder, cin: usize, cout: usize, bias: bool) -> Result<Linear> {
        Ok(Linear {
            weight: b.param(&[cout, cin], Init::XavierUniform(1.0), Role::Weight)?,
            bias: if bias {
                Some(b.param(&[cout], Init::Constant(0.0), Role::Bias)?)
            } else {
                None
            },
        })
    }

    /// y = x Wᵀ + b for x [N, in].
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let y = x.matmul(&self.weight.get().transpose(0, 1)?)?;
        match &self.bias {
            Some(b) => y.add(&b.get()),
            None => Ok(y),
        }
    }
}

impl Module for Linear {
    fn visit(&self, prefix: &str, v: &mut dyn Visitor) {
        visit_weight_bias(prefix, &self.weight, self.bias.as_ref(), v);
    }
}

/// Element dropout (`channels` false) or channel dropout (Dropout2d), active
/// only in training; each call draws a fresh mask from a seeded sequence.
pub struct Dropout {
    /// Drop probability.
    pub p: f32,
    /// Drop whole channels instead of elements.
    pub channels: bool,
    /// Training / evaluation.
    pub mode: LayerMode,
    seed: Cell<u32>,
}

impl Dropout {
    /// Element dropout with probability `p`.
    pub fn new(b: &mut Builder, p: f32) -> Dropout {
        Self::make(b, p, false)
    }

    /// Channel dropout (Dropout2d) with probability `p`.
    pub fn new_2d(b: &mut Builder, p: f32) -> Dropout {
        Self::make(b, p, true)
    }

    fn make(b: &mut Builder, p: f32, channels: bool) -> Dropout {
        Dropout {
            p,
            channels,
            mode: LayerMode::new(ModeKind::Dropout),
            seed: Cell::new(b.next_seed()),
        }
    }

    /// Applies dropout in training mode; the identity in evaluation.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        if !self.mode.training() || self.p == 0.0 {
            return Ok(x.clone());
        }
        let seed = self.seed.get();
        self.seed.set(seed.wrapping_add(0x9E37_79B9));
        if self.channels {
            x.dropout2d(self.p, seed)
        } else {
            x.dropout(self.p, seed)
        }
    }
}

impl Module for Dropout {
    fn visit(&self, prefix: &str, v: &mut dyn Visitor) {
        v.mode(prefix, &self.mode);
    }
}

/// The activations a layer can be configured with.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Activation {
    /// No activation.
    Identity,
    /// max(x, 0).
    Relu,
    /// x for x > 0, slope·x otherwise.
    LeakyRelu(f32),
    /// x for x > 0, α(eˣ − 1) otherwise.
    Elu(f32),
    /// 1/(1 + e⁻ˣ).
    Sigmoid,
    /// tanh.
    Tanh,
}

impl Activation {
    /// Applies the activation.
    pub fn apply(&self, x: &Tensor) -> Result<Tensor> {
        match *self {
            Activation::Identity => Ok(x.clone()),
            Activation::Relu => x.relu(),
            Activation::LeakyRelu(s) => x.leaky_relu(s),
            Activation::Elu(a) => x.elu(a),
            Activation::Sigmoid => x.sigmoid(),
            Activation::Tanh => x.tanh(),
        }
    }
}
