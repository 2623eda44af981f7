//! Cross-entropy with ignore and class weights, forward and backward.

use super::*;
use weakseg_kernels::cpu;
use weakseg_kernels::launch::loss::{self, CeShape};

#[test]
fn cross_entropy_kernels() {
    let g = gpu();
    let mut r = rng(12);
    for (sh, weighted) in [
        (
            CeShape {
                n: 1,
                c: 1,
                s: 1,
                ignore: 255,
            },
            false,
        ),
        (
            CeShape {
                n: 2,
                c: 5,
                s: 7,
                ignore: 255,
            },
            true,
        ),
        (
            CeShape {
                n: 3,
                c: 4,
                s: 1,
                ignore: 255,
            },
            false,
        ),
    ] {
        let logits = rand_vec(&mut r, sh.n * sh.c * sh.s, -3.0, 3.0);
        let target: Vec<u32> = (0..sh.n * sh.s)
            .map(|i| {
                if i % 5 == 3 {
                    255
                } else {
                    r.random_range(0..sh.c as u32)
                }
            })
            .collect();
        let w = rand_vec(&mut r, sh.c, 0.5, 2.0);
        let (lb, tb, wb) = (up(&g, &logits), up_u32(&g, &target), up(&g, &w));
        let np = sh.n * sh.s;
        let (loss_b, ws_b) = (poisoned(&g, np), poisoned(&g, np));
        let wv = weighted.then(|| v(&wb, sh.c));
        loss::ce_forward(
            &g,
            sh,
            v(&lb, logits.len()),
            v(&tb, np),
            wv,
            v(&loss_b, np),
            v(&ws_b, np),
        )
        .unwrap();
        let wref = weighted.then_some(&w[..]);
        let (wl, wws) = cpu::loss::ce_forward(sh, &logits, &target, wref);
        // w·(m + log Σe^(x − m) − x_t) with x ∈ [−3, 3]: the log-sum-exp
        // within 30u (exp's 15 ulp of each term) + sum_bound(c) + log's
        // 2⁻²¹ (or 3 ulp of ln c) + a rounding of |lse| ≤ 3 + ln c; then a
        // subtraction and the weight ≤ 2, one rounding each.
        let c = sh.c as f64;
        let lse =
            30.0 * U + sum_bound(sh.c) + 2f64.powi(-21) + 6.0 * U * c.ln() + U * (3.0 + c.ln());
        within(
            "ce loss",
            &read(&g, &loss_b, np),
            &wl,
            Tol::ulps(1.0).plus(2.0 * lse),
        );
        exact("ce weights", &read(&g, &ws_b, np), &wws);
        let scale = up(&g, &[0.37]);
        let dx = poisoned(&g, logits.len());
        loss::ce_backward(
            &g,
            sh,
            v(&lb, logits.len()),
            v(&tb, np),
            wv,
            v(&scale, 1),
            v(&dx, logits.len()),
        )
        .unwrap();
        // 0.37·w·(p − [k = t]): p ≤ 1 within exp's 15 ulp and the
        // log-sum-exp's error above, then a subtraction and two products.
        within(
            "ce backward",
            &read(&g, &dx, logits.len()),
            &cpu::loss::ce_backward(sh, &logits, &target, wref, 0.37),
            Tol::ulps(1.5).plus(0.37 * 2.0 * (30.0 * U + lse + U)),
        );
    }
}
