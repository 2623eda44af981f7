//! Every kernel against its f64 CPU reference on random inputs: size-1 and
//! odd dimensions, sizes that are not multiples of the 8-wide register tiles,
//! with each output buffer poisoned (NaN) before the run.
//!
//! Tolerances (relative to max(1, |reference|)): 1e-5 for elementwise maps
//! and layout moves, 1e-4 for transcendental maps and short reductions,
//! 1e-3 for long reductions, matmul and convolutions.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use weakseg_kernels::launch::cluster::{self, KMeans};
use weakseg_kernels::launch::conv::{self, Conv2d};
use weakseg_kernels::launch::elementwise::{self, Binary, Broadcast, Unary};
use weakseg_kernels::launch::layout::{self, Gather, Strided};
use weakseg_kernels::launch::loss::{self, CeShape};
use weakseg_kernels::launch::matmul::{self, MatmulShape};
use weakseg_kernels::launch::norm::{self, BnShape};
use weakseg_kernels::launch::optim::{self, AdamWStep, SgdStep};
use weakseg_kernels::launch::pool::{self, Pool2d};
use weakseg_kernels::launch::random;
use weakseg_kernels::launch::reduce::{self, Axis, Reduce};
use weakseg_kernels::launch::resize::{self, Mode};
use weakseg_kernels::launch::select::{self, TopK};
use weakseg_kernels::view::{broadcast_shape, broadcast_strides};
use weakseg_kernels::{Gpu, GpuBuffer, View, cpu};

const ELEMENTWISE_TOL: f64 = 1e-5;
const TRANSCENDENTAL_TOL: f64 = 1e-4;
const LONG_TOL: f64 = 1e-3;

fn gpu() -> Gpu {
    Gpu::new_blocking().expect("a GPU adapter (install mesa-vulkan-drivers for lavapipe)")
}

fn rng(seed: u64) -> SmallRng {
    SmallRng::seed_from_u64(seed)
}

fn rand_vec(r: &mut SmallRng, n: usize, lo: f32, hi: f32) -> Vec<f32> {
    (0..n).map(|_| r.random_range(lo..hi)).collect()
}

fn up(g: &Gpu, v: &[f32]) -> GpuBuffer {
    g.upload(bytemuck::cast_slice(v)).unwrap()
}

fn up_u32(g: &Gpu, v: &[u32]) -> GpuBuffer {
    g.upload(bytemuck::cast_slice(v)).unwrap()
}

/// An output buffer of n elements filled with NaN.
fn poisoned(g: &Gpu, n: usize) -> GpuBuffer {
    up(g, &vec![f32::NAN; n.max(1)])
}

fn read(g: &Gpu, b: &GpuBuffer, n: usize) -> Vec<f32> {
    bytemuck::cast_slice(&g.read(b, 0, n as u64 * 4).unwrap().wait().unwrap()).to_vec()
}

fn read_u32(g: &Gpu, b: &GpuBuffer, n: usize) -> Vec<u32> {
    bytemuck::cast_slice(&g.read(b, 0, n as u64 * 4).unwrap().wait().unwrap()).to_vec()
}

#[track_caller]
fn close(what: &str, got: &[f32], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let ok = (g as f64 - w).abs() <= tol * w.abs().max(1.0) || (g.is_nan() && w.is_nan());
        assert!(ok, "{what}: element {i}: got {g}, want {w} (tol {tol})");
    }
}

fn v(b: &GpuBuffer, n: usize) -> View<'_> {
    View::new(b, n)
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
            close(
                &format!("{op:?} n={n}"),
                &read(&g, &out, n),
                &cpu::elementwise::unary(op, input, a, b),
                TRANSCENDENTAL_TOL,
            );
        }
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
            close(
                &format!("{op:?} {sa:?}x{sb:?}"),
                &read(&g, &out, n),
                &cpu::elementwise::binary(op, &a, &b, &bc, 0.2),
                TRANSCENDENTAL_TOL,
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
    close(
        "where",
        &read(&g, &out, 60),
        &cpu::elementwise::select(&c, &a, &b, &bc),
        ELEMENTWISE_TOL,
    );

    let src = rand_vec(&mut r, 37, -1.0, 1.0);
    let acc = rand_vec(&mut r, 37, -1.0, 1.0);
    let (accb, srcb) = (up(&g, &acc), up(&g, &src));
    elementwise::axpby_inplace(&g, v(&accb, 37), v(&srcb, 37), 0.5, 2.0).unwrap();
    close(
        "axpby",
        &read(&g, &accb, 37),
        &cpu::elementwise::axpby(&acc, &src, 0.5, 2.0),
        ELEMENTWISE_TOL,
    );
}

