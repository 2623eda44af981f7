//! Reference of `shaders/resize.wgsl`.

use crate::launch::resize::Mode;

/// Input taps (index, weight) that output index o reads along one axis.
fn taps(o: usize, inp: usize, out: usize, mode: Mode) -> Vec<(usize, f64)> {
    match mode {
        Mode::Nearest => vec![(((o * inp) / out).min(inp - 1), 1.0)],
        Mode::Bilinear(align) => {
            let s = if align {
                if out <= 1 {
                    0.0
                } else {
                    o as f64 * (inp - 1) as f64 / (out - 1) as f64
                }
            } else {
                ((o as f64 + 0.5) * inp as f64 / out as f64 - 0.5).max(0.0)
            };
            let i0 = (s.floor() as usize).min(inp - 1);
            let i1 = (i0 + 1).min(inp - 1);
            let f = s - i0 as f64;
            vec![(i0, 1.0 - f), (i1, f)]
        }
    }
}

/// The resize as a sparse linear map: (output index, input index, weight).
fn each(
    planes: usize,
    hw: (usize, usize),
    out: (usize, usize),
    mode: Mode,
    mut f: impl FnMut(usize, usize, f64),
) {
    for p in 0..planes {
        for oy in 0..out.0 {
            for ox in 0..out.1 {
                let o = (p * out.0 + oy) * out.1 + ox;
                for (iy, wy) in taps(oy, hw.0, out.0, mode) {
                    for (ix, wx) in taps(ox, hw.1, out.1, mode) {
                        f(o, (p * hw.0 + iy) * hw.1 + ix, wy * wx);
                    }
                }
            }
        }
    }
}

/// Resized planes.
pub fn resize(
    planes: usize,
    hw: (usize, usize),
    out: (usize, usize),
    mode: Mode,
    x: &[f32],
) -> Vec<f64> {
    let mut y = vec![0.0; planes * out.0 * out.1];
    each(planes, hw, out, mode, |o, i, w| y[o] += w * x[i] as f64);
    y
}

/// Gradient of the resize.
pub fn resize_backward(
    planes: usize,
    hw: (usize, usize),
    out: (usize, usize),
    mode: Mode,
    dy: &[f32],
) -> Vec<f64> {
    let mut dx = vec![0.0; planes * hw.0 * hw.1];
    each(planes, hw, out, mode, |o, i, w| dx[i] += w * dy[o] as f64);
    dx
}
