//! Finite-difference gradient checks of every differentiable op, alone and
//! inside a composite (conv → batch_norm → relu → GAP → BCE).
//!
//! For a random projection r, L(x) = Σ f(x)·r is evaluated on the host in
//! f64 from the f32 forward; central differences with step 1e-2 are compared
//! with the gradient from `backward_with(r)`. Tolerance: |Δ| ≤ 2e-2 +
//! 2e-2·|numeric| — the forward is f32, so differences carry ~1e-3 noise.
//! Inputs are kept away from kinks (relu at 0, max ties, clamp bounds).

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use weakseg::{ConvOpts, Gpu, ResizeMode, RunningStats, Tensor};

const EPS: f32 = 1e-2;
const TOL: f64 = 2e-2;

struct Input {
    shape: Vec<usize>,
    data: Vec<f32>,
}

fn input(r: &mut SmallRng, shape: &[usize], lo: f32, hi: f32, avoid_zero: bool) -> Input {
    let n = shape.iter().product();
    let data = (0..n)
        .map(|_| {
            loop {
                let v: f32 = r.random_range(lo..hi);
                if !avoid_zero || v.abs() > 0.08 {
                    break v;
                }
            }
        })
        .collect();
    Input {
        shape: shape.to_vec(),
        data,
    }
}

fn eval(
    g: &Gpu,
    f: &dyn Fn(&[Tensor]) -> weakseg::Result<Tensor>,
    xs: &[Vec<f32>],
    shapes: &[Vec<usize>],
    r: &[f32],
) -> f64 {
    let ts: Vec<Tensor> = xs
        .iter()
        .zip(shapes)
        .map(|(x, s)| Tensor::from_slice(g, x, s).unwrap())
        .collect();
    let y = weakseg::no_grad(|| f(&ts)).unwrap();
    let v = y.to_vec_blocking::<f32>().unwrap();
    v.iter().zip(r).map(|(a, b)| *a as f64 * *b as f64).sum()
}

fn check(
    name: &str,
    seed: u64,
    inputs: Vec<Input>,
    f: impl Fn(&[Tensor]) -> weakseg::Result<Tensor>,
) {
    let g = Gpu::new_blocking().unwrap();
    let mut rng = SmallRng::seed_from_u64(seed ^ 0x5eed);
    let shapes: Vec<Vec<usize>> = inputs.iter().map(|i| i.shape.clone()).collect();
    let xs: Vec<Vec<f32>> = inputs.iter().map(|i| i.data.clone()).collect();
    let ts: Vec<Tensor> = xs
        .iter()
        .zip(&shapes)
        .map(|(x, s)| Tensor::from_slice(&g, x, s).unwrap().requires_grad_())
        .collect();
    let y = f(&ts).unwrap_or_else(|e| panic!("{name}: forward failed: {e}"));
    let r: Vec<f32> = (0..y.numel())
        .map(|_| rng.random_range(-1.0..1.0))
        .collect();
    y.backward_with(Tensor::from_slice(&g, &r, y.shape()).unwrap())
        .unwrap_or_else(|e| panic!("{name}: backward failed: {e}"));
    for (k, t) in ts.iter().enumerate() {
        let analytic = t
            .grad()
            .unwrap_or_else(|| panic!("{name}: input {k} got no gradient"))
            .to_vec_blocking::<f32>()
            .unwrap();
        for i in 0..xs[k].len() {
            let mut plus = xs.clone();
            plus[k][i] += EPS;
            let mut minus = xs.clone();
            minus[k][i] -= EPS;
            let num = (eval(&g, &f, &plus, &shapes, &r) - eval(&g, &f, &minus, &shapes, &r))
                / (2.0 * EPS as f64);
            let a = analytic[i] as f64;
            assert!(
                (a - num).abs() <= TOL + TOL * num.abs(),
                "{name}: input {k} element {i}: analytic {a}, numeric {num}"
            );
        }
    }
}

fn rng(seed: u64) -> SmallRng {
    SmallRng::seed_from_u64(seed)
}