#[test]
fn layout_moves() {
    let g = gpu();
    let mut r = rng(4);
    // Permute [2,3,5] -> [5,2,3] and a flipped narrow, written into the middle of a larger buffer.
    let src: Vec<u32> = (0..30).map(|_| r.random()).collect();
    let sb = up_u32(&g, &src);
    for s in [
        Strided {
            shape: vec![5, 2, 3],
            src_offset: 0,
            src_strides: vec![1, 15, 5],
            dst_offset: 0,
            dst_strides: vec![6, 3, 1],
        },
        Strided {
            shape: vec![2, 3, 2],
            src_offset: 4,
            src_strides: vec![15, 5, -1],
            dst_offset: 7,
            dst_strides: vec![6, 2, 1],
        },
        Strided {
            shape: vec![1],
            src_offset: 29,
            src_strides: vec![1],
            dst_offset: 3,
            dst_strides: vec![1],
        },
    ] {
        let init: Vec<u32> = (0..40).map(|i| 0xdead0000 + i).collect();
        let db = up_u32(&g, &init);
        layout::strided_copy(&g, v(&sb, 30), v(&db, 40), &s).unwrap();
        let mut want = init.clone();
        cpu::layout::strided_copy(&src, &mut want, &s);
        assert_eq!(read_u32(&g, &db, 40), want, "strided copy {s:?}");
    }
    // Copies: only the word tail, vec4 bulk plus tails of 1 and 2, bulk alone.
    for n in [1usize, 29, 30, 28] {
        let db = poisoned(&g, n);
        layout::copy(&g, v(&sb, 30), v(&db, n)).unwrap();
        assert_eq!(
            read_u32(&g, &db, n),
            cpu::layout::copy(&src, n),
            "copy of {n} words"
        );
    }
    assert!(layout::copy(&g, v(&sb, 30), v(&poisoned(&g, 40), 40)).is_err());
    let fb = poisoned(&g, 13);
    layout::fill(&g, v(&fb, 13), 2.5f32.to_bits()).unwrap();
    assert_eq!(read(&g, &fb, 13), vec![2.5; 13]);

    // gather along an axis and index_select, with an out-of-range index.
    let data = rand_vec(&mut r, 2 * 5 * 3, -1.0, 1.0);
    let db = up(&g, &data);
    for (gi, index) in [
        (
            Gather {
                outer: 2,
                j: 4,
                inner: 3,
                l: 5,
                index_1d: true,
            },
            vec![4u32, 0, 2, 9],
        ),
        (
            Gather {
                outer: 2,
                j: 2,
                inner: 3,
                l: 5,
                index_1d: false,
            },
            (0..12).map(|i| (i * 7 % 5) as u32).collect(),
        ),
    ] {
        let ib = up_u32(&g, &index);
        let n = gi.outer * gi.j * gi.inner;
        let out = poisoned(&g, n);
        layout::gather(&g, v(&db, 30), v(&ib, index.len()), v(&out, n), &gi).unwrap();
        let want: Vec<f64> = cpu::layout::gather(bytemuck::cast_slice(&data), &index, &gi)
            .iter()
            .map(|&b| f32::from_bits(b) as f64)
            .collect();
        close("gather", &read(&g, &out, n), &want, 0.0);
        let vals = rand_vec(&mut r, n, -1.0, 1.0);
        let base = rand_vec(&mut r, 30, -1.0, 1.0);
        let (vb, ab) = (up(&g, &vals), up(&g, &base));
        layout::scatter_add(&g, v(&ab, 30), v(&ib, index.len()), v(&vb, n), &gi).unwrap();
        close(
            "scatter_add",
            &read(&g, &ab, 30),
            &cpu::layout::scatter_add(&base, &index, &vals, &gi),
            ELEMENTWISE_TOL,
        );
    }
}

