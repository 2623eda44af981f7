//! What the scenes benchmark is, measured on the generated scenes: image
//! shapes, object scale, count and layout, class co-occurrence, how often
//! each class is seen in its context, the share of boundaries colour cannot
//! see, and the thin and detached parts. `weakseg synth --stats` prints
//! these and writes them to `stats.json`, beside the measurements that need
//! a device (the dense CRF from eroded ground truth, the body-only
//! classifier).

use serde::Serialize;

use super::scenes::{Appendage, CONTEXTS, ClassLook, NOISE_SIGMA, Scene};

/// Smallest, 10th percentile, median, 90th percentile and largest value.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Quantiles {
    /// Smallest value.
    pub min: f64,
    /// 10th percentile.
    pub p10: f64,
    /// Median.
    pub median: f64,
    /// 90th percentile.
    pub p90: f64,
    /// Largest value.
    pub max: f64,
}

impl Quantiles {
    /// The quantiles of `values` (nearest rank); zeros when empty.
    pub fn of(values: &[f64]) -> Quantiles {
        let mut v = values.to_vec();
        v.sort_by(f64::total_cmp);
        let at = |q: f64| match v.len() {
            0 => 0.0,
            n => v[((q * (n - 1) as f64).round() as usize).min(n - 1)],
        };
        Quantiles {
            min: at(0.0),
            p10: at(0.1),
            median: at(0.5),
            p90: at(0.9),
            max: at(1.0),
        }
    }
}

/// How strongly a class goes with its context.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ContextShare {
    /// Class name index (0-based).
    pub class: usize,
    /// Its context's name.
    pub context: &'static str,
    /// Share of the images containing the class that show its context.
    pub with_class: f64,
    /// Share of the images without the class that show its context.
    pub without_class: f64,
}

/// The measured properties of a set of scenes.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SceneStats {
    /// Scenes measured.
    pub images: usize,
    /// Image widths.
    pub width: Quantiles,
    /// Image heights.
    pub height: Quantiles,
    /// Share of images wider than tall.
    pub landscape: f64,
    /// Share of images whose short side is 3/4 of the long one (±2%).
    pub four_to_three: f64,
    /// Images with 0, 1, 2, … objects.
    pub objects_per_image: Vec<usize>,
    /// Mean number of distinct classes per image.
    pub classes_per_image: f64,
    /// Share of images holding two or more objects of one class.
    pub repeated_instances: f64,
    /// Visible object area as a share of the image.
    pub object_share: Quantiles,
    /// Each image's largest visible object as a share of the image.
    pub largest_object_share: Quantiles,
    /// Each image's labelled foreground as a share of the image.
    pub foreground_share: Quantiles,
    /// Share of objects partly hidden by a later one.
    pub occluded: f64,
    /// Share of objects cut by the image border.
    pub truncated: f64,
    /// Images containing each class.
    pub class_images: Vec<usize>,
    /// Images containing both class i and class j (the diagonal: class i).
    pub cooccurrence: Vec<Vec<usize>>,
    /// Each class's context shares.
    pub context: Vec<ContextShare>,
    /// Share of objects drawn camouflaged.
    pub low_contrast_objects: f64,
    /// The noise of a colour step between two pixels: the RMS Euclidean
    /// distance of two noise draws, σ·√6 in [0, 1] RGB units.
    pub noise_step: f64,
    /// Share of boundary pixel pairs (4-neighbours of different labels)
    /// whose noise-free colour step is below `noise_step`.
    pub boundary_below_noise: f64,
    /// Share of objects with thin appendages.
    pub thin_objects: f64,
    /// Share of objects with a detached piece.
    pub detached_objects: f64,
    /// Share of visible object pixels in appendages.
    pub appendage_pixels: f64,
}

/// Running sums over the scenes.
#[derive(Default)]
struct Tally {
    images: usize,
    widths: Vec<f64>,
    heights: Vec<f64>,
    landscape: usize,
    four_to_three: usize,
    per_image: Vec<usize>,
    classes: usize,
    repeated: usize,
    shares: Vec<f64>,
    largest: Vec<f64>,
    foreground: Vec<f64>,
    objects: usize,
    occluded: usize,
    truncated: usize,
    cooc: Vec<Vec<usize>>,
    context_with: Vec<usize>,
    context_without: Vec<usize>,
    low: usize,
    boundary: usize,
    boundary_low: usize,
    thin: usize,
    detached: usize,
    object_pixels: usize,
    appendage_pixels: usize,
}

