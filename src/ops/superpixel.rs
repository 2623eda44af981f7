//! SLIC superpixels on the GPU (Achanta et al., TPAMI 2012): a regular
//! grid of centres, then rounds of local k-means on colour and position.
//! SPML's low-level image-similarity relation groups pixels by such an
//! over-segmentation (it used HED contours and UCM regions; SLIC needs no
//! trained edge detector and runs in three small kernels).

use serde::{Deserialize, Serialize};
use weakseg_kernels::launch::superpixel::{self as sk, Slic};
use weakseg_kernels::{Error, Result};

use crate::tensor::{DType, Tensor};

/// Settings of an over-segmentation.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SlicSettings {
    /// Grid step S in pixels: about (H / S) × (W / S) superpixels.
    pub region: usize,
    /// Compactness m: a colour difference of m weighs as much as a shift of
    /// one grid step. In the units of the image given (1 ≈ one standard
    /// deviation of an ImageNet-normalised channel).
    pub compactness: f32,
    /// Assignment and update rounds (SLIC's paper: 10).
    pub iterations: usize,
}

impl Default for SlicSettings {
    /// 12-pixel regions (25 on a 64-pixel image), compactness 1, 10 rounds.
    fn default() -> Self {
        SlicSettings {
            region: 12,
            compactness: 1.0,
            iterations: 10,
        }
    }
}

/// Superpixels of `images` [B, C, H, W] (f32): labels [B, H, W] (u32), each
/// pixel's region index within its image (row-major over the grid).
pub fn slic(images: &Tensor, s: &SlicSettings) -> Result<Tensor> {
    let op = "slic";
    images.check_dtype(op, DType::F32)?;
    let &[batch, channels, height, width] = images.shape() else {
        return Err(Error::invalid(
            op,
            format!("images must be [B, C, H, W], got {:?}", images.shape()),
        ));
    };
    if s.region == 0 || s.iterations == 0 || s.compactness.is_nan() || s.compactness <= 0.0 {
        return Err(Error::invalid(
            op,
            format!("region, iterations and compactness must be positive: {s:?}"),
        ));
    }
    let cells = |n: usize| {
        (n as f64 / s.region as f64)
            .round()
            .clamp(1.0, n.max(1) as f64) as usize
    };
    let (grid_h, grid_w) = (cells(height), cells(width));
    let step = ((height * width) as f64 / (grid_h * grid_w) as f64).sqrt();
    let shape = Slic {
        batch,
        channels,
        height,
        width,
        grid_h,
        grid_w,
        spatial: (s.compactness as f64 / step).powi(2) as f32,
    };
    let gpu = images.gpu();
    let centres = Tensor::empty(gpu, &[shape.centres(), shape.centre_len()], DType::F32)?;
    let labels = Tensor::empty(gpu, &[batch, height, width], DType::U32)?;
    let (ih, ch, lh) = (images.held(), centres.held(), labels.held());
    sk::slic_init(gpu, ih.v(), shape, ch.v())?;
    for _ in 0..s.iterations {
        sk::slic_assign(gpu, ih.v(), ch.v(), shape, lh.v())?;
        sk::slic_update(gpu, ih.v(), lh.v(), shape, ch.v())?;
    }
    sk::slic_assign(gpu, ih.v(), ch.v(), shape, lh.v())?;
    drop((ih, ch, lh));
    Ok(labels)
}