#[test]
fn reductions_and_softmax() {
    let g = gpu();
    let mut r = rng(5);
    for ax in [
        Axis {
            outer: 1,
            l: 1,
            inner: 1,
        },
        Axis {
            outer: 3,
            l: 7,
            inner: 5,
        },
        Axis {
            outer: 1,
            l: 1000,
            inner: 1,
        },
        Axis {
            outer: 4,
            l: 2,
            inner: 1,
        },
    ] {
        let n = ax.outer * ax.l * ax.inner;
        let m = ax.outer * ax.inner;
        let x = rand_vec(&mut r, n, -3.0, 3.0);
        let xb = up(&g, &x);
        let tol = if ax.l > 100 {
            LONG_TOL
        } else {
            TRANSCENDENTAL_TOL
        };
        for op in [
            Reduce::Sum,
            Reduce::Mean,
            Reduce::Max,
            Reduce::Min,
            Reduce::LogSumExp,
        ] {
            let out = poisoned(&g, m);
            reduce::reduce(&g, op, v(&xb, n), v(&out, m), ax).unwrap();
            close(
                &format!("{op:?} {ax:?}"),
                &read(&g, &out, m),
                &cpu::reduce::reduce(op, &x, ax),
                tol,
            );
        }
        for argmax in [true, false] {
            let (vals, idx) = (poisoned(&g, m), poisoned(&g, m));
            reduce::arg_reduce(&g, argmax, v(&xb, n), v(&vals, m), v(&idx, m), ax).unwrap();
            let (wv, wi) = cpu::reduce::arg_reduce(argmax, &x, ax);
            close("arg values", &read(&g, &vals, m), &wv, 0.0);
            assert_eq!(read_u32(&g, &idx, m), wi, "arg indices {ax:?}");
            let gr = rand_vec(&mut r, m, -1.0, 1.0);
            let gb = up(&g, &gr);
            let out = poisoned(&g, n);
            reduce::arg_backward(&g, v(&gb, m), v(&idx, m), v(&out, n), ax).unwrap();
            close(
                "arg backward",
                &read(&g, &out, n),
                &cpu::reduce::arg_backward(&gr, &wi, ax),
                0.0,
            );
        }
        for log in [false, true] {
            let t = 0.7;
            let out = poisoned(&g, n);
            reduce::softmax(&g, log, v(&xb, n), v(&out, n), ax, t).unwrap();
            let y = read(&g, &out, n);
            close(
                &format!("softmax log={log}"),
                &y,
                &cpu::reduce::softmax(log, &x, ax, t),
                TRANSCENDENTAL_TOL,
            );
            let gr = rand_vec(&mut r, n, -1.0, 1.0);
            let gb = up(&g, &gr);
            let dx = poisoned(&g, n);
            reduce::softmax_backward(&g, log, v(&gb, n), v(&out, n), v(&dx, n), ax, t).unwrap();
            close(
                &format!("softmax backward log={log}"),
                &read(&g, &dx, n),
                &cpu::reduce::softmax_backward(log, &gr, &y, ax, t),
                tol,
            );
        }
    }
}

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
        let (ab, bb, cb) = (up(&g, &a), up(&g, &b), poisoned(&g, batch * m * n));
        matmul::matmul(
            &g,
            v(&ab, a.len()),
            v(&bb, b.len()),
            v(&cb, batch * m * n),
            s,
        )
        .unwrap();
        close(
            &format!("matmul {s:?}"),
            &read(&g, &cb, batch * m * n),
            &cpu::matmul::matmul(&a, &b, s),
            LONG_TOL,
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

fn conv_cases() -> Vec<Conv2d> {
    let c = |n, cin, h, w, cout, k: (usize, usize), s, p, d, groups| Conv2d {
        n,
        cin,
        h,
        w,
        cout,
        kh: k.0,
        kw: k.1,
        stride: (s, s),
        pad: (p, p),
        dilation: (d, d),
        groups,
    };
    vec![
        c(1, 1, 1, 1, 1, (1, 1), 1, 0, 1, 1),
        c(2, 3, 7, 5, 9, (3, 3), 1, 1, 1, 1),
        c(1, 16, 9, 11, 16, (3, 3), 2, 1, 1, 1),
        c(2, 8, 10, 9, 8, (3, 3), 1, 2, 2, 1),
        c(1, 6, 7, 7, 6, (3, 3), 1, 1, 1, 6),
        c(1, 16, 6, 5, 24, (1, 1), 1, 0, 1, 2),
        c(1, 4, 8, 8, 12, (3, 2), 2, 0, 1, 2),
        c(2, 5, 5, 6, 3, (1, 1), 2, 0, 1, 1),
        c(1, 5, 13, 11, 20, (3, 3), 1, 1, 1, 1),
        c(2, 32, 9, 10, 32, (3, 3), 1, 1, 1, 2),
        c(1, 32, 9, 9, 16, (3, 3), 1, 1, 1, 2),
    ]
}

/// On an adapter with 8-lane subgroups and CPU type (lavapipe) every pass of
/// an ungrouped convolution, and of a grouped one with 16 channels per
/// group, runs the subgroup kernels, so `conv2d_forward_and_backward` checks
/// them there (16×64 tiles: the cases above reach 20 and 32 channels and
/// 143 positions); a pass whose 16 channels would straddle groups never does.
#[test]
fn conv2d_subgroup_kernel_choice() {
    let g = gpu();
    let able =
        g.class() == weakseg_kernels::AdapterClass::Cpu && g.fixed_subgroup_size() == Some(8);
    let all = |b| conv::SubgroupPasses {
        forward: b,
        backward_data: b,
        backward_weight: b,
    };
    let cases = conv_cases();
    assert_eq!(cases[1].subgroup_passes(&g), all(able));
    assert_eq!(cases[9].subgroup_passes(&g), all(able));
    assert_eq!(cases[4].subgroup_passes(&g), all(false));
    assert_eq!(cases[6].subgroup_passes(&g), all(false));
    assert_eq!(
        cases[10].subgroup_passes(&g),
        conv::SubgroupPasses {
            forward: false,
            backward_data: able,
            backward_weight: false,
        }
    );
}

#[test]
fn conv2d_forward_and_backward() {
    let g = gpu();
    let mut r = rng(7);
    for cg in conv_cases() {
        let (ho, wo) = (cg.ho(), cg.wo());
        let nx = cg.n * cg.cin * cg.h * cg.w;
        let nw = cg.cout * (cg.cin / cg.groups) * cg.kh * cg.kw;
        let ny = cg.n * cg.cout * ho * wo;
        let (x, w, bias, dy) = (
            rand_vec(&mut r, nx, -1.0, 1.0),
            rand_vec(&mut r, nw, -1.0, 1.0),
            rand_vec(&mut r, cg.cout, -1.0, 1.0),
            rand_vec(&mut r, ny, -1.0, 1.0),
        );
        let (xb, wb, bb, dyb) = (up(&g, &x), up(&g, &w), up(&g, &bias), up(&g, &dy));
        let yb = poisoned(&g, ny);
        conv::conv2d_forward(
            &g,
            &cg,
            v(&xb, nx),
            v(&wb, nw),
            Some(v(&bb, cg.cout)),
            v(&yb, ny),
        )
        .unwrap();
        close(
            &format!("conv fwd {cg:?}"),
            &read(&g, &yb, ny),
            &cpu::conv::forward(&cg, &x, &w, Some(&bias)),
            LONG_TOL,
        );
        let dxb = poisoned(&g, nx);
        conv::conv2d_backward_data(&g, &cg, v(&dyb, ny), v(&wb, nw), v(&dxb, nx)).unwrap();
        close(
            &format!("conv bwd data {cg:?}"),
            &read(&g, &dxb, nx),
            &cpu::conv::backward_data(&cg, &dy, &w),
            LONG_TOL,
        );
        let dwb = poisoned(&g, nw);
        conv::conv2d_backward_weight(&g, &cg, v(&xb, nx), v(&dyb, ny), v(&dwb, nw)).unwrap();
        close(
            &format!("conv bwd weight {cg:?}"),
            &read(&g, &dwb, nw),
            &cpu::conv::backward_weight(&cg, &x, &dy),
            LONG_TOL,
        );
    }
}

#[test]
fn conv2d_split_k_weight_gradient() {
    // Enough positions that the weight gradient is split and the partials reduced.
    let g = gpu();
    let mut r = rng(8);
    let cg = Conv2d {
        n: 2,
        cin: 3,
        h: 33,
        w: 31,
        cout: 5,
        kh: 3,
        kw: 3,
        stride: (1, 1),
        pad: (1, 1),
        dilation: (1, 1),
        groups: 1,
    };
    let (nx, ny, nw) = (2 * 3 * 33 * 31, 2 * 5 * 33 * 31, 5 * 3 * 9);
    let (x, dy) = (
        rand_vec(&mut r, nx, -1.0, 1.0),
        rand_vec(&mut r, ny, -1.0, 1.0),
    );
    let (xb, dyb, dwb) = (up(&g, &x), up(&g, &dy), poisoned(&g, nw));
    conv::conv2d_backward_weight(&g, &cg, v(&xb, nx), v(&dyb, ny), v(&dwb, nw)).unwrap();
    close(
        "conv bwd weight split",
        &read(&g, &dwb, nw),
        &cpu::conv::backward_weight(&cg, &x, &dy),
        LONG_TOL,
    );
}

#[test]
fn pooling() {
    let g = gpu();
    let mut r = rng(9);
    for pg in [
        Pool2d {
            planes: 1,
            h: 1,
            w: 1,
            kernel: (1, 1),
            stride: (1, 1),
            pad: (0, 0),
        },
        Pool2d {
            planes: 3,
            h: 7,
            w: 9,
            kernel: (3, 3),
            stride: (2, 2),
            pad: (1, 1),
        },
        Pool2d {
            planes: 2,
            h: 8,
            w: 5,
            kernel: (2, 2),
            stride: (2, 2),
            pad: (0, 0),
        },
        Pool2d {
            planes: 2,
            h: 6,
            w: 6,
            kernel: (3, 2),
            stride: (1, 2),
            pad: (1, 0),
        },
    ] {
        let (nx, ny) = (pg.planes * pg.h * pg.w, pg.planes * pg.ho() * pg.wo());
        let (x, dy) = (
            rand_vec(&mut r, nx, -1.0, 1.0),
            rand_vec(&mut r, ny, -1.0, 1.0),
        );
        let (xb, dyb) = (up(&g, &x), up(&g, &dy));
        let yb = poisoned(&g, ny);
        pool::avg_pool2d(&g, &pg, v(&xb, nx), v(&yb, ny)).unwrap();
        close(
            "avg pool",
            &read(&g, &yb, ny),
            &cpu::pool::avg_pool2d(&pg, &x),
            TRANSCENDENTAL_TOL,
        );
        let dxb = poisoned(&g, nx);
        pool::avg_pool2d_backward(&g, &pg, v(&dyb, ny), v(&dxb, nx)).unwrap();
        close(
            "avg pool backward",
            &read(&g, &dxb, nx),
            &cpu::pool::avg_pool2d_backward(&pg, &dy),
            TRANSCENDENTAL_TOL,
        );
        let (mb, ab) = (poisoned(&g, ny), poisoned(&g, ny));
        pool::max_pool2d(&g, &pg, v(&xb, nx), v(&mb, ny), v(&ab, ny)).unwrap();
        let (wy, wa) = cpu::pool::max_pool2d(&pg, &x);
        close("max pool", &read(&g, &mb, ny), &wy, 0.0);
        assert_eq!(read_u32(&g, &ab, ny), wa, "max pool indices");
        pool::max_pool2d_backward(&g, &pg, v(&dyb, ny), v(&ab, ny), v(&dxb, nx)).unwrap();
        close(
            "max pool backward",
            &read(&g, &dxb, nx),
            &cpu::pool::max_pool2d_backward(&pg, &dy, &wa),
            TRANSCENDENTAL_TOL,
        );
    }
    for (hw, out) in [
        ((7, 5), (3, 2)),
        ((4, 4), (1, 1)),
        ((5, 3), (5, 3)),
        ((3, 5), (6, 7)),
    ] {
        let planes = 2;
        let (nx, ny) = (planes * hw.0 * hw.1, planes * out.0 * out.1);
        let (x, dy) = (
            rand_vec(&mut r, nx, -1.0, 1.0),
            rand_vec(&mut r, ny, -1.0, 1.0),
        );
        let (xb, dyb, yb, dxb) = (up(&g, &x), up(&g, &dy), poisoned(&g, ny), poisoned(&g, nx));
        pool::adaptive_avg_pool2d(&g, planes, hw, out, v(&xb, nx), v(&yb, ny)).unwrap();
        close(
            "adaptive avg",
            &read(&g, &yb, ny),
            &cpu::pool::adaptive_avg_pool2d(planes, hw, out, &x),
            TRANSCENDENTAL_TOL,
        );
        pool::adaptive_avg_pool2d_backward(&g, planes, hw, out, v(&dyb, ny), v(&dxb, nx)).unwrap();
        close(
            "adaptive avg backward",
            &read(&g, &dxb, nx),
            &cpu::pool::adaptive_avg_pool2d_backward(planes, hw, out, &dy),
            TRANSCENDENTAL_TOL,
        );
    }
}

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
            resize::resize(&g, planes, hw, out, mode, v(&xb, nx), v(&yb, ny)).unwrap();
            close(
                &format!("resize {mode:?} {hw:?}->{out:?}"),
                &read(&g, &yb, ny),
                &cpu::resize::resize(planes, hw, out, mode, &x),
                TRANSCENDENTAL_TOL,
            );
            resize::resize_backward(&g, planes, hw, out, mode, v(&dyb, ny), v(&dxb, nx)).unwrap();
            close(
                &format!("resize backward {mode:?} {hw:?}->{out:?}"),
                &read(&g, &dxb, nx),
                &cpu::resize::resize_backward(planes, hw, out, mode, &dy),
                TRANSCENDENTAL_TOL,
            );
        }
    }
}

