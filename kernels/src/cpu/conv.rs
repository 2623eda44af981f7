//! Reference of `shaders/conv.wgsl`: direct loops over the definition.

use crate::launch::conv::Conv2d;

fn input_pos(g: &Conv2d, o: usize, k: usize, axis: usize) -> Option<usize> {
    let (s, p, d, lim) = if axis == 0 {
        (g.stride.0, g.pad.0, g.dilation.0, g.h)
    } else {
        (g.stride.1, g.pad.1, g.dilation.1, g.w)
    };
    let v = (o * s + k * d) as isize - p as isize;
    (v >= 0 && (v as usize) < lim).then_some(v as usize)
}

/// Visits every (n, co, oy, ox, ci, ky, kx) term with its x and w indices.
fn each_term(g: &Conv2d, mut f: impl FnMut(usize, usize, usize)) {
    let (cin_g, cout_g) = (g.cin / g.groups, g.cout / g.groups);
    let (ho, wo) = (g.ho(), g.wo());
    for n in 0..g.n {
        for co in 0..g.cout {
            let grp = co / cout_g;
            for oy in 0..ho {
                for ox in 0..wo {
                    let yi = ((n * g.cout + co) * ho + oy) * wo + ox;
                    for ci in 0..cin_g {
                        for ky in 0..g.kh {
                            let Some(iy) = input_pos(g, oy, ky, 0) else {
                                continue;
                            };
                            for kx in 0..g.kw {
                                let Some(ix) = input_pos(g, ox, kx, 1) else {
                                    continue;
                                };
                                let xi = ((n * g.cin + grp * cin_g + ci) * g.h + iy) * g.w + ix;
                                let wi = ((co * cin_g + ci) * g.kh + ky) * g.kw + kx;
                                f(yi, xi, wi);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// y = conv(x, w) + bias.
pub fn forward(g: &Conv2d, x: &[f32], w: &[f32], bias: Option<&[f32]>) -> Vec<f64> {
    let hwo = g.ho() * g.wo();
    let mut y: Vec<f64> = (0..g.n * g.cout * hwo)
        .map(|i| bias.map_or(0.0, |b| b[(i / hwo) % g.cout] as f64))
        .collect();
    each_term(g, |yi, xi, wi| y[yi] += x[xi] as f64 * w[wi] as f64);
    y
}

/// dx for upstream gradient dy.
pub fn backward_data(g: &Conv2d, dy: &[f32], w: &[f32]) -> Vec<f64> {
    let mut dx = vec![0.0; g.n * g.cin * g.h * g.w];
    each_term(g, |yi, xi, wi| dx[xi] += dy[yi] as f64 * w[wi] as f64);
    dx
}

/// dw for upstream gradient dy.
pub fn backward_weight(g: &Conv2d, x: &[f32], dy: &[f32]) -> Vec<f64> {
    let mut dw = vec![0.0; g.cout * (g.cin / g.groups) * g.kh * g.kw];
    each_term(g, |yi, xi, wi| dw[wi] += dy[yi] as f64 * x[xi] as f64);
    dw
}
