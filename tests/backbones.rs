//! Each backbone's forward against a float64 NumPy forward computed outside
//! weakseg (tests/fixtures/make_backbone_fixtures.py) with the same weights.
//! Both sides derive every weight from a hash of (name, index); the fixture
//! also lists the names and shapes the NumPy model read, which must equal
//! the weakseg model's state exactly (torchvision / psa / DeepLab names).
//!
//! Tolerance: max |ours − numpy| ≤ 1e-4 · max |numpy| over the output (f32
//! accumulation through 50–100 layers against float64).
//!
//! Where the adapter has shader-f16, each backbone runs again with f16
//! weights and activations: max |f16 − numpy| ≤ 2e-2 · max |numpy| (each of
//! the 10–100 layers rounds its output to f16, relative step 2⁻¹¹), and the
//! f16 output must differ from the f32 one (the f16 kernels really ran).

mod common;
use common::gpu;

use std::collections::BTreeMap;

use weakseg::io::checkpoint;
use weakseg::models::heads::LargeFovHead;
use weakseg::models::resnet::{ResNet, ResNetConfig};
use weakseg::models::{ArchSpec, Backbone, CamNet, Precision};
use weakseg::nn::module::child;
use weakseg::nn::{Builder, Module, ModuleExt, Visitor};
use weakseg::{Gpu, Tensor, no_grad};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

fn fnv1a32(s: &str) -> u32 {
    s.bytes().fold(0x811C_9DC5u32, |h, b| {
        (h ^ b as u32).wrapping_mul(0x0100_0193)
    })
}

fn uniform(name: &str, n: usize) -> Vec<f64> {
    let seed = fnv1a32(name);
    (0..n as u32)
        .map(|i| {
            let mut h = i.wrapping_mul(0x9E37_79B1).wrapping_add(seed);
            h ^= h >> 16;
            h = h.wrapping_mul(0x85EB_CA6B);
            h ^= h >> 13;
            h = h.wrapping_mul(0xC2B2_AE35);
            h ^= h >> 16;
            h as f64 / 4294967296.0
        })
        .collect()
}

/// The script's `value()`: the fixture weight of `name` with `shape`.
fn value(name: &str, shape: &[usize]) -> Vec<f32> {
    let n: usize = shape.iter().product();
    let leaf = name.rsplit('.').next().unwrap_or(name);
    let fan_in: usize = shape.iter().skip(1).product();
    uniform(name, n)
        .into_iter()
        .map(|u| {
            (match leaf {
                "running_mean" => (2.0 * u - 1.0) * 0.1,
                "running_var" => 0.5 + u,
                "weight" if shape.len() == 1 => 0.8 + 0.4 * u,
                "bias" => (2.0 * u - 1.0) * 0.1,
                _ => (2.0 * u - 1.0) * (3.0 / fan_in as f64).sqrt(),
            }) as f32
        })
        .collect()
}

fn expected_names(case: &str) -> BTreeMap<String, Vec<usize>> {
    let text = std::fs::read_to_string(format!("{DIR}/{case}.names.txt")).expect("names fixture");
    text.lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(n, s)| {
            (
                n.to_string(),
                s.split('x').map(|d| d.parse().unwrap()).collect(),
            )
        })
        .collect()
}

fn expected_output(case: &str) -> checkpoint::HostTensor {
    checkpoint::read(std::path::Path::new(&format!(
        "{DIR}/backbones.safetensors"
    )))
    .expect("output fixture")
    .into_iter()
    .find(|t| t.name == case)
    .expect("case in fixture")
}

/// Loads the hashed weights into `model` through the checkpoint path (so
/// the loader's name and shape checks run too), after checking the names.
fn load_fixture_weights(case: &str, model: &dyn Module) {
    let want = expected_names(case);
    let have: BTreeMap<String, Vec<usize>> = model
        .state()
        .into_iter()
        .map(|(n, t)| (n, t.shape().to_vec()))
        .collect();
    assert_eq!(
        have, want,
        "{case}: parameter names/shapes differ from the reference"
    );
    let tensors: Vec<_> = want
        .iter()
        .map(|(n, s)| checkpoint::HostTensor {
            name: n.clone(),
            shape: s.clone(),
            data: value(n, s),
        })
        .collect();
    let bytes = checkpoint::encode(&tensors, checkpoint::SaveDtype::F32).unwrap();
    let decoded = checkpoint::decode(&bytes, case).unwrap();
    checkpoint::apply(model, &decoded, "", checkpoint::Match::Strict).unwrap();
}

fn input(gpu: &Gpu, case: &str, shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    let x: Vec<f32> = uniform(&format!("input.{case}"), n)
        .into_iter()
        .map(|u| (u * 2.0 - 1.0) as f32)
        .collect();
    Tensor::from_slice(gpu, &x, shape).unwrap()
}

fn compare_within(case: &str, precision: Precision, y: &Tensor, tol: f32) -> Vec<f32> {
    let want = expected_output(case);
    assert_eq!(y.shape(), &want.shape[..], "{case}: output shape");
    let got = y.to_vec_blocking::<f32>().unwrap();
    let scale = want.data.iter().fold(0f32, |m, v| m.max(v.abs()));
    let err = got
        .iter()
        .zip(&want.data)
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    eprintln!(
        "{case} ({precision:?}): max abs err {err:.3e}, scale {scale:.3e}, rel {:.3e}",
        err / scale
    );
    assert!(
        err <= tol * scale,
        "{case}: relative error {} > {tol}",
        err / scale
    );
    got
}

