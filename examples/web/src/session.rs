//! The browser demo's work, written once for every platform: generate a
//! small synthetic dataset in memory, train the CAM classifier step by step
//! (each step's loss is read back asynchronously), check one kernel against
//! its CPU reference, and draw a sample's CAM over its image. The wasm
//! bindings in `lib.rs` only forward to this; native tests drive it with
//! `pollster`.

use rand::SeedableRng;
use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use weakseg::data::synth::{self, SynthConfig, SynthKind};
use weakseg::data::{Sample, collate, mix_seed};
use weakseg::io::image::{Rgb, normalize_imagenet};
use weakseg::kernels::cpu::matmul as cpu_matmul;
use weakseg::kernels::launch::matmul::MatmulShape;
use weakseg::models::{ArchSpec, CamNet};
use weakseg::nn::{Builder, GroupRecipe, ModuleExt};
use weakseg::optim::Sgd;
use weakseg::{Error, Gpu, Result, Tensor, cam, pictures};

/// What the page asks for: dataset size and the training recipe.
#[derive(Clone, Debug, PartialEq)]
pub struct SessionConfig {
    /// Images generated in memory.
    pub images: usize,
    /// Image side in pixels.
    pub size: usize,
    /// Foreground classes.
    pub classes: usize,
    /// Images per step.
    pub batch_size: usize,
    /// SGD learning rate (momentum 0.9, weight decay 1e-4), constant.
    pub lr: f32,
    /// Seed of the data, the initialisation and the batch order.
    pub seed: u64,
}

impl Default for SessionConfig {
    /// 32 images of 64 px with 3 classes, batches of 8 at lr 0.05: a few
    /// seconds per epoch on a software adapter.
    fn default() -> Self {
        SessionConfig {
            images: 32,
            size: 64,
            classes: 3,
            batch_size: 8,
            lr: 0.05,
            seed: 0,
        }
    }
}

/// A sample's CAM drawn over its image, with the numbers a test checks.
#[derive(Clone, Debug, PartialEq)]
pub struct CamView {
    /// Width of the picture.
    pub width: usize,
    /// Height of the picture.
    pub height: usize,
    /// RGBA pixels (for a canvas' ImageData).
    pub rgba: Vec<u8>,
    /// Name of the class shown (the present class with the highest logit).
    pub class: String,
    /// Largest raw (un-normalised) CAM value of that class.
    pub max: f32,
    /// Mean normalised CAM value of that class.
    pub mean: f32,
    /// Whether every CAM value is finite.
    pub finite: bool,
}

/// A training run in memory: the data, the network and its optimiser.
pub struct Session {
    gpu: Gpu,
    cfg: SessionConfig,
    names: Vec<String>,
    pictures: Vec<Rgb>,
    samples: Vec<Sample>,
    net: CamNet,
    opt: Sgd,
    order: Vec<usize>,
    cursor: usize,
    epoch: u64,
    steps: u64,
}

impl Session {
    /// Generates the dataset and builds resnet-tiny with the CAM head.
    pub fn new(gpu: &Gpu, cfg: SessionConfig) -> Result<Session> {
        if cfg.batch_size == 0 || cfg.batch_size > cfg.images {
            return Err(Error::invalid(
                "session",
                format!(
                    "batch size {} must be in 1..={} (the images)",
                    cfg.batch_size, cfg.images
                ),
            ));
        }
        let synth = SynthConfig {
            train: cfg.images,
            val: 0,
            size: cfg.size,
            classes: cfg.classes,
            seed: cfg.seed,
            kind: SynthKind::Parts,
            erase_parts: false,
        };
        synth.validate()?;
        let (pictures, samples) = (0..cfg.images)
            .map(|i| {
                let img = synth::render(&synth, i);
                let mut labels = vec![0f32; cfg.classes];
                for &v in &img.mask.data {
                    if (1..=cfg.classes).contains(&(v as usize)) {
                        labels[v as usize - 1] = 1.0;
                    }
                }
                let sample = Sample {
                    image: normalize_imagenet(&img.rgb),
                    height: cfg.size,
                    width: cfg.size,
                    labels,
                    mask: None,
                    cam: None,
                };
                (img.rgb, sample)
            })
            .unzip();
        let net = CamNet::new(
            &mut Builder::new(gpu, cfg.seed),
            &ArchSpec::new("resnet-tiny", 8),
            cfg.classes,
        )?;
        net.set_train(true);
        let opt = GroupRecipe::UNIFORM.sgd(&net, CamNet::is_new, cfg.lr, 1e-4)?;
        Ok(Session {
            gpu: gpu.clone(),
            names: synth.class_list().names,
            pictures,
            samples,
            net,
            opt,
            order: Vec::new(),
            cursor: 0,
            epoch: 0,
            steps: 0,
            cfg,
        })
    }

    /// Steps in one pass over the images (the last batch may be short).
    pub fn steps_per_epoch(&self) -> usize {
        self.cfg.images.div_ceil(self.cfg.batch_size)
    }

