//! The training loop every stage reuses: epochs over a dataset in a seeded
//! order, batching, gradient accumulation, the learning-rate schedule, a
//! progress display, loss lines appended as JSON, a checkpoint every epoch,
//! and resume from the last one after an interruption.
//!
//! Native only: it times steps, reads the loss back synchronously and
//! writes files. (The browser build drives its own asynchronous loop.)

pub mod progress;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use rand::SeedableRng;
use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};
use weakseg_kernels::{Error, Gpu, Result};

use crate::data::loader::{BatchPlan, prefetch};
use crate::data::{Batch, Dataset, collate};
use crate::io::checkpoint::{self, HostTensor, SaveDtype, Sidecar};
use crate::nn::Module;
use crate::optim::{LrSchedule, Optimizer};
use crate::tensor::Tensor;
pub use progress::{LineReporter, Reporter, StepInfo};

/// Loop settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Passes over the dataset.
    pub epochs: usize,
    /// Samples per forward pass.
    pub batch_size: usize,
    /// Forward passes whose gradients add up to one optimiser step.
    pub accumulate: usize,
    /// Base learning rate.
    pub lr: f32,
    /// Schedule over the run's optimiser steps.
    #[serde(skip, default = "default_schedule")]
    pub schedule: LrSchedule,
    /// Seed of the sample order and augmentation.
    pub seed: u64,
    /// Where loss lines go (JSON, one object per optimiser step), if anywhere.
    pub log: Option<PathBuf>,
    /// Where `last.safetensors` (+ optimiser state and sidecar) is written
    /// after every epoch, if anywhere.
    pub checkpoint_dir: Option<PathBuf>,
    /// Continue from `checkpoint_dir/last.*` when it exists.
    pub resume: bool,
}

fn default_schedule() -> LrSchedule {
    LrSchedule::Poly {
        power: 0.9,
        warmup: 0,
        warmup_ratio: 1.0,
    }
}

impl Default for TrainConfig {
    /// 1 epoch, batch 8, no accumulation, lr 0.01, poly 0.9, seed 0.
    fn default() -> Self {
        TrainConfig {
            epochs: 1,
            batch_size: 8,
            accumulate: 1,
            lr: 0.01,
            schedule: default_schedule(),
            seed: 0,
            log: None,
            checkpoint_dir: None,
            resume: false,
        }
    }
}

/// What a finished run reports.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainSummary {
    /// Mean loss of each epoch run in this call (resumed epochs excluded).
    pub epoch_losses: Vec<f32>,
    /// Optimiser steps taken in total (including resumed ones).
    pub steps: u64,
    /// The epoch the run started at (0, or after the resumed checkpoint).
    pub start_epoch: usize,
    /// Training images per second over this call.
    pub images_per_s: f64,
}

