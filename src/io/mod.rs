//! Reading and writing: checkpoints (safetensors + JSON sidecar), images,
//! label maps, and the atomic file write every output goes through.

pub mod checkpoint;
pub mod image;
pub mod labels;

#[cfg(not(target_arch = "wasm32"))]
pub use checkpoint::write_atomic;
