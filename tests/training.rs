//! The training loop on resnet-tiny: overfitting a fixed batch, learning a
//! small synthetic multi-label set, gradient accumulation, and resuming
//! from the last checkpoint.

mod common;
use common::gpu;

use weakseg::data::{Dataset, Sample};
use weakseg::io::checkpoint::Sidecar;
use weakseg::models::{ArchSpec, CamNet};
use weakseg::nn::{Builder, GroupRecipe, ModuleExt};
use weakseg::optim::{LrSchedule, Sgd};
use weakseg::train::{TrainConfig, fit, progress::Silent};
use weakseg::{Gpu, Result, Tensor, no_grad};

const K: usize = 4;
const COLORS: [[f32; 3]; K] = [
    [1.0, 0.1, 0.1],
    [0.1, 1.0, 0.1],
    [0.1, 0.1, 1.0],
    [1.0, 1.0, 0.1],
];

fn hash(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Coloured squares on a noisy grey background; each class present with
/// probability ½ (at least one). Sample `i` is fixed; `offset` picks a split.
struct Squares {
    n: usize,
    size: usize,
    offset: u64,
}

impl Dataset for Squares {
    fn len(&self) -> usize {
        self.n
    }

    fn sample(&self, index: usize, _seed: u64) -> Result<Sample> {
        let s = self.size;
        let mut r = hash(index as u64 + self.offset);
        let mut next = move || {
            r = hash(r);
            r
        };
        let mut image = vec![0f32; 3 * s * s];
        for v in image.iter_mut() {
            *v = 0.4 + (next() % 100) as f32 / 500.0 - 0.5;
        }
        let mut labels = vec![0f32; K];
        let present = (next() % 15 + 1) as usize;
        for k in 0..K {
            if present >> k & 1 == 1 {
                labels[k] = 1.0;
                let side = s / 3;
                let (y0, x0) = (
                    (next() as usize) % (s - side),
                    (next() as usize) % (s - side),
                );
                for c in 0..3 {
                    for y in y0..y0 + side {
                        for x in x0..x0 + side {
                            image[(c * s + y) * s + x] = COLORS[k][c] - 0.5;
                        }
                    }
                }
            }
        }
        Ok(Sample {
            image,
            height: s,
            width: s,
            labels,
            mask: None,
            cam: None,
        })
    }
}

fn setup(gpu: &Gpu, seed: u64, lr: f32) -> (CamNet, Sgd) {
    setup_with(gpu, seed, lr, false)
}

/// A resnet-tiny CAM network and SGD (momentum 0.9); `frozen_bn` freezes
/// batch norm first, so batches of any split compute the same function.
fn setup_with(gpu: &Gpu, seed: u64, lr: f32, frozen_bn: bool) -> (CamNet, Sgd) {
    let mut b = Builder::new(gpu, seed);
    let net = CamNet::new(&mut b, &ArchSpec::new("resnet-tiny", 8), K).unwrap();
    if frozen_bn {
        net.freeze_batch_norm();
    }
    let opt = Sgd::new(
        GroupRecipe::UNIFORM.groups(&net, CamNet::is_new),
        lr,
        0.9,
        1e-4,
        false,
    )
    .unwrap();
    (net, opt)
}

fn sidecar() -> Sidecar {
    Sidecar::new(
        Some(ArchSpec::new("resnet-tiny", 8)),
        Some(K),
        serde_json::Value::Null,
    )
}

fn weights(net: &CamNet) -> Vec<f32> {
    net.state()
        .into_iter()
        .flat_map(|(_, t)| t.to_vec_blocking::<f32>().unwrap())
        .collect()
}

#[test]
fn overfits_a_fixed_batch() {
    let gpu = gpu();
    let (net, mut opt) = setup(&gpu, 0, 0.05);
    let data = Squares {
        n: 4,
        size: 32,
        offset: 0,
    };
    let cfg = TrainConfig {
        epochs: 40,
        batch_size: 4,
        lr: 0.05,
        schedule: LrSchedule::Constant,
        ..TrainConfig::default()
    };
    let s = fit(
        &gpu,
        &cfg,
        &net,
        &mut opt,
        &data,
        &sidecar(),
        &mut Silent,
        |b| net.logits(&b.images)?.bce_with_logits(&b.labels),
    )
    .unwrap();
    let l = &s.epoch_losses;
    let window = |i: usize| l[i * 10..(i + 1) * 10].iter().sum::<f32>() / 10.0;
    eprintln!("loss windows: {:?}", (0..4).map(window).collect::<Vec<_>>());
    for i in 1..4 {
        assert!(window(i) < window(i - 1), "loss did not fall: {l:?}");
    }
    assert!(l[39] < 0.2 * l[0], "loss {} → {}", l[0], l[39]);
}

#[test]
fn learns_synthetic_multilabel_set_to_95_percent() {
    let gpu = gpu();
    let (net, mut opt) = setup(&gpu, 1, 0.05);
    let train = Squares {
        n: 192,
        size: 32,
        offset: 0,
    };
    let cfg = TrainConfig {
        epochs: 12,
        batch_size: 16,
        lr: 0.05,
        seed: 5,
        ..TrainConfig::default()
    };
    fit(
        &gpu,
        &cfg,
        &net,
        &mut opt,
        &train,
        &sidecar(),
        &mut Silent,
        |b| net.logits(&b.images)?.bce_with_logits(&b.labels),
    )
    .unwrap();
    net.set_train(false);
    let test = Squares {
        n: 64,
        size: 32,
        offset: 1 << 40,
    };
    let (mut right, mut exact) = (0, 0);
    for i in 0..test.n {
        let s = test.sample(i, 0).unwrap();
        let x = Tensor::from_slice(&gpu, &s.image, &[1, 3, 32, 32]).unwrap();
        let logits = no_grad(|| net.logits(&x))
            .unwrap()
            .to_vec_blocking::<f32>()
            .unwrap();
        let ok: Vec<bool> = logits
            .iter()
            .zip(&s.labels)
            .map(|(z, y)| (*z > 0.0) == (*y > 0.5))
            .collect();
        right += ok.iter().filter(|b| **b).count();
        exact += usize::from(ok.iter().all(|b| *b));
    }
    let acc = right as f64 / (test.n * K) as f64;
    eprintln!(
        "per-label accuracy {acc:.3}, exact match {:.3}",
        exact as f64 / test.n as f64
    );
    assert!(acc >= 0.95, "multi-label accuracy {acc}");
}

#[test]
fn accumulation_equals_one_large_batch() {
    let gpu = gpu();
    let data = Squares {
        n: 4,
        size: 24,
        offset: 7,
    };
    let run = |batch, accumulate| {
        let (net, mut opt) = setup_with(&gpu, 2, 0.1, true);
        let cfg = TrainConfig {
            batch_size: batch,
            accumulate,
            lr: 0.1,
            schedule: LrSchedule::Constant,
            ..TrainConfig::default()
        };
        let s = fit(
            &gpu,
            &cfg,
            &net,
            &mut opt,
            &data,
            &sidecar(),
            &mut Silent,
            |b| net.logits(&b.images)?.bce_with_logits(&b.labels),
        )
        .unwrap();
        assert_eq!(s.steps, 1);
        weights(&net)
    };
    let (a, b) = (run(4, 1), run(2, 2));
    let err = a
        .iter()
        .zip(&b)
        .fold(0f32, |m, (x, y)| m.max((x - y).abs()));
    assert!(err < 1e-5, "accumulated update differs by {err}");
}

#[test]
fn resumes_from_the_last_checkpoint_exactly() {
    let gpu = gpu();
    let root = std::env::temp_dir().join(format!("weakseg-resume-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let data = Squares {
        n: 12,
        size: 24,
        offset: 3,
    };
    let cfg = |epochs, dir: &str, resume| TrainConfig {
        epochs,
        batch_size: 4,
        lr: 0.05,
        seed: 9,
        resume,
        checkpoint_dir: Some(root.join(dir)),
        log: Some(root.join(dir).join("log.jsonl")),
        ..TrainConfig::default()
    };
    let train = |net: &CamNet, opt: &mut Sgd, c: &TrainConfig| {
        fit(&gpu, c, net, opt, &data, &sidecar(), &mut Silent, |b| {
            net.logits(&b.images)?.bce_with_logits(&b.labels)
        })
        .unwrap()
    };
    let (straight, mut o1) = setup(&gpu, 4, 0.05);
    train(&straight, &mut o1, &cfg(3, "a", false));

    // The same run, interrupted by a failure in the first batch of epoch 3.
    let (first, mut o2) = setup(&gpu, 4, 0.05);
    let mut calls = 0;
    let interrupted = fit(
        &gpu,
        &cfg(3, "b", false),
        &first,
        &mut o2,
        &data,
        &sidecar(),
        &mut Silent,
        |b| {
            calls += 1;
            if calls == 7 {
                return Err(weakseg::Error::invalid("test", "simulated interruption"));
            }
            first.logits(&b.images)?.bce_with_logits(&b.labels)
        },
    );
    assert!(interrupted.is_err());
    let (resumed, mut o3) = setup(&gpu, 77, 0.05);
    let s = train(&resumed, &mut o3, &cfg(3, "b", true));
    assert_eq!(s.start_epoch, 2);
    assert_eq!(s.steps, 9);
    let (a, b) = (weights(&straight), weights(&resumed));
    let err = a
        .iter()
        .zip(&b)
        .fold(0f32, |m, (x, y)| m.max((x - y).abs()));
    assert!(err <= 1e-6, "resumed run differs by {err}");

    let log = std::fs::read_to_string(root.join("b").join("log.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.iter().filter(|l| l.get("step").is_some()).count(), 9);
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.get("epoch_loss").is_some())
            .count(),
        3
    );

    // A corrupt resume checkpoint names its folder and says how to start
    // over, instead of failing every run the same way.
    let dir = root.join("b");
    std::fs::write(dir.join("last.safetensors"), b"cut short").unwrap();
    let (again, mut o4) = setup(&gpu, 5, 0.05);
    let e = fit(
        &gpu,
        &cfg(4, "b", true),
        &again,
        &mut o4,
        &data,
        &sidecar(),
        &mut Silent,
        |b| again.logits(&b.images)?.bce_with_logits(&b.labels),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains(&dir.display().to_string()) && e.contains("remove it"),
        "{e}"
    );
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn a_run_that_would_train_nothing_is_an_error() {
    // Zero epochs, batch or accumulation would "succeed" with an untrained
    // checkpoint; each is refused, naming the setting.
    let gpu = gpu();
    let (net, mut opt) = setup(&gpu, 0, 0.05);
    let data = Squares {
        n: 4,
        size: 16,
        offset: 0,
    };
    let good = TrainConfig {
        epochs: 1,
        batch_size: 4,
        ..TrainConfig::default()
    };
    for cfg in [
        TrainConfig {
            epochs: 0,
            ..good.clone()
        },
        TrainConfig {
            batch_size: 0,
            ..good.clone()
        },
        TrainConfig {
            accumulate: 0,
            ..good.clone()
        },
    ] {
        let e = fit(
            &gpu,
            &cfg,
            &net,
            &mut opt,
            &data,
            &sidecar(),
            &mut Silent,
            |b| net.logits(&b.images)?.bce_with_logits(&b.labels),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("at least 1"), "{e}");
    }
}