/// Share `a`/`b`, 0 when `b` is 0.
fn share(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

impl Tally {
    fn add(&mut self, scene: &Scene, classes: usize) {
        let (w, h) = (scene.image.rgb.width, scene.image.rgb.height);
        self.images += 1;
        self.widths.push(w as f64);
        self.heights.push(h as f64);
        self.landscape += usize::from(w > h);
        let ratio = w.min(h) as f64 / w.max(h) as f64;
        self.four_to_three += usize::from((ratio - 0.75).abs() <= 0.02);
        let count = scene.objects.len();
        if self.per_image.len() <= count {
            self.per_image.resize(count + 1, 0);
        }
        self.per_image[count] += 1;
        let mut present = vec![0usize; classes];
        for o in &scene.objects {
            present[o.class] += 1;
            self.objects += 1;
            self.shares.push(share(o.visible_pixels, w * h));
            self.occluded += usize::from(o.visible_pixels < o.full_pixels);
            self.truncated += usize::from(o.truncated);
            self.low += usize::from(o.low_contrast);
            self.thin += usize::from(o.appendage == Appendage::Thin);
            self.detached += usize::from(o.appendage == Appendage::Detached);
            self.object_pixels += o.visible_pixels;
            self.appendage_pixels += o.appendage_pixels;
        }
        let largest = scene.objects.iter().map(|o| o.visible_pixels).max();
        self.largest.push(share(largest.unwrap_or(0), w * h));
        let label = &scene.image.mask.data;
        let foreground = label.iter().filter(|&&l| l != 0 && l != 255).count();
        self.foreground.push(share(foreground, w * h));
        self.classes += present.iter().filter(|&&c| c > 0).count();
        self.repeated += usize::from(present.iter().any(|&c| c > 1));
        if self.cooc.is_empty() {
            self.cooc = vec![vec![0; classes]; classes];
            self.context_with = vec![0; classes];
            self.context_without = vec![0; classes];
        }
        for i in 0..classes {
            let shown = scene.contexts.contains(&ClassLook::of(i, classes).context);
            if present[i] > 0 {
                self.context_with[i] += usize::from(shown);
                for (cell, &p) in self.cooc[i].iter_mut().zip(&present) {
                    *cell += usize::from(p > 0);
                }
            } else {
                self.context_without[i] += usize::from(shown);
            }
        }
        let limit = NOISE_SIGMA as f64 * 6f64.sqrt();
        let step = |a: usize, b: usize| {
            let (p, q) = (scene.clean[a], scene.clean[b]);
            (0..3)
                .map(|c| ((p[c] - q[c]) as f64).powi(2))
                .sum::<f64>()
                .sqrt()
        };
        for y in 0..h {
            for x in 0..w {
                let i = y * w + x;
                for j in [(x + 1 < w).then_some(i + 1), (y + 1 < h).then_some(i + w)]
                    .into_iter()
                    .flatten()
                {
                    if label[i] != label[j] {
                        self.boundary += 1;
                        self.boundary_low += usize::from(step(i, j) < limit);
                    }
                }
            }
        }
    }

    fn finish(self, classes: usize) -> SceneStats {
        let class_images: Vec<usize> = (0..classes)
            .map(|i| self.cooc.get(i).map_or(0, |row| row[i]))
            .collect();
        SceneStats {
            images: self.images,
            width: Quantiles::of(&self.widths),
            height: Quantiles::of(&self.heights),
            landscape: share(self.landscape, self.images),
            four_to_three: share(self.four_to_three, self.images),
            objects_per_image: self.per_image,
            classes_per_image: share(self.classes, self.images),
            repeated_instances: share(self.repeated, self.images),
            object_share: Quantiles::of(&self.shares),
            largest_object_share: Quantiles::of(&self.largest),
            foreground_share: Quantiles::of(&self.foreground),
            occluded: share(self.occluded, self.objects),
            truncated: share(self.truncated, self.objects),
            context: (0..classes)
                .map(|i| ContextShare {
                    class: i,
                    context: CONTEXTS[ClassLook::of(i, classes).context],
                    with_class: share(
                        self.context_with.get(i).copied().unwrap_or(0),
                        class_images[i],
                    ),
                    without_class: share(
                        self.context_without.get(i).copied().unwrap_or(0),
                        self.images - class_images[i],
                    ),
                })
                .collect(),
            class_images,
            cooccurrence: self.cooc,
            low_contrast_objects: share(self.low, self.objects),
            noise_step: NOISE_SIGMA as f64 * 6f64.sqrt(),
            boundary_below_noise: share(self.boundary_low, self.boundary),
            thin_objects: share(self.thin, self.objects),
            detached_objects: share(self.detached, self.objects),
            appendage_pixels: share(self.appendage_pixels, self.object_pixels),
        }
    }
}

/// Measures `scenes` of a benchmark with `classes` foreground classes.
pub fn measure<'a>(scenes: impl IntoIterator<Item = &'a Scene>, classes: usize) -> SceneStats {
    let mut t = Tally::default();
    for s in scenes {
        t.add(s, classes);
    }
    t.finish(classes)
}