fn compare(case: &str, y: &Tensor) -> Vec<f32> {
    compare_within(case, Precision::F32, y, 1e-4)
}

/// Runs `forward` at f16 where the adapter has shader-f16 and checks it
/// against the fixture within f16 rounding, and against `f32_out`.
fn compare_f16(gpu: &Gpu, case: &str, f32_out: &[f32], forward: impl FnOnce() -> Tensor) {
    if !gpu.has_f16() {
        eprintln!(
            "{case}: SKIPPED the f16 forward: {} lacks shader-f16",
            gpu.adapter_info().name
        );
        return;
    }
    let got = compare_within(case, Precision::F16, &forward(), 2e-2);
    assert_ne!(
        got, f32_out,
        "{case}: the f16 forward equals the f32 one bit for bit"
    );
}

#[test]
fn resnet50_matches_numpy() {
    let gpu = gpu();
    let mut b = Builder::new(&gpu, 1);
    let net = ResNet::new(
        &mut b,
        &ResNetConfig::new(50, 32).unwrap().with_classes(1000),
    )
    .unwrap();
    load_fixture_weights("resnet50", &net);
    net.set_train(false);
    let x = input(&gpu, "resnet50", &[2, 3, 64, 64]);
    let y = compare("resnet50", &no_grad(|| net.classify(&x)).unwrap());
    compare_f16(&gpu, "resnet50", &y, || {
        no_grad(|| net.classify_at(&x, Precision::F16)).unwrap()
    });
}

#[test]
fn resnet101_output_stride_8_matches_numpy() {
    let gpu = gpu();
    let mut b = Builder::new(&gpu, 1);
    let net = ResNet::new(
        &mut b,
        &ResNetConfig::new(101, 8).unwrap().with_classes(1000),
    )
    .unwrap();
    assert_eq!(net.output_stride(), 8);
    load_fixture_weights("resnet101_os8", &net);
    net.set_train(false);
    let x = input(&gpu, "resnet101_os8", &[1, 3, 32, 32]);
    assert_eq!(
        no_grad(|| net.features(&x)).unwrap().shape(),
        &[1, 2048, 4, 4]
    );
    let y = compare("resnet101_os8", &no_grad(|| net.classify(&x)).unwrap());
    compare_f16(&gpu, "resnet101_os8", &y, || {
        no_grad(|| net.classify_at(&x, Precision::F16)).unwrap()
    });
}

#[test]
fn resnet38_cam_matches_numpy() {
    let gpu = gpu();
    let mut b = Builder::new(&gpu, 1);
    let mut net = CamNet::new(&mut b, &ArchSpec::new("resnet38", 8), 20).unwrap();
    load_fixture_weights("resnet38_cam", &net);
    net.set_train(false);
    let x = input(&gpu, "resnet38_cam", &[1, 3, 32, 32]);
    let y = compare("resnet38_cam", &no_grad(|| net.logits(&x)).unwrap());
    net.precision = Precision::F16;
    compare_f16(&gpu, "resnet38_cam", &y, || {
        no_grad(|| net.logits(&x)).unwrap()
    });
}

/// VGG-16 with the LargeFOV head, named `backbone.*` and `head.fc6…fc8`.
struct Vgg16LargeFov {
    backbone: Box<dyn Backbone>,
    head: LargeFovHead,
}

impl Module for Vgg16LargeFov {
    fn visit(&self, prefix: &str, v: &mut dyn Visitor) {
        self.backbone.visit(&child(prefix, "backbone"), v);
        self.head.visit(&child(prefix, "head"), v);
    }
}

#[test]
fn vgg16_largefov_matches_numpy() {
    let gpu = gpu();
    let mut b = Builder::new(&gpu, 1);
    let backbone = ArchSpec::new("vgg16", 8).build(&mut b).unwrap();
    let head = LargeFovHead::new(&mut b, 512, 21).unwrap();
    let net = Vgg16LargeFov { backbone, head };
    load_fixture_weights("vgg16_largefov", &net);
    net.set_train(false);
    let x = input(&gpu, "vgg16_largefov", &[1, 3, 32, 32]);
    let y = no_grad(|| net.head.forward(&net.backbone.features(&x)?)).unwrap();
    let y = compare("vgg16_largefov", &y);
    compare_f16(&gpu, "vgg16_largefov", &y, || {
        no_grad(|| {
            net.head
                .forward(&Precision::F16.features(&net.backbone, &x)?)
        })
        .unwrap()
    });
}

#[test]
fn resnet_tiny_cam_matches_numpy() {
    let gpu = gpu();
    let mut b = Builder::new(&gpu, 1);
    let mut net = CamNet::new(&mut b, &ArchSpec::new("resnet-tiny", 8), 20).unwrap();
    load_fixture_weights("resnet_tiny_cam", &net);
    net.set_train(false);
    let x = input(&gpu, "resnet_tiny_cam", &[2, 3, 48, 48]);
    let y = compare("resnet_tiny_cam", &no_grad(|| net.logits(&x)).unwrap());
    net.precision = Precision::F16;
    compare_f16(&gpu, "resnet_tiny_cam", &y, || {
        no_grad(|| net.logits(&x)).unwrap()
    });
}
