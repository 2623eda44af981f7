//! Stages `interactive-train` and `interactive-eval`: an interactive
//! object segmenter ([`InteractiveNet`]) trained on every annotated object
//! of the training list with simulated input, and evaluated the way the
//! field reports it: a simulated user clicks, the network predicts, the
//! user clicks on the largest error, up to `max_clicks` times; the table
//! gives the mean IoU after each click and the number of clicks needed to
//! reach 85 % and 90 % IoU (NoC, capped at `max_clicks`). DEXTR's guidance
//! is one set of extreme points, so it has a single IoU.
//!
//! An object is the pixels of its class inside its annotated box.

use std::path::Path;
use std::time::Instant;

use rand::SeedableRng;
use rand::rngs::SmallRng;
use serde::{Deserialize, Serialize};
use weakseg_kernels::{Error, Gpu, Result};

use crate::data::voc::{VocDataset, VocOptions, list_path};
use crate::data::{Dataset, Sample, mix_seed};
use crate::interactive::clicks::{
    self, Click, Guidance, extreme_points, first_click, next_click, training_clicks,
};
use crate::interactive::net::InteractiveNet;
use crate::io::checkpoint::{self, SaveDtype, Sidecar};
use crate::io::labels::{IGNORE, LabelMap};
use crate::models::{ArchSpec, SegHeadKind};
use crate::nn::{Builder, GroupRecipe, ModuleExt};
use crate::pipeline::fingerprint::Input;
use crate::pipeline::results::StageResults;
use crate::pipeline::stage::{Manifest, Stage};
use crate::train::{Reporter, fit};
use crate::{Tensor, no_grad};

/// File name of the trained network in the stage directory.
pub const CHECKPOINT: &str = "interactive.safetensors";

/// Settings of both stages.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InteractiveSettings {
    /// How the user's input is encoded.
    pub guidance: Guidance,
    /// Backbone name (see [`ArchSpec`]).
    pub arch: String,
    /// Backbone output stride.
    pub output_stride: usize,
    /// DeepLab head.
    pub head: SegHeadKind,
    /// Training list.
    pub list: String,
    /// Evaluation list.
    pub eval_list: String,
    /// Passes over the training objects.
    pub epochs: usize,
    /// Objects per step.
    pub batch_size: usize,
    /// Base learning rate.
    pub lr: f32,
    /// SGD weight decay.
    pub weight_decay: f32,
    /// Seed of initialisation, order, flips and simulated clicks.
    pub seed: u64,
    /// ImageNet weights for the backbone; from scratch when absent.
    pub pretrained: Option<std::path::PathBuf>,
    /// Truncation of distance maps or σ of Gaussian maps, in pixels. Xu et
    /// al. truncate at 255 and DEXTR's σ is 10 on images of about 500
    /// pixels; the defaults (32 and 3) are those shares of 64-pixel images,
    /// σ rounded up so a point spans the stem's stride.
    pub scale: Option<f32>,
    /// Training positive clicks lie at least this deep inside the object.
    pub margin: f32,
    /// Training negative clicks lie within this distance of the object.
    pub band: f32,
    /// Clicks per object at evaluation.
    pub max_clicks: usize,
    /// Train on a square window of this side centred on each object's box
    /// (padded past the image: zero pixels, void labels), so images of
    /// varied sizes batch; without it, every training image must have one
    /// size. Evaluation runs on whole images either way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crop: Option<usize>,
}

impl InteractiveSettings {
    /// Checks what must hold before any work: the user gets at least one
    /// click.
    pub fn validate(&self) -> Result<()> {
        if self.max_clicks == 0 {
            return Err(Error::invalid(
                "interactive",
                "max_clicks must be at least 1",
            ));
        }
        self.crop.map_or(Ok(()), crate::data::augment::check_crop)
    }
}

