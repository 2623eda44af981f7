//! The engine's promises: no new GPU buffer in a steady-state training step,
//! a bounded number of submits per step, intermediates released after
//! backward, folded dispatches beyond 65535 workgroups, and clear errors
//! (never panics) on misuse.

mod common;
use common::gpu;

use weakseg::optim::{ParamGroup, Sgd};
use weakseg::{ConvOpts, Error, Gpu, Tensor};

struct Model {
    w: Tensor,
    gamma: Tensor,
    beta: Tensor,
    fc: Tensor,
}

fn model(g: &Gpu) -> Model {
    let vals = |n: usize, s: f32| {
        (0..n)
            .map(|i| ((i * 37 % 17) as f32 / 17.0 - 0.5) * s)
            .collect::<Vec<f32>>()
    };
    Model {
        w: Tensor::from_slice(g, &vals(8 * 3 * 9, 0.5), &[8, 3, 3, 3])
            .unwrap()
            .requires_grad_(),
        gamma: Tensor::ones(g, &[8]).unwrap().requires_grad_(),
        beta: Tensor::zeros(g, &[8]).unwrap().requires_grad_(),
        fc: Tensor::from_slice(g, &vals(8 * 4, 0.3), &[8, 4])
            .unwrap()
            .requires_grad_(),
    }
}

fn step(m: &Model, opt: &mut Sgd, x: &Tensor, y: &Tensor) -> f32 {
    opt.zero_grad().unwrap();
    let h = x.conv2d(&m.w, None, ConvOpts::new(1, 1, 1, 1)).unwrap();
    let h = h
        .batch_norm(&m.gamma, &m.beta, None, true, 1e-5)
        .unwrap()
        .relu()
        .unwrap();
    let h = h.max_pool2d(2, 2, 0).unwrap().dropout2d(0.2, 5).unwrap();
    let logits = h.global_avg_pool().unwrap().matmul(&m.fc).unwrap();
    let loss = logits.bce_with_logits(y).unwrap();
    loss.backward().unwrap();
    opt.step().unwrap();
    loss.item().unwrap()
}

fn batch(g: &Gpu) -> (Tensor, Tensor) {
    let x: Vec<f32> = (0..4 * 3 * 12 * 12)
        .map(|i| ((i * 7919) % 101) as f32 / 50.0 - 1.0)
        .collect();
    let y: Vec<f32> = (0..16).map(|i| (i % 3 == 0) as u8 as f32).collect();
    (
        Tensor::from_slice(g, &x, &[4, 3, 12, 12]).unwrap(),
        Tensor::from_slice(g, &y, &[4, 4]).unwrap(),
    )
}

#[test]
fn steady_state_step_allocates_nothing_and_submits_boundedly() {
    let g = gpu();
    let m = model(&g);
    let mut opt = Sgd::new(
        vec![ParamGroup::new(vec![
            m.w.clone(),
            m.gamma.clone(),
            m.beta.clone(),
            m.fc.clone(),
        ])],
        0.1,
        0.9,
        1e-4,
        false,
    )
    .unwrap();
    let (x, y) = batch(&g);
    let first = step(&m, &mut opt, &x, &y);
    step(&m, &mut opt, &x, &y);
    let allocated = g.pool_stats().buffers_allocated;
    let (s0, d0) = (g.submits(), g.dispatches());
    let mut last = 0.0;
    for _ in 0..3 {
        last = step(&m, &mut opt, &x, &y);
    }
    assert_eq!(
        g.pool_stats().buffers_allocated,
        allocated,
        "a steady-state step created GPU buffers"
    );
    let (submits, dispatches) = ((g.submits() - s0) / 3, (g.dispatches() - d0) / 3);
    assert!(
        dispatches > 20,
        "the step should record many dispatches, saw {dispatches}"
    );
    assert!(
        submits <= dispatches / 64 + 2,
        "{submits} submits per step for {dispatches} dispatches"
    );
    assert!(last < first, "loss should fall: {first} → {last}");
}