/// The sample order of an epoch: a permutation seeded by (seed, epoch).
pub fn epoch_order(n: usize, seed: u64, epoch: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng =
        SmallRng::seed_from_u64(seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    order.shuffle(&mut rng);
    order
}

/// The augmentation seed of one sample in one epoch.
pub fn sample_seed(seed: u64, epoch: usize, index: usize) -> u64 {
    crate::data::mix_seed(seed, ((epoch as u64) << 32) ^ index as u64)
}

fn last_paths(dir: &Path) -> (PathBuf, PathBuf) {
    (
        dir.join("last.safetensors"),
        dir.join("last.optim.safetensors"),
    )
}

/// Batches prepared ahead of the one training.
const PREFETCH_DEPTH: usize = 2;

/// The loss of `batch` and its gradients, scaled by 1/`group` when
/// gradients accumulate over `group` batches.
fn forward_backward(
    loss_fn: &mut impl FnMut(&Batch) -> Result<Tensor>,
    batch: &Batch,
    group: usize,
) -> Result<Tensor> {
    let loss = loss_fn(batch)?;
    if group == 1 {
        loss.backward()?;
    } else {
        loss.mul_scalar(1.0 / group as f32)?.backward()?;
    }
    Ok(loss)
}

/// Refuses a schedule that would train nothing (zero epochs, batch size or
/// accumulation would "succeed" with an untrained checkpoint), naming the
/// setting; stages call it before any work, the training loop again.
pub fn check_schedule(epochs: usize, batch_size: usize, accumulate: usize) -> Result<()> {
    for (name, v) in [
        ("epochs", epochs),
        ("batch_size", batch_size),
        ("accumulate", accumulate),
    ] {
        if v == 0 {
            return Err(Error::invalid(
                "train",
                format!("{name} is 0: epochs, batch_size and accumulate must be at least 1"),
            ));
        }
    }
    Ok(())
}

/// Trains `model` with `opt` on `data`: `loss_fn` maps a batch to a scalar
/// loss. The sidecar's `config` gains `epoch` and `step` on each checkpoint.
#[allow(clippy::too_many_arguments)] // each argument is a distinct role of the run
pub fn fit(
    gpu: &Gpu,
    cfg: &TrainConfig,
    model: &dyn Module,
    opt: &mut dyn Optimizer,
    data: &(dyn Dataset + Sync),
    sidecar: &Sidecar,
    reporter: &mut dyn Reporter,
    mut loss_fn: impl FnMut(&Batch) -> Result<Tensor>,
) -> Result<TrainSummary> {
    check_schedule(cfg.epochs, cfg.batch_size, cfg.accumulate)?;
    if data.is_empty() {
        return Err(Error::invalid("fit", "the dataset is empty"));
    }
    let micro_per_epoch = data.len().div_ceil(cfg.batch_size);
    let steps_per_epoch = micro_per_epoch.div_ceil(cfg.accumulate) as u64;
    let total_steps = steps_per_epoch * cfg.epochs as u64;

    let mut start_epoch = 0;
    if cfg.resume {
        if let Some(dir) = &cfg.checkpoint_dir {
            start_epoch = resume(dir, model, opt).map_err(|e| {
                Error::format(
                    dir.display().to_string(),
                    format!("cannot resume from it ({e}); remove it to train from the start"),
                )
            })?;
        }
    }
    reporter.start(total_steps, opt.steps());
    let mut log = match &cfg.log {
        Some(p) => Some(open_log(p)?),
        None => None,
    };
    let t0 = Instant::now();
    let mut images = 0usize;
    let mut epoch_losses = Vec::new();
    for epoch in start_epoch..cfg.epochs {
        let order = epoch_order(data.len(), cfg.seed, epoch);
        let (mut loss_sum, mut loss_n) = (0f64, 0usize);
        let plans: Vec<BatchPlan> = order
            .chunks(cfg.batch_size)
            .map(|c| {
                c.iter()
                    .map(|&i| (i, sample_seed(cfg.seed, epoch, i)))
                    .collect()
            })
            .collect();
        prefetch(data, &plans, PREFETCH_DEPTH, |m, samples| {
            if m % cfg.accumulate == 0 {
                opt.zero_grad()?;
            }
            let count = samples.len();
            let batch = collate(gpu, &samples, plans[m].iter().map(|&(i, _)| i).collect())?;
            let t = Instant::now();
            let group = cfg
                .accumulate
                .min(micro_per_epoch - m / cfg.accumulate * cfg.accumulate);
            let loss = forward_backward(&mut loss_fn, &batch, group).map_err(|e| match e {
                Error::Limit { op, msg } => {
                    let s = batch.images.shape();
                    Error::invalid(
                        "train",
                        format!(
                            "a batch of {} images of {}×{} px does not fit this adapter ({op}: {msg}): \
                             lower the batch size or the crop",
                            s[0], s[3], s[2]
                        ),
                    )
                }
                e => e,
            })?;
            let boundary = (m + 1) % cfg.accumulate == 0 || m + 1 == micro_per_epoch;
            let (step, lr) = (
                opt.steps(),
                cfg.schedule.at(cfg.lr, opt.steps(), total_steps),
            );
            if boundary {
                opt.set_lr(lr);
                opt.step()?;
            }
            // Read the loss after the step is recorded, so backward and the
            // update go to the GPU in the same submit as the readback. A
            // non-finite loss ends the run; the last checkpoint is untouched.
            let value = loss.item()?;
            if !value.is_finite() {
                return Err(Error::invalid(
                    "fit",
                    format!("loss became {value} at epoch {epoch}, batch {m}"),
                ));
            }
            loss_sum += value as f64;
            loss_n += 1;
            images += count;
            if boundary {
                let info = StepInfo {
                    epoch,
                    epochs: cfg.epochs,
                    step: step + 1,
                    total_steps,
                    loss: value,
                    lr,
                    images_per_s: count as f64 / t.elapsed().as_secs_f64().max(1e-9),
                };
                reporter.step(&info);
                if let Some(f) = log.as_mut() {
                    let line = serde_json::json!({
                        "epoch": epoch, "step": info.step, "loss": value, "lr": lr,
                        "images_per_s": info.images_per_s,
                    });
                    writeln!(f, "{line}").map_err(|e| Error::io("training log", e))?;
                }
            }
            Ok(())
        })?;
        let mean = (loss_sum / loss_n.max(1) as f64) as f32;
        epoch_losses.push(mean);
        reporter.epoch(epoch, mean);
        if let Some(f) = log.as_mut() {
            let line = serde_json::json!({"epoch": epoch, "epoch_loss": mean});
            writeln!(f, "{line}").map_err(|e| Error::io("training log", e))?;
        }
        if let Some(dir) = &cfg.checkpoint_dir {
            save_last(dir, model, opt, sidecar, epoch)?;
        }
    }
    gpu.sync();
    reporter.finish();
    Ok(TrainSummary {
        epoch_losses,
        steps: opt.steps(),
        start_epoch,
        images_per_s: images as f64 / t0.elapsed().as_secs_f64().max(1e-9),
    })
}

fn open_log(p: &Path) -> Result<std::fs::File> {
    if let Some(d) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(d).map_err(|e| Error::io(d.display(), e))?;
    }
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(p)
        .map_err(|e| Error::io(p.display(), e))
}