#[test]
fn batch_norm_kernels() {
    let g = gpu();
    let mut r = rng(11);
    for s in [
        BnShape { n: 1, c: 1, hw: 1 },
        BnShape { n: 3, c: 5, hw: 7 },
        BnShape { n: 2, c: 3, hw: 1 },
        // H·W a multiple of 4: the vec4 apply kernel.
        BnShape { n: 1, c: 2, hw: 4 },
        BnShape { n: 2, c: 3, hw: 12 },
    ] {
        let n = s.n * s.c * s.hw;
        let (x, gr) = (
            rand_vec(&mut r, n, -2.0, 2.0),
            rand_vec(&mut r, n, -1.0, 1.0),
        );
        let (gamma, beta) = (
            rand_vec(&mut r, s.c, 0.5, 1.5),
            rand_vec(&mut r, s.c, -0.5, 0.5),
        );
        let (xb, gb, gmb, btb) = (up(&g, &x), up(&g, &gr), up(&g, &gamma), up(&g, &beta));
        let st = poisoned(&g, 2 * s.c);
        norm::bn_stats(&g, s, v(&xb, n), v(&st, 2 * s.c), 1e-5).unwrap();
        let stats = read(&g, &st, 2 * s.c);
        close(
            "bn stats",
            &stats,
            &cpu::norm::bn_stats(s, &x, 1e-5),
            LONG_TOL,
        );
        let yb = poisoned(&g, n);
        norm::bn_apply(
            &g,
            s,
            v(&xb, n),
            v(&st, 2 * s.c),
            v(&gmb, s.c),
            v(&btb, s.c),
            v(&yb, n),
        )
        .unwrap();
        close(
            "bn apply",
            &read(&g, &yb, n),
            &cpu::norm::bn_apply(s, &x, &stats, &gamma, &beta),
            TRANSCENDENTAL_TOL,
        );
        let sb = poisoned(&g, 2 * s.c);
        norm::bn_grad_sums(
            &g,
            s,
            v(&gb, n),
            v(&xb, n),
            v(&st, 2 * s.c),
            v(&sb, 2 * s.c),
        )
        .unwrap();
        let sums = read(&g, &sb, 2 * s.c);
        close(
            "bn grad sums",
            &sums,
            &cpu::norm::bn_grad_sums(s, &gr, &x, &stats),
            LONG_TOL,
        );
        let dxb = poisoned(&g, n);
        norm::bn_backward(
            &g,
            s,
            v(&gb, n),
            v(&xb, n),
            v(&st, 2 * s.c),
            v(&gmb, s.c),
            v(&sb, 2 * s.c),
            v(&dxb, n),
        )
        .unwrap();
        close(
            "bn backward",
            &read(&g, &dxb, n),
            &cpu::norm::bn_backward(s, &gr, &x, &stats, &gamma, &sums),
            LONG_TOL,
        );
    }
}

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
        close("ce loss", &read(&g, &loss_b, np), &wl, TRANSCENDENTAL_TOL);
        close("ce weights", &read(&g, &ws_b, np), &wws, 0.0);
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
        close(
            "ce backward",
            &read(&g, &dx, logits.len()),
            &cpu::loss::ce_backward(sh, &logits, &target, wref, 0.37),
            TRANSCENDENTAL_TOL,
        );
    }
}

