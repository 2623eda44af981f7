//! weakseg-kernels: the GPU engine under weakseg.
//!
//! A device handle ([`Gpu`]) owns a buffer pool with size classes, a cache of
//! compute pipelines, and one command batch that records dispatches and
//! submits them together. [`launch`] holds one typed launcher per WGSL kernel
//! and [`cpu`] the f64 reference of each, used as the test oracle.
//!
//! Nothing here blocks, spawns threads or touches the file system, so the
//! crate builds for `wasm32-unknown-unknown`; readback is a future, with
//! blocking wrappers on native targets only.

pub mod batch;
pub mod cpu;
pub mod device;
pub mod error;
pub mod launch;
pub mod pipeline;
pub mod pool;
mod profile;
pub mod readback;
pub mod shaders;
pub mod view;

pub use batch::{Bind, Params, fold_grid};

/// The most iterations one shader loop may run. Mesa's llvmpipe and
/// lavapipe stop every loop after 65 536 trips (gallivm's guard against
/// endless loops), silently; launchers split longer walks into passes or
/// refuse them with [`Error::Limit`].
pub const MAX_LOOP_TRIPS: usize = 65_536;
pub use device::{AdapterClass, DeviceReport, Gpu};
pub use error::{Error, Result};
pub use pipeline::Kernel;
pub use pool::{GpuBuffer, PoolStats};
pub use readback::PendingRead;
pub use view::View;
