//! Stages `spml-labels`, `spml-train`, `spml-predict` and `spml-walk`:
//! SPML's pseudo
//! labels from image tags (the CAM with background (1 − max)^α, α 6,
//! argmax, and pixels whose winning score is under 0.2 left unlabelled),
//! the embedding network trained with the pixel-to-segment contrastive
//! loss on any label maps (tag pseudo labels, box masks, dilated points or
//! scribbles; 255 unlabelled), and each evaluation image labelled by its
//! segments' nearest training prototypes, then the dense CRF, with the
//! mIoU; and SPML's second stage for tags, the training images' CAMs
//! walked over the embedding ([`EmbeddingWalk`]) and refined by the CRF,
//! pseudo masks for a segmenter.
//!
//! Sizes are SPML's scaled to the synthetic benchmark's 64-pixel images:
//! the embedding is 16 × 16 (SPML's is 128 × 128), so the k-means grids are
//! 4 × 4 in training and 6 × 6 at inference (SPML: 6 × 6 and 12 × 12); the
//! superpixels (SLIC, in place of SPML's HED-UCM regions) are about 12
//! pixels across.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use weakseg_kernels::{Error, Gpu, Result};

use crate::data::Dataset;
use crate::data::augment::{Augment, Crop};
use crate::data::voc::{MaskSource, VocDataset, VocOptions, list_path};
use crate::io::checkpoint::{self, SaveDtype, Sidecar};
use crate::io::labels::{IGNORE, LabelMap};
use crate::io::{image, npy};
use crate::metrics::MaskScore;
use crate::models::ArchSpec;
use crate::nn::{Builder, GroupRecipe, ModuleExt};
use crate::ops::superpixel::{SlicSettings, slic};
use crate::pipeline::fingerprint::Input;
use crate::pipeline::results::StageResults;
use crate::pipeline::stage::{Manifest, Stage};
use crate::pipeline::validate;
use crate::refine::crf::{CrfParams, refine_scores};
use crate::refine::random_walk::with_background;
use crate::spml::segments::pixel_rows;
use crate::spml::{
    EmbeddingNet, EmbeddingWalk, MemoryBank, PrototypeBank, Relations, SpmlBatch, SpmlLoss,
    block_labels, segment, spread,
};
use crate::train::{Reporter, fit};
use crate::{ResizeMode, Tensor, no_grad};

/// File name of the trained embedding network in the stage directory.
pub const CHECKPOINT: &str = "embedding.safetensors";

/// Settings of SPML's training and inference stages.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SpmlSettings {
    /// Backbone name (see [`ArchSpec`]).
    pub arch: String,
    /// Backbone output stride (the embedding has half of it).
    pub output_stride: usize,
    /// ImageNet weights for the backbone; the head then learns 10× faster.
    pub pretrained: Option<PathBuf>,
    /// Embedding channels (SPML's VOC scripts: 64).
    pub dim: usize,
    /// Training list; also the prototype bank's images.
    pub list: String,
    /// Evaluation list.
    pub eval_list: String,
    /// Passes over the training list.
    pub epochs: usize,
    /// Images per step.
    pub batch_size: usize,
    /// Base learning rate (poly schedule).
    pub lr: f32,
    /// SGD weight decay (SPML: 5e-4).
    pub weight_decay: f32,
    /// Seed of initialisation, order and flips.
    pub seed: u64,
    /// The relations' concentrations and weights (per label kind).
    pub relations: Relations,
    /// Steps the memory bank keeps (SPML: 2).
    pub memory: usize,
    /// k-means grid per image in training.
    pub train_grid: (usize, usize),
    /// k-means grid per image at inference.
    pub infer_grid: (usize, usize),
    /// k-means rounds (SPML: 10).
    pub kmeans_iterations: usize,
    /// The over-segmentation of the image-similarity relation.
    pub superpixels: SlicSettings,
    /// Bank prototypes voting for each segment (SPML: 20).
    pub top_k: usize,
    /// Dense CRF after the vote (SPML reports its numbers with it).
    pub crf: Option<CrfParams>,
    /// A fixed-size training crop (rescale, flip, jitter as its settings
    /// say) so images of varied sizes batch, as SPML's DeepLab-style
    /// trainer crops; without it, flips only, and every training image
    /// must have one size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crop: Option<Crop>,
}

