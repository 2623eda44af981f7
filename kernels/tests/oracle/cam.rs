//! The class activation map (GAP classifier weights over features, ReLU,
//! absent classes zero) and its normalisation by the peak.

use super::*;
use weakseg_kernels::cpu;

#[test]
fn cam_kernels() {
    use weakseg_kernels::launch::cam::{self, CamShape};
    let g = gpu();
    let mut r = rng(40);
    for (batch, channels, classes, hw) in [
        (1usize, 1usize, 1usize, 1usize),
        (2, 7, 5, 33),
        (1, 65, 3, 70),
    ] {
        let s = CamShape {
            batch,
            channels,
            classes,
            hw,
        };
        let feat = rand_vec(&mut r, batch * channels * hw, -1.0, 1.0);
        let w = rand_vec(&mut r, classes * channels, -1.0, 1.0);
        let present: Vec<f32> = (0..classes).map(|k| (k % 3 != 1) as u32 as f32).collect();
        let n = batch * classes * hw;
        let run = |feat: &[f32], w: &[f32]| {
            let (fb, wb, pb) = (up(&g, feat), up(&g, w), up(&g, &present));
            let out = poisoned(&g, n);
            cam::cam(
                &g,
                s,
                v(&fb, feat.len()),
                v(&wb, w.len()),
                v(&pb, classes),
                v(&out, n),
            )
            .unwrap();
            read(&g, &out, n)
        };
        // A ReLU'd dot product over the channels (which the ReLU cannot
        // move further from the reference): the bound of sums; exact on
        // dyadic inputs.
        summed(
            "cam",
            &run(&feat, &w),
            &cpu::cam::cam(s, &feat, &w, &present),
            &cpu::cam::cam(s, &abs(&feat), &abs(&w), &present),
            channels,
            Tol::EXACT,
        );
        let (df, dw) = (
            dyadic(&mut r, feat.len(), 8, 3),
            dyadic(&mut r, w.len(), 8, 3),
        );
        exact(
            "cam dyadic",
            &run(&df, &dw),
            &cpu::cam::cam(s, &df, &dw, &present),
        );
        let peaks = rand_vec(&mut r, batch * classes, 0.0, 2.0);
        let raw = rand_vec(&mut r, n, 0.0, 2.0);
        let (rb, kb) = (up(&g, &raw), up(&g, &peaks));
        let out = poisoned(&g, n);
        cam::normalise(
            &g,
            batch * classes,
            hw,
            v(&rb, n),
            v(&kb, peaks.len()),
            v(&out, n),
            1e-5,
        )
        .unwrap();
        // raw / (peak + ε): the sum's rounding and the quotient's 2.5 ulp.
        within(
            "cam normalise",
            &read(&g, &out, n),
            &cpu::cam::normalise(hw, &raw, &peaks, 1e-5),
            Tol::ulps(3.0),
        );
    }
}