#[test]
fn optimiser_steps() {
    let g = gpu();
    let mut r = rng(13);
    let n = 77;
    let (p, gr, m, vv) = (
        rand_vec(&mut r, n, -1.0, 1.0),
        rand_vec(&mut r, n, -1.0, 1.0),
        rand_vec(&mut r, n, -1.0, 1.0),
        rand_vec(&mut r, n, 0.0, 1.0),
    );
    for s in [
        SgdStep {
            lr: 0.1,
            momentum: 0.9,
            dampening: 0.0,
            weight_decay: 5e-4,
            nesterov: false,
            first: false,
        },
        SgdStep {
            lr: 0.1,
            momentum: 0.9,
            dampening: 0.1,
            weight_decay: 0.0,
            nesterov: true,
            first: true,
        },
        SgdStep {
            lr: 0.05,
            momentum: 0.0,
            dampening: 0.0,
            weight_decay: 1e-4,
            nesterov: false,
            first: false,
        },
    ] {
        let (pb, gb, mb) = (up(&g, &p), up(&g, &gr), up(&g, &m));
        optim::sgd(&g, v(&pb, n), v(&gb, n), v(&mb, n), s).unwrap();
        let (wp, wm) = cpu::optim::sgd(&p, &gr, &m, s);
        close("sgd p", &read(&g, &pb, n), &wp, ELEMENTWISE_TOL);
        close("sgd m", &read(&g, &mb, n), &wm, ELEMENTWISE_TOL);
    }
    let s = AdamWStep {
        lr: 1e-3,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        weight_decay: 0.01,
        t: 3,
    };
    let (pb, gb, mb, vb) = (up(&g, &p), up(&g, &gr), up(&g, &m), up(&g, &vv));
    optim::adamw(&g, v(&pb, n), v(&gb, n), v(&mb, n), v(&vb, n), s).unwrap();
    let (wp, wm, wv) = cpu::optim::adamw(&p, &gr, &m, &vv, s);
    close("adamw p", &read(&g, &pb, n), &wp, TRANSCENDENTAL_TOL);
    close("adamw m", &read(&g, &mb, n), &wm, ELEMENTWISE_TOL);
    close("adamw v", &read(&g, &vb, n), &wv, ELEMENTWISE_TOL);
    let (tb, sb) = (up(&g, &p), up(&g, &gr));
    optim::ema(&g, v(&tb, n), v(&sb, n), 0.9994).unwrap();
    close(
        "ema",
        &read(&g, &tb, n),
        &cpu::optim::ema(&p, &gr, 0.9994),
        ELEMENTWISE_TOL,
    );
    assert!(optim::ema(&g, v(&tb, n), v(&sb, n - 1), 0.9).is_err());
}

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
        close(
            &format!("{what}: backward"),
            &read(&g, &gi, rows * n),
            &want,
            0.0,
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

/// One k-means iteration (assignment, then update) against the reference,
/// Euclidean and spherical, with an empty cluster, and grouped (three
/// problems in one launch); tolerance 1e-4 on the centroids (means of up
/// to 131 values), exact labels on separated data.
#[test]
fn kmeans_iteration() {
    let g = gpu();
    let mut r = rng(31);
    for (n, d, k, spherical, groups) in [
        (131, 5, 4, false, 1),
        (64, 3, 7, true, 1),
        (1, 1, 1, false, 1),
        (63, 4, 6, true, 3),
        (39, 2, 9, false, 3),
    ] {
        let mut pts = rand_vec(&mut r, n * d, -1.0, 1.0);
        let mut cen = rand_vec(&mut r, k * d, -1.0, 1.0);
        if spherical {
            for row in pts.chunks_mut(d).chain(cen.chunks_mut(d)) {
                let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt();
                row.iter_mut().for_each(|v| *v /= norm);
            }
        } else if k > 1 {
            cen[(k - 1) * d..].iter_mut().for_each(|v| *v = 50.0);
        }
        let s = KMeans {
            n,
            d,
            k,
            spherical,
            groups,
        };
        let (pb, cb) = (up(&g, &pts), up(&g, &cen));
        let (lb, db, nb) = (
            up_u32(&g, &vec![u32::MAX; n]),
            poisoned(&g, n),
            up_u32(&g, &vec![u32::MAX; k]),
        );
        cluster::assign(&g, v(&pb, n * d), v(&cb, k * d), s, v(&lb, n), v(&db, n)).unwrap();
        let (wl, wd) = cpu::cluster::assign(&pts, &cen, d, spherical, groups);
        let what = format!("kmeans n {n} d {d} k {k} spherical {spherical} groups {groups}");
        assert_eq!(read_u32(&g, &lb, n), wl, "{what}: labels");
        close(
            &format!("{what}: dist"),
            &read(&g, &db, n),
            &wd,
            TRANSCENDENTAL_TOL,
        );
        cluster::update(&g, v(&pb, n * d), v(&lb, n), s, v(&cb, k * d), v(&nb, k)).unwrap();
        let (wc, wn) = cpu::cluster::update(&pts, &wl, &cen, d, spherical);
        close(
            &format!("{what}: centroids"),
            &read(&g, &cb, k * d),
            &wc,
            TRANSCENDENTAL_TOL,
        );
        assert_eq!(read_u32(&g, &nb, k), wn, "{what}: counts");
    }
    let b = up(&g, &[0.0]);
    let empty = KMeans::single(0, 1, 1, false);
    assert!(cluster::assign(&g, v(&b, 1), v(&b, 1), empty, v(&b, 1), v(&b, 1)).is_err());
    let uneven = KMeans {
        groups: 2,
        ..KMeans::single(3, 1, 2, false)
    };
    assert!(cluster::assign(&g, v(&b, 1), v(&b, 1), uneven, v(&b, 1), v(&b, 1)).is_err());
}

#[test]
fn dropout_masks_are_reproducible() {
    let g = gpu();
    for (n, group, p) in [(1usize, 1usize, 0.5f32), (1000, 1, 0.3), (120, 20, 0.5)] {
        let mb = poisoned(&g, n);
        random::bernoulli(&g, v(&mb, n), group, 1234, p).unwrap();
        let got = read(&g, &mb, n);
        close(
            "bernoulli",
            &got,
            &cpu::random::bernoulli(n, group, 1234, p),
            ELEMENTWISE_TOL,
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
        let (fb, wb, pb) = (up(&g, &feat), up(&g, &w), up(&g, &present));
        let n = batch * classes * hw;
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
        close(
            "cam",
            &read(&g, &out, n),
            &cpu::cam::cam(s, &feat, &w, &present),
            LONG_TOL,
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
        close(
            "cam normalise",
            &read(&g, &out, n),
            &cpu::cam::normalise(hw, &raw, &peaks, 1e-5),
            ELEMENTWISE_TOL,
        );
    }
}

/// psa's half-disc of radius r: (0, x) for 1 ≤ x < r, then (y, x) for
/// 1 ≤ y < r, |x| < r, x² + y² < r², as flat (row, col) pairs.
fn half_disc(r: i32) -> Vec<i32> {
    let mut o: Vec<i32> = (1..r).flat_map(|x| [0, x]).collect();
    for y in 1..r {
        for x in (1 - r)..r {
            if x * x + y * y < r * r {
                o.extend([y, x]);
            }
        }
    }
    o
}

#[test]
fn affinity_kernels() {
    use weakseg_kernels::launch::affinity::{self, PairShape};
    let g = gpu();
    let mut r = rng(41);
    for (batch, channels, h, w, radius) in [
        (1usize, 1usize, 1usize, 1usize, 2),
        (2, 3, 5, 7, 3),
        (1, 9, 6, 4, 5),
    ] {
        let offsets = half_disc(radius);
        let s = PairShape {
            batch,
            channels,
            h,
            w,
            pairs: offsets.len() / 2,
        };
        let hw = h * w;
        let ob: GpuBuffer = g.upload(bytemuck::cast_slice(&offsets)).unwrap();
        let ov = View::new(&ob, offsets.len());
        let feat = rand_vec(&mut r, batch * channels * hw, -1.0, 1.0);
        let fb = up(&g, &feat);
        let na = batch * s.pairs * hw;
        let ab = poisoned(&g, na);
        affinity::pair_affinity(&g, s, ov, v(&fb, feat.len()), v(&ab, na)).unwrap();
        let aff = read(&g, &ab, na);
        close(
            "pair_affinity",
            &aff,
            &cpu::affinity::pair_affinity(s, &offsets, &feat),
            TRANSCENDENTAL_TOL,
        );
        let gaff = rand_vec(&mut r, na, -1.0, 1.0);
        let gb = up(&g, &gaff);
        let db = poisoned(&g, feat.len());
        affinity::pair_affinity_backward(
            &g,
            s,
            ov,
            v(&fb, feat.len()),
            v(&ab, na),
            v(&gb, na),
            v(&db, feat.len()),
        )
        .unwrap();
        close(
            "pair_affinity_backward",
            &read(&g, &db, feat.len()),
            &cpu::affinity::pair_affinity_backward(s, &offsets, &feat, &aff, &gaff),
            TRANSCENDENTAL_TOL,
        );

        // The walk on the first image's affinities as weights.
        let weights = aff[..s.pairs * hw].to_vec();
        let wb = up(&g, &weights);
        let cb = poisoned(&g, hw);
        affinity::rw_colsum(&g, s, ov, v(&wb, weights.len()), v(&cb, hw)).unwrap();
        close(
            "rw_colsum",
            &read(&g, &cb, hw),
            &cpu::affinity::rw_colsum(s, &offsets, &weights),
            LONG_TOL,
        );
        let tb = poisoned(&g, hw * hw);
        affinity::rw_dense(
            &g,
            s,
            ov,
            v(&wb, weights.len()),
            v(&cb, hw),
            v(&tb, hw * hw),
        )
        .unwrap();
        close(
            "rw_dense",
            &read(&g, &tb, hw * hw),
            &cpu::affinity::rw_dense(s, &offsets, &weights),
            LONG_TOL,
        );
        let rows = 3;
        let vin = rand_vec(&mut r, rows * hw, 0.0, 1.0);
        let vb = up(&g, &vin);
        let outb = poisoned(&g, rows * hw);
        affinity::rw_step(
            &g,
            s,
            rows,
            ov,
            v(&wb, weights.len()),
            v(&cb, hw),
            v(&vb, vin.len()),
            v(&outb, vin.len()),
        )
        .unwrap();
        close(
            "rw_step",
            &read(&g, &outb, vin.len()),
            &cpu::affinity::rw_step(s, &offsets, &weights, &vin),
            LONG_TOL,
        );
    }
}

/// Axes longer than a reduction chunk (4096) and than the 65 536-trip loop
/// bound of CPU adapters: reduced in chunks, then over the chunks.
#[test]
fn long_reductions() {
    let g = gpu();
    let mut r = rng(42);
    for ax in [
        Axis {
            outer: 1,
            l: 70_001,
            inner: 1,
        },
        Axis {
            outer: 2,
            l: 9_000,
            inner: 3,
        },
    ] {
        let n = ax.outer * ax.l * ax.inner;
        let m = ax.outer * ax.inner;
        let x = rand_vec(&mut r, n, -3.0, 3.0);
        let xb = up(&g, &x);
        for op in [
            Reduce::Sum,
            Reduce::Mean,
            Reduce::Max,
            Reduce::Min,
            Reduce::LogSumExp,
        ] {
            let out = poisoned(&g, m);
            reduce::reduce(&g, op, v(&xb, n), v(&out, m), ax).unwrap();
            close(
                &format!("{op:?} {ax:?}"),
                &read(&g, &out, m),
                &cpu::reduce::reduce(op, &x, ax),
                LONG_TOL,
            );
        }
    }
    // Walks that cannot be chunked are refused past the loop bound.
    let ax = Axis {
        outer: 1,
        l: 70_001,
        inner: 1,
    };
    let xb = poisoned(&g, ax.l);
    let (vals, idx) = (poisoned(&g, 1), poisoned(&g, 1));
    let e = reduce::arg_reduce(&g, true, v(&xb, ax.l), v(&vals, 1), v(&idx, 1), ax).unwrap_err();
    assert!(e.to_string().contains("loop bound"), "{e}");
}

#[test]
fn click_maps_match_reference() {
    use weakseg_kernels::launch::clicks::{self, ClickMaps, ClickMode};
    let g = gpu();
    let mut r = rng(61);
    // Odd sizes, a 1×1 map, unused slots (channel −1) and clicks outside
    // the map; 64·k + 1 elements so the last workgroup is partial.
    for (batch, channels, height, width, slots) in [
        (1usize, 1usize, 1usize, 1usize, 1usize),
        (2, 2, 7, 9, 5),
        (3, 1, 13, 5, 4),
        (1, 3, 5, 13, 7),
    ] {
        for (mode, scale) in [(ClickMode::Distance, 6.0f32), (ClickMode::Gaussian, 2.5)] {
            let s = ClickMaps {
                batch,
                channels,
                height,
                width,
                slots,
                mode,
                scale,
            };
            let c: Vec<f32> = (0..batch * slots)
                .flat_map(|_| {
                    [
                        r.random_range(-2..height as i32 + 2) as f32,
                        r.random_range(-2..width as i32 + 2) as f32,
                        r.random_range(-1..channels as i32) as f32,
                    ]
                })
                .collect();
            let n = batch * channels * height * width;
            let (cb, mb) = (up(&g, &c), poisoned(&g, n));
            clicks::click_maps(&g, v(&cb, c.len()), s, v(&mb, n)).unwrap();
            // Tolerance: transcendental (exp, sqrt in f32).
            close(
                &format!("click_maps {s:?}"),
                &read(&g, &mb, n),
                &cpu::clicks::click_maps(&c, s),
                TRANSCENDENTAL_TOL,
            );
        }
    }
    let b = up(&g, &[0.0; 3]);
    let bad = ClickMaps {
        batch: 1,
        channels: 1,
        height: 2,
        width: 2,
        slots: 1,
        mode: ClickMode::Gaussian,
        scale: 0.0,
    };
    assert!(clicks::click_maps(&g, v(&b, 3), bad, v(&b, 3)).is_err());
    let bad = ClickMaps { scale: 1.0, ..bad };
    assert!(clicks::click_maps(&g, v(&b, 2), bad, v(&b, 3)).is_err());
}

/// SLIC's three passes against the reference: odd image sizes, grids that
/// do not divide them, a 1×1 image and grid, three channels and one.
/// Centres: tolerance 1e-4 (means of a few dozen values); labels exact
/// (random colours leave no ties). Each pass starts from the reference's
/// previous output, so a mismatch names its pass.
#[test]
fn slic_matches_reference() {
    use weakseg_kernels::launch::superpixel::{self, Slic};
    let g = gpu();
    let mut r = rng(67);
    for (batch, channels, height, width, grid_h, grid_w) in [
        (1usize, 1usize, 1usize, 1usize, 1usize, 1usize),
        (2, 3, 13, 9, 3, 2),
        (1, 3, 7, 17, 2, 5),
        (3, 1, 11, 11, 4, 4),
    ] {
        let s = Slic {
            batch,
            channels,
            height,
            width,
            grid_h,
            grid_w,
            spatial: 0.05,
        };
        let what = format!("slic {s:?}");
        let n = batch * height * width;
        let nc = s.centres() * s.centre_len();
        let img = rand_vec(&mut r, batch * channels * height * width, -2.0, 2.0);
        let ib = up(&g, &img);
        let cb = poisoned(&g, nc);
        superpixel::slic_init(&g, v(&ib, img.len()), s, v(&cb, nc)).unwrap();
        let want = cpu::superpixel::slic_init(&img, s);
        close(
            &format!("{what}: init"),
            &read(&g, &cb, nc),
            &want,
            ELEMENTWISE_TOL,
        );
        let centres: Vec<f32> = want.iter().map(|&v| v as f32).collect();
        let cb = up(&g, &centres);
        let lb = up_u32(&g, &vec![u32::MAX; n]);
        superpixel::slic_assign(&g, v(&ib, img.len()), v(&cb, nc), s, v(&lb, n)).unwrap();
        let labels = cpu::superpixel::slic_assign(&img, &centres, s);
        assert_eq!(read_u32(&g, &lb, n), labels, "{what}: labels");
        superpixel::slic_update(&g, v(&ib, img.len()), v(&lb, n), s, v(&cb, nc)).unwrap();
        close(
            &format!("{what}: update"),
            &read(&g, &cb, nc),
            &cpu::superpixel::slic_update(&img, &labels, &centres, s),
            TRANSCENDENTAL_TOL,
        );
    }
    let b = up(&g, &[0.0; 8]);
    let too_fine = Slic {
        batch: 1,
        channels: 1,
        height: 2,
        width: 2,
        grid_h: 3,
        grid_w: 1,
        spatial: 1.0,
    };
    assert!(superpixel::slic_init(&g, v(&b, 4), too_fine, v(&b, 3)).is_err());
    let short = Slic {
        grid_h: 1,
        ..too_fine
    };
    assert!(superpixel::slic_init(&g, v(&b, 4), short, v(&b, 2)).is_err());
}
