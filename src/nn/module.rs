//! The module tree: every layer exposes its parameters, buffers and mode
//! switches under stable dotted names (torchvision's, where a model mirrors
//! one), so checkpoints, freezing and parameter groups all address tensors
//! the same way.

use std::cell::{Cell, RefCell};

use weakseg_kernels::Result;

use crate::tensor::{DType, Tensor, weights_epoch};

/// What a parameter is to the optimiser recipes: biases get their own
/// learning-rate multiplier and no weight decay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Convolution, linear and normalisation scale weights.
    Weight,
    /// Additive biases (normalisation shifts included).
    Bias,
}

/// A trainable tensor. Cloning shares it. A frozen parameter is handed to
/// the forward pass detached, so no gradient reaches it and optimisers built
/// afterwards skip it.
#[derive(Clone)]
pub struct Param {
    tensor: Tensor,
    role: Role,
    frozen: std::rc::Rc<Cell<bool>>,
    half: std::rc::Rc<RefCell<Option<(u64, Tensor)>>>,
}

impl Param {
    /// Wraps `tensor` as a trainable leaf.
    pub fn new(tensor: Tensor, role: Role) -> Param {
        Param {
            tensor: tensor.requires_grad_(),
            role,
            frozen: std::rc::Rc::new(Cell::new(false)),
            half: std::rc::Rc::default(),
        }
    }

    /// The value in f16 for the f16 forward pass, kept between calls and
    /// remade after the weights change (an optimiser step, a load).
    pub fn half(&self) -> Result<Tensor> {
        let epoch = weights_epoch();
        if let Some((e, t)) = &*self.half.borrow() {
            if *e == epoch {
                return Ok(t.clone());
            }
        }
        let t = self.tensor.detach().to_dtype(DType::F16)?;
        *self.half.borrow_mut() = Some((epoch, t.clone()));
        Ok(t)
    }

    /// The tensor to use in a forward pass (detached when frozen).
    pub fn get(&self) -> Tensor {
        if self.frozen.get() {
            self.tensor.detach()
        } else {
            self.tensor.clone()
        }
    }

    /// The leaf itself (for optimisers and checkpoints).
    pub fn leaf(&self) -> &Tensor {
        &self.tensor
    }

    /// Weight or bias.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Whether the parameter is frozen.
    pub fn is_frozen(&self) -> bool {
        self.frozen.get()
    }

    /// Freezes or unfreezes the parameter.
    pub fn set_frozen(&self, frozen: bool) {
        self.frozen.set(frozen);
    }
}

/// The kind of layer a mode switch belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModeKind {
    /// Batch normalisation: training uses batch statistics.
    BatchNorm,
    /// Dropout: active only in training.
    Dropout,
}

/// A layer's mode: training or evaluation, and for batch norm a frozen flag
/// (running statistics and affine parameters fixed even in training, as psa
/// and SEAM train ResNet-38).
pub struct LayerMode {
    kind: ModeKind,
    train: Cell<bool>,
    frozen: Cell<bool>,
}

impl LayerMode {
    /// A new mode switch, in training mode.
    pub fn new(kind: ModeKind) -> LayerMode {
        LayerMode {
            kind,
            train: Cell::new(true),
            frozen: Cell::new(false),
        }
    }

    /// The layer kind.
    pub fn kind(&self) -> ModeKind {
        self.kind
    }

    /// Whether the layer trains (batch statistics, active dropout).
    pub fn training(&self) -> bool {
        self.train.get() && !self.frozen.get()
    }

    /// Whether the layer is frozen.
    pub fn is_frozen(&self) -> bool {
        self.frozen.get()
    }

    /// Sets training mode.
    pub fn set_train(&self, train: bool) {
        self.train.set(train);
    }

    /// Freezes or unfreezes the layer.
    pub fn set_frozen(&self, frozen: bool) {
        self.frozen.set(frozen);
    }
}

/// Receives a module tree's contents, each under its dotted name.
pub trait Visitor {
    /// A trainable parameter.
    fn param(&mut self, name: &str, p: &Param);
    /// A non-trainable tensor saved with the model (running statistics).
    fn buffer(&mut self, _name: &str, _t: &Tensor) {}
    /// A layer's mode switch.
    fn mode(&mut self, _name: &str, _m: &LayerMode) {}
}

/// A node of the module tree.
pub trait Module {
    /// Visits every parameter, buffer and mode switch, names prefixed by `prefix`.
    fn visit(&self, prefix: &str, v: &mut dyn Visitor);
}