impl Default for SpmlSettings {
    /// resnet-tiny at stride 8, 64 dimensions, 15 epochs of 8 images at lr
    /// 0.02, the tag relations, SPML's memory, rounds, vote and a CRF.
    fn default() -> Self {
        SpmlSettings {
            arch: "resnet-tiny".into(),
            output_stride: 8,
            pretrained: None,
            dim: 64,
            list: "train".into(),
            eval_list: "val".into(),
            epochs: 15,
            batch_size: 8,
            lr: 0.02,
            weight_decay: 5e-4,
            seed: 2,
            relations: Relations::tags(),
            memory: 2,
            train_grid: (4, 4),
            infer_grid: (6, 6),
            kmeans_iterations: 10,
            superpixels: SlicSettings::default(),
            top_k: 20,
            crf: Some(CrfParams::default()),
            crop: None,
        }
    }
}

impl SpmlSettings {
    /// Everything the SPML stages can check before any work: the crop, the
    /// schedule, grids, relations and dense CRF, then both lists and the
    /// pretrained weights' file, so `spml-predict` cannot fail after
    /// training.
    pub fn validate(&self, data: &Path) -> Result<()> {
        if let Some(c) = &self.crop {
            c.augment()?;
        }
        let bad = |what: &str| Err(Error::invalid("spml", what.to_string()));
        if self.dim == 0 || self.batch_size == 0 || self.epochs == 0 {
            return bad("dim, batch_size and epochs must be positive");
        }
        if self.top_k == 0 || self.kmeans_iterations == 0 {
            return bad("top_k and kmeans_iterations must be positive");
        }
        let grids = [self.train_grid, self.infer_grid];
        if grids.iter().any(|&(h, w)| h == 0 || w == 0) {
            return bad("k-means grids must be at least 1 × 1");
        }
        let r = &self.relations;
        let all = [
            r.image_similarity,
            r.semantic_annotation,
            r.semantic_cooccurrence,
            r.feature_affinity,
        ];
        if all.iter().any(|x| {
            !(x.weight >= 0.0 && x.weight.is_finite() && x.kappa > 0.0 && x.kappa.is_finite())
        }) {
            return bad("relation weights must be finite and ≥ 0, concentrations finite and > 0");
        }
        if let Some(c) = &self.crf {
            c.validate()?;
        }
        validate::list("spml", data, &self.list)?;
        validate::list("spml", data, &self.eval_list)?;
        validate::weights(self.pretrained.as_deref())
    }
}

/// Each image's foreground tags (1-based class numbers) as bits.
fn tag_bits(tags: &[u8]) -> Result<u64> {
    tags.iter().try_fold(0u64, |acc, &t| match t {
        1..=64 => Ok(acc | 1 << (t - 1)),
        _ => Err(Error::invalid(
            "spml",
            format!("class {t}: co-occurrence tags hold classes 1 to 64"),
        )),
    })
}

/// SPML's tag pseudo labels of `list`: for each image, the CAM (`cams_dir`,
/// `ID.npy` [K, H, W] in [0, 1]) of its tagged classes and the background
/// (1 − max)^`alpha`; each pixel takes the best, unlabelled (255) when that
/// score is under `threshold`. Written as `labels/ID.png` in `out`.
pub fn tag_labels(
    data: &Path,
    cams_dir: &Path,
    out: &Path,
    list: &str,
    alpha: f32,
    threshold: f32,
    mut progress: impl FnMut(usize, usize),
) -> Result<Manifest> {
    let list_file = list_path(data, list);
    let inputs = [
        Input::data(data, &list_file),
        Input::upstream(cams_dir, &list_file),
    ];
    let mut stage = Stage::new("spml-labels", out, &(list, alpha, threshold), &inputs)?;
    if let Some(m) = stage.done()? {
        return Ok(m);
    }
    let t = Instant::now();
    let mut opts = VocOptions::split(list);
    opts.masks = MaskSource::None;
    let ds = VocDataset::open(data, &opts)?;
    let k = ds.classes.len();
    let mut outputs = Vec::with_capacity(ds.len());
    for (i, r) in ds.records.iter().enumerate() {
        let (h, w) = (r.height, r.width);
        let cams = npy::read_shaped(
            &cams_dir.join(format!("cams/{}.npy", r.id)),
            &[Some(k), Some(h), Some(w)],
        )?;
        let data: Vec<u8> = (0..h * w)
            .map(|p| {
                let (mut best, mut score) = (0u8, f32::MIN);
                let mut top = 0f32;
                for &c in &r.labels {
                    let v = cams.data[(c as usize - 1) * h * w + p];
                    top = top.max(v);
                    if v > score {
                        (best, score) = (c, v);
                    }
                }
                let bg = (1.0 - top.clamp(0.0, 1.0)).powf(alpha);
                if bg >= score {
                    (best, score) = (0, bg);
                }
                if score < threshold { IGNORE } else { best }
            })
            .collect();
        let map = LabelMap {
            width: w,
            height: h,
            data,
        };
        outputs.push(stage.write_labels(format!("labels/{}.png", r.id), &map)?);
        progress(i + 1, ds.len());
    }
    stage.finish(t.elapsed().as_secs_f64(), outputs, StageResults::default())
}

