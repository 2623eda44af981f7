//! Benchmarks shared by `weakseg bench` and the criterion benches: kernel
//! cases ([`kernels`]), networks ([`models`]) and pipeline stages
//! ([`stages`]). Each case is timed warm (median of several synchronised
//! runs) after a cold first call, which includes pipeline compilation, so
//! cold start is reported apart from throughput.

pub mod kernels;
pub mod models;
pub mod peers;
pub mod stages;

use std::time::Instant;

use crate::{Gpu, Result, Tensor};

pub use kernels::{ConvCase, Peak, conv_cases, kernel_cases, kernel_suite};
pub use models::{ModelMeasurement, model, model_suite};
pub use stages::{StageMeasurement, stage_suite};

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
    /// This case's rate over the adapter's measured peak (GFLOP/s over the
    /// tuned matmul's, or GB/s over the copy kernel's); see [`Peak`].
    pub peak_fraction: Option<f64>,
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

/// A benchmark case: a closure that records one run of the work on the GPU,
/// with the work's size. `weakseg bench` measures it with [`Case::measure`];
/// the criterion benches call [`Case::run`] in their own loop.
pub struct Case {
    /// Case name.
    pub name: String,
    /// Floating-point operations per run (0 when the case is bandwidth-bound).
    pub flops: f64,
    /// Bytes read and written per run (0 when it is compute-bound).
    pub bytes: f64,
    run: Box<dyn FnMut() -> Result<()>>,
}

impl Case {
    /// A case named `name` doing `flops` operations and moving `bytes`.
    pub fn new(
        name: impl Into<String>,
        flops: f64,
        bytes: f64,
        run: impl FnMut() -> Result<()> + 'static,
    ) -> Case {
        Case {
            name: name.into(),
            flops,
            bytes,
            run: Box::new(run),
        }
    }

    /// Records one run (the caller synchronises).
    pub fn run(&mut self) -> Result<()> {
        (self.run)()
    }

    /// One cold run, then the median of `reps` warm ones.
    pub fn measure(mut self, gpu: &Gpu, reps: usize) -> Result<Measurement> {
        let (seconds, cold_seconds) = time(gpu, reps, || self.run())?;
        Ok(Measurement {
            name: self.name,
            seconds,
            cold_seconds,
            flops: self.flops,
            bytes: self.bytes,
            peak_fraction: None,
        })
    }
}

/// Deterministic inputs in [−0.5, 0.5): element i of stream `seed`.
pub fn pseudo(n: usize, seed: usize) -> Vec<f32> {
    (0..n)
        .map(|i| (((i + seed) * 2654435761) % 1000) as f32 / 1000.0 - 0.5)
        .collect()
}

/// A tensor of `shape` holding stream `seed` of [`pseudo`].
pub(crate) fn tensor(gpu: &Gpu, shape: &[usize], seed: usize) -> Result<Tensor> {
    Tensor::from_slice(gpu, &pseudo(shape.iter().product(), seed), shape)
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