impl Default for InteractiveSettings {
    fn default() -> Self {
        InteractiveSettings {
            guidance: Guidance::Distance,
            arch: "resnet-tiny".into(),
            output_stride: 8,
            head: SegHeadKind::Aspp,
            list: "train".into(),
            eval_list: "val".into(),
            epochs: 10,
            batch_size: 16,
            lr: 0.05,
            weight_decay: 1e-4,
            seed: 2,
            pretrained: None,
            scale: None,
            margin: 2.0,
            band: 10.0,
            max_clicks: 10,
            crop: None,
        }
    }
}

impl InteractiveSettings {
    /// The map scale in force: the setting, or the guidance's default.
    pub fn map_scale(&self) -> f32 {
        self.scale.unwrap_or(match self.guidance {
            Guidance::Distance => 32.0,
            _ => 3.0,
        })
    }
}

/// Every annotated object of a list: (record, class, inclusive box).
struct Objects {
    ds: VocDataset,
    objects: Vec<(usize, u8, [usize; 4])>,
    seed: u64,
    flip: bool,
    crop: Option<usize>,
}

impl Objects {
    fn open(
        data: &Path,
        list: &str,
        seed: u64,
        flip: bool,
        crop: Option<usize>,
    ) -> Result<Objects> {
        let ds = VocDataset::open(data, &VocOptions::split(list))?;
        let mut objects = Vec::new();
        for (i, r) in ds.records.iter().enumerate() {
            if r.mask.is_none() {
                return Err(Error::invalid(
                    "interactive",
                    format!(
                        "image {} has no ground-truth mask to take objects from",
                        r.id
                    ),
                ));
            }
            for b in &r.boxes {
                let bx = [b.xmin, b.ymin, b.xmax, b.ymax].map(|v| v as usize);
                objects.push((i, b.class, bx));
            }
        }
        if objects.is_empty() {
            return Err(Error::invalid(
                "interactive",
                format!("no annotated boxes in list `{list}`"),
            ));
        }
        Ok(Objects {
            ds,
            objects,
            seed,
            flip,
            crop,
        })
    }

    /// The image of object `o` and its mask: 1 on the object, 0 elsewhere,
    /// 255 where the ground truth is void; flipped when `flip`.
    fn object(&self, o: usize, flip: bool) -> Result<Sample> {
        let (i, class, [x0, y0, x1, y1]) = self.objects[o];
        let mut s = self.ds.sample(i, 0)?;
        let (h, w) = (s.height, s.width);
        let gt = s
            .mask
            .take()
            .ok_or_else(|| Error::invalid("interactive", "a sample without its mask"))?;
        let mut mask: Vec<u32> = (0..h * w)
            .map(|p| {
                let (y, x) = (p / w, p % w);
                match gt[p] {
                    v if v == IGNORE as u32 => v,
                    v => {
                        (v == class as u32 && (x0..=x1).contains(&x) && (y0..=y1).contains(&y))
                            as u32
                    }
                }
            })
            .collect();
        let w = match self.crop {
            Some(side) => {
                let centre = ((x0 + x1) / 2, (y0 + y1) / 2);
                (s.image, mask) = window(&s.image, &mask, (w, h), centre, side);
                (s.height, s.width) = (side, side);
                side
            }
            None => w,
        };
        if flip {
            s.image.chunks_mut(w).for_each(<[f32]>::reverse);
            mask.chunks_mut(w).for_each(<[u32]>::reverse);
        }
        s.mask = Some(mask);
        Ok(s)
    }
}

impl Dataset for Objects {
    fn len(&self) -> usize {
        self.objects.len()
    }

    /// Object `index`, flipped on a coin drawn from `seed`.
    fn sample(&self, index: usize, seed: u64) -> Result<Sample> {
        let flip = self.flip && mix_seed(seed ^ self.seed, index as u64) & 1 == 1;
        self.object(index, flip)
    }
}

