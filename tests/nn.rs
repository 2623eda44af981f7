//! The module tree, layers, parameter groups and checkpoints.

mod common;
use common::gpu;

use weakseg::io::checkpoint::{self, HostTensor, Match, SaveDtype, Sidecar};
use weakseg::models::resnet_tiny::{ResNetTiny, TinyConfig};
use weakseg::models::{ArchSpec, CamNet, SegHeadKind, SegNet};
use weakseg::nn::init::{Fan, Init, Initializer};
use weakseg::nn::{BatchNorm2d, Builder, Dropout, GroupRecipe, Linear, ModuleExt};
use weakseg::{Error, Gpu, Tensor, no_grad};

fn tiny(gpu: &Gpu, seed: u64) -> CamNet {
    let mut b = Builder::new(gpu, seed);
    CamNet::new(&mut b, &ArchSpec::new("resnet-tiny", 8), 4).unwrap()
}

fn image(gpu: &Gpu, n: usize, size: usize) -> Tensor {
    let v: Vec<f32> = (0..n * 3 * size * size)
        .map(|i| ((i * 7919) % 101) as f32 / 50.0 - 1.0)
        .collect();
    Tensor::from_slice(gpu, &v, &[n, 3, size, size]).unwrap()
}

#[test]
fn names_are_stable_dotted_paths() {
    let gpu = gpu();
    let net = tiny(&gpu, 0);
    let names: Vec<String> = net.state().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names[0], "backbone.conv1.weight");
    for n in [
        "backbone.bn1.running_var",
        "backbone.layer2.downsample.0.weight",
        "backbone.layer4.bn2.bias",
        "head.classifier.weight",
    ] {
        assert!(names.iter().any(|x| x == n), "missing {n}");
    }
    // Building twice with one seed gives identical weights.
    let again = tiny(&gpu, 0);
    let a = net.state()[0].1.to_vec_blocking::<f32>().unwrap();
    let b = again.state()[0].1.to_vec_blocking::<f32>().unwrap();
    assert_eq!(a, b);
}

#[test]
fn resnet_tiny_costs_under_a_tenth_of_a_gflop_at_96_px() {
    let gpu = gpu();
    let mut b = Builder::new(&gpu, 0);
    let net = ResNetTiny::new(&mut b, &TinyConfig::default()).unwrap();
    let f = net.flops(96, 96);
    assert!(f > 0.05e9 && f <= 0.1e9, "{f} FLOP");
}

#[test]
fn freezing_stops_gradients_and_leaves_groups() {
    let gpu = gpu();
    let net = tiny(&gpu, 1);
    net.set_frozen("backbone.layer1", true);
    let frozen: Vec<_> = net
        .named_params()
        .into_iter()
        .filter(|(_, p)| p.is_frozen())
        .map(|(n, _)| n)
        .collect();
    assert!(!frozen.is_empty() && frozen.iter().all(|n| n.starts_with("backbone.layer1.")));
    let y = Tensor::from_slice(&gpu, &[1.0f32, 0.0, 1.0, 0.0], &[1, 4]).unwrap();
    net.logits(&image(&gpu, 1, 32))
        .unwrap()
        .bce_with_logits(&y)
        .unwrap()
        .backward()
        .unwrap();
    for (n, p) in net.named_params() {
        assert_eq!(p.leaf().grad().is_some(), !p.is_frozen(), "{n}");
    }
    let groups = GroupRecipe::PSA.groups(&net, CamNet::is_new);
    let in_groups: usize = groups.iter().map(|g| g.params.len()).sum();
    assert_eq!(in_groups, net.named_params().len() - frozen.len());
}