/// The batch's embeddings [B, D, h, w] and its segments, labels
/// (block-downsampled) and superpixels.
struct Prepared {
    seg: crate::spml::Segmented,
    labels: Vec<u32>,
    size: (usize, usize),
}

fn prepare(
    net: &EmbeddingNet,
    images: &Tensor,
    masks: &[u32],
    s: &SpmlSettings,
    superpixels: bool,
    grid: (usize, usize),
) -> Result<Prepared> {
    let e = net.forward(images)?;
    let (b, h, w) = (e.shape()[0], e.shape()[2], e.shape()[3]);
    let full = (images.shape()[2], images.shape()[3]);
    let labels = block_labels(masks, b, full, (h, w), Some(IGNORE as u32))?;
    let regions = if superpixels {
        let sp = slic(images, &s.superpixels)?.to_vec_blocking::<u32>()?;
        Some(block_labels(&sp, b, full, (h, w), None)?)
    } else {
        None
    };
    let seg = pollster::block_on(segment(
        &e,
        Some(&labels),
        regions.as_deref(),
        grid,
        s.kmeans_iterations,
    ))?;
    Ok(Prepared {
        seg,
        labels,
        size: (h, w),
    })
}

/// Trains the embedding network on the label maps in `labels`
/// (`ID.png`, 255 unlabelled) of `s.list`.
pub fn train(
    gpu: &Gpu,
    data: &Path,
    labels: &Path,
    out: &Path,
    s: &SpmlSettings,
    reporter: &mut dyn Reporter,
) -> Result<Manifest> {
    s.validate(data)?;
    let list = list_path(data, &s.list);
    let mut inputs = vec![Input::data(data, &list), Input::upstream(labels, &list)];
    inputs.extend(s.pretrained.as_deref().map(Input::file));
    let mut stage = Stage::new("spml-train", out, s, &inputs)?;
    if let Some(m) = stage.done()? {
        return Ok(m);
    }
    let t = Instant::now();
    let mut opts = VocOptions::split(&s.list);
    opts.masks = MaskSource::Dir(labels.to_path_buf());
    opts.augment = match &s.crop {
        Some(c) => c.augment()?,
        None => Augment {
            hflip: true,
            ..Augment::default()
        },
    };
    let ds = VocDataset::open(data, &opts)?;
    let tags: Vec<u64> = ds
        .records
        .iter()
        .map(|r| tag_bits(&r.labels))
        .collect::<Result<_>>()?;
    let arch = ArchSpec::new(&s.arch, s.output_stride);
    let net = EmbeddingNet::new(&mut Builder::new(gpu, s.seed), &arch, s.dim)?;
    let recipe = match &s.pretrained {
        Some(p) => {
            crate::io::checkpoint::load_backbone(&net, p)?;
            GroupRecipe::PSA
        }
        None => GroupRecipe::UNIFORM,
    };
    let mut opt = recipe.sgd(&net, EmbeddingNet::is_new, s.lr, s.weight_decay)?;
    let mut loss = SpmlLoss {
        relations: s.relations,
        memory: MemoryBank::new(s.memory),
    };
    let cfg = stage.train_config(s.epochs, s.batch_size, s.lr, s.seed);
    let sidecar = Sidecar::with_settings(Some(arch), None, s, "spml-train")?;
    let summary = fit(gpu, &cfg, &net, &mut opt, &ds, &sidecar, reporter, |b| {
        let masks = b
            .host_masks
            .as_ref()
            .ok_or_else(|| Error::invalid("spml-train", "a batch without label maps"))?;
        let p = prepare(&net, &b.images, masks, s, true, s.train_grid)?;
        let batch_tags: Vec<u64> = b.indices.iter().map(|&i| tags[i]).collect();
        loss.loss(&SpmlBatch {
            rows: &p.seg.rows,
            rows_loc: &p.seg.rows_loc,
            segments: &p.seg.segments,
            labels: &p.labels,
            tags: &batch_tags,
        })
    })?;
    net.set_train(false);
    checkpoint::save(&out.join(CHECKPOINT), &net, &sidecar, SaveDtype::F32)?;
    stage.finish(
        t.elapsed().as_secs_f64(),
        vec![CHECKPOINT.into(), "embedding.json".into()],
        StageResults::training(summary.epoch_losses),
    )
}