#[test]
fn intermediates_are_released_after_backward() {
    let g = gpu();
    let m = model(&g);
    let (x, y) = batch(&g);
    let baseline = g.pool_stats().bytes_live;
    {
        let h = x
            .conv2d(&m.w, None, ConvOpts::new(1, 1, 1, 1))
            .unwrap()
            .relu()
            .unwrap();
        let loss = h
            .global_avg_pool()
            .unwrap()
            .matmul(&m.fc)
            .unwrap()
            .bce_with_logits(&y)
            .unwrap();
        assert!(g.pool_stats().bytes_live > baseline);
        loss.backward().unwrap();
    }
    let grads: u64 = [&m.w, &m.fc]
        .iter()
        .map(|t| weakseg::kernels::pool::size_class(t.numel() as u64 * 4))
        .sum();
    assert_eq!(
        g.pool_stats().bytes_live,
        baseline + grads,
        "only the two leaf gradients should remain"
    );
}

#[test]
fn folded_dispatch_beyond_65535_workgroups() {
    let g = gpu();
    let n = 65535 * 256 + 1000;
    let x = Tensor::full(&g, &[n], 1.5).unwrap();
    let y = x.affine(2.0, 1.0).unwrap();
    let v = y.to_vec_blocking::<f32>().unwrap();
    assert_eq!(v.len(), n);
    assert!(
        v.iter().all(|&a| a == 4.0),
        "folded 2-D grid wrote wrong values"
    );

    g.set_fold_limit(3);
    let n = 64 * 3 * 3 * 2 + 5;
    let data: Vec<f32> = (0..n).map(|i| i as f32).collect();
    let x = Tensor::from_slice(&g, &data, &[n]).unwrap();
    let v = x
        .affine(1.0, 1.0)
        .unwrap()
        .to_vec_blocking::<f32>()
        .unwrap();
    assert!(
        v.iter().enumerate().all(|(i, &a)| a == i as f32 + 1.0),
        "folded 3-D grid wrote wrong values"
    );
}

fn message(r: weakseg::Result<Tensor>) -> String {
    match r {
        Ok(t) => panic!("expected an error, got {t:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn misuse_returns_errors_naming_op_and_shapes() {
    let g = gpu();
    let a = Tensor::zeros(&g, &[2, 3]).unwrap();
    let b = Tensor::zeros(&g, &[4]).unwrap();
    let m = message(a.add(&b));
    assert!(
        m.contains("add") && m.contains("[2, 3]") && m.contains("[4]"),
        "{m}"
    );
    let m = message(a.matmul(&Tensor::zeros(&g, &[2, 2]).unwrap()));
    assert!(m.contains("matmul") && m.contains("[2, 3]"), "{m}");
    let x = Tensor::zeros(&g, &[1, 3, 8, 8]).unwrap();
    let w = Tensor::zeros(&g, &[4, 2, 3, 3]).unwrap();
    let m = message(x.conv2d(&w, None, ConvOpts::default()));
    assert!(m.contains("conv2d") && m.contains("[4, 2, 3, 3]"), "{m}");
    let m = message(x.conv2d(
        &Tensor::zeros(&g, &[4, 3, 9, 9]).unwrap(),
        None,
        ConvOpts::default(),
    ));
    assert!(m.contains("conv2d"), "{m}");
    let labels = Tensor::zeros(&g, &[1, 8, 8]).unwrap();
    let logits = Tensor::zeros(&g, &[1, 21, 8, 8]).unwrap();
    let m = message(logits.cross_entropy(&labels, None, 255));
    assert!(m.contains("cross_entropy") && m.contains("U32"), "{m}");
    let m = message(a.reshape(&[5]));
    assert!(m.contains("reshape"), "{m}");
    let m = message(a.permute(&[0, 0]));
    assert!(m.contains("permute"), "{m}");
    let m = message(Tensor::from_slice(&g, &[1.0f32, 2.0], &[3]));
    assert!(m.contains("from_slice"), "{m}");
    let m = message(a.sum(&[0], false).and_then(|s| s.narrow(0, 2, 5)));
    assert!(m.contains("narrow"), "{m}");
    let other = gpu();
    let c = Tensor::zeros(&other, &[2, 3]).unwrap();
    assert!(matches!(
        a.add(&c),
        Err(Error::DeviceMismatch { op: "add" })
    ));
    let u = Tensor::from_slice(&g, &[1u32, 2], &[2]).unwrap();
    let m = message(u.exp());
    assert!(m.contains("F32"), "{m}");
    assert!(u.to_vec_blocking::<f32>().is_err());
    let nograd = Tensor::zeros(&g, &[1]).unwrap();
    assert!(nograd.backward().is_err());
}
