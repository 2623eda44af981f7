//! Unary and binary maps (broadcast), select and axpby.

use super::*;
use weakseg_kernels::cpu;
use weakseg_kernels::launch::elementwise::{self, Binary, Broadcast, Unary};
use weakseg_kernels::view::{broadcast_shape, broadcast_strides};

/// The accuracy of unary `op` on x ∈ [−3, 3] (and its positive inputs in
/// [0.1, 3.1]) with the parameters of `unary_maps`.
fn unary_tol(op: Unary) -> Tol {
    use Unary::*;
    match op {
        // Moves, selections and comparisons compute nothing.
        Copy | Neg | Abs | Relu | Clamp | Sign | GtScalar | LtScalar | EqScalar => Tol::EXACT,
        // One rounding: x², 0.1·x, 2·x − 1 (the product is exact).
        Square | LeakyRelu | Affine => Tol::ulps(0.5),
        // WGSL's division: 2.5 ulp.
        Recip => Tol::ulps(2.5),
        // exp: 3 + 2|x| ulp, 9 at |x| = 3.
        Exp => Tol::ulps(9.0),
        // log: 2⁻²¹ absolute on [0.5, 2], 3 ulp elsewhere.
        Log => Tol::ulps(3.0).plus(2f64.powi(-21)),
        // sqrt: 1 / inverseSqrt, 2 + 2.5 ulp.
        Sqrt => Tol::ulps(4.5),
        // pow: exp2(y·log2 x): log2's error (2⁻²¹ absolute, or 3 ulp of
        // |log2 x| ≤ 1.7) times y ≤ 3 moves the result by ln 2·1.5e-6 ≈
        // 9 ulp; exp2's own 3 + 2·|y·log2 x| ≤ 13 ulp.
        Pow => Tol::ulps(22.0),
        // α(eˣ − 1) for x ≤ 0: exp's 9 ulp of eˣ ≤ 1, then a cancelling
        // subtraction and a product: 18u absolute plus one rounding.
        Elu => Tol::ulps(1.0).plus(18.0 * U),
        // 1 / (1 + e^−|x|) or eˣ / (1 + eˣ): exp's 9 ulp scaled by at most
        // 1, an addition and a division.
        Sigmoid => Tol::ulps(12.0),
        // WGSL inherits tanh from sinh / cosh (from exp): 9 ulp each,
        // and a cancellation near 0 of terms ≤ 1.
        Tanh => Tol::ulps(20.0).plus(20.0 * U),
    }
}

#[test]
fn unary_maps() {
    let g = gpu();
    let mut r = rng(1);
    for n in [1usize, 7, 67, 300] {
        let x = rand_vec(&mut r, n, -3.0, 3.0);
        let pos: Vec<f32> = x.iter().map(|v| v.abs() + 0.1).collect();
        use Unary::*;
        for (op, a, b) in [
            (Copy, 0.0f32, 0.0f32),
            (Neg, 0.0, 0.0),
            (Abs, 0.0, 0.0),
            (Exp, 0.0, 0.0),
            (Log, 0.0, 0.0),
            (Sqrt, 0.0, 0.0),
            (Pow, 2.5, 0.0),
            (Pow, 3.0, 0.0),
            (Relu, 0.0, 0.0),
            (Elu, 1.0, 0.0),
            (LeakyRelu, 0.1, 0.0),
            (Sigmoid, 0.0, 0.0),
            (Tanh, 0.0, 0.0),
            (Clamp, -0.5, 0.7),
            (Affine, 2.0, -1.0),
            (Sign, 0.0, 0.0),
            (Recip, 0.0, 0.0),
            (Square, 0.0, 0.0),
            (GtScalar, 0.2, 0.0),
            (LtScalar, 0.2, 0.0),
            (EqScalar, 0.0, 0.0),
        ] {
            let input = if matches!(op, Log | Sqrt | Recip) || (op == Pow && a.fract() != 0.0) {
                &pos
            } else {
                &x
            };
            let xb = up(&g, input);
            let out = poisoned(&g, n);
            elementwise::unary(&g, op, v(&xb, n), v(&out, n), a, b).unwrap();
            within(
                &format!("{op:?} n={n}"),
                &read(&g, &out, n),
                &cpu::elementwise::unary(op, input, a, b),
                unary_tol(op),
            );
        }
    }
}

