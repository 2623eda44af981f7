//! Reference of `shaders/clicks.wgsl`.

use crate::launch::clicks::{ClickMaps, ClickMode};

/// The click maps of [`crate::launch::clicks::click_maps`], in f64.
pub fn click_maps(clicks: &[f32], s: ClickMaps) -> Vec<f64> {
    let (c, h, w) = (s.channels, s.height, s.width);
    let scale = s.scale as f64;
    let mut out = vec![0f64; s.batch * c * h * w];
    for (i, o) in out.iter_mut().enumerate() {
        let (x, y, ch, img) = (i % w, i / w % h, i / (w * h) % c, i / (w * h * c));
        let d2 = (0..s.slots)
            .map(|k| &clicks[(img * s.slots + k) * 3..(img * s.slots + k + 1) * 3])
            .filter(|k| k[2] == ch as f32)
            .map(|k| (y as f64 - k[0] as f64).powi(2) + (x as f64 - k[1] as f64).powi(2));
        *o = match s.mode {
            ClickMode::Distance => d2.fold(scale * scale, f64::min).sqrt() / scale,
            ClickMode::Gaussian => d2
                .map(|d| (-d / (2.0 * scale * scale)).exp())
                .fold(0.0, f64::max),
        };
    }
    out
}
