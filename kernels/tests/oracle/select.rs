//! Top-k selection (largest and smallest) and its backward.

use super::*;
use weakseg_kernels::cpu;
use weakseg_kernels::launch::select::{self, TopK};

/// Top-k is exact (selection moves values, it computes nothing): rows of
/// odd lengths across the 256-entry chunk, k from 1 to n, largest and
/// smallest, with ties (values drawn from a small set) and both zeros.
#[test]
fn topk_selection_and_backward() {
    let g = gpu();
    let mut r = rng(29);
    for (rows, n, k, smallest, levels) in [
        (1, 1, 1, false, 0),
        (3, 7, 3, false, 0),
        (2, 300, 60, false, 0),
        (2, 300, 60, true, 0),
        (4, 513, 513, false, 0),
        (3, 777, 155, false, 5),
        (5, 257, 1, true, 3),
        (1, 1000, 999, true, 0),
    ] {
        let x: Vec<f32> = if levels > 0 {
            (0..rows * n)
                .map(|_| [-0.0, 0.0, 1.5, -2.0, 7.0][r.random_range(0..levels)])
                .collect()
        } else {
            rand_vec(&mut r, rows * n, -3.0, 3.0)
        };
        let s = TopK {
            rows,
            n,
            k,
            smallest,
        };
        let xb = up(&g, &x);
        let (vb, ib) = (
            poisoned(&g, rows * k),
            up_u32(&g, &vec![u32::MAX; rows * k]),
        );
        select::topk(&g, v(&xb, rows * n), s, v(&vb, rows * k), v(&ib, rows * k)).unwrap();
        let (wv, wi) = cpu::select::topk(&x, rows, n, k, smallest);
        let what = format!("topk rows {rows} n {n} k {k} smallest {smallest}");
        assert_eq!(read_u32(&g, &ib, rows * k), wi, "{what}: indices");
        let got = read(&g, &vb, rows * k);
        assert!(
            got.iter().zip(&wv).all(|(a, b)| a.to_bits() == b.to_bits()),
            "{what}: values"
        );
        let gr = rand_vec(&mut r, rows * k, -1.0, 1.0);
        let (gb, gi) = (up(&g, &gr), poisoned(&g, rows * n));
        select::topk_backward(&g, v(&gb, rows * k), v(&ib, rows * k), s, v(&gi, rows * n)).unwrap();
        let want: Vec<f64> = cpu::select::topk_backward(&gr, &wi, rows, n, k)
            .into_iter()
            .map(f64::from)
            .collect();
        exact(
            &format!("{what}: backward"),
            &read(&g, &gi, rows * n),
            &want,
        );
    }
    let xb = up(&g, &[1.0; 4]);
    let (vb, ib) = (poisoned(&g, 4), poisoned(&g, 4));
    let bad = TopK {
        rows: 1,
        n: 4,
        k: 5,
        smallest: false,
    };
    assert!(select::topk(&g, v(&xb, 4), bad, v(&vb, 4), v(&ib, 4)).is_err());
}