/// The side×side window of a CHW image and its mask centred on `centre`
/// (x, y) and kept inside the image where the image is larger; what lies
/// outside the image is zero (the normalised mean) and void.
fn window(
    image: &[f32],
    mask: &[u32],
    (w, h): (usize, usize),
    (cx, cy): (usize, usize),
    side: usize,
) -> (Vec<f32>, Vec<u32>) {
    let start = |c: usize, len: usize| -> isize {
        let s = c as isize - side as isize / 2;
        if len >= side {
            s.clamp(0, (len - side) as isize)
        } else {
            (len as isize - side as isize) / 2
        }
    };
    let (left, top) = (start(cx, w), start(cy, h));
    let inside = |i: usize| {
        let (x, y) = (left + (i % side) as isize, top + (i / side) as isize);
        (x >= 0 && y >= 0 && (x as usize) < w && (y as usize) < h)
            .then(|| y as usize * w + x as usize)
    };
    let cut: Vec<u32> = (0..side * side)
        .map(|i| inside(i).map_or(IGNORE as u32, |p| mask[p]))
        .collect();
    let planes = (0..3)
        .flat_map(|c| (0..side * side).map(move |i| (c, i)))
        .map(|(c, i)| inside(i).map_or(0.0, |p| image[c * w * h + p]))
        .collect();
    (planes, cut)
}

/// Object pixels of a 0/1/255 mask.
fn object_pixels(mask: &[u32]) -> Vec<bool> {
    mask.iter().map(|&v| v == 1).collect()
}

/// The guidance a simulated user gives for a training object: random
/// clicks, or the extreme points jittered by up to a pixel (DEXTR's
/// training noise).
fn training_input(
    s: &InteractiveSettings,
    gt: &[bool],
    size: (usize, usize),
    rng: &mut SmallRng,
) -> Vec<Click> {
    use rand::Rng;
    match s.guidance {
        Guidance::Extreme => extreme_points(gt, size)
            .map(|pts| {
                pts.iter()
                    .map(|c| Click {
                        y: (c.y + rng.random_range(0..=2))
                            .saturating_sub(1)
                            .min(size.1 - 1),
                        x: (c.x + rng.random_range(0..=2))
                            .saturating_sub(1)
                            .min(size.0 - 1),
                        positive: true,
                    })
                    .collect()
            })
            .unwrap_or_default(),
        _ => training_clicks(gt, size, s.margin, s.band, rng),
    }
}

/// Trains the interactive network of `s` on the objects of `s.list`.
pub fn train(
    gpu: &Gpu,
    data: &Path,
    out: &Path,
    s: &InteractiveSettings,
    reporter: &mut dyn Reporter,
) -> Result<Manifest> {
    let list = list_path(data, &s.list);
    let mut inputs = vec![Input::data(data, &list)];
    inputs.extend(s.pretrained.as_deref().map(Input::file));
    let mut stage = Stage::new("interactive-train", out, s, &inputs)?;
    if let Some(m) = stage.done()? {
        return Ok(m);
    }
    let t = Instant::now();
    let objects = Objects::open(data, &s.list, s.seed, true, s.crop)?;
    let arch = ArchSpec::new(&s.arch, s.output_stride);
    let net = InteractiveNet::new(
        &mut Builder::new(gpu, s.seed),
        &arch,
        s.head,
        s.guidance.channels(),
    )?;
    let recipe = match &s.pretrained {
        Some(p) => {
            crate::io::checkpoint::load_backbone(&net.seg, p)?;
            GroupRecipe::PSA
        }
        None => GroupRecipe::UNIFORM,
    };
    let mut opt = recipe.sgd(&net, InteractiveNet::is_new, s.lr, s.weight_decay)?;
    let cfg = stage.train_config(s.epochs, s.batch_size, s.lr, s.seed);
    let sidecar = Sidecar::with_settings(Some(arch), Some(2), s, "interactive-train")?;
    let scale = s.map_scale();
    let mut step = 0u64;
    let summary = fit(
        gpu,
        &cfg,
        &net,
        &mut opt,
        &objects,
        &sidecar,
        reporter,
        |b| {
            let (h, w) = (b.images.shape()[2], b.images.shape()[3]);
            let host = b
                .host_masks
                .as_ref()
                .ok_or_else(|| Error::invalid("interactive-train", "a batch without masks"))?;
            let mask = b
                .masks
                .as_ref()
                .ok_or_else(|| Error::invalid("interactive-train", "a batch without masks"))?;
            step += 1;
            let input: Vec<Vec<Click>> = host
                .chunks(h * w)
                .zip(&b.indices)
                .map(|(m, &i)| {
                    let mut rng = SmallRng::seed_from_u64(mix_seed(s.seed ^ step, i as u64));
                    training_input(s, &object_pixels(m), (w, h), &mut rng)
                })
                .collect();
            let maps = clicks::encode(gpu, &input, s.guidance, (h, w), scale)?;
            let logits = net.forward(&b.images, &maps)?;
            // DEXTR's class balance: each label weighted by the other's share.
            let fg = host.iter().filter(|&&v| v == 1).count() as f32;
            let bg = host.iter().filter(|&&v| v == 0).count() as f32;
            let total = (fg + bg).max(1.0);
            let weights = Tensor::from_slice(gpu, &[fg / total, bg / total], &[2])?;
            logits.cross_entropy(mask, Some(&weights), 255)
        },
    )?;
    net.set_train(false);
    checkpoint::save(&out.join(CHECKPOINT), &net, &sidecar, SaveDtype::F32)?;
    stage.finish(
        t.elapsed().as_secs_f64(),
        vec![CHECKPOINT.into(), "interactive.json".into()],
        StageResults {
            epoch_losses: Some(summary.epoch_losses),
            objects: Some(objects.len()),
            ..StageResults::default()
        },
    )
}

