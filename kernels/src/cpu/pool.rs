//! Reference of `shaders/pool.wgsl`.

use crate::launch::pool::Pool2d;

fn windows(g: &Pool2d, mut f: impl FnMut(usize, usize, usize)) {
    let (ho, wo) = (g.ho(), g.wo());
    for p in 0..g.planes {
        for oy in 0..ho {
            for ox in 0..wo {
                let o = (p * ho + oy) * wo + ox;
                for ky in 0..g.kernel.0 {
                    for kx in 0..g.kernel.1 {
                        let iy = (oy * g.stride.0 + ky) as isize - g.pad.0 as isize;
                        let ix = (ox * g.stride.1 + kx) as isize - g.pad.1 as isize;
                        if iy >= 0 && ix >= 0 && (iy as usize) < g.h && (ix as usize) < g.w {
                            f(o, p, iy as usize * g.w + ix as usize);
                        }
                    }
                }
            }
        }
    }
}

/// Average pooling, padding counted.
pub fn avg_pool2d(g: &Pool2d, x: &[f32]) -> Vec<f64> {
    let mut y = vec![0.0; g.planes * g.ho() * g.wo()];
    let area = (g.kernel.0 * g.kernel.1) as f64;
    windows(g, |o, p, k| y[o] += x[p * g.h * g.w + k] as f64 / area);
    y
}

/// Max pooling with within-plane argmax (first wins ties).
pub fn max_pool2d(g: &Pool2d, x: &[f32]) -> (Vec<f64>, Vec<u32>) {
    let n = g.planes * g.ho() * g.wo();
    let (mut y, mut arg) = (vec![f64::NEG_INFINITY; n], vec![0u32; n]);
    windows(g, |o, p, k| {
        let v = x[p * g.h * g.w + k] as f64;
        if v > y[o] {
            y[o] = v;
            arg[o] = k as u32;
        }
    });
    (y, arg)
}

/// Gradient of average pooling.
pub fn avg_pool2d_backward(g: &Pool2d, dy: &[f32]) -> Vec<f64> {
    let mut dx = vec![0.0; g.planes * g.h * g.w];
    let area = (g.kernel.0 * g.kernel.1) as f64;
    windows(g, |o, p, k| dx[p * g.h * g.w + k] += dy[o] as f64 / area);
    dx
}

/// Gradient of max pooling.
pub fn max_pool2d_backward(g: &Pool2d, dy: &[f32], arg: &[u32]) -> Vec<f64> {
    let mut dx = vec![0.0; g.planes * g.h * g.w];
    let hwo = g.ho() * g.wo();
    for (o, &a) in arg.iter().enumerate() {
        dx[(o / hwo) * g.h * g.w + a as usize] += dy[o] as f64;
    }
    dx
}

fn bins(inp: usize, out: usize) -> Vec<(usize, usize)> {
    (0..out)
        .map(|o| (o * inp / out, ((o + 1) * inp).div_ceil(out)))
        .collect()
}

/// Adaptive average pooling with torch's bins.
pub fn adaptive_avg_pool2d(
    planes: usize,
    hw: (usize, usize),
    out: (usize, usize),
    x: &[f32],
) -> Vec<f64> {
    let (by, bx) = (bins(hw.0, out.0), bins(hw.1, out.1));
    let mut y = Vec::with_capacity(planes * out.0 * out.1);
    for p in 0..planes {
        for &(y0, y1) in &by {
            for &(x0, x1) in &bx {
                let mut s = 0.0;
                for yy in y0..y1 {
                    for xx in x0..x1 {
                        s += x[(p * hw.0 + yy) * hw.1 + xx] as f64;
                    }
                }
                y.push(s / ((y1 - y0) * (x1 - x0)) as f64);
            }
        }
    }
    y
}

/// Gradient of adaptive average pooling.
pub fn adaptive_avg_pool2d_backward(
    planes: usize,
    hw: (usize, usize),
    out: (usize, usize),
    dy: &[f32],
) -> Vec<f64> {
    let (by, bx) = (bins(hw.0, out.0), bins(hw.1, out.1));
    let mut dx = vec![0.0; planes * hw.0 * hw.1];
    for p in 0..planes {
        for (oy, &(y0, y1)) in by.iter().enumerate() {
            for (ox, &(x0, x1)) in bx.iter().enumerate() {
                let g = dy[(p * out.0 + oy) * out.1 + ox] as f64 / ((y1 - y0) * (x1 - x0)) as f64;
                for yy in y0..y1 {
                    for xx in x0..x1 {
                        dx[(p * hw.0 + yy) * hw.1 + xx] += g;
                    }
                }
            }
        }
    }
    dx
}
