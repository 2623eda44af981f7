//! The tensor: a shape, a dtype and contiguous device storage, with the
//! autodiff record of the op that produced it. Views (reshape, detach) share
//! storage without copying.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};

use weakseg_kernels::launch::layout;
use weakseg_kernels::{Error, Gpu, GpuBuffer, PendingRead, Result, View};

/// Element type. Values are f32; labels and indices are u32 or i32; f16
/// holds the activations of the f16 forward pass (see [`Tensor::to_dtype`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DType {
    /// 32-bit float.
    F32,
    /// 32-bit unsigned (labels, indices).
    U32,
    /// 32-bit signed.
    I32,
    /// 16-bit float, forward pass only (needs the adapter's shader-f16).
    F16,
}

impl DType {
    /// 32-bit words that `n` elements occupy (f16 pairs share a word).
    pub fn words(self, n: usize) -> usize {
        match self {
            DType::F16 => n.div_ceil(2),
            _ => n,
        }
    }
}

/// Host element types a tensor can be created from and read back into.
pub trait Element: bytemuck::Pod {
    /// The matching dtype.
    const DTYPE: DType;
}
impl Element for f32 {
    const DTYPE: DType = DType::F32;
}
impl Element for u32 {
    const DTYPE: DType = DType::U32;
}
impl Element for i32 {
    const DTYPE: DType = DType::I32;
}
impl Element for half::f16 {
    const DTYPE: DType = DType::F16;
}

/// Host bytes of `data`, padded with zeros to whole 32-bit words (copies
/// to and from buffers move 4-byte multiples).
fn word_bytes<T: Element>(data: &[T]) -> std::borrow::Cow<'_, [u8]> {
    let bytes: &[u8] = bytemuck::cast_slice(data);
    if bytes.len().is_multiple_of(4) {
        std::borrow::Cow::Borrowed(bytes)
    } else {
        let mut v = bytes.to_vec();
        v.resize(bytes.len().next_multiple_of(4), 0);
        std::borrow::Cow::Owned(v)
    }
}

/// Device memory behind a tensor: a pooled buffer (possibly shared, as in a
/// parameter arena) and a byte offset into it.
pub(crate) struct Storage {
    pub(crate) buf: Rc<GpuBuffer>,
    pub(crate) offset: u64,
}

/// A tensor's storage held for the duration of a launch.
pub(crate) struct Held(Rc<Storage>, usize);

impl Held {
    /// The kernel view of the held elements.
    pub(crate) fn v(&self) -> View<'_> {
        View {
            buf: &self.0.buf,
            offset: self.0.offset,
            len: self.1,
        }
    }
}

/// The backward function of an op: maps the output gradient to one optional
/// gradient per parent. Called at most once, so saved tensors are freed.
pub(crate) type BackwardFn = Box<dyn FnOnce(&Tensor) -> Result<Vec<Option<Tensor>>>>;

pub(crate) struct Node {
    pub(crate) parents: Vec<Tensor>,
    pub(crate) backward: BackwardFn,
}

pub(crate) struct Inner {
    pub(crate) id: usize,
    pub(crate) gpu: Gpu,
    pub(crate) storage: RefCell<Rc<Storage>>,
    pub(crate) shape: Vec<usize>,
    pub(crate) dtype: DType,
    pub(crate) requires_grad: bool,
    pub(crate) node: RefCell<Option<Node>>,
    pub(crate) grad: RefCell<Option<Tensor>>,
    pub(crate) grad_slot: RefCell<Option<Rc<Storage>>>,
}

/// A device tensor with reverse-mode autodiff. Cloning shares the tensor.
#[derive(Clone)]
pub struct Tensor(pub(crate) Rc<Inner>);

static NEXT_ID: AtomicUsize = AtomicUsize::new(1);

thread_local! {
    static GRAD_ENABLED: std::cell::Cell<bool> = const { std::cell::Cell::new(true) };
    static WEIGHTS_EPOCH: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Marks every cached derived copy of the weights (the f16 weights of the
/// f16 forward pass) stale: called whenever tensors change in place
/// (optimiser steps, [`Tensor::assign`], arena moves).
pub(crate) fn bump_weights_epoch() {
    WEIGHTS_EPOCH.with(|e| e.set(e.get() + 1));
}

/// The current weights epoch; a cached copy made at another epoch is stale.
pub(crate) fn weights_epoch() -> u64 {
    WEIGHTS_EPOCH.with(|e| e.get())
}

/// Runs `f` without recording any op for autodiff (inference, metric code,
/// optimiser bookkeeping).
pub fn no_grad<R>(f: impl FnOnce() -> R) -> R {
    let prev = GRAD_ENABLED.with(|g| g.replace(false));
    let r = f();
    GRAD_ENABLED.with(|g| g.set(prev));
    r
}

/// Runs `f` with autodiff recording on, even inside [`no_grad`]: for
/// inference that needs a gradient (Grad-CAM, SmoothGrad).
pub fn enable_grad<R>(f: impl FnOnce() -> R) -> R {
    let prev = GRAD_ENABLED.with(|g| g.replace(true));
    let r = f();
    GRAD_ENABLED.with(|g| g.set(prev));
    r
}

/// Whether ops are currently recorded for autodiff.
pub fn grad_enabled() -> bool {
    GRAD_ENABLED.with(|g| g.get())
}

impl std::fmt::Debug for Tensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Tensor({:?}, {:?}{})",
            self.shape(),
            self.dtype(),
            if self.requires_grad() { ", grad" } else { "" }
        )
    }
}