    /// Steps taken so far.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// Whether there are no images (never, once built).
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// The next batch's indices: each epoch is a fresh shuffle.
    fn next_batch(&mut self) -> Vec<usize> {
        if self.cursor >= self.order.len() {
            self.order = (0..self.samples.len()).collect();
            let mut rng = SmallRng::seed_from_u64(mix_seed(self.cfg.seed, self.epoch));
            self.order.shuffle(&mut rng);
            self.cursor = 0;
            self.epoch += 1;
        }
        let end = (self.cursor + self.cfg.batch_size).min(self.order.len());
        let idx = self.order[self.cursor..end].to_vec();
        self.cursor = end;
        idx
    }

    /// One SGD step on the next batch (multilabel soft-margin loss); the
    /// loss is read back without blocking. A non-finite loss is an error.
    pub async fn step(&mut self) -> Result<f32> {
        let idx = self.next_batch();
        let samples: Vec<Sample> = idx.iter().map(|&i| self.samples[i].clone()).collect();
        let batch = collate(&self.gpu, &samples, idx)?;
        self.opt.zero_grad()?;
        let loss = self
            .net
            .logits(&batch.images)?
            .bce_with_logits(&batch.labels)?;
        loss.backward()?;
        self.opt.step()?;
        let value = loss.to_vec::<f32>().await?[0];
        if !value.is_finite() {
            return Err(Error::invalid(
                "session",
                format!("loss became {value} at step {}", self.steps),
            ));
        }
        self.steps += 1;
        Ok(value)
    }

    /// Image `i`'s CAM (flip-averaged, scale 1) for its strongest present
    /// class, drawn in jet colours over the image.
    pub async fn cam(&self, i: usize) -> Result<CamView> {
        let (sample, picture) = self
            .samples
            .get(i)
            .zip(self.pictures.get(i))
            .ok_or_else(|| {
                Error::invalid("session", format!("image {i} of {}", self.samples.len()))
            })?;
        let (h, w, k) = (sample.height, sample.width, sample.labels.len());
        self.net.set_train(false);
        let x = Tensor::from_slice(&self.gpu, &sample.image, &[1, 3, h, w])?;
        let present: Vec<bool> = sample.labels.iter().map(|&v| v > 0.0).collect();
        let ms = cam::MultiScale {
            scales: vec![1.0],
            flip: true,
            ..cam::MultiScale::default()
        };
        let computed = weakseg::no_grad(|| {
            let (logits, raw) = self.net.logits_and_cams(&x)?;
            let (peaks, _) = raw
                .relu()?
                .reshape(&[k, raw.numel() / k])?
                .max_axis(1, false)?;
            Ok((
                logits,
                peaks,
                cam::multiscale(&self.net, &x, &present, &ms)?,
            ))
        });
        self.net.set_train(true);
        let (logits, peaks, maps) = computed?;
        let logits = logits.to_vec::<f32>().await?;
        let peaks = peaks.to_vec::<f32>().await?;
        let maps = maps.to_vec::<f32>().await?;
        let class = (0..k)
            .filter(|&c| present[c])
            .max_by(|&a, &b| logits[a].total_cmp(&logits[b]))
            .ok_or_else(|| Error::invalid("session", format!("image {i} has no object")))?;
        let plane = &maps[class * h * w..(class + 1) * h * w];
        let overlay = pictures::cam_overlay(picture, plane, 0.5)?;
        Ok(CamView {
            width: w,
            height: h,
            rgba: overlay
                .data
                .chunks_exact(3)
                .flat_map(|p| [p[0], p[1], p[2], 255])
                .collect(),
            class: self.names[class].clone(),
            max: peaks[class],
            mean: plane.iter().sum::<f32>() / plane.len() as f32,
            finite: maps.iter().all(|v| v.is_finite()),
        })
    }
}

/// Multiplies two fixed 7×13 and 13×9 matrices (odd sizes, not multiples
/// of the tile) on the GPU and returns the largest absolute difference from
/// the CPU reference kernel: the page's proof that the adapter computes.
pub async fn kernel_check(gpu: &Gpu) -> Result<f64> {
    let (m, k, n) = (7, 13, 9);
    let a: Vec<f32> = (0..m * k)
        .map(|i| ((i * 37 % 23) as f32 - 11.0) / 8.0)
        .collect();
    let b: Vec<f32> = (0..k * n)
        .map(|i| ((i * 53 % 19) as f32 - 9.0) / 4.0)
        .collect();
    let c = Tensor::from_slice(gpu, &a, &[m, k])?
        .matmul(&Tensor::from_slice(gpu, &b, &[k, n])?)?
        .to_vec::<f32>()
        .await?;
    let want = cpu_matmul::matmul(
        &a,
        &b,
        MatmulShape {
            batch: 1,
            m,
            k,
            n,
            a_batch_stride: 0,
            b_batch_stride: 0,
        },
    );
    Ok(c.iter()
        .zip(&want)
        .map(|(&g, &r)| (g as f64 - r).abs())
        .fold(0.0, f64::max))
}