#[test]
fn psa_recipe_splits_weights_biases_and_new_layers() {
    let gpu = gpu();
    let mut b = Builder::new(&gpu, 0);
    let net = SegNet::new(
        &mut b,
        &ArchSpec::new("resnet-tiny", 8),
        SegHeadKind::Aspp,
        3,
    )
    .unwrap();
    let groups = GroupRecipe::PSA.groups(&net, SegNet::is_new);
    let mults: Vec<(f32, f32)> = groups.iter().map(|g| (g.lr_mult, g.wd_mult)).collect();
    assert_eq!(
        mults,
        vec![(1.0, 1.0), (2.0, 0.0), (10.0, 1.0), (20.0, 0.0)]
    );
    // The ASPP head: 4 weights and 4 biases.
    assert_eq!(groups[2].params.len(), 4);
    assert_eq!(groups[3].params.len(), 4);
    let out = no_grad(|| net.forward(&image(&gpu, 1, 32))).unwrap();
    assert_eq!(out.shape(), &[1, 3, 32, 32]);
}

#[test]
fn frozen_batch_norm_uses_running_statistics_in_training() {
    let gpu = gpu();
    let mut b = Builder::new(&gpu, 0);
    let bn = BatchNorm2d::new(&mut b, 3).unwrap();
    bn.running_mean.assign(&[1.0f32, 2.0, 3.0]).unwrap();
    bn.running_var.assign(&[4.0f32, 4.0, 4.0]).unwrap();
    let x = image(&gpu, 2, 4);
    bn.freeze_batch_norm();
    bn.set_train(true);
    let y = bn.forward(&x).unwrap().to_vec_blocking::<f32>().unwrap();
    let xv = x.to_vec_blocking::<f32>().unwrap();
    for (i, (a, b)) in xv.iter().zip(&y).enumerate() {
        let c = (i / 16) % 3;
        let want = (a - (c + 1) as f32) / (4.0f32 + 1e-5).sqrt();
        assert!((want - b).abs() < 1e-5);
    }
    assert_eq!(
        bn.running_mean.to_vec_blocking::<f32>().unwrap(),
        [1.0, 2.0, 3.0]
    );
    assert!(bn.weight.is_frozen() && bn.bias.is_frozen());
}

#[test]
fn dropout_is_identity_in_eval_and_reproducible_in_training() {
    let gpu = gpu();
    let x = image(&gpu, 2, 8);
    let run = |seed| {
        let mut b = Builder::new(&gpu, seed);
        let d = Dropout::new_2d(&mut b, 0.5);
        let train = d.forward(&x).unwrap().to_vec_blocking::<f32>().unwrap();
        d.set_train(false);
        let eval = d.forward(&x).unwrap().to_vec_blocking::<f32>().unwrap();
        (train, eval)
    };
    let (t1, e1) = run(3);
    let (t2, _) = run(3);
    assert_eq!(t1, t2);
    assert_eq!(e1, x.to_vec_blocking::<f32>().unwrap());
    assert!(t1.contains(&0.0));
}

#[test]
fn linear_matches_torch_layout() {
    let gpu = gpu();
    let mut b = Builder::new(&gpu, 0);
    let l = Linear::new(&mut b, 3, 2, true).unwrap();
    l.weight
        .leaf()
        .assign(&[1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0])
        .unwrap();
    l.bias
        .as_ref()
        .unwrap()
        .leaf()
        .assign(&[0.5f32, -0.5])
        .unwrap();
    let x = Tensor::from_slice(&gpu, &[1.0f32, 1.0, 1.0], &[1, 3]).unwrap();
    assert_eq!(
        l.forward(&x).unwrap().to_vec_blocking::<f32>().unwrap(),
        [6.5, 14.5]
    );
}

#[test]
fn initialisers_have_their_scales() {
    let mut init = Initializer::new(7);
    let v = init.values(&[64, 32, 3, 3], Init::KaimingNormal(Fan::Out));
    let var = v.iter().map(|x| (x * x) as f64).sum::<f64>() / v.len() as f64;
    let want = 2.0 / (64.0 * 9.0);
    assert!((var / want - 1.0).abs() < 0.05, "variance {var} vs {want}");
    let v = init.values(&[10, 20], Init::XavierUniform(2.0));
    let bound = 2.0 * (6.0f32 / 30.0).sqrt();
    assert!(v.iter().all(|x| x.abs() <= bound) && v.iter().any(|x| x.abs() > 0.8 * bound));
    assert!(
        init.values(&[5], Init::Constant(0.25))
            .iter()
            .all(|x| *x == 0.25)
    );
}