/// IoU of two object masks over the pixels `valid` (not void); 1 when
/// both are empty.
fn iou(pred: &[bool], gt: &[bool], valid: &[bool]) -> f64 {
    let (mut inter, mut union) = (0u64, 0u64);
    for ((&p, &g), &v) in pred.iter().zip(gt).zip(valid) {
        if v {
            inter += (p && g) as u64;
            union += (p || g) as u64;
        }
    }
    if union == 0 {
        1.0
    } else {
        inter as f64 / union as f64
    }
}

/// Objects evaluated per forward pass at most.
const EVAL_CHUNK: usize = 32;

/// Evaluates the network at `checkpoint` (trained with `s`) on the objects
/// of `s.eval_list` with a simulated user; writes each object's final
/// mask as `pred/ID-k.png` (k its box's index) and returns, in the
/// manifest's results, `iou_at` (mean IoU after 1, 2, … clicks), `noc85`,
/// `noc90` and `objects`.
pub fn evaluate(
    gpu: &Gpu,
    data: &Path,
    checkpoint_path: &Path,
    out: &Path,
    s: &InteractiveSettings,
    mut progress: impl FnMut(usize, usize),
) -> Result<Manifest> {
    s.validate()?;
    let list = list_path(data, &s.eval_list);
    let inputs = [Input::data(data, &list), Input::file(checkpoint_path)];
    let mut stage = Stage::new("interactive-eval", out, s, &inputs)?;
    if let Some(m) = stage.done()? {
        return Ok(m);
    }
    let t = Instant::now();
    let objects = Objects::open(data, &s.eval_list, s.seed, false, None)?;
    let arch = ArchSpec::new(&s.arch, s.output_stride);
    let net = InteractiveNet::new(
        &mut Builder::new(gpu, 0),
        &arch,
        s.head,
        s.guidance.channels(),
    )?;
    checkpoint::load(checkpoint_path, &net)?;
    net.set_train(false);
    let rounds = if s.guidance.is_iterative() {
        s.max_clicks
    } else {
        1
    };
    let samples: Vec<Sample> = (0..objects.len())
        .map(|o| objects.object(o, false))
        .collect::<Result<_>>()?;
    let truth: Vec<(Vec<bool>, Vec<bool>)> = samples
        .iter()
        .map(|smp| {
            let m = smp.mask.as_deref().unwrap_or(&[]);
            (object_pixels(m), m.iter().map(|&v| v != 255).collect())
        })
        .collect();
    let mut input: Vec<Vec<Click>> = samples
        .iter()
        .zip(&truth)
        .map(|(smp, (gt, _))| {
            let size = (smp.width, smp.height);
            match s.guidance {
                Guidance::Extreme => extreme_points(gt, size).map(Vec::from),
                _ => first_click(gt, size).map(|c| vec![c]),
            }
            .unwrap_or_default()
        })
        .collect();
    let mut preds: Vec<Vec<bool>> = vec![Vec::new(); samples.len()];
    let mut iou_at = Vec::with_capacity(rounds);
    let mut reached = [vec![None; samples.len()], vec![None; samples.len()]];
    for round in 0..rounds {
        let mut end = 0;
        while end < samples.len() {
            // A chunk holds up to EVAL_CHUNK consecutive objects of one
            // image size (images of varied sizes do not batch).
            let start = end;
            let dims = |o: usize| (samples[o].height, samples[o].width);
            end = (start..samples.len())
                .take(EVAL_CHUNK)
                .take_while(|&o| dims(o) == dims(start))
                .count()
                + start;
            let batch = crate::data::collate(gpu, &samples[start..end], (start..end).collect())?;
            let (h, w) = (batch.images.shape()[2], batch.images.shape()[3]);
            let maps = clicks::encode(gpu, &input[start..end], s.guidance, (h, w), s.map_scale())?;
            let labels: Vec<u32> =
                no_grad(|| net.forward(&batch.images, &maps)?.argmax(1))?.to_vec_blocking()?;
            for (k, p) in labels.chunks(h * w).enumerate() {
                preds[start + k] = p.iter().map(|&v| v == 1).collect();
            }
        }
        let mut mean = 0.0;
        for (o, ((gt, valid), pred)) in truth.iter().zip(&preds).enumerate() {
            let v = iou(pred, gt, valid);
            mean += v / samples.len() as f64;
            for (r, threshold) in reached.iter_mut().zip([0.85, 0.90]) {
                if r[o].is_none() && v >= threshold {
                    r[o] = Some(round + 1);
                }
            }
            if round + 1 < rounds {
                let size = (samples[o].width, samples[o].height);
                input[o].extend(next_click(pred, gt, size));
            }
        }
        iou_at.push(mean);
        progress(round + 1, rounds);
    }
    let mut outputs = Vec::with_capacity(samples.len());
    let mut per_record = std::collections::HashMap::new();
    for (o, pred) in preds.iter().enumerate() {
        let (i, _, _) = objects.objects[o];
        let k = per_record.entry(i).or_insert(0usize);
        let map = LabelMap {
            width: samples[o].width,
            height: samples[o].height,
            data: pred.iter().map(|&p| p as u8).collect(),
        };
        let id = &objects.ds.records[i].id;
        outputs.push(stage.write_labels(format!("pred/{id}-{k}.png"), &map)?);
        *k += 1;
    }
    let noc = |r: &[Option<usize>]| clicks_to_reach(r, rounds);
    stage.finish(
        t.elapsed().as_secs_f64(),
        outputs,
        StageResults {
            iou_at: Some(iou_at),
            noc85: Some(noc(&reached[0])),
            noc90: Some(noc(&reached[1])),
            objects: Some(samples.len()),
            ..StageResults::default()
        },
    )
}

