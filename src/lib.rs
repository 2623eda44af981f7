//! weakseg: weakly supervised semantic segmentation on a handwritten
//! wgpu/WGSL compute engine with its own reverse-mode autodiff.
//!
//! Layers, from the bottom: [`weakseg_kernels`] (device, pool, kernels),
//! [`Tensor`] with autodiff ([`tensor`], [`autograd`], [`ops`]), and the
//! optimisers ([`optim`]).

pub mod autograd;
#[cfg(not(target_arch = "wasm32"))]
pub mod bench;
pub mod cam;
pub mod data;
pub mod interactive;
pub mod io;
pub mod losses;
pub mod methods;
pub mod metrics;
pub mod models;
pub mod nn;
pub mod ops;
pub mod optim;
pub mod pictures;
#[cfg(not(target_arch = "wasm32"))]
pub mod pipeline;
pub mod refine;
pub mod spml;
pub mod tensor;
#[cfg(not(target_arch = "wasm32"))]
pub mod train;

pub use ops::conv::ConvOpts;
pub use ops::norm::RunningStats;
pub use ops::resize::ResizeMode;
pub use tensor::{DType, Element, Tensor, no_grad};
pub use weakseg_kernels::{self as kernels, Error, Gpu, Result};