fn tmpdir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("weakseg-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn checkpoint_round_trips_in_f32_and_f16() {
    let gpu = gpu();
    let dir = tmpdir("ckpt");
    let net = tiny(&gpu, 2);
    let sc = Sidecar::new(
        Some(ArchSpec::new("resnet-tiny", 8)),
        Some(4),
        serde_json::json!({"lr": 0.1}),
    );
    for (dtype, tol) in [(SaveDtype::F32, 0.0f32), (SaveDtype::F16, 1.0 / 1024.0)] {
        let path = dir.join(format!("m-{dtype:?}.safetensors"));
        checkpoint::save(&path, &net, &sc, dtype).unwrap();
        let other = tiny(&gpu, 99);
        let back = checkpoint::load(&path, &other).unwrap();
        assert_eq!(back.as_ref(), Some(&sc));
        for ((n, a), (_, b)) in net.state().into_iter().zip(other.state()) {
            let (a, b) = (
                a.to_vec_blocking::<f32>().unwrap(),
                b.to_vec_blocking::<f32>().unwrap(),
            );
            for (x, y) in a.iter().zip(&b) {
                assert!(
                    (x - y).abs() <= tol * x.abs().max(6.1e-5),
                    "{n}: {x} vs {y} ({dtype:?})"
                );
            }
        }
    }
    assert!(std::fs::read_dir(&dir).unwrap().all(|e| {
        let n = e.unwrap().file_name().into_string().unwrap();
        !n.contains(".tmp")
    }));
}

#[test]
fn loading_lists_every_missing_extra_and_misshaped_tensor() {
    let gpu = gpu();
    let net = tiny(&gpu, 0);
    let mut tensors: Vec<HostTensor> = pollster::block_on(checkpoint::state_of(&net)).unwrap();
    tensors.retain(|t| t.name != "backbone.conv1.weight" && t.name != "backbone.bn1.bias");
    tensors.push(HostTensor {
        name: "backbone.fc.weight".into(),
        shape: vec![2],
        data: vec![0.0; 2],
    });
    let cls = tensors
        .iter_mut()
        .find(|t| t.name == "head.classifier.weight")
        .unwrap();
    cls.shape = vec![5, 96, 1, 1];
    cls.data = vec![0.0; 5 * 96];
    let err = checkpoint::apply(&net, &tensors, "", Match::Strict)
        .unwrap_err()
        .to_string();
    for part in [
        "missing (2)",
        "backbone.conv1.weight",
        "backbone.bn1.bias",
        "extra (1): backbone.fc.weight",
        "mis-shaped (1): head.classifier.weight: file [5, 96, 1, 1], model [4, 96, 1, 1]",
    ] {
        assert!(err.contains(part), "error lacks {part:?}:\n{err}");
    }
    // Partial loading still refuses mis-shaped tensors but reports the rest.
    assert!(checkpoint::apply(&net, &tensors, "", Match::Partial).is_err());
    tensors.retain(|t| t.name != "head.classifier.weight");
    let r = checkpoint::apply(&net, &tensors, "", Match::Partial).unwrap();
    assert_eq!(r.missing.len(), 3);
    assert_eq!(r.extra, ["backbone.fc.weight"]);
}

