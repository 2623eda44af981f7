//! The checks a stage makes before any work, which a whole run also makes
//! for every stage before its first ([`PipelineConfig::validate`]
//! (crate::pipeline::run::PipelineConfig::validate)): lists that name
//! images, weight files that hold weights, schedules that train. Each
//! settings struct checks its own values first and its files last, so a
//! bad value is named even where the data is missing.

use std::path::Path;

use weakseg_kernels::{Error, Result};

use crate::data::voc::{VocDataset, list_path, parse_list};

/// The list `name` of the dataset at `data` resolves to a file that names
/// at least one image; `stage` is named in the error.
pub fn list(stage: &'static str, data: &Path, name: &str) -> Result<()> {
    let path = list_path(data, name);
    if !path.is_file() {
        return Err(Error::invalid(
            stage,
            format!(
                "list {name:?}: neither {} nor a file {name} exists",
                data.join(format!("ImageSets/Segmentation/{name}.txt"))
                    .display()
            ),
        ));
    }
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(path.display(), e))?;
    if parse_list(&text).is_empty() {
        return Err(Error::invalid(
            stage,
            format!("{}: the list names no image", path.display()),
        ));
    }
    Ok(())
}

/// Each weight file given is a safetensors file whose header fits it.
pub fn weights<'a>(files: impl IntoIterator<Item = &'a Path>) -> Result<()> {
    files
        .into_iter()
        .try_for_each(crate::io::checkpoint::check_header)
}

/// Runs `forward(height, width)` once on the size of the list's largest
/// image before the first image is processed, so an image past the
/// adapter's binding limits fails in seconds, naming the file, its size
/// and the limit, rather than after the images before it.
pub fn largest_image_fits(
    stage: &'static str,
    ds: &VocDataset,
    forward: impl FnOnce(usize, usize) -> Result<()>,
) -> Result<()> {
    let Some(r) = ds.records.iter().max_by_key(|r| r.width * r.height) else {
        return Ok(());
    };
    forward(r.height, r.width).map_err(|e| match e {
        Error::Limit { op, msg } => Error::invalid(
            stage,
            format!(
                "{} ({}×{} px, the list's largest image) does not fit this adapter ({op}: {msg}): \
                 downscale the largest images, or use fewer or smaller scales",
                r.image.display(),
                r.width,
                r.height
            ),
        ),
        e => e,
    })
}

/// A setting that must lie in [0, 1] (a score threshold) does.
pub fn unit(stage: &'static str, name: &str, v: f32) -> Result<()> {
    if (0.0..=1.0).contains(&v) {
        Ok(())
    } else {
        Err(Error::invalid(
            stage,
            format!("{name} {v}: want a number in [0, 1]"),
        ))
    }
}
