//! Bilinear (align_corners true and false) and nearest resizing, forward
//! and backward.

use super::*;
use weakseg_kernels::cpu;
use weakseg_kernels::launch::resize::{self, Mode};

#[test]
fn resizing() {
    let g = gpu();
    let mut r = rng(10);
    for (hw, out) in [
        ((1, 1), (3, 2)),
        ((5, 7), (11, 13)),
        ((12, 9), (5, 4)),
        ((4, 4), (4, 4)),
        ((3, 8), (1, 17)),
    ] {
        for mode in [Mode::Bilinear(false), Mode::Bilinear(true), Mode::Nearest] {
            let planes = 3;
            let (nx, ny) = (planes * hw.0 * hw.1, planes * out.0 * out.1);
            let (x, dy) = (
                rand_vec(&mut r, nx, -1.0, 1.0),
                rand_vec(&mut r, ny, -1.0, 1.0),
            );
            let (xb, dyb, yb, dxb) = (up(&g, &x), up(&g, &dy), poisoned(&g, ny), poisoned(&g, nx));
            // Bilinear: 4 weighted taps per output; nearest copies.
            // Backward: the taps of every output that reads an input, at
            // most 2·⌈out/in⌉ + 2 per axis. A weight comes from the f32
            // source coordinate (dst + ½)·in/out − ½, within 3u·in of the
            // exact one (the scale's rounding times |src| ≤ in, and the
            // subtraction); the fraction and 1 − fraction add u: an
            // absolute error δw on each tap's weight, |x| ≤ 1.
            let (taps, gathered) = match mode {
                Mode::Nearest => (1, out.0.div_ceil(hw.0) * out.1.div_ceil(hw.1)),
                Mode::Bilinear(_) => (
                    4,
                    (2 * out.0.div_ceil(hw.0) + 2) * (2 * out.1.div_ceil(hw.1) + 2),
                ),
            };
            let dw = (3.0 * hw.0.max(hw.1) as f64 + 1.0) * U;
            resize::resize(&g, planes, hw, out, mode, v(&xb, nx), v(&yb, ny)).unwrap();
            let what = format!("resize {mode:?} {hw:?}->{out:?}");
            let got = read(&g, &yb, ny);
            let want = cpu::resize::resize(planes, hw, out, mode, &x);
            if mode == Mode::Nearest {
                exact(&what, &got, &want);
            } else {
                let mag = cpu::resize::resize(planes, hw, out, mode, &abs(&x));
                summed(
                    &what,
                    &got,
                    &want,
                    &mag,
                    taps,
                    Tol::ulps(1.0).plus(taps as f64 * dw),
                );
            }
            resize::resize_backward(&g, planes, hw, out, mode, v(&dyb, ny), v(&dxb, nx)).unwrap();
            summed(
                &format!("resize backward {mode:?} {hw:?}->{out:?}"),
                &read(&g, &dxb, nx),
                &cpu::resize::resize_backward(planes, hw, out, mode, &dy),
                &cpu::resize::resize_backward(planes, hw, out, mode, &abs(&dy)),
                gathered,
                Tol::ulps(1.0).plus(gathered as f64 * dw),
            );
        }
    }
}