#[test]
fn corrupt_and_missing_files_give_clear_errors() {
    let gpu = gpu();
    let dir = tmpdir("corrupt");
    let net = tiny(&gpu, 0);
    let bad = dir.join("bad.safetensors");
    std::fs::write(&bad, b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all").unwrap();
    let e = checkpoint::load(&bad, &net).unwrap_err();
    assert!(matches!(e, Error::Format { .. }), "{e}");
    assert!(e.to_string().contains("bad.safetensors"), "{e}");
    let e = checkpoint::load(&dir.join("absent.safetensors"), &net).unwrap_err();
    assert!(
        matches!(e, Error::Io { .. }) && e.to_string().contains("absent.safetensors"),
        "{e}"
    );
    let truncated = dir.join("trunc.safetensors");
    let full = checkpoint::encode(
        &[HostTensor {
            name: "a".into(),
            shape: vec![4],
            data: vec![1.0; 4],
        }],
        SaveDtype::F32,
    )
    .unwrap();
    std::fs::write(&truncated, &full[..full.len() - 3]).unwrap();
    assert!(matches!(
        checkpoint::read(&truncated),
        Err(Error::Format { .. })
    ));
}

/// The mean-teacher update moves every teacher parameter to m·teacher +
/// (1 − m)·student (tolerance 1e-6: one fused multiply-add in f32) and
/// refuses networks that differ or a momentum outside [0, 1].
#[test]
fn ema_update_averages_teacher_towards_student() {
    use weakseg::nn::ema;
    let gpu = Gpu::new_blocking().unwrap();
    let teacher = Linear::new(&mut Builder::new(&gpu, 1), 5, 3, false).unwrap();
    let student = Linear::new(&mut Builder::new(&gpu, 2), 5, 3, false).unwrap();
    let read = |l: &Linear| l.weight.get().to_vec_blocking::<f32>().unwrap();
    let (t0, s0) = (read(&teacher), read(&student));
    ema::update(&teacher, &student, 0.25).unwrap();
    for ((t, t0), s0) in read(&teacher).iter().zip(&t0).zip(&s0) {
        assert!((t - (0.25 * t0 + 0.75 * s0)).abs() < 1e-6);
    }
    assert_eq!(read(&student), s0, "the student is left alone");
    let other = Linear::new(&mut Builder::new(&gpu, 2), 4, 3, false).unwrap();
    assert!(ema::update(&teacher, &other, 0.5).is_err());
    assert!(ema::update(&teacher, &student, 1.5).is_err());
    // Buffers average too: batch norm's running statistics.
    let (tb, sb) = (
        BatchNorm2d::new(&mut Builder::new(&gpu, 1), 2).unwrap(),
        BatchNorm2d::new(&mut Builder::new(&gpu, 1), 2).unwrap(),
    );
    let x: Vec<f32> = (0..2 * 2 * 3).map(|i| i as f32).collect();
    sb.forward(&Tensor::from_slice(&gpu, &x, &[2, 2, 3, 1]).unwrap())
        .unwrap();
    let stats = |b: &BatchNorm2d| -> Vec<f32> {
        b.state()
            .iter()
            .filter(|(n, _)| n.starts_with("running"))
            .flat_map(|(_, t)| t.to_vec_blocking::<f32>().unwrap())
            .collect()
    };
    let (t0, s0) = (stats(&tb), stats(&sb));
    assert_ne!(t0, s0);
    ema::update(&tb, &sb, 0.5).unwrap();
    for ((t, t0), s0) in stats(&tb).iter().zip(&t0).zip(&s0) {
        assert!((t - 0.5 * (t0 + s0)).abs() < 1e-5, "{t} vs {t0}, {s0}");
    }
}

/// Batch norm in training updates its running statistics as torch's
/// `BatchNorm2d` does: r ← (1 − m)·r + m·s, with the batch mean and the
/// unbiased batch variance (n/(n − 1) of the biased one, n the values per
/// channel, N·H·W). By hand, momentum 0.1 over [N 2, C 2, H 3, W 1]:
/// channel 0 holds 1, 2, 3, 6, 5, 7: mean 4, biased variance 28/6, unbiased
/// 28/5; from (0, 1) the running pair becomes (0.4, 0.9 + 0.56). Channel 1
/// holds −1, −1, −1, 1, 1, 1: mean 0, unbiased variance 6/5; from (0.5, 2)
/// it becomes (0.45, 1.8 + 0.12). With a single value per channel the
/// variance is taken as it is (torch refuses that case in training).
#[test]
fn batch_norm_updates_running_statistics_as_torch() {
    use weakseg::RunningStats;
    let gpu = Gpu::new_blocking().unwrap();
    let update = |x: &[f32], shape: &[usize], mean: &[f32], var: &[f32]| {
        let x = Tensor::from_slice(&gpu, x, shape).unwrap();
        let c = shape[1];
        let (gamma, beta) = (
            Tensor::ones(&gpu, &[c]).unwrap(),
            Tensor::zeros(&gpu, &[c]).unwrap(),
        );
        let (m, v) = (
            Tensor::from_slice(&gpu, mean, &[c]).unwrap(),
            Tensor::from_slice(&gpu, var, &[c]).unwrap(),
        );
        let running = RunningStats {
            mean: &m,
            var: &v,
            momentum: 0.1,
        };
        x.batch_norm(&gamma, &beta, Some(running), true, 1e-5)
            .unwrap();
        (
            m.to_vec_blocking::<f32>().unwrap(),
            v.to_vec_blocking::<f32>().unwrap(),
        )
    };
    // f32: a few roundings of values below 8 (the variance goes through
    // 1/√(v + ε) and back, which loses about 1e-6 relative).
    let close = |a: &[f32], b: &[f64]| {
        a.iter()
            .zip(b)
            .all(|(&a, &b)| (a as f64 - b).abs() <= 1e-5 * b.abs().max(1.0))
    };
    let x = [
        1.0f32, 2.0, 3.0, -1.0, -1.0, -1.0, 6.0, 5.0, 7.0, 1.0, 1.0, 1.0,
    ];
    let (m, v) = update(&x, &[2, 2, 3, 1], &[0.0, 0.5], &[1.0, 2.0]);
    assert!(close(&m, &[0.4, 0.45]), "running mean {m:?}");
    assert!(
        close(&v, &[0.9 + 0.56, 1.8 + 0.12]),
        "running variance {v:?}"
    );
    // One value per channel: mean 3, variance 0 (not 0·1/0).
    let (m, v) = update(&[3.0], &[1, 1, 1, 1], &[1.0], &[1.0]);
    assert!(close(&m, &[0.9 + 0.3]), "single value mean {m:?}");
    assert!(close(&v, &[0.9]), "single value variance {v:?}");
}

/// Group norm checks that its groups divide the channels.
#[test]
fn group_norm_needs_groups_that_divide_the_channels() {
    let gpu = Gpu::new_blocking().unwrap();
    let x = Tensor::zeros(&gpu, &[1, 6, 2, 2]).unwrap();
    let (gamma, beta) = (
        Tensor::ones(&gpu, &[6]).unwrap(),
        Tensor::zeros(&gpu, &[6]).unwrap(),
    );
    for groups in [0, 4] {
        let e = x
            .group_norm(groups, &gamma, &beta, 1e-5)
            .unwrap_err()
            .to_string();
        assert!(e.contains("groups"), "{groups}: {e}");
    }
    assert!(x.group_norm(3, &gamma, &beta, 1e-5).is_ok());
}

#[test]
fn checkpoints_with_non_finite_weights_are_refused() {
    // A diverged run's checkpoint once loaded and predicted with exit 0.
    let good = HostTensor {
        name: "head.weight".into(),
        shape: vec![3],
        data: vec![0.5, -1.0, 2.0],
    };
    let bytes = checkpoint::encode(std::slice::from_ref(&good), SaveDtype::F32).unwrap();
    assert_eq!(
        checkpoint::decode(&bytes, "ok.safetensors").unwrap(),
        vec![good.clone()]
    );
    for bad in [f32::NAN, f32::INFINITY] {
        let t = HostTensor {
            data: vec![0.5, bad, 2.0],
            ..good.clone()
        };
        let bytes = checkpoint::encode(&[t], SaveDtype::F32).unwrap();
        let e = checkpoint::decode(&bytes, "diverged.safetensors")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("diverged.safetensors")
                && e.contains("head.weight")
                && e.contains("index 1"),
            "{e}"
        );
    }
}
