//! Launchers for `shaders/superpixel.wgsl`: SLIC superpixels, the GPU
//! over-segmentation behind SPML's low-level similarity relation.

use crate::batch::Params;
use crate::device::Gpu;
use crate::error::{Error, Result};
use crate::pipeline::Kernel;
use crate::shaders::Shader;
use crate::view::{View, loop_bound, u32_of};

/// Shape of a SLIC launch: `batch` images of `channels` × `height` ×
/// `width`, a `grid_h` × `grid_w` grid of centres per image.
#[derive(Clone, Copy, Debug)]
pub struct Slic {
    /// Images.
    pub batch: usize,
    /// Colour channels.
    pub channels: usize,
    /// Image height.
    pub height: usize,
    /// Image width.
    pub width: usize,
    /// Centre rows per image (at most the height).
    pub grid_h: usize,
    /// Centre columns per image (at most the width).
    pub grid_w: usize,
    /// Weight of squared pixel distance against squared colour distance:
    /// (m / S)² for compactness m and grid step S.
    pub spatial: f32,
}

impl Slic {
    /// Centres over the batch.
    pub fn centres(&self) -> usize {
        self.batch * self.grid_h * self.grid_w
    }

    /// Values per centre: the colour, then y and x.
    pub fn centre_len(&self) -> usize {
        self.channels + 2
    }

    fn params(&self, op: &'static str) -> Result<Params> {
        if self.batch == 0 || self.channels == 0 || self.height == 0 || self.width == 0 {
            return Err(Error::invalid(
                op,
                format!("an empty image batch: {self:?}"),
            ));
        }
        if self.grid_h == 0
            || self.grid_w == 0
            || self.grid_h > self.height
            || self.grid_w > self.width
        {
            return Err(Error::invalid(
                op,
                format!(
                    "a {}×{} grid of centres on {}×{} images; want 1 ≤ grid ≤ image",
                    self.grid_h, self.grid_w, self.height, self.width
                ),
            ));
        }
        if !(self.spatial >= 0.0 && self.spatial.is_finite()) {
            return Err(Error::invalid(
                op,
                format!("spatial weight {} must be finite and ≥ 0", self.spatial),
            ));
        }
        loop_bound(op, "colour channels", self.channels)?;
        let window = |n: usize, g: usize| (3 * n).div_ceil(g) + 1;
        loop_bound(
            op,
            "a centre's window rows",
            window(self.height, self.grid_h),
        )?;
        loop_bound(
            op,
            "a centre's window columns",
            window(self.width, self.grid_w),
        )?;
        Ok(Params::new(&[
            u32_of(op, self.batch)?,
            u32_of(op, self.channels)?,
            u32_of(op, self.height)?,
            u32_of(op, self.width)?,
            u32_of(op, self.grid_h)?,
            u32_of(op, self.grid_w)?,
        ])
        .f(6, self.spatial))
    }

    fn check(&self, op: &'static str, image: &View, centres: &View) -> Result<()> {
        let pixels = self.batch * self.channels * self.height * self.width;
        let want = self.centres() * self.centre_len();
        if image.len != pixels || centres.len != want {
            return Err(Error::invalid(
                op,
                format!(
                    "{} image and {} centre values for {self:?}; want {pixels} and {want}",
                    image.len, centres.len
                ),
            ));
        }
        Ok(())
    }
}

/// centres [B, gh·gw, C + 2] ← each grid cell's middle and the colour of
/// the pixel there.
pub fn slic_init(gpu: &Gpu, image: View, s: Slic, centres: View) -> Result<()> {
    let op = "slic_init";
    let p = s.params(op)?;
    s.check(op, &image, &centres)?;
    gpu.launch(
        op,
        Kernel::new(Shader::Superpixel, "slic_init"),
        &p,
        &[image.read(1), centres.write(2)],
        s.centres() as u64,
    )
}

/// labels [B, H, W] (u32) ← each pixel's nearest centre among the 3×3
/// grid cells around its own.
pub fn slic_assign(gpu: &Gpu, image: View, centres: View, s: Slic, labels: View) -> Result<()> {
    let op = "slic_assign";
    let p = s.params(op)?;
    s.check(op, &image, &centres)?;
    let n = s.batch * s.height * s.width;
    if labels.len != n {
        return Err(Error::invalid(
            op,
            format!("{} label slots for {n} pixels", labels.len),
        ));
    }
    gpu.launch(
        op,
        Kernel::new(Shader::Superpixel, "slic_assign"),
        &p,
        &[image.read(1), centres.read(2), labels.write(3)],
        n as u64,
    )
}

/// centres ← the mean colour and position of each centre's pixels
/// (unchanged for a centre with none).
pub fn slic_update(gpu: &Gpu, image: View, labels: View, s: Slic, centres: View) -> Result<()> {
    let op = "slic_update";
    let p = s.params(op)?;
    s.check(op, &image, &centres)?;
    let n = s.batch * s.height * s.width;
    if labels.len != n {
        return Err(Error::invalid(
            op,
            format!("{} labels for {n} pixels", labels.len),
        ));
    }
    gpu.launch(
        op,
        Kernel::new(Shader::Superpixel, "slic_update"),
        &p,
        &[image.read(1), centres.write(2), labels.read(3)],
        s.centres() as u64,
    )
}
