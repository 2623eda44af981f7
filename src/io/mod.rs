//! Reading and writing: checkpoints (safetensors + JSON sidecar), images,
//! label maps, float32 `.npy` arrays, and the atomic file write every output goes through.

pub mod checkpoint;
pub mod image;
pub mod labels;
pub mod npy;

/// Writes `bytes` to `path` through a temporary file and a rename, so a
/// crash never leaves a half-written file under the final name. A symlink
/// at `path` is followed, so the link keeps pointing at the new content;
/// an existing target that is not a regular file (a FIFO, a device, a
/// directory) is refused, as the rename would replace it.
#[cfg(not(target_arch = "wasm32"))]
pub fn write_atomic(path: &std::path::Path, bytes: &[u8]) -> weakseg_kernels::Result<()> {
    use std::io::Write;
    let target = write_target(path)?;
    let tmp = target.with_extension(format!(
        "{}.tmp{}",
        target.extension().and_then(|e| e.to_str()).unwrap_or(""),
        std::process::id()
    ));
    let write = || -> std::io::Result<()> {
        if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &target)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        weakseg_kernels::Error::io(path.display(), e)
    })
}

/// The file a write to `path` replaces: `path`, or the end of the chain of
/// symlinks starting there (which may not exist yet). Refuses a target
/// that exists and is not a regular file.
#[cfg(not(target_arch = "wasm32"))]
fn write_target(path: &std::path::Path) -> weakseg_kernels::Result<std::path::PathBuf> {
    let io = |e: std::io::Error| weakseg_kernels::Error::io(path.display(), e);
    let mut target = path.to_path_buf();
    for _ in 0..40 {
        let meta = match std::fs::symlink_metadata(&target) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(target),
            Err(e) => return Err(io(e)),
        };
        if meta.file_type().is_symlink() {
            let next = std::fs::read_link(&target).map_err(io)?;
            target = match target.parent() {
                Some(dir) if next.is_relative() => dir.join(next),
                _ => next,
            };
            continue;
        }
        if meta.is_file() {
            return Ok(target);
        }
        return Err(weakseg_kernels::Error::io(
            path.display(),
            format!(
                "{} exists and is not a regular file (a directory, FIFO or device); \
                 outputs are written to a temporary file and renamed over their \
                 name, which would replace it: give a file path",
                target.display()
            ),
        ));
    }
    Err(weakseg_kernels::Error::io(
        path.display(),
        "more than 40 symlinks to follow",
    ))
}
