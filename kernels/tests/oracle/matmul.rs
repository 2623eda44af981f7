//! The batched matmul: the 8×8 register-tile kernel and, on CPU adapters
//! with 8-lane subgroups, the subgroup kernel.

use super::*;
use weakseg_kernels::cpu;
use weakseg_kernels::launch::matmul::{self, MatmulShape};

#[test]
fn matmul_shapes() {
    let g = gpu();
    let mut r = rng(6);
    // The last six cases have K and N multiples of 4, so on a CPU adapter
    // with 8-lane subgroups they run the subgroup kernel (16×64 tiles):
    // M, N and K below, at and past one tile, A or B broadcast over a batch.
    for (batch, m, k, n, bcast_a, bcast_b) in [
        (1, 1, 1, 1, false, false),
        (1, 7, 13, 9, false, false),
        (3, 17, 5, 8, false, false),
        (2, 9, 33, 31, true, false),
        (1, 13, 19, 300, false, false),
        (2, 9, 7, 517, true, false),
        (1, 8, 3, 256, false, false),
        (1, 64, 64, 64, false, false),
        (1, 1, 4, 4, false, false),
        (3, 17, 8, 36, false, false),
        (2, 33, 12, 132, true, false),
        (2, 19, 20, 68, false, true),
        (1, 5, 260, 200, false, false),
    ] {
        let a = rand_vec(
            &mut r,
            if bcast_a { m * k } else { batch * m * k },
            -1.0,
            1.0,
        );
        let b = rand_vec(
            &mut r,
            if bcast_b { k * n } else { batch * k * n },
            -1.0,
            1.0,
        );
        let s = MatmulShape {
            batch,
            m,
            k,
            n,
            a_batch_stride: if bcast_a { 0 } else { m * k },
            b_batch_stride: if bcast_b { 0 } else { k * n },
        };
        let run = |a: &[f32], b: &[f32]| {
            let (ab, bb, cb) = (up(&g, a), up(&g, b), poisoned(&g, batch * m * n));
            matmul::matmul(
                &g,
                v(&ab, a.len()),
                v(&bb, b.len()),
                v(&cb, batch * m * n),
                s,
            )
            .unwrap();
            read(&g, &cb, batch * m * n)
        };
        // Random operands: length-k dot products (the bound of sums).
        summed(
            &format!("matmul {s:?}"),
            &run(&a, &b),
            &cpu::matmul::matmul(&a, &b, s),
            &cpu::matmul::matmul(&abs(&a), &abs(&b), s),
            k,
            Tol::EXACT,
        );
        // Dyadic operands: every product and partial sum exact.
        let (da, db) = (dyadic(&mut r, a.len(), 8, 3), dyadic(&mut r, b.len(), 8, 3));
        exact(
            &format!("matmul dyadic {s:?}"),
            &run(&da, &db),
            &cpu::matmul::matmul(&da, &db, s),
        );
    }
}

/// On an adapter that can run it (lavapipe: CPU type, 8-lane subgroups) the
/// subgroup matmul is chosen exactly when K, N and the batch strides are
/// multiples of 4, so `matmul_shapes` checks it there; elsewhere never.
#[test]
fn matmul_subgroup_kernel_choice() {
    let g = gpu();
    let able =
        g.class() == weakseg_kernels::AdapterClass::Cpu && g.fixed_subgroup_size() == Some(8);
    let shape = |k, n, a_batch_stride| MatmulShape {
        batch: 2,
        m: 5,
        k,
        n,
        a_batch_stride,
        b_batch_stride: k * n,
    };
    assert_eq!(matmul::takes_subgroup_kernel(&g, &shape(8, 36, 40)), able);
    assert_eq!(matmul::takes_subgroup_kernel(&g, &shape(8, 36, 0)), able);
    assert!(!matmul::takes_subgroup_kernel(&g, &shape(7, 36, 35)));
    assert!(!matmul::takes_subgroup_kernel(&g, &shape(8, 34, 40)));
    assert!(!matmul::takes_subgroup_kernel(&g, &shape(8, 36, 42)));
}