impl Tensor {
    fn build(
        gpu: &Gpu,
        storage: Rc<Storage>,
        shape: Vec<usize>,
        dtype: DType,
        requires_grad: bool,
        node: Option<Node>,
    ) -> Tensor {
        Tensor(Rc::new(Inner {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            gpu: gpu.clone(),
            storage: RefCell::new(storage),
            shape,
            dtype,
            requires_grad,
            node: RefCell::new(node),
            grad: RefCell::new(None),
            grad_slot: RefCell::new(None),
        }))
    }

    /// An uninitialised tensor (contents undefined) from the pool.
    pub fn empty(gpu: &Gpu, shape: &[usize], dtype: DType) -> Result<Tensor> {
        let n: usize = shape.iter().product();
        let buf = gpu.alloc(dtype.words(n) as u64 * 4)?;
        Ok(Self::build(
            gpu,
            Rc::new(Storage {
                buf: Rc::new(buf),
                offset: 0,
            }),
            shape.to_vec(),
            dtype,
            false,
            None,
        ))
    }

    /// A tensor over existing storage (no copy, no gradient).
    pub(crate) fn from_storage(gpu: &Gpu, storage: Rc<Storage>, shape: Vec<usize>) -> Tensor {
        Self::build(gpu, storage, shape, DType::F32, false, None)
    }

    /// A tensor holding host data; the length must match the shape.
    pub fn from_slice<T: Element>(gpu: &Gpu, data: &[T], shape: &[usize]) -> Result<Tensor> {
        let n: usize = shape.iter().product();
        if data.len() != n {
            return Err(Error::invalid(
                "from_slice",
                format!("{} values for shape {shape:?} ({n} elements)", data.len()),
            ));
        }
        let buf = gpu.upload(&word_bytes(data))?;
        Ok(Self::build(
            gpu,
            Rc::new(Storage {
                buf: Rc::new(buf),
                offset: 0,
            }),
            shape.to_vec(),
            T::DTYPE,
            false,
            None,
        ))
    }

    /// A tensor filled with one f32 value.
    pub fn full(gpu: &Gpu, shape: &[usize], value: f32) -> Result<Tensor> {
        let t = Self::empty(gpu, shape, DType::F32)?;
        layout::fill(gpu, t.held().v(), value.to_bits())?;
        Ok(t)
    }

    /// Zeros.
    pub fn zeros(gpu: &Gpu, shape: &[usize]) -> Result<Tensor> {
        Self::full(gpu, shape, 0.0)
    }

    /// Ones.
    pub fn ones(gpu: &Gpu, shape: &[usize]) -> Result<Tensor> {
        Self::full(gpu, shape, 1.0)
    }

    /// The same data marked as a leaf that accumulates gradients.
    pub fn requires_grad_(self) -> Tensor {
        let s = self.storage();
        Self::build(
            &self.0.gpu,
            s,
            self.0.shape.clone(),
            self.0.dtype,
            true,
            None,
        )
    }

    /// The same data, cut from the autodiff graph.
    pub fn detach(&self) -> Tensor {
        Self::build(
            &self.0.gpu,
            self.storage(),
            self.0.shape.clone(),
            self.0.dtype,
            false,
            None,
        )
    }

    /// Overwrites the tensor's values in place (loading weights into a
    /// model, even after an optimiser gathered them into its arena).
    pub fn assign<T: Element>(&self, data: &[T]) -> Result<()> {
        self.check_dtype("assign", T::DTYPE)?;
        if data.len() != self.numel() {
            return Err(Error::invalid(
                "assign",
                format!(
                    "{} values for a tensor of shape {:?}",
                    data.len(),
                    self.shape()
                ),
            ));
        }
        let s = self.storage();
        bump_weights_epoch();
        self.0.gpu.write_at(&s.buf, s.offset, &word_bytes(data))
    }

    /// Shape.
    pub fn shape(&self) -> &[usize] {
        &self.0.shape
    }

    /// Number of axes.
    pub fn rank(&self) -> usize {
        self.0.shape.len()
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.0.shape.iter().product()
    }

    /// Element type.
    pub fn dtype(&self) -> DType {
        self.0.dtype
    }

    /// The device.
    pub fn gpu(&self) -> &Gpu {
        &self.0.gpu
    }

    /// Whether gradients flow to or through this tensor.
    pub fn requires_grad(&self) -> bool {
        self.0.requires_grad
    }

    /// A unique identifier (graph bookkeeping).
    pub fn id(&self) -> usize {
        self.0.id
    }

