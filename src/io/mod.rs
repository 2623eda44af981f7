//! Reading and writing: checkpoints (safetensors + JSON sidecar) and images.

pub mod checkpoint;
pub mod image;