/// NoC: the mean over objects of the clicks each needed to reach an IoU
/// threshold (`reached`, 1-based), an object that never did counting the
/// `rounds` it was given (the usual cap of NoC@85 / NoC@90).
pub fn clicks_to_reach(reached: &[Option<usize>], rounds: usize) -> f64 {
    reached
        .iter()
        .map(|v| v.unwrap_or(rounds) as f64)
        .sum::<f64>()
        / reached.len() as f64
}

/// One guidance's evaluation, for the comparison table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InteractiveRow {
    /// The guidance.
    pub guidance: Guidance,
    /// Mean IoU after 1, 2, … clicks (one entry for extreme points).
    pub iou_at: Vec<f64>,
    /// Mean clicks to reach 85 % IoU, capped at the click budget.
    pub noc85: f64,
    /// Mean clicks to reach 90 % IoU, capped at the click budget.
    pub noc90: f64,
    /// Objects evaluated.
    pub objects: usize,
}

/// Trains and evaluates `base` under each of `guidances` in
/// `out/<guidance>/{train,eval}` and writes `out/interactive.md` and
/// `out/interactive.json`.
pub fn compare(
    gpu: &Gpu,
    data: &Path,
    out: &Path,
    base: &InteractiveSettings,
    guidances: &[Guidance],
    reporter: &mut dyn Reporter,
    mut progress: impl FnMut(usize, usize),
) -> Result<Vec<InteractiveRow>> {
    if guidances.is_empty() {
        return Err(Error::invalid("interactive", "no guidance to compare"));
    }
    // Checked before any network trains, not after.
    base.validate()?;
    let mut rows = Vec::new();
    for &guidance in guidances {
        let s = InteractiveSettings {
            guidance,
            ..base.clone()
        };
        let dir = out.join(guidance.name());
        train(gpu, data, &dir.join("train"), &s, reporter)?;
        let m = evaluate(
            gpu,
            data,
            &dir.join("train").join(CHECKPOINT),
            &dir.join("eval"),
            &s,
            &mut progress,
        )?;
        let r = m.results;
        rows.push(InteractiveRow {
            guidance,
            iou_at: r.iou_at.unwrap_or_default(),
            noc85: r.noc85.unwrap_or(f64::NAN),
            noc90: r.noc90.unwrap_or(f64::NAN),
            objects: r.objects.unwrap_or(0),
        });
    }
    let json = serde_json::to_vec_pretty(&rows)
        .map_err(|e| Error::format("interactive", e.to_string()))?;
    crate::io::write_atomic(&out.join("interactive.json"), &json)?;
    crate::io::write_atomic(&out.join("interactive.md"), markdown(&rows).as_bytes())?;
    Ok(rows)
}

