//! Network benchmarks: training and inference throughput of the CAM
//! classifier (backbone + GAP + 1×1 classifier) on one batch.

use super::{pseudo, time};
use crate::models::{ArchSpec, CamNet, Precision};
use crate::nn::{Builder, GroupRecipe, ModuleExt};
use crate::{Gpu, Result, Tensor};

/// Training and inference throughput of one network at one size.
#[derive(Clone, Debug)]
pub struct ModelMeasurement {
    /// Case name, e.g. `resnet-tiny_96_b8`.
    pub name: String,
    /// Inference images per second (forward, no autodiff, eval mode).
    pub infer_images_per_s: f64,
    /// The same with the backbone in f16 (None without shader-f16).
    pub infer_f16_images_per_s: Option<f64>,
    /// Training images per second (forward, BCE, backward, SGD step).
    pub train_images_per_s: f64,
    /// Peak GPU bytes live during a training step (weights, optimiser state,
    /// activations and gradients).
    pub train_peak_bytes: u64,
    /// Seconds of the first training step (pipeline compilation included).
    pub cold_seconds: f64,
}

/// A CAM classifier (`arch`, 20 classes; ResNet-50/101 at output stride
/// 16, the others at 8) on `batch` images of `size` px.
pub fn model(
    gpu: &Gpu,
    arch: &str,
    size: usize,
    batch: usize,
    reps: usize,
) -> Result<ModelMeasurement> {
    let mut b = Builder::new(gpu, 0);
    let os = if arch.starts_with("resnet") && arch != "resnet-tiny" {
        16
    } else {
        8
    };
    let mut net = CamNet::new(&mut b, &ArchSpec::new(arch, os), 20)?;
    let mut opt = GroupRecipe::PSA.sgd(&net, CamNet::is_new, 1e-3, 1e-4)?;
    let x = Tensor::from_slice(
        gpu,
        &pseudo(batch * 3 * size * size, 6),
        &[batch, 3, size, size],
    )?;
    let labels: Vec<f32> = (0..batch * 20)
        .map(|i| ((i * 7) % 3 == 0) as u8 as f32)
        .collect();
    let y = Tensor::from_slice(gpu, &labels, &[batch, 20])?;
    net.set_train(true);
    gpu.sync();
    gpu.reset_peak();
    let (train, cold) = time(gpu, reps, || {
        opt.zero_grad()?;
        net.logits(&x)?.bce_with_logits(&y)?.backward()?;
        opt.step()
    })?;
    let peak = gpu.pool_stats().peak_bytes_live;
    net.set_train(false);
    let (infer, _) = time(gpu, reps, || crate::no_grad(|| net.logits(&x)).map(drop))?;
    let infer_f16 = if gpu.has_f16() {
        net.precision = Precision::F16;
        let (t, _) = time(gpu, reps, || crate::no_grad(|| net.logits(&x)).map(drop))?;
        Some(batch as f64 / t)
    } else {
        None
    };
    Ok(ModelMeasurement {
        name: format!("{arch}_{size}_b{batch}"),
        infer_images_per_s: batch as f64 / infer,
        infer_f16_images_per_s: infer_f16,
        train_images_per_s: batch as f64 / train,
        train_peak_bytes: peak,
        cold_seconds: cold,
    })
}

/// The networks `weakseg bench` reports: resnet-tiny at 96 px and
/// ResNet-50 at 224 px, batch 8 (ResNet-50 with `min(reps, 2)` warm runs,
/// since one step takes tens of seconds on a CPU adapter).
pub fn model_suite(gpu: &Gpu, reps: usize) -> Result<Vec<ModelMeasurement>> {
    Ok(vec![
        model(gpu, "resnet-tiny", 96, 8, reps)?,
        model(gpu, "resnet50", 224, 8, reps.min(2))?,
    ])
}
