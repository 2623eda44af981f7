//! The f16 forward pass at the tensor and model level: conversions, the
//! cached f16 weights following the f32 ones through optimiser steps, and
//! clear refusals (training-mode batch norm, layout moves). Skipped, loudly,
//! on adapters without shader-f16 (where `to_dtype(F16)` must refuse).
//!
//! Tolerance for f16 against f32 network outputs: 2e-2 of the output's
//! largest magnitude (every layer rounds its output to f16).

mod common;
use common::gpu;

use half::f16;
use weakseg::models::{ArchSpec, CamNet, Precision};
use weakseg::nn::{Builder, GroupRecipe, ModuleExt};
use weakseg::optim::Sgd;
use weakseg::{DType, Error, Gpu, Tensor, no_grad};

/// The device where it has shader-f16; otherwise checks the refusal and
/// returns None.
fn f16_gpu() -> Option<Gpu> {
    let g = gpu();
    if g.has_f16() {
        return Some(g);
    }
    eprintln!("SKIPPED: {} lacks shader-f16", g.adapter_info().name);
    let x = Tensor::from_slice(&g, &[1.0f32, 2.0], &[2]).unwrap();
    let e = x.to_dtype(DType::F16).unwrap_err();
    assert!(matches!(e, Error::MissingFeature { .. }), "{e}");
    None
}

fn image(gpu: &Gpu, n: usize, size: usize) -> Tensor {
    let v: Vec<f32> = (0..n * 3 * size * size)
        .map(|i| ((i * 7919) % 101) as f32 / 50.0 - 1.0)
        .collect();
    Tensor::from_slice(gpu, &v, &[n, 3, size, size]).unwrap()
}

fn max_abs(v: &[f32]) -> f32 {
    v.iter().fold(0f32, |m, x| m.max(x.abs()))
}

#[track_caller]
fn close_f16(what: &str, got: &[f32], want: &[f32]) {
    let scale = max_abs(want).max(1e-6);
    let err = got
        .iter()
        .zip(want)
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    eprintln!("{what}: f16 vs f32 rel err {:.3e}", err / scale);
    assert!(err <= 2e-2 * scale, "{what}: rel err {}", err / scale);
}

#[test]
fn conversions_round_trip_odd_lengths() {
    let Some(g) = f16_gpu() else { return };
    let v: Vec<f32> = vec![0.1, -2.5, 70000.0, 1e-3, 3.0];
    let x = Tensor::from_slice(&g, &v, &[5]).unwrap();
    let h = x.to_dtype(DType::F16).unwrap();
    assert_eq!(h.dtype(), DType::F16);
    let hv = h.to_vec_blocking::<f16>().unwrap();
    let want: Vec<f16> = [0.1f32, -2.5, 65504.0, 1e-3, 3.0]
        .iter()
        .map(|&x| f16::from_f32(x))
        .collect();
    assert_eq!(hv, want, "rounded, saturated at 65504");
    let back = h
        .to_dtype(DType::F32)
        .unwrap()
        .to_vec_blocking::<f32>()
        .unwrap();
    let want32: Vec<f32> = want.iter().map(|x| x.to_f32()).collect();
    assert_eq!(back, want32, "f16 → f32 is exact");
    let up = Tensor::from_slice(&g, &want, &[5]).unwrap();
    assert_eq!(up.to_vec_blocking::<f16>().unwrap(), want, "f16 upload");
}

#[test]
fn unsupported_ops_name_the_problem() {
    let Some(g) = f16_gpu() else { return };
    let x = Tensor::from_slice(&g, &[1.0f32; 12], &[1, 3, 2, 2])
        .unwrap()
        .to_dtype(DType::F16)
        .unwrap();
    let e = x.narrow(1, 0, 2).unwrap_err().to_string();
    assert!(e.contains("f16 tensors"), "{e}");
    let e = x.exp().unwrap_err().to_string();
    assert!(e.contains("expects F32, got a F16"), "{e}");
    let gamma = Tensor::ones(&g, &[3]).unwrap();
    let beta = Tensor::zeros(&g, &[3]).unwrap();
    let e = x
        .batch_norm(&gamma, &beta, None, true, 1e-5)
        .unwrap_err()
        .to_string();
    assert!(e.contains("evaluation mode"), "{e}");
}

#[test]
fn cam_net_f16_follows_the_f32_weights_through_training() {
    let Some(g) = f16_gpu() else { return };
    let mut b = Builder::new(&g, 3);
    let mut net = CamNet::new(&mut b, &ArchSpec::new("resnet-tiny", 8), 4).unwrap();
    let x = image(&g, 2, 40);
    let run = |net: &CamNet| -> (Vec<f32>, Vec<f32>) {
        let (l, c) = no_grad(|| net.logits_and_cams(&x)).unwrap();
        (l.to_vec_blocking().unwrap(), c.to_vec_blocking().unwrap())
    };
    // Training-mode batch norm cannot run in f16.
    net.precision = Precision::F16;
    let e = no_grad(|| net.logits(&x)).unwrap_err().to_string();
    assert!(e.contains("evaluation mode"), "{e}");

    net.set_train(false);
    net.precision = Precision::F32;
    let (l32, c32) = run(&net);
    net.precision = Precision::F16;
    let (l16, c16) = run(&net);
    close_f16("logits", &l16, &l32);
    close_f16("cams", &c16, &c32);

    // One optimiser step changes the weights; the cached f16 copies follow.
    net.precision = Precision::F32;
    net.set_train(true);
    let mut opt = Sgd::new(
        GroupRecipe::UNIFORM.groups(&net, CamNet::is_new),
        0.5,
        0.0,
        0.0,
        false,
    )
    .unwrap();
    net.logits(&x)
        .unwrap()
        .square()
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    opt.step().unwrap();
    net.set_train(false);
    let (m32, _) = run(&net);
    let moved = m32
        .iter()
        .zip(&l32)
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    assert!(
        moved > 0.1 * max_abs(&m32),
        "the step must move the logits well past the f16 tolerance (moved {moved})"
    );
    net.precision = Precision::F16;
    let (m16, _) = run(&net);
    close_f16("logits after a step", &m16, &m32);
}