#[test]
fn elementwise_ops() {
    let mut r = rng(1);
    check(
        "add broadcast",
        1,
        vec![
            input(&mut r, &[2, 3], -1.0, 1.0, false),
            input(&mut r, &[3], -1.0, 1.0, false),
        ],
        |t| t[0].add(&t[1]),
    );
    check(
        "sub broadcast",
        2,
        vec![
            input(&mut r, &[2, 1, 3], -1.0, 1.0, false),
            input(&mut r, &[4, 1], -1.0, 1.0, false),
        ],
        |t| t[0].sub(&t[1]),
    );
    check(
        "mul",
        3,
        vec![
            input(&mut r, &[3, 2], -1.0, 1.0, false),
            input(&mut r, &[3, 2], -1.0, 1.0, false),
        ],
        |t| t[0].mul(&t[1]),
    );
    check(
        "div",
        4,
        vec![
            input(&mut r, &[5], -1.0, 1.0, false),
            input(&mut r, &[5], 0.5, 2.0, false),
        ],
        |t| t[0].div(&t[1]),
    );
    check(
        "maximum",
        5,
        vec![
            input(&mut r, &[6], -1.0, 1.0, false),
            input(&mut r, &[6], -1.0, 1.0, false),
        ],
        |t| t[0].maximum(&t[1]),
    );
    check(
        "minimum",
        6,
        vec![
            input(&mut r, &[6], -1.0, 1.0, false),
            input(&mut r, &[1], -0.3, -0.2, false),
        ],
        |t| t[0].minimum(&t[1]),
    );
    let x = || input(&mut rng(7), &[7], -2.0, 2.0, true);
    let pos = || input(&mut rng(8), &[7], 0.3, 2.0, false);
    check("affine", 7, vec![x()], |t| t[0].affine(1.5, -0.2));
    check("abs", 8, vec![x()], |t| t[0].abs());
    check("exp", 9, vec![x()], |t| t[0].exp());
    check("log", 10, vec![pos()], |t| t[0].log());
    check("sqrt", 11, vec![pos()], |t| t[0].sqrt());
    check("pow", 12, vec![pos()], |t| t[0].pow(2.5));
    check("square", 13, vec![x()], |t| t[0].square());
    check("relu", 14, vec![x()], |t| t[0].relu());
    check("elu", 15, vec![x()], |t| t[0].elu(0.7));
    check("leaky_relu", 16, vec![x()], |t| t[0].leaky_relu(0.1));
    check("sigmoid", 17, vec![x()], |t| t[0].sigmoid());
    check("tanh", 18, vec![x()], |t| t[0].tanh());
    check(
        "clamp",
        19,
        vec![input(&mut rng(19), &[8], -2.0, 2.0, true)],
        |t| t[0].clamp(-0.05, 0.05).and_then(|c| c.add(&t[0])),
    );
    check(
        "where",
        20,
        vec![
            input(&mut r, &[2, 3], -1.0, 1.0, false),
            input(&mut r, &[3], -1.0, 1.0, false),
        ],
        |t| {
            let cond = t[0].detach().gt_scalar(0.0)?;
            Tensor::where_(&cond, &t[0], &t[1])
        },
    );
}

#[test]
fn reductions_and_softmax() {
    let mut r = rng(2);
    let x = |r: &mut SmallRng| input(r, &[2, 3, 4], -2.0, 2.0, false);
    check("sum axes", 1, vec![x(&mut r)], |t| t[0].sum(&[0, 2], false));
    check("sum all", 2, vec![x(&mut r)], |t| t[0].sum_all());
    check("mean keepdim", 3, vec![x(&mut r)], |t| {
        t[0].mean(&[1], true)
    });
    check("max axis", 4, vec![x(&mut r)], |t| {
        Ok(t[0].max_axis(1, false)?.0)
    });
    check("min axis", 5, vec![x(&mut r)], |t| {
        Ok(t[0].min_axis(2, true)?.0)
    });
    check("logsumexp", 6, vec![x(&mut r)], |t| {
        t[0].logsumexp(1, false)
    });
    check("softmax", 7, vec![x(&mut r)], |t| t[0].softmax(2));
    check("softmax temperature", 8, vec![x(&mut r)], |t| {
        t[0].softmax_t(1, 0.5)
    });
    check("log_softmax", 9, vec![x(&mut r)], |t| {
        t[0].log_softmax_t(1, 2.0)
    });
    check("topk largest", 10, vec![x(&mut r)], |t| {
        Ok(t[0].topk(2, false)?.0)
    });
    check(
        "topk smallest",
        11,
        vec![input(&mut r, &[3, 7], -2.0, 2.0, false)],
        |t| Ok(t[0].topk(3, true)?.0),
    );
}

