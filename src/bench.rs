//! Kernel benchmarks shared by `weakseg bench` and the criterion benches:
//! each case is timed warm (median of several synchronised runs) after a
//! cold first call, which includes pipeline compilation.

use std::time::Instant;

use crate::models::{ArchSpec, CamNet, Precision};
use crate::nn::{Builder, GroupRecipe, ModuleExt};
use crate::optim::Sgd;
use crate::{ConvOpts, Gpu, Result, Tensor};

/// One measured case.
#[derive(Clone, Debug)]
pub struct Measurement {
    /// Case name, e.g. `matmul_512` or `conv3x3_n8_c32_64_fwd`.
    pub name: String,
    /// Median warm seconds per run.
    pub seconds: f64,
    /// Seconds of the first (cold) run, pipelines compiled inside it.
    pub cold_seconds: f64,
    /// Floating-point operations per run (0 for bandwidth cases).
    pub flops: f64,
    /// Bytes moved per run (for bandwidth cases).
    pub bytes: f64,
}

impl Measurement {
    /// GFLOP/s at the median time.
    pub fn gflops(&self) -> f64 {
        self.flops / self.seconds / 1e9
    }

    /// GB/s at the median time.
    pub fn gbps(&self) -> f64 {
        self.bytes / self.seconds / 1e9
    }
}

fn pseudo(n: usize, seed: usize) -> Vec<f32> {
    (0..n)
        .map(|i| (((i + seed) * 2654435761) % 1000) as f32 / 1000.0 - 0.5)
        .collect()
}

/// Times `run` (which must end with the GPU synchronised): one cold run then `reps` warm ones.
pub fn time(gpu: &Gpu, reps: usize, mut run: impl FnMut() -> Result<()>) -> Result<(f64, f64)> {
    let t = Instant::now();
    run()?;
    gpu.sync();
    let cold = t.elapsed().as_secs_f64();
    let mut v = Vec::new();
    for _ in 0..reps.max(1) {
        let t = Instant::now();
        run()?;
        gpu.sync();
        v.push(t.elapsed().as_secs_f64());
    }
    v.sort_by(f64::total_cmp);
    Ok((v[v.len() / 2], cold))
}

/// A square matmul of size n.
pub fn matmul(gpu: &Gpu, n: usize, reps: usize) -> Result<Measurement> {
    let a = Tensor::from_slice(gpu, &pseudo(n * n, 1), &[n, n])?;
    let b = Tensor::from_slice(gpu, &pseudo(n * n, 2), &[n, n])?;
    let (seconds, cold) = time(gpu, reps, || a.matmul(&b).map(drop))?;
    Ok(Measurement {
        name: format!("matmul_{n}"),
        seconds,
        cold_seconds: cold,
        flops: 2.0 * (n * n * n) as f64,
        bytes: 0.0,
    })
}

/// A convolution case: forward, and forward+backward (input and weight gradients).
#[derive(Clone, Copy, Debug)]
pub struct ConvCase {
    /// Case name.
    pub name: &'static str,
    /// Batch, input channels, output channels, spatial size, kernel size.
    pub n: usize,
    /// Input channels.
    pub cin: usize,
    /// Output channels.
    pub cout: usize,
    /// Square input size.
    pub size: usize,
    /// Square kernel size.
    pub k: usize,
    /// Stride, padding and dilation.
    pub opts: ConvOpts,
}

/// The ResNet-like cases the benches report.
pub fn conv_cases() -> Vec<ConvCase> {
    let c = |name, n, cin, cout, size, k, s, p, d| ConvCase {
        name,
        n,
        cin,
        cout,
        size,
        k,
        opts: ConvOpts::new(s, p, d, 1),
    };
    vec![
        c("conv3x3_n8_c32_64", 8, 32, 32, 64, 3, 1, 1, 1),
        c("conv1x1_n8_c64_128_32", 8, 64, 128, 32, 1, 1, 0, 1),
        c("conv3x3_s2_n8_c64_128_32", 8, 64, 128, 32, 3, 2, 1, 1),
        c("conv3x3_d2_n8_c64_32", 8, 64, 64, 32, 3, 1, 2, 2),
    ]
}