/// Loads an embedding network written by [`train`].
pub fn load(gpu: &Gpu, path: &Path) -> Result<EmbeddingNet> {
    let (arch, _, s) = checkpoint::read_settings::<SpmlSettings>(path)?;
    let net = EmbeddingNet::new(&mut Builder::new(gpu, 0), &arch, s.dim)?;
    checkpoint::load(path, &net)?;
    net.set_train(false);
    Ok(net)
}

/// Labels `s.eval_list` with the network in `embedding`: the prototype
/// bank of `s.list`'s segments under `labels`, each evaluation segment's
/// top-k vote, bilinear upsampling, the dense CRF when set. Writes
/// `pred/ID.png` and, where ground truth exists, the mIoU.
pub fn predict(
    gpu: &Gpu,
    data: &Path,
    labels: &Path,
    embedding: &Path,
    out: &Path,
    s: &SpmlSettings,
    mut progress: impl FnMut(usize, usize),
) -> Result<Manifest> {
    s.validate(data)?;
    let (list, eval) = (list_path(data, &s.list), list_path(data, &s.eval_list));
    let settings = (
        &s.list,
        &s.eval_list,
        s.infer_grid,
        s.kmeans_iterations,
        s.top_k,
        &s.crf,
    );
    let inputs = [
        Input::data(data, &list),
        Input::data(data, &eval),
        Input::file(embedding),
        Input::upstream(labels, &list),
    ];
    let mut stage = Stage::new("spml-predict", out, &settings, &inputs)?;
    if let Some(m) = stage.done()? {
        return Ok(m);
    }
    let t = Instant::now();
    let net = load(gpu, embedding)?;
    let mut opts = VocOptions::split(&s.list);
    opts.masks = MaskSource::Dir(labels.to_path_buf());
    let train = VocDataset::open(data, &opts)?;
    let classes = train.classes.len() + 1;
    let test = VocDataset::open(data, &VocOptions::split(&s.eval_list))?;
    let total = train.len() + test.len();
    let mut parts = Vec::with_capacity(train.len());
    for i in 0..train.len() {
        let smp = train.sample(i, 0)?;
        let x = Tensor::from_slice(gpu, &smp.image, &[1, 3, smp.height, smp.width])?;
        let mask = smp.mask.ok_or_else(|| {
            Error::invalid(
                "spml-predict",
                format!("{}: no label map", train.records[i].id),
            )
        })?;
        let p = no_grad(|| prepare(&net, &x, &mask, s, false, s.infer_grid))?;
        let protos = no_grad(|| p.seg.segments.prototypes(&p.seg.rows))?;
        parts.push((protos, p.seg.segments));
        progress(i + 1, total);
    }
    let bank = PrototypeBank::gather(&parts)?;
    drop(parts);
    let mut score = MaskScore::new(classes);
    let mut outputs = Vec::with_capacity(test.len());
    for i in 0..test.len() {
        let r = &test.records[i];
        let smp = test.sample(i, 0)?;
        let (h, w) = (smp.height, smp.width);
        let x = Tensor::from_slice(gpu, &smp.image, &[1, 3, h, w])?;
        let unlabelled = vec![IGNORE as u32; h * w];
        let p = no_grad(|| prepare(&net, &x, &unlabelled, s, false, s.infer_grid))?;
        let protos = no_grad(|| p.seg.segments.prototypes(&p.seg.rows))?;
        let shares = pollster::block_on(bank.vote(&protos, classes, s.top_k))?;
        let (eh, ew) = p.size;
        let probs = spread(&p.seg.segments, &shares, classes, (eh, ew))?;
        let probs = Tensor::from_slice(gpu, &probs, &[1, classes, eh, ew])?
            .interpolate((h, w), ResizeMode::Bilinear(false))?;
        let pred = match &s.crf {
            Some(c) => {
                let host: Vec<f32> = probs.to_vec_blocking()?;
                let img = image::read(&r.image)?;
                pollster::block_on(refine_scores(gpu, &img, &host, classes, c))?
            }
            None => probs.reshape(&[classes, h, w])?.argmax(0)?,
        };
        let map = LabelMap {
            width: w,
            height: h,
            data: pred
                .to_vec_blocking::<u32>()?
                .into_iter()
                .map(|v| v as u8)
                .collect(),
        };
        outputs.push(stage.write_labels(format!("pred/{}.png", r.id), &map)?);
        score.add(&map.data, smp.mask.as_deref())?;
        progress(train.len() + i + 1, total);
    }
    let results = StageResults {
        miou: score.miou(),
        prototypes: Some(bank.len()),
        ..StageResults::default()
    };
    stage.finish(t.elapsed().as_secs_f64(), outputs, results)
}

