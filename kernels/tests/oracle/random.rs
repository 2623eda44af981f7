//! The counter-based Bernoulli masks of dropout.

use super::*;
use weakseg_kernels::cpu;
use weakseg_kernels::launch::random;

#[test]
fn dropout_masks_are_reproducible() {
    let g = gpu();
    for (n, group, p) in [(1usize, 1usize, 0.5f32), (1000, 1, 0.3), (120, 20, 0.5)] {
        let mb = poisoned(&g, n);
        random::bernoulli(&g, v(&mb, n), group, 1234, p).unwrap();
        let got = read(&g, &mb, n);
        // The mask is 0 or 1/(1 − p) from the same hash: which is exact,
        // the kept value within the rounding of 1 − p and the quotient's
        // 2.5 ulp.
        within(
            "bernoulli",
            &got,
            &cpu::random::bernoulli(n, group, 1234, p),
            Tol::ulps(3.0),
        );
        if n >= 1000 {
            let kept = got.iter().filter(|&&x| x > 0.0).count() as f32 / n as f32;
            assert!(
                (kept - (1.0 - p)).abs() < 0.05,
                "keep rate {kept} for p={p}"
            );
        }
    }
}