/// Forward and forward+backward timings of a convolution case.
pub fn conv(gpu: &Gpu, case: &ConvCase, reps: usize) -> Result<[Measurement; 2]> {
    let x = Tensor::from_slice(
        gpu,
        &pseudo(case.n * case.cin * case.size * case.size, 3),
        &[case.n, case.cin, case.size, case.size],
    )?
    .requires_grad_();
    let w = Tensor::from_slice(
        gpu,
        &pseudo(case.cout * case.cin * case.k * case.k, 4),
        &[case.cout, case.cin, case.k, case.k],
    )?
    .requires_grad_();
    let probe = crate::no_grad(|| x.conv2d(&w, None, case.opts))?;
    let (ho, wo) = (probe.shape()[2], probe.shape()[3]);
    let seed = Tensor::ones(gpu, probe.shape())?;
    drop(probe);
    let flops = 2.0 * (case.n * case.cout * ho * wo * case.cin * case.k * case.k) as f64;
    let (fwd, fwd_cold) = time(gpu, reps, || {
        crate::no_grad(|| x.conv2d(&w, None, case.opts)).map(drop)
    })?;
    let (both, both_cold) = time(gpu, reps, || {
        x.zero_grad();
        w.zero_grad();
        x.conv2d(&w, None, case.opts)?.backward_with(seed.clone())
    })?;
    Ok([
        Measurement {
            name: format!("{}_fwd", case.name),
            seconds: fwd,
            cold_seconds: fwd_cold,
            flops,
            bytes: 0.0,
        },
        Measurement {
            name: format!("{}_fwd_bwd", case.name),
            seconds: both,
            cold_seconds: both_cold,
            flops: 3.0 * flops,
            bytes: 0.0,
        },
    ])
}

/// A channel reduction (sum over H·W of [N·C, H·W]), as GAP does.
pub fn reduction(gpu: &Gpu, rows: usize, cols: usize, reps: usize) -> Result<Measurement> {
    let x = Tensor::from_slice(gpu, &pseudo(rows * cols, 5), &[rows, cols])?;
    let (seconds, cold) = time(gpu, reps, || x.sum(&[1], false).map(drop))?;
    Ok(Measurement {
        name: format!("sum_{rows}x{cols}"),
        seconds,
        cold_seconds: cold,
        flops: 0.0,
        bytes: (rows * cols * 4) as f64,
    })
}

/// Latency of reading one small tensor back (map round trip).
pub fn readback(gpu: &Gpu, reps: usize) -> Result<Measurement> {
    let x = Tensor::zeros(gpu, &[256])?;
    let (seconds, cold) = time(gpu, reps, || x.to_vec_blocking::<f32>().map(drop))?;
    Ok(Measurement {
        name: "readback_1KiB".into(),
        seconds,
        cold_seconds: cold,
        flops: 0.0,
        bytes: 1024.0,
    })
}

/// Every kernel case `weakseg bench` reports.
pub fn kernel_suite(gpu: &Gpu, reps: usize) -> Result<Vec<Measurement>> {
    let mut out = vec![matmul(gpu, 256, reps)?, matmul(gpu, 512, reps)?];
    for c in conv_cases() {
        out.extend(conv(gpu, &c, reps)?);
    }
    out.push(reduction(gpu, 8 * 64, 64 * 64, reps)?);
    out.push(readback(gpu, reps)?);
    Ok(out)
}

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
    let mut opt = Sgd::new(
        GroupRecipe::PSA.groups(&net, CamNet::is_new),
        1e-3,
        0.9,
        1e-4,
        false,
    )?;
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
