//! Datasets and batching: what the training loop consumes. Class lists,
//! VOC-style annotations, the VOC reader, the synthetic WSSS benchmark,
//! joint augmentation and the prefetching loader live in submodules.

pub mod annotations;
pub mod augment;
pub mod classes;
pub mod loader;
pub mod sparse;
pub mod synth;
#[cfg(not(target_arch = "wasm32"))]
pub mod voc;

use weakseg_kernels::{Error, Gpu, Result};

use crate::tensor::Tensor;

/// A well-spread seed for `stream` of the run seeded by `seed`: the
/// splitmix64 finaliser of their XOR. Sample augmentation and synthetic
/// images draw their randomness from it, so each depends only on its inputs.
pub fn mix_seed(seed: u64, stream: u64) -> u64 {
    let mut z = seed ^ stream;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// One training example in host memory.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// Normalised image, CHW (3 channels).
    pub image: Vec<f32>,
    /// Image height.
    pub height: usize,
    /// Image width.
    pub width: usize,
    /// Multi-hot image-level labels (foreground classes).
    pub labels: Vec<f32>,
    /// Optional per-pixel labels (255 = ignore), row-major h×w.
    pub mask: Option<Vec<u32>>,
    /// Optional per-pixel maps aligned with the image (CAMs), C×h×w.
    pub cam: Option<Vec<f32>>,
}

/// An indexable source of samples. `seed` drives the sample's random
/// augmentation, so an epoch is reproducible from the run's seed.
pub trait Dataset {
    /// Number of samples.
    fn len(&self) -> usize;
    /// Whether the dataset is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Sample `index`, augmented with `seed`.
    fn sample(&self, index: usize, seed: u64) -> Result<Sample>;
}

/// Samples stacked on the device.
pub struct Batch {
    /// Images [B, 3, H, W].
    pub images: Tensor,
    /// Labels [B, K].
    pub labels: Tensor,
    /// Pixel labels [B, H, W] (u32), when every sample has one.
    pub masks: Option<Tensor>,
    /// The same pixel labels on the host, for losses whose targets are
    /// built on the CPU (AffinityNet's pairs) without a readback.
    pub host_masks: Option<Vec<u32>>,
    /// Per-pixel maps [B, C, H, W], when every sample has them.
    pub cams: Option<Tensor>,
    /// Dataset indices of the samples.
    pub indices: Vec<usize>,
}

/// Stacks samples of one size into a batch.
pub fn collate(gpu: &Gpu, samples: &[Sample], indices: Vec<usize>) -> Result<Batch> {
    let first = samples
        .first()
        .ok_or_else(|| Error::invalid("collate", "empty batch"))?;
    let (h, w, k) = (first.height, first.width, first.labels.len());
    let mut images = Vec::with_capacity(samples.len() * 3 * h * w);
    let mut labels = Vec::with_capacity(samples.len() * k);
    let mut masks = Vec::new();
    let mut cams = Vec::new();
    let planes = first.cam.as_ref().map_or(0, |c| c.len() / (h * w).max(1));
    for (i, s) in samples.iter().enumerate() {
        if s.height != h || s.width != w || s.labels.len() != k || s.image.len() != 3 * h * w {
            return Err(Error::invalid(
                "collate",
                format!(
                    "sample {i} is {}×{} with {} labels and {} values; the batch is {h}×{w} with {k} labels",
                    s.height,
                    s.width,
                    s.labels.len(),
                    s.image.len()
                ),
            ));
        }
        images.extend_from_slice(&s.image);
        labels.extend_from_slice(&s.labels);
        if let Some(m) = &s.mask {
            masks.extend_from_slice(m);
        }
        if let Some(c) = &s.cam {
            if c.len() != planes * h * w {
                return Err(Error::invalid(
                    "collate",
                    format!(
                        "sample {i} has {} map values; the batch has {planes} planes of {h}×{w}",
                        c.len()
                    ),
                ));
            }
            cams.extend_from_slice(c);
        }
    }
    let b = samples.len();
    let (masks, host_masks) = if masks.len() == b * h * w {
        (
            Some(Tensor::from_slice(gpu, &masks, &[b, h, w])?),
            Some(masks),
        )
    } else {
        (None, None)
    };
    let cams = if planes > 0 && cams.len() == b * planes * h * w {
        Some(Tensor::from_slice(gpu, &cams, &[b, planes, h, w])?)
    } else {
        None
    };
    Ok(Batch {
        images: Tensor::from_slice(gpu, &images, &[b, 3, h, w])?,
        cams,
        labels: Tensor::from_slice(gpu, &labels, &[b, k])?,
        masks,
        host_masks,
        indices,
    })
}