/// The comparison as a Markdown table: mean IoU (%) after 1, 2, 3, 5 and
/// 10 clicks, and NoC@85 / NoC@90. Extreme points give one IoU.
pub fn markdown(rows: &[InteractiveRow]) -> String {
    let at = [1usize, 2, 3, 5, 10];
    let mut s = String::from("| guidance | objects |");
    for k in at {
        s += &format!(" IoU@{k} |");
    }
    s += " NoC@85 | NoC@90 |\n|---|---|";
    s += &"---|".repeat(at.len() + 2);
    s += "\n";
    for r in rows {
        s += &format!("| {} | {} |", r.guidance.name(), r.objects);
        for k in at {
            s += &match r.iou_at.get(k - 1) {
                Some(v) => format!(" {:.1} |", 100.0 * v),
                None => " — |".into(),
            };
        }
        if r.guidance.is_iterative() {
            s += &format!(" {:.2} | {:.2} |\n", r.noc85, r.noc90);
        } else {
            s += " — | — |\n";
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::window;

    /// Three planes of `w`×`h` valued 100·c + pixel index, and the mask of
    /// pixel indices.
    fn image(w: usize, h: usize) -> (Vec<f32>, Vec<u32>) {
        let planes = (0..3)
            .flat_map(|c| (0..w * h).map(move |p| (100 * c + p) as f32))
            .collect();
        (planes, (0..(w * h) as u32).collect())
    }

    #[test]
    fn windows_stay_inside_larger_images_and_pad_smaller_ones() {
        // 6×5, centre (5, 4), side 3: pushed back inside to columns 3–5
        // and rows 2–4.
        let (img, mask) = image(6, 5);
        let (x, m) = window(&img, &mask, (6, 5), (5, 4), 3);
        assert_eq!(m, [15, 16, 17, 21, 22, 23, 27, 28, 29]);
        assert_eq!(x[9..12], [115.0, 116.0, 117.0]);
        // 4×3, side 4: columns 0–3; the short side centred, (3 − 4)/2 = 0,
        // so one void row below, with zero pixels.
        let (img, mask) = image(4, 3);
        let (x, m) = window(&img, &mask, (4, 3), (3, 1), 4);
        assert_eq!(m[..12], (0..12).collect::<Vec<u32>>()[..]);
        assert_eq!(m[12..], [255; 4]);
        assert_eq!(x[16 + 12..32], [0.0; 4]);
        assert_eq!(x[32 + 5], 205.0);
    }
}