/// SPML's pseudo masks of `list` from tags: each image's CAM (`cams_dir`,
/// `ID.npy` [K, H, W]) brought to the embedding grid, given the background
/// (1 − max)^α, walked over the embedding of `embedding` (the image and
/// its mirror), upsampled, normalised per pixel and refined by the dense
/// CRF. Written as `labels/ID.png` in `out`, with their mIoU where ground
/// truth exists.
#[allow(clippy::too_many_arguments)] // each argument is a distinct input of the stage
pub fn walk_labels(
    gpu: &Gpu,
    data: &Path,
    cams_dir: &Path,
    embedding: &Path,
    out: &Path,
    list: &str,
    walk: &EmbeddingWalk,
    crf: &CrfParams,
    mut progress: impl FnMut(usize, usize),
) -> Result<Manifest> {
    crf.validate()?;
    let list_file = list_path(data, list);
    let inputs = [
        Input::data(data, &list_file),
        Input::file(embedding),
        Input::upstream(cams_dir, &list_file),
    ];
    let mut stage = Stage::new("spml-walk", out, &(list, walk, crf), &inputs)?;
    if let Some(m) = stage.done()? {
        return Ok(m);
    }
    let t = Instant::now();
    let net = load(gpu, embedding)?;
    let ds = VocDataset::open(data, &VocOptions::split(list))?;
    let k = ds.classes.len();
    let mut score = MaskScore::new(k + 1);
    let mut outputs = Vec::with_capacity(ds.len());
    for i in 0..ds.len() {
        let r = &ds.records[i];
        let smp = ds.sample(i, 0)?;
        let (h, w) = (smp.height, smp.width);
        let x = Tensor::from_slice(gpu, &smp.image, &[1, 3, h, w])?;
        let (views, (eh, ew)) = no_grad(|| -> Result<_> {
            let e = net.forward(&x)?;
            let mirrored = net.forward(&x.hflip()?)?.hflip()?;
            let size = (e.shape()[2], e.shape()[3]);
            Ok((vec![pixel_rows(&e)?, pixel_rows(&mirrored)?], size))
        })?;
        let cams = npy::read_shaped(
            &cams_dir.join(format!("cams/{}.npy", r.id)),
            &[Some(k), Some(h), Some(w)],
        )?;
        let small: Vec<f32> = Tensor::from_slice(gpu, &cams.data, &[1, k, h, w])?
            .interpolate((eh, ew), ResizeMode::Bilinear(false))?
            .to_vec_blocking()?;
        let present: Vec<bool> = (1..=k).map(|c| r.labels.contains(&(c as u8))).collect();
        let v = with_background(&small, &present, eh * ew, walk.alpha)?;
        let v = Tensor::from_slice(gpu, &v, &[k + 1, eh * ew])?;
        let walked: Vec<f32> = walk
            .propagate(&views, &v)?
            .reshape(&[1, k + 1, eh, ew])?
            .interpolate((h, w), ResizeMode::Bilinear(false))?
            .to_vec_blocking()?;
        let q = pollster::block_on(refine_scores(
            gpu,
            &image::read(&r.image)?,
            &walked,
            k + 1,
            crf,
        ))?;
        let map = LabelMap {
            width: w,
            height: h,
            data: q
                .to_vec_blocking::<u32>()?
                .into_iter()
                .map(|v| v as u8)
                .collect(),
        };
        outputs.push(stage.write_labels(format!("labels/{}.png", r.id), &map)?);
        score.add(&map.data, smp.mask.as_deref())?;
        progress(i + 1, ds.len());
    }
    stage.finish(
        t.elapsed().as_secs_f64(),
        outputs,
        StageResults {
            miou: score.miou(),
            ..StageResults::default()
        },
    )
}