#[test]
fn matmul_ops() {
    let mut r = rng(3);
    check(
        "matmul 2d",
        1,
        vec![
            input(&mut r, &[3, 5], -1.0, 1.0, false),
            input(&mut r, &[5, 2], -1.0, 1.0, false),
        ],
        |t| t[0].matmul(&t[1]),
    );
    check(
        "matmul batched broadcast",
        2,
        vec![
            input(&mut r, &[4, 3], -1.0, 1.0, false),
            input(&mut r, &[2, 3, 2], -1.0, 1.0, false),
        ],
        |t| t[0].matmul(&t[1]),
    );
}

#[test]
fn conv_ops() {
    let mut r = rng(4);
    for (i, (x, w, o, bias)) in [
        (
            vec![2, 3, 5, 4],
            vec![4, 3, 3, 3],
            ConvOpts::new(1, 1, 1, 1),
            true,
        ),
        (
            vec![1, 2, 7, 6],
            vec![3, 2, 3, 3],
            ConvOpts::new(2, 1, 1, 1),
            false,
        ),
        (
            vec![1, 2, 6, 6],
            vec![2, 2, 3, 3],
            ConvOpts::new(1, 2, 2, 1),
            true,
        ),
        (
            vec![1, 4, 5, 5],
            vec![4, 1, 3, 3],
            ConvOpts::new(1, 1, 1, 4),
            true,
        ),
        (
            vec![2, 3, 3, 4],
            vec![5, 3, 1, 1],
            ConvOpts::default(),
            true,
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let mut inputs = vec![
            input(&mut r, &x, -1.0, 1.0, false),
            input(&mut r, &w, -1.0, 1.0, false),
        ];
        if bias {
            inputs.push(input(&mut r, &[w[0]], -1.0, 1.0, false));
        }
        check(&format!("conv2d case {i}"), i as u64, inputs, move |t| {
            t[0].conv2d(&t[1], t.get(2), o)
        });
    }
}

#[test]
fn pooling_and_resizing() {
    let mut r = rng(5);
    let x = |r: &mut SmallRng| input(r, &[1, 2, 5, 6], -1.0, 1.0, false);
    check("avg_pool2d", 1, vec![x(&mut r)], |t| {
        t[0].avg_pool2d(3, 2, 1)
    });
    check("max_pool2d", 2, vec![x(&mut r)], |t| {
        t[0].max_pool2d(2, 2, 0)
    });
    check("adaptive_avg_pool2d", 3, vec![x(&mut r)], |t| {
        t[0].adaptive_avg_pool2d((2, 4))
    });
    check("global_avg_pool", 4, vec![x(&mut r)], |t| {
        t[0].global_avg_pool()
    });
    check("global_max_pool", 5, vec![x(&mut r)], |t| {
        t[0].global_max_pool()
    });
    check("bilinear up", 6, vec![x(&mut r)], |t| {
        t[0].interpolate((9, 7), ResizeMode::Bilinear(false))
    });
    check("bilinear down aligned", 7, vec![x(&mut r)], |t| {
        t[0].interpolate((3, 4), ResizeMode::Bilinear(true))
    });
    check("nearest", 8, vec![x(&mut r)], |t| {
        t[0].interpolate((7, 3), ResizeMode::Nearest)
    });
    check("hflip", 9, vec![x(&mut r)], |t| t[0].hflip()?.mul(&t[0]));
}

#[test]
fn layout_ops() {
    let mut r = rng(6);
    let x = |r: &mut SmallRng| input(r, &[2, 3, 4], -1.0, 1.0, false);
    check("reshape", 1, vec![x(&mut r)], |t| {
        t[0].reshape(&[4, 6])?.square()
    });
    check("permute", 2, vec![x(&mut r)], |t| t[0].permute(&[2, 0, 1]));
    check("narrow", 3, vec![x(&mut r)], |t| t[0].narrow(1, 1, 2));
    check(
        "concat",
        4,
        vec![x(&mut r), input(&mut r, &[2, 1, 4], -1.0, 1.0, false)],
        |t| Tensor::concat(&[t[0].clone(), t[1].clone()], 1),
    );
    check("pad", 5, vec![x(&mut r)], |t| {
        t[0].pad(&[(0, 0), (1, 2), (2, 0)], 0.5)
    });
    check(
        "expand",
        6,
        vec![input(&mut r, &[3, 1], -1.0, 1.0, false)],
        |t| t[0].expand(&[2, 3, 4]),
    );
    check("index_select", 7, vec![x(&mut r)], |t| {
        let idx = Tensor::from_slice(t[0].gpu(), &[2u32, 0, 2], &[3])?;
        t[0].index_select(1, &idx)
    });
    check("gather", 8, vec![x(&mut r)], |t| {
        let idx: Vec<u32> = (0..16).map(|i| (i * 7 % 3) as u32).collect();
        let idx = Tensor::from_slice(t[0].gpu(), &idx, &[2, 2, 4])?;
        t[0].gather(1, &idx)
    });
    check(
        "scatter_add",
        9,
        vec![x(&mut r), input(&mut r, &[2, 2, 4], -1.0, 1.0, false)],
        |t| {
            let idx: Vec<u32> = (0..16).map(|i| (i % 3) as u32).collect();
            let idx = Tensor::from_slice(t[0].gpu(), &idx, &[2, 2, 4])?;
            t[0].scatter_add(1, &idx, &t[1])
        },
    );
}

#[test]
fn normalisation_dropout_and_losses() {
    let mut r = rng(7);
    let x = |r: &mut SmallRng| input(r, &[3, 2, 2, 3], -2.0, 2.0, false);
    let c = |r: &mut SmallRng| input(r, &[2], 0.5, 1.5, false);
    check(
        "batch_norm train",
        1,
        vec![x(&mut r), c(&mut r), c(&mut r)],
        |t| t[0].batch_norm(&t[1], &t[2], None, true, 1e-5),
    );
    check(
        "batch_norm frozen",
        2,
        vec![x(&mut r), c(&mut r), c(&mut r)],
        |t| {
            let g = t[0].gpu();
            let (m, v) = (
                Tensor::from_slice(g, &[0.1f32, -0.2], &[2])?,
                Tensor::from_slice(g, &[0.8f32, 1.3], &[2])?,
            );
            t[0].batch_norm(
                &t[1],
                &t[2],
                Some(RunningStats {
                    mean: &m,
                    var: &v,
                    momentum: 0.1,
                }),
                false,
                1e-5,
            )
        },
    );
    check(
        "group_norm",
        3,
        vec![
            input(&mut r, &[2, 4, 2, 2], -2.0, 2.0, false),
            input(&mut r, &[4], 0.5, 1.5, false),
            input(&mut r, &[4], -0.5, 0.5, false),
        ],
        |t| t[0].group_norm(2, &t[1], &t[2], 1e-5),
    );
    check(
        "l2_normalize",
        4,
        vec![input(&mut r, &[3, 4], -1.0, 1.0, false)],
        |t| t[0].l2_normalize(1, 1e-6),
    );
    check(
        "dropout",
        5,
        vec![input(&mut r, &[40], -1.0, 1.0, false)],
        |t| t[0].dropout(0.5, 99),
    );
    check("dropout2d", 6, vec![x(&mut r)], |t| t[0].dropout2d(0.5, 7));
    check(
        "bce_with_logits",
        7,
        vec![input(&mut r, &[3, 4], -3.0, 3.0, false)],
        |t| {
            let y = Tensor::from_slice(
                t[0].gpu(),
                &[
                    1.0f32, 0.0, 1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 1.0,
                ],
                &[3, 4],
            )?;
            t[0].bce_with_logits(&y)
        },
    );
    check(
        "cross_entropy",
        8,
        vec![input(&mut r, &[2, 3, 2, 2], -2.0, 2.0, false)],
        |t| {
            let g = t[0].gpu();
            let y = Tensor::from_slice(g, &[0u32, 2, 255, 1, 1, 1, 0, 255], &[2, 2, 2])?;
            let w = Tensor::from_slice(g, &[1.0f32, 2.0, 0.5], &[3])?;
            t[0].cross_entropy(&y, Some(&w), 255)
        },
    );
    check("l1", 9, vec![input(&mut r, &[5], -1.0, 1.0, true)], |t| {
        t[0].l1_loss(&Tensor::zeros(t[0].gpu(), &[5])?)
    });
    check(
        "mse",
        10,
        vec![
            input(&mut r, &[5], -1.0, 1.0, false),
            input(&mut r, &[5], -1.0, 1.0, false),
        ],
        |t| t[0].mse_loss(&t[1]),
    );
}

#[test]
fn composite_conv_bn_relu_gap_bce() {
    let mut r = rng(8);
    let inputs = vec![
        input(&mut r, &[2, 3, 6, 5], -1.0, 1.0, false),
        input(&mut r, &[4, 3, 3, 3], -0.5, 0.5, false),
        input(&mut r, &[4], 0.5, 1.5, false),
        input(&mut r, &[4], -0.2, 0.2, false),
    ];
    check("conv→bn→relu→gap→bce", 1, inputs, |t| {
        let h = t[0].conv2d(&t[1], None, ConvOpts::new(1, 1, 1, 1))?;
        let h = h.batch_norm(&t[2], &t[3], None, true, 1e-5)?.relu()?;
        let logits = h.global_avg_pool()?;
        let y = Tensor::from_slice(
            t[0].gpu(),
            &[1.0f32, 0.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0],
            &[2, 4],
        )?;
        logits.bce_with_logits(&y)
    });
}

/// start, start + step, start + 2·step, … over `shape`, shuffled (seeded):
/// distinct values, so no kink of a max or |·| falls within the step.
fn shuffled_distinct(shape: &[usize], seed: u64, start: f32, step: f32) -> Input {
    let n: usize = shape.iter().product();
    let mut r = SmallRng::seed_from_u64(seed);
    let mut data: Vec<f32> = (0..n).map(|i| start + i as f32 * step).collect();
    for i in (1..n).rev() {
        data.swap(i, r.random_range(0..=i));
    }
    Input {
        shape: shape.to_vec(),
        data,
    }
}

#[test]
fn pair_affinity() {
    // Distinct values 0.05 apart: no |f_p − f_q| kink within the step.
    check(
        "pair_affinity",
        22,
        vec![shuffled_distinct(&[2, 3, 4, 5], 21, -3.0, 0.05)],
        |x| {
            let offsets = weakseg::ops::affinity::PairOffsets::half_disc(x[0].gpu(), 3)?;
            x[0].pair_affinity(&offsets)
        },
    );
}

#[test]
fn path_affinity() {
    // Distinct boundary values 0.02 apart, so no two pixels of a path tie
    // within the step and the maximum is differentiable.
    check(
        "path_affinity",
        24,
        vec![shuffled_distinct(&[2, 1, 4, 5], 23, 0.1, 0.02)],
        |x| {
            let offsets = weakseg::ops::affinity::PairOffsets::half_disc(x[0].gpu(), 3)?;
            x[0].path_affinity(&offsets)
        },
    );
}

#[test]
fn dense_crf_loss() {
    use weakseg::losses::DenseCrfLoss;
    // Two 3×4 images; the loss is a quadratic form in the softmax of the
    // logits, the images constants. σ_xy 5 px so neighbours weigh apart.
    let mut r = rng(12);
    let rgb: Vec<f32> = (0..2 * 3 * 12)
        .map(|_| r.random_range(0.0..255.0))
        .collect();
    check(
        "dense_crf_loss",
        13,
        vec![input(&mut r, &[2, 3, 3, 4], -2.0, 2.0, false)],
        |t| {
            let images = Tensor::from_slice(t[0].gpu(), &rgb, &[2, 3, 3, 4])?;
            let crf = pollster::block_on(DenseCrfLoss::new(&images, 15.0, 5.0, 1.0))?;
            crf.loss(&t[0].softmax(1)?)
        },
    );
}

#[test]
fn normalized_cut_loss() {
    use weakseg::losses::DenseCrfLoss;
    // The same two 3×4 images as the dense-CRF loss: a ratio of quadratic
    // and linear forms in the softmax, with per-image volumes.
    let mut r = rng(14);
    let rgb: Vec<f32> = (0..2 * 3 * 12)
        .map(|_| r.random_range(0.0..255.0))
        .collect();
    check(
        "normalized_cut_loss",
        15,
        vec![input(&mut r, &[2, 3, 3, 4], -2.0, 2.0, false)],
        |t| {
            let images = Tensor::from_slice(t[0].gpu(), &rgb, &[2, 3, 3, 4])?;
            let crf = pollster::block_on(DenseCrfLoss::new(&images, 15.0, 5.0, 1.0))?;
            crf.normalized_cut(&t[0].softmax(1)?)
        },
    );
}

#[test]
fn point_loss() {
    use weakseg::losses::point_loss;
    // One clicked pixel per image; the rest trained by the expectation.
    let mut r = rng(16);
    let clicks: Vec<u32> = vec![1, 255, 255, 255, 255, 255, 255, 2];
    let present = [1.0f32, 0.0, 1.0, 1.0];
    let obj: Vec<f32> = (0..8).map(|_| r.random_range(0.0..1.0)).collect();
    check(
        "point_loss",
        17,
        vec![input(&mut r, &[2, 3, 2, 2], -2.0, 2.0, false)],
        |t| {
            let g = t[0].gpu();
            let mask = Tensor::from_slice(g, &clicks, &[2, 2, 2])?;
            let y = Tensor::from_slice(g, &present, &[2, 2])?;
            let o = Tensor::from_slice(g, &obj, &[2, 1, 2, 2])?;
            point_loss(&t[0], &mask, &clicks, &y, &o)
        },
    );
}

#[test]
fn gwrp_expand_loss() {
    use weakseg::losses::{Seeded, SeededMethod};
    // SEC's expand loss through the softmax; the rank order is constant
    // under the step (the logits are spread so no two pixels of a class
    // come within it).
    let mut r = rng(18);
    let present = [1.0f32, 0.0, 0.0, 1.0];
    check(
        "gwrp_expand_loss",
        19,
        vec![input(&mut r, &[2, 3, 3, 3], -3.0, 3.0, false)],
        |t| {
            let y = Tensor::from_slice(t[0].gpu(), &present, &[2, 2])?;
            let p = t[0].softmax(1)?;
            pollster::block_on(Seeded::new(SeededMethod::Sec).expand_loss(&p, &y))
        },
    );
}

/// SPML's loss with `relations` on fixed segments of two 2×2 images (pixel
/// labels 1, 2, 1, ·, 2, 2, ·, 1), gradient-checked on the rows `input`
/// [8, 3] (normalised inside): the gradient flows into the pixel rows both
/// directly and through the prototypes (segment means, normalised), with
/// and without location.
fn check_spml(name: &str, seed: u64, relations: weakseg::spml::Relations, input: Input) {
    use weakseg::spml::{MemoryBank, Segments, SpmlBatch, SpmlLoss, segments};
    let labels = [1u32, 2, 1, 255, 2, 2, 255, 1];
    let seg = Segments::build(
        4,
        &[0, 0, 1, 1, 0, 1, 1, 0],
        &labels,
        Some(&[0, 1, 1, 1, 0, 0, 1, 1]),
    )
    .unwrap();
    check(name, seed, vec![input], |t| {
        let rows = t[0].l2_normalize(1, 1e-12)?;
        let rows_loc = segments::with_location(&rows, 2, (2, 2))?;
        let mut loss = SpmlLoss {
            relations,
            memory: MemoryBank::new(2),
        };
        loss.loss(&SpmlBatch {
            rows: &rows,
            rows_loc: &rows_loc,
            segments: &seg,
            labels: &labels,
            tags: &[0b01, 0b11],
        })
    });
}

#[test]
fn spml_contrastive_loss() {
    // SPML's first three relations, concentrations lowered to 2 so the
    // finite differences stay accurate.
    let mut rel = weakseg::spml::Relations::scribbles();
    for x in [
        &mut rel.image_similarity,
        &mut rel.semantic_annotation,
        &mut rel.semantic_cooccurrence,
    ] {
        x.kappa = 2.0;
    }
    let input = input(&mut rng(21), &[8, 3], -1.0, 1.0, false);
    check_spml("spml_contrastive_loss", 22, rel, input);
}

#[test]
fn spml_feature_affinity() {
    use weakseg::spml::{Relation, Relations};
    // The feature-affinity relation alone (κ 2 as above). Rows of label 1
    // lie near e₁, of label 2 near e₂, and each unlabelled pixel near one of
    // them, so its segment's nearest labelled segment stays the same under
    // the finite-difference step (the assignment is an argmax and has no
    // gradient).
    let mut r = rng(23);
    let near = [0usize, 1, 0, 0, 1, 1, 1, 0];
    let data: Vec<f32> = near
        .iter()
        .flat_map(|&axis| {
            let mut row: Vec<f32> = (0..3).map(|_| r.random_range(-0.2..0.2)).collect();
            row[axis] += 1.0;
            row
        })
        .collect();
    let off = Relation {
        kappa: 2.0,
        weight: 0.0,
    };
    let rel = Relations {
        image_similarity: off,
        semantic_annotation: off,
        semantic_cooccurrence: off,
        feature_affinity: Relation {
            kappa: 2.0,
            weight: 0.5,
        },
    };
    let input = Input {
        shape: vec![8, 3],
        data,
    };
    check_spml("spml_feature_affinity", 24, rel, input);
}
