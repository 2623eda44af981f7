//! Interactive click maps (distance and Gaussian).

use super::*;
use weakseg_kernels::cpu;

#[test]
fn click_maps_match_reference() {
    use weakseg_kernels::launch::clicks::{self, ClickMaps, ClickMode};
    let g = gpu();
    let mut r = rng(61);
    // Odd sizes, a 1×1 map, unused slots (channel −1) and clicks outside
    // the map; 64·k + 1 elements so the last workgroup is partial.
    for (batch, channels, height, width, slots) in [
        (1usize, 1usize, 1usize, 1usize, 1usize),
        (2, 2, 7, 9, 5),
        (3, 1, 13, 5, 4),
        (1, 3, 5, 13, 7),
    ] {
        for (mode, scale) in [(ClickMode::Distance, 6.0f32), (ClickMode::Gaussian, 2.5)] {
            let s = ClickMaps {
                batch,
                channels,
                height,
                width,
                slots,
                mode,
                scale,
            };
            let c: Vec<f32> = (0..batch * slots)
                .flat_map(|_| {
                    [
                        r.random_range(-2..height as i32 + 2) as f32,
                        r.random_range(-2..width as i32 + 2) as f32,
                        r.random_range(-1..channels as i32) as f32,
                    ]
                })
                .collect();
            let n = batch * channels * height * width;
            let (cb, mb) = (up(&g, &c), poisoned(&g, n));
            clicks::click_maps(&g, v(&cb, c.len()), s, v(&mb, n)).unwrap();
            // Squared pixel distances are exact (small integers). Distance:
            // √(min(d², s²)) / s, the root's 4.5 ulp and the quotient's 2.5.
            // Gaussian: e^−x with x = d²/(2s²) rounded twice, so 2u·x
            // relative, and exp's 3 + 2x ulp.
            let want = cpu::clicks::click_maps(&c, s);
            let bound: Vec<f64> = want
                .iter()
                .map(|&m| match mode {
                    ClickMode::Distance => 14.0 * U * m,
                    ClickMode::Gaussian => {
                        let x = if m > 0.0 { -m.ln() } else { 0.0 };
                        m * (6.0 + 6.0 * x) * U
                    }
                })
                .collect();
            bounded(
                &format!("click_maps {s:?}"),
                &read(&g, &mb, n),
                &want,
                &bound,
            );
        }
    }
    let b = up(&g, &[0.0; 3]);
    let bad = ClickMaps {
        batch: 1,
        channels: 1,
        height: 2,
        width: 2,
        slots: 1,
        mode: ClickMode::Gaussian,
        scale: 0.0,
    };
    assert!(clicks::click_maps(&g, v(&b, 3), bad, v(&b, 3)).is_err());
    let bad = ClickMaps { scale: 1.0, ..bad };
    assert!(clicks::click_maps(&g, v(&b, 2), bad, v(&b, 3)).is_err());
}
