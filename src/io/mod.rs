//! Reading and writing: checkpoints (safetensors + JSON sidecar), images,
//! label maps, float32 `.npy` arrays, and the atomic file write every output goes through.

pub mod checkpoint;
pub mod image;
pub mod labels;
pub mod npy;

/// Writes `bytes` to `path` through a temporary file and a rename, so a
/// crash never leaves a half-written file under the final name.
#[cfg(not(target_arch = "wasm32"))]
pub fn write_atomic(path: &std::path::Path, bytes: &[u8]) -> weakseg_kernels::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension(format!(
        "{}.tmp{}",
        path.extension().and_then(|e| e.to_str()).unwrap_or(""),
        std::process::id()
    ));
    let write = || -> std::io::Result<()> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        weakseg_kernels::Error::io(path.display(), e)
    })
}