    /// The accumulated gradient of a leaf, if any.
    pub fn grad(&self) -> Option<Tensor> {
        if let Some(slot) = self.0.grad_slot.borrow().as_ref() {
            return Some(Self::build(
                &self.0.gpu,
                slot.clone(),
                self.0.shape.clone(),
                DType::F32,
                false,
                None,
            ));
        }
        self.0.grad.borrow().clone()
    }

    /// Clears the accumulated gradient of a leaf (arena slots are zeroed by the optimiser).
    pub fn zero_grad(&self) {
        *self.0.grad.borrow_mut() = None;
    }

    pub(crate) fn grad_slot_held(&self) -> Option<Held> {
        self.0
            .grad_slot
            .borrow()
            .as_ref()
            .map(|s| Held(s.clone(), self.numel()))
    }

    pub(crate) fn storage(&self) -> Rc<Storage> {
        self.0.storage.borrow().clone()
    }

    /// Holds this tensor's storage so kernel views can borrow from it.
    pub(crate) fn held(&self) -> Held {
        Held(self.storage(), self.0.dtype.words(self.numel()))
    }

    fn start_read<T: Element>(&self) -> Result<PendingRead> {
        self.check_dtype("to_vec", T::DTYPE)?;
        let s = self.storage();
        let words = self.0.dtype.words(self.numel());
        self.0.gpu.read(&s.buf, s.offset, words as u64 * 4)
    }

    /// The first `numel` elements of bytes read back.
    fn elements<T: Element>(&self, bytes: &[u8]) -> Vec<T> {
        bytemuck::cast_slice::<u8, T>(bytes)[..self.numel()].to_vec()
    }

    /// Reads the tensor back to the host.
    pub async fn to_vec<T: Element>(&self) -> Result<Vec<T>> {
        Ok(self.elements(&self.start_read::<T>()?.await?))
    }

    /// Reads the tensor back, blocking until done (native only).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn to_vec_blocking<T: Element>(&self) -> Result<Vec<T>> {
        Ok(self.elements(&self.start_read::<T>()?.wait()?))
    }

    /// Reads a one-element f32 tensor (native only).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn item(&self) -> Result<f32> {
        if self.numel() != 1 {
            return Err(Error::invalid(
                "item",
                format!("shape {:?} is not a single element", self.shape()),
            ));
        }
        Ok(self.to_vec_blocking::<f32>()?[0])
    }

    pub(crate) fn check_dtype(&self, op: &'static str, want: DType) -> Result<()> {
        if self.0.dtype != want {
            return Err(Error::invalid(
                op,
                format!(
                    "expects {want:?}, got a {:?} tensor of shape {:?}",
                    self.0.dtype,
                    self.shape()
                ),
            ));
        }
        Ok(())
    }

    /// Refuses f16 tensors in ops that move 32-bit words (layout moves,
    /// gathers), naming the ops f16 supports.
    pub(crate) fn check_words(&self, op: &'static str) -> Result<()> {
        if self.0.dtype == DType::F16 {
            return Err(Error::invalid(
                op,
                format!(
                    "f16 tensors (shape {:?}) support only the forward-pass ops conv2d, \
                     batch_norm in evaluation, relu, add and pooling; convert with to_dtype(F32)",
                    self.shape()
                ),
            ));
        }
        Ok(())
    }

    pub(crate) fn same_device(&self, op: &'static str, other: &Tensor) -> Result<()> {
        if self.0.gpu.id() != other.0.gpu.id() {
            return Err(Error::DeviceMismatch { op });
        }
        Ok(())
    }

    /// A new tensor over the same storage with another shape (no copy).
    pub(crate) fn alias(&self, shape: Vec<usize>) -> Tensor {
        Self::build(
            &self.0.gpu,
            self.storage(),
            shape,
            self.0.dtype,
            false,
            None,
        )
    }

    /// Records `out` as the result of an op over `parents` with `backward`,
    /// when autodiff is on and some parent needs gradients.
    pub(crate) fn record(
        out: Tensor,
        parents: &[&Tensor],
        backward: impl FnOnce(&Tensor) -> Result<Vec<Option<Tensor>>> + 'static,
    ) -> Tensor {
        if !grad_enabled() || !parents.iter().any(|p| p.requires_grad()) {
            return out;
        }
        let node = Node {
            parents: parents.iter().map(|p| (*p).clone()).collect(),
            backward: Box::new(backward),
        };
        let Inner {
            gpu, shape, dtype, ..
        } = &*out.0;
        Self::build(gpu, out.storage(), shape.clone(), *dtype, true, Some(node))
    }

    /// Points a parameter at new storage (used by optimisers to gather
    /// parameters into one arena) and gives it a gradient slot there.
    pub(crate) fn relocate(&self, storage: Rc<Storage>, grad_slot: Rc<Storage>) {
        bump_weights_epoch();
        *self.0.storage.borrow_mut() = storage;
        *self.0.grad_slot.borrow_mut() = Some(grad_slot);
        *self.0.grad.borrow_mut() = None;
    }
}
