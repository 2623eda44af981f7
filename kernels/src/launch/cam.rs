//! Launchers for `shaders/cam.wgsl`.

use crate::batch::Params;
use crate::device::Gpu;
use crate::error::Result;
use crate::pipeline::Kernel;
use crate::shaders::Shader;
use crate::view::{View, u32_of};

/// Shape of a CAM computation: `batch` feature maps of `channels` × `hw`
/// pixels and `classes` classifier rows.
#[derive(Clone, Copy, Debug)]
pub struct CamShape {
    /// Images.
    pub batch: usize,
    /// Feature channels.
    pub channels: usize,
    /// Classes.
    pub classes: usize,
    /// Pixels per map.
    pub hw: usize,
}

/// cams[b, k, p] = present[k] · ReLU(Σ_c weight[k, c] · feat[b, c, p]);
/// `present` holds 1 for the image's classes and 0 for the others.
pub fn cam(
    gpu: &Gpu,
    s: CamShape,
    feat: View,
    weight: View,
    present: View,
    cams: View,
) -> Result<()> {
    let op = "cam";
    let total = s.batch * s.classes * s.hw;
    feat.need(op, "features", s.batch * s.channels * s.hw)?;
    weight.need(op, "weight", s.classes * s.channels)?;
    present.need(op, "present", s.classes)?;
    cams.need(op, "cams", total)?;
    let p = Params::new(&[
        u32_of(op, total)?,
        u32_of(op, s.classes)?,
        u32_of(op, s.channels)?,
        u32_of(op, s.hw)?,
    ]);
    gpu.launch(
        op,
        Kernel::new(Shader::Cam, "cam"),
        &p,
        &[feat.read(1), weight.read(2), present.read(3), cams.write(4)],
        total as u64,
    )
}

/// out[m, p] = raw[m, p] / (peaks[m] + eps) for `maps` maps of `hw` pixels:
/// the per-class max normalisation (psa and IRN use eps = 1e-5).
pub fn normalise(
    gpu: &Gpu,
    maps: usize,
    hw: usize,
    raw: View,
    peaks: View,
    out: View,
    eps: f32,
) -> Result<()> {
    let op = "cam_normalise";
    let total = maps * hw;
    raw.need(op, "maps", total)?;
    peaks.need(op, "peaks", maps)?;
    out.need(op, "output", total)?;
    let p = Params::new(&[u32_of(op, total)?, u32_of(op, hw.max(1))?]).f(2, eps);
    gpu.launch(
        op,
        Kernel::new(Shader::Cam, "normalise"),
        &p,
        &[raw.read(1), peaks.read(2), out.write(3)],
        total as u64,
    )
}
