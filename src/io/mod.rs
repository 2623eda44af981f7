//! Reading and writing: checkpoints (safetensors + JSON sidecar).

pub mod checkpoint;