/// The accuracy of binary `op` on a, b ∈ [−2, 2] (|b| ≥ 0.1) with slope
/// 0.2.
fn binary_tol(op: Binary) -> Tol {
    use Binary::*;
    match op {
        Max | Min | Eq | Ne | Lt | Le | Gt | Ge | ReluGrad | AbsGrad => Tol::EXACT,
        // One rounding: a ± b, a·b, 0.2·a.
        Add | Sub | Mul | LeakyReluGrad => Tol::ulps(0.5),
        Div => Tol::ulps(2.5),
        // 0.2·eᵇ·a: exp's 3 + 2·2 ulp and two products.
        EluGrad => Tol::ulps(8.0),
        // a·b·(1 − b): 1 − b and two products, each one rounding.
        SigmoidGrad => Tol::ulps(1.5),
        // a·(1 − b²): b² rounds by u·b² ≤ 4u before 1 − b² cancels, so
        // |a|·4u ≤ 8u absolute, plus two roundings.
        TanhGrad => Tol::ulps(1.0).plus(8.0 * U),
        // max(a, 0) − a·b + log(1 + e^−|a|): roundings of terms up to 2,
        // 4 and 0.7 (≤ 12u), exp's 7 ulp of e^−|a| ≤ 1 (14u), log's 2⁻²¹
        // on [1, 2] (8u): 34u absolute plus the final rounding.
        BceWithLogits => Tol::ulps(0.5).plus(34.0 * U),
        // σ(a) − b: the sigmoid's 12 ulp of a value ≤ 1, then a rounding.
        BceWithLogitsGrad => Tol::ulps(0.5).plus(24.0 * U),
    }
}

#[test]
fn binary_maps_broadcast() {
    let g = gpu();
    let mut r = rng(2);
    let shapes: [(&[usize], &[usize]); 5] = [
        (&[1], &[1]),
        (&[5, 3], &[5, 3]),
        (&[2, 3, 5], &[3, 1]),
        (&[4, 1, 7], &[1, 6, 1]),
        (&[9], &[2, 3, 9]),
    ];
    for (sa, sb) in shapes {
        let shape = broadcast_shape(sa, sb).unwrap();
        let n: usize = shape.iter().product();
        let a = rand_vec(&mut r, sa.iter().product(), -2.0, 2.0);
        let mut b = rand_vec(&mut r, sb.iter().product(), -2.0, 2.0);
        b.iter_mut().for_each(|x| {
            if x.abs() < 0.1 {
                *x = 0.5
            }
        });
        let bc = Broadcast {
            strides: vec![
                broadcast_strides(sa, &shape).unwrap(),
                broadcast_strides(sb, &shape).unwrap(),
            ],
            shape: shape.clone(),
        };
        let (ab, bb) = (up(&g, &a), up(&g, &b));
        use Binary::*;
        for op in [
            Add,
            Sub,
            Mul,
            Div,
            Max,
            Min,
            Eq,
            Ne,
            Lt,
            Le,
            Gt,
            Ge,
            ReluGrad,
            LeakyReluGrad,
            EluGrad,
            SigmoidGrad,
            TanhGrad,
            AbsGrad,
            BceWithLogits,
            BceWithLogitsGrad,
        ] {
            let out = poisoned(&g, n);
            elementwise::binary(
                &g,
                op,
                v(&ab, a.len()),
                v(&bb, b.len()),
                v(&out, n),
                &bc,
                0.2,
            )
            .unwrap();
            within(
                &format!("{op:?} {sa:?}x{sb:?}"),
                &read(&g, &out, n),
                &cpu::elementwise::binary(op, &a, &b, &bc, 0.2),
                binary_tol(op),
            );
        }
    }
}

#[test]
fn select_and_axpby() {
    let g = gpu();
    let mut r = rng(3);
    let shape = vec![3usize, 4, 5];
    let a = rand_vec(&mut r, 60, -1.0, 1.0);
    let b = rand_vec(&mut r, 5, -1.0, 1.0);
    let c: Vec<f32> = (0..12).map(|i| (i % 3 == 0) as u8 as f32).collect();
    let bc = Broadcast {
        strides: vec![
            broadcast_strides(&shape, &shape).unwrap(),
            broadcast_strides(&[5], &shape).unwrap(),
            broadcast_strides(&[3, 4, 1], &shape).unwrap(),
        ],
        shape,
    };
    let (ab, bb, cb, out) = (up(&g, &a), up(&g, &b), up(&g, &c), poisoned(&g, 60));
    elementwise::select(&g, v(&cb, 12), v(&ab, 60), v(&bb, 5), v(&out, 60), &bc).unwrap();
    exact(
        "where",
        &read(&g, &out, 60),
        &cpu::elementwise::select(&c, &a, &b, &bc),
    );

    let src = rand_vec(&mut r, 37, -1.0, 1.0);
    let acc = rand_vec(&mut r, 37, -1.0, 1.0);
    let (accb, srcb) = (up(&g, &acc), up(&g, &src));
    elementwise::axpby_inplace(&g, v(&accb, 37), v(&srcb, 37), 0.5, 2.0).unwrap();
    // 0.5·acc + 2·src: both products exact (powers of two), one rounding.
    within(
        "axpby",
        &read(&g, &accb, 37),
        &cpu::elementwise::axpby(&acc, &src, 0.5, 2.0),
        Tol::ulps(0.5),
    );
}
