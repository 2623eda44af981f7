//! Launcher for `shaders/clicks.wgsl`: user clicks drawn as guidance maps.

use crate::batch::Params;
use crate::device::Gpu;
use crate::error::{Error, Result};
use crate::pipeline::Kernel;
use crate::shaders::Shader;
use crate::view::{View, loop_bound, u32_of};

/// How a click becomes a map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClickMode {
    /// Distance to the nearest click over the truncation, clamped to 1
    /// (Xu et al.'s truncated Euclidean distance map, scaled to [0, 1]).
    Distance,
    /// The largest Gaussian exp(−d²/2σ²) over the clicks (DEXTR).
    Gaussian,
}

/// Shape of a click-map launch.
#[derive(Clone, Copy, Debug)]
pub struct ClickMaps {
    /// Images.
    pub batch: usize,
    /// Maps per image (positive, negative, …).
    pub channels: usize,
    /// Map height.
    pub height: usize,
    /// Map width.
    pub width: usize,
    /// Click slots per image.
    pub slots: usize,
    /// The encoding.
    pub mode: ClickMode,
    /// Truncation distance (Distance) or σ (Gaussian), in pixels.
    pub scale: f32,
}

/// maps [batch, channels, height, width] ← the clicks [batch, slots, 3]
/// ((y, x, channel) each; a negative channel leaves the slot unused)
/// drawn under `s.mode`.
pub fn click_maps(gpu: &Gpu, clicks: View, s: ClickMaps, maps: View) -> Result<()> {
    let op = "click_maps";
    let n = s.batch * s.channels * s.height * s.width;
    if clicks.len != s.batch * s.slots * 3 || maps.len != n || n == 0 {
        return Err(Error::invalid(
            op,
            format!(
                "{} click values and {} map values for {s:?}; want batch·slots·3 and a non-empty batch·channels·height·width",
                clicks.len, maps.len
            ),
        ));
    }
    if !(s.scale > 0.0 && s.scale.is_finite()) {
        return Err(Error::invalid(
            op,
            format!("scale {} must be positive", s.scale),
        ));
    }
    loop_bound(op, "click slots", s.slots)?;
    let p = Params::new(&[
        u32_of(op, s.batch)?,
        u32_of(op, s.channels)?,
        u32_of(op, s.height)?,
        u32_of(op, s.width)?,
        u32_of(op, s.slots)?,
        (s.mode == ClickMode::Gaussian) as u32,
    ])
    .f(6, s.scale);
    gpu.launch(
        op,
        Kernel::new(Shader::Clicks, "click_maps"),
        &p,
        &[clicks.read(1), maps.write(2)],
        n as u64,
    )
}