/// Writes the epoch's model and optimiser state (each file atomically).
fn save_last(
    dir: &Path,
    model: &dyn Module,
    opt: &dyn Optimizer,
    sidecar: &Sidecar,
    epoch: usize,
) -> Result<()> {
    let (model_path, opt_path) = last_paths(dir);
    let mut sc = sidecar.clone();
    let mut config = match sc.config.take() {
        serde_json::Value::Object(m) => m,
        serde_json::Value::Null => serde_json::Map::new(),
        other => {
            let mut m = serde_json::Map::new();
            m.insert("user".into(), other);
            m
        }
    };
    config.insert("epoch".into(), epoch.into());
    config.insert("step".into(), opt.steps().into());
    sc.config = serde_json::Value::Object(config);
    let state = opt
        .state()
        .into_iter()
        .map(|(name, t)| {
            Ok(HostTensor {
                name,
                shape: t.shape().to_vec(),
                data: t.to_vec_blocking::<f32>()?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    crate::io::write_atomic(&opt_path, &checkpoint::encode(&state, SaveDtype::F32)?)?;
    checkpoint::save(&model_path, model, &sc, SaveDtype::F32)
}

/// Loads `dir/last.*` if present; returns the epoch to start at.
fn resume(dir: &Path, model: &dyn Module, opt: &mut dyn Optimizer) -> Result<usize> {
    let (model_path, opt_path) = last_paths(dir);
    if !model_path.exists() {
        return Ok(0);
    }
    let sc = checkpoint::load(&model_path, model)?.ok_or_else(|| {
        Error::format(
            model_path.display().to_string(),
            "no sidecar: cannot tell which epoch it ended",
        )
    })?;
    let field = |k: &str| sc.config.get(k).and_then(|v| v.as_u64());
    let (epoch, step) = match (field("epoch"), field("step")) {
        (Some(e), Some(s)) => (e as usize, s),
        _ => {
            return Err(Error::format(
                checkpoint::sidecar_path(&model_path).display().to_string(),
                "sidecar lacks config.epoch / config.step",
            ));
        }
    };
    let state = checkpoint::read(&opt_path)?;
    let slots = opt.state();
    for (name, t) in &slots {
        let src = state.iter().find(|h| &h.name == name).ok_or_else(|| {
            Error::format(
                opt_path.display().to_string(),
                format!("optimiser state {name} missing"),
            )
        })?;
        if src.data.len() != t.numel() {
            return Err(Error::format(
                opt_path.display().to_string(),
                format!(
                    "optimiser state {name} has {} values, expected {}",
                    src.data.len(),
                    t.numel()
                ),
            ));
        }
        t.assign(&src.data)?;
    }
    if state.len() != slots.len() {
        return Err(Error::format(
            opt_path.display().to_string(),
            format!(
                "{} optimiser tensors for {} slots",
                state.len(),
                slots.len()
            ),
        ));
    }
    opt.set_steps(step);
    Ok(epoch + 1)
}