/// `prefix.name`, or `name` at the root.
pub fn child(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

/// Whether `name` is `root` or lies in its sub-tree.
pub fn under(name: &str, root: &str) -> bool {
    root.is_empty()
        || name == root
        || (name.starts_with(root) && name.as_bytes().get(root.len()) == Some(&b'.'))
}

struct FnVisitor<P, B, M>(P, B, M);

impl<P: FnMut(&str, &Param), B: FnMut(&str, &Tensor), M: FnMut(&str, &LayerMode)> Visitor
    for FnVisitor<P, B, M>
{
    fn param(&mut self, name: &str, p: &Param) {
        (self.0)(name, p)
    }
    fn buffer(&mut self, name: &str, t: &Tensor) {
        (self.1)(name, t)
    }
    fn mode(&mut self, name: &str, m: &LayerMode) {
        (self.2)(name, m)
    }
}

/// Conveniences every module gets from `visit`.
pub trait ModuleExt: Module {
    /// Every parameter with its dotted name, in definition order.
    fn named_params(&self) -> Vec<(String, Param)> {
        let mut out = Vec::new();
        self.visit(
            "",
            &mut FnVisitor(
                |n: &str, p: &Param| out.push((n.to_string(), p.clone())),
                |_: &str, _: &Tensor| {},
                |_: &str, _: &LayerMode| {},
            ),
        );
        out
    }

    /// Parameters and buffers by dotted name: what a checkpoint holds.
    fn state(&self) -> Vec<(String, Tensor)> {
        let mut out = Vec::new();
        let cell = std::cell::RefCell::new(&mut out);
        self.visit(
            "",
            &mut FnVisitor(
                |n: &str, p: &Param| cell.borrow_mut().push((n.to_string(), p.leaf().clone())),
                |n: &str, t: &Tensor| cell.borrow_mut().push((n.to_string(), t.clone())),
                |_: &str, _: &LayerMode| {},
            ),
        );
        out
    }

    /// Switches the whole tree to training (`true`) or evaluation mode.
    fn set_train(&self, train: bool) {
        self.visit(
            "",
            &mut FnVisitor(
                |_: &str, _: &Param| {},
                |_: &str, _: &Tensor| {},
                |_: &str, m: &LayerMode| m.set_train(train),
            ),
        );
    }

    /// Freezes (or unfreezes) every parameter and layer mode in the
    /// sub-tree `root` ("" for everything; a full name for one parameter).
    fn set_frozen(&self, root: &str, frozen: bool) {
        self.visit(
            "",
            &mut FnVisitor(
                |n: &str, p: &Param| {
                    if under(n, root) {
                        p.set_frozen(frozen)
                    }
                },
                |_: &str, _: &Tensor| {},
                |n: &str, m: &LayerMode| {
                    if under(n, root) && m.kind() == ModeKind::BatchNorm {
                        m.set_frozen(frozen)
                    }
                },
            ),
        );
    }

    /// Freezes every batch-norm layer: running statistics and affine
    /// parameters fixed (psa/SEAM's ResNet-38 recipe).
    fn freeze_batch_norm(&self) {
        let mut bn_roots = Vec::new();
        self.visit(
            "",
            &mut FnVisitor(
                |_: &str, _: &Param| {},
                |_: &str, _: &Tensor| {},
                |n: &str, m: &LayerMode| {
                    if m.kind() == ModeKind::BatchNorm {
                        m.set_frozen(true);
                        bn_roots.push(n.to_string());
                    }
                },
            ),
        );
        self.visit(
            "",
            &mut FnVisitor(
                |n: &str, p: &Param| {
                    if bn_roots.iter().any(|r| under(n, r)) {
                        p.set_frozen(true)
                    }
                },
                |_: &str, _: &Tensor| {},
                |_: &str, _: &LayerMode| {},
            ),
        );
    }

    /// Number of trainable scalars.
    fn num_params(&self) -> usize {
        self.named_params()
            .iter()
            .map(|(_, p)| p.leaf().numel())
            .sum()
    }
}

impl<M: Module + ?Sized> ModuleExt for M {}

/// A list of modules named `0`, `1`, … (torch's `nn.Sequential` numbering).
impl<M: Module> Module for Vec<M> {
    fn visit(&self, prefix: &str, v: &mut dyn Visitor) {
        for (i, m) in self.iter().enumerate() {
            m.visit(&child(prefix, &i.to_string()), v);
        }
    }
}

impl<M: Module> Module for Option<M> {
    fn visit(&self, prefix: &str, v: &mut dyn Visitor) {
        if let Some(m) = self {
            m.visit(prefix, v);
        }
    }
}

impl<M: Module + ?Sized> Module for Box<M> {
    fn visit(&self, prefix: &str, v: &mut dyn Visitor) {
        (**self).visit(prefix, v);
    }
}
