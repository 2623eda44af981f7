//! Joint augmentation: one random draw moves the image, its mask, its CAM,
//! its points, scribbles and boxes together, so they stay aligned. Random
//! rescale of the long side, horizontal flip, random crop with padding
//! (image 0, label 255, CAM 0), colour jitter; then ImageNet normalisation
//! happens when the sample is made (see [`crate::data::voc`]).
//!
//! Coordinates are pixel indices (x right, y down); a pixel's centre is at
//! index + 0.5 when scaling.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::data::annotations::BoxLabel;
use crate::io::image::Rgb;
use crate::io::labels::{IGNORE, LabelMap};

/// A class activation map travelling with an image: `channels` planes of
/// the image's size.
#[derive(Clone, Debug, PartialEq)]
pub struct Cam {
    /// Number of planes.
    pub channels: usize,
    /// `channels·height·width` values.
    pub data: Vec<f32>,
}

/// Everything aligned with one image.
#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    /// The picture.
    pub rgb: Rgb,
    /// Pixel labels (255 = void).
    pub mask: Option<LabelMap>,
    /// Class activation maps.
    pub cam: Option<Cam>,
    /// Points [x, y].
    pub points: Vec<[f32; 2]>,
    /// Scribble polylines.
    pub scribbles: Vec<Vec<[f32; 2]>>,
    /// Boxes.
    pub boxes: Vec<BoxLabel>,
}

/// Colour jitter strengths, as torchvision's ColorJitter (factors drawn in
/// [1 − s, 1 + s]; hue shift in [−hue, hue] of a turn).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Jitter {
    /// Brightness strength.
    pub brightness: f32,
    /// Contrast strength.
    pub contrast: f32,
    /// Saturation strength.
    pub saturation: f32,
    /// Hue strength (≤ 0.5).
    pub hue: f32,
}

/// psa's colour jitter (`transforms.ColorJitter(0.3, 0.3, 0.3, 0.1)`).
pub const PSA_JITTER: Jitter = Jitter {
    brightness: 0.3,
    contrast: 0.3,
    saturation: 0.3,
    hue: 0.1,
};

/// The augmentation recipe. `Default` is the identity.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Augment {
    /// Rescale so the long side is a random length in this range (pixels).
    pub long_side: Option<(usize, usize)>,
    /// Rescale by a random factor in this range (IRN's 0.5–1.5).
    pub scale: Option<(f32, f32)>,
    /// Flip horizontally with probability 1/2.
    pub hflip: bool,
    /// Colour jitter.
    pub jitter: Option<Jitter>,
    /// Random square crop of this side, padding smaller images.
    pub crop: Option<usize>,
}

impl Augment {
    /// psa's classifier recipe scaled to an image side `side`: long side in
    /// [0.9, 1.5]·side, flip, jitter 0.3/0.3/0.3/0.1, crop `side`.
    pub fn psa(side: usize) -> Augment {
        Augment {
            long_side: Some(((side * 9) / 10, (side * 3) / 2)),
            hflip: true,
            jitter: Some(PSA_JITTER),
            crop: Some(side),
            ..Augment::default()
        }
    }

    /// Applies the recipe with the randomness of `seed`.
    pub fn apply(&self, mut it: Item, seed: u64) -> Item {
        let mut rng = SmallRng::seed_from_u64(seed);
        if let Some((lo, hi)) = self.long_side {
            let target = rng.random_range(lo.min(hi)..=hi.max(lo)).max(1);
            let long = it.rgb.width.max(it.rgb.height);
            let f = target as f32 / long as f32;
            let w = ((it.rgb.width as f32 * f).round() as usize).max(1);
            let h = ((it.rgb.height as f32 * f).round() as usize).max(1);
            it = rescale(it, w, h);
        }
        if let Some((lo, hi)) = self.scale {
            let f = if hi > lo {
                rng.random_range(lo..=hi)
            } else {
                lo
            };
            let w = ((it.rgb.width as f32 * f).round() as usize).max(1);
            let h = ((it.rgb.height as f32 * f).round() as usize).max(1);
            it = rescale(it, w, h);
        }
        if self.hflip && rng.random_bool(0.5) {
            it = flip(it);
        }
        if let Some(j) = self.jitter {
            jitter(&mut it.rgb, &j, &mut rng);
        }
        if let Some(side) = self.crop {
            let (w, h) = (it.rgb.width, it.rgb.height);
            let x0 = rng.random_range(0..=w.saturating_sub(side)) as isize;
            let y0 = rng.random_range(0..=h.saturating_sub(side)) as isize;
            let px = rng.random_range(0..=side.saturating_sub(w)) as isize;
            let py = rng.random_range(0..=side.saturating_sub(h)) as isize;
            it = crop(it, x0 - px, y0 - py, side, side);
        }
        it
    }
}

/// A training stage's fixed-size crop, so that images of any size batch
/// together as the reference trainers do: psa's AffinityNet (crop 448,
/// flip, colour jitter, `train_aff.py:45–56`), IRN's boundary branch
/// (rescale 0.5–1.5, crop 512, flip, `step/train_irn.py:17–25`), DeepLab
/// (rescale 0.5–1.5, crop 321).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Crop {
    /// Side of the square crop; smaller images are padded (image 0,
    /// label 255).
    pub side: usize,
    /// Rescale by a random factor in [lo, hi] first ([1, 1]: none).
    pub scale: [f32; 2],
    /// psa's colour jitter (0.3, 0.3, 0.3, 0.1).
    pub jitter: bool,
}

impl Default for Crop {
    /// psa's AffinityNet recipe: 448, no rescale, jitter.
    fn default() -> Self {
        Crop {
            side: 448,
            scale: [1.0, 1.0],
            jitter: true,
        }
    }
}

/// The longest crop side a training stage accepts: a batch of 16 crops of
/// this side is already 3 GiB of input alone.
pub const MAX_CROP: usize = 4096;

/// Refuses a crop side of 0 or above [`MAX_CROP`], naming it, before any
/// memory is asked for.
pub fn check_crop(side: usize) -> weakseg_kernels::Result<()> {
    if side == 0 || side > MAX_CROP {
        return Err(weakseg_kernels::Error::invalid(
            "crop",
            format!("side {side}: want 1–{MAX_CROP} pixels"),
        ));
    }
    Ok(())
}

impl Crop {
    /// The augmentation: rescale, flip, jitter, crop; the side and scales
    /// checked.
    pub fn augment(&self) -> weakseg_kernels::Result<Augment> {
        check_crop(self.side)?;
        let [lo, hi] = self.scale;
        if !(lo > 0.0 && lo <= hi && hi.is_finite()) {
            return Err(weakseg_kernels::Error::invalid(
                "crop",
                format!(
                    "side {} and scale [{lo}, {hi}]: want a positive side and 0 < lo ≤ hi",
                    self.side
                ),
            ));
        }
        Ok(Augment {
            scale: (lo != 1.0 || hi != 1.0).then_some((lo, hi)),
            hflip: true,
            jitter: self.jitter.then_some(PSA_JITTER),
            crop: Some(self.side),
            ..Augment::default()
        })
    }
}

fn bilinear(src: &[f32], w: usize, h: usize, x: f32, y: f32) -> f32 {
    let x = (x - 0.5).clamp(0.0, (w - 1) as f32);
    let y = (y - 0.5).clamp(0.0, (h - 1) as f32);
    let (x0, y0) = (x.floor() as usize, y.floor() as usize);
    let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
    let (fx, fy) = (x - x0 as f32, y - y0 as f32);
    let v = |xx: usize, yy: usize| src[yy * w + xx];
    (v(x0, y0) * (1.0 - fx) + v(x1, y0) * fx) * (1.0 - fy)
        + (v(x0, y1) * (1.0 - fx) + v(x1, y1) * fx) * fy
}

/// Resizes to w×h: bilinear for the image and CAM, nearest for the mask.
pub fn rescale(it: Item, w: usize, h: usize) -> Item {
    let (sw, sh) = (it.rgb.width, it.rgb.height);
    let (fx, fy) = (w as f32 / sw as f32, h as f32 / sh as f32);
    let src_x = |x: usize| (x as f32 + 0.5) / fx;
    let src_y = |y: usize| (y as f32 + 0.5) / fy;
    let planes: Vec<Vec<f32>> = (0..3)
        .map(|c| {
            it.rgb
                .data
                .iter()
                .skip(c)
                .step_by(3)
                .map(|&v| v as f32)
                .collect()
        })
        .collect();
    let mut data = vec![0u8; w * h * 3];
    for y in 0..h {
        for x in 0..w {
            for (c, p) in planes.iter().enumerate() {
                data[(y * w + x) * 3 + c] = bilinear(p, sw, sh, src_x(x), src_y(y)).round() as u8;
            }
        }
    }
    let nearest = |x: usize, y: usize| {
        let sx = (src_x(x) as usize).min(sw - 1);
        let sy = (src_y(y) as usize).min(sh - 1);
        sy * sw + sx
    };
    let mask = it.mask.map(|m| LabelMap {
        width: w,
        height: h,
        data: (0..w * h).map(|i| m.data[nearest(i % w, i / w)]).collect(),
    });
    let cam = it.cam.map(|c| Cam {
        channels: c.channels,
        data: (0..c.channels)
            .flat_map(|k| {
                let plane = &c.data[k * sw * sh..(k + 1) * sw * sh];
                (0..w * h)
                    .map(|i| bilinear(plane, sw, sh, src_x(i % w), src_y(i / w)))
                    .collect::<Vec<_>>()
            })
            .collect(),
    });
    let pt = |p: [f32; 2]| {
        [
            ((p[0] + 0.5) * fx - 0.5).clamp(0.0, (w - 1) as f32),
            ((p[1] + 0.5) * fy - 0.5).clamp(0.0, (h - 1) as f32),
        ]
    };
    let scale_edge = |v: u32, f: f32, lim: usize, end: bool| -> u32 {
        let e = if end {
            (v + 1) as f32 * f - 1.0
        } else {
            v as f32 * f
        };
        (e.round().max(0.0) as u32).min(lim as u32 - 1)
    };
    Item {
        rgb: Rgb {
            width: w,
            height: h,
            data,
        },
        mask,
        cam,
        points: it.points.into_iter().map(pt).collect(),
        scribbles: it
            .scribbles
            .into_iter()
            .map(|s| s.into_iter().map(pt).collect())
            .collect(),
        boxes: it
            .boxes
            .into_iter()
            .map(|b| BoxLabel {
                class: b.class,
                xmin: scale_edge(b.xmin, fx, w, false),
                ymin: scale_edge(b.ymin, fy, h, false),
                xmax: scale_edge(b.xmax, fx, w, true).max(scale_edge(b.xmin, fx, w, false)),
                ymax: scale_edge(b.ymax, fy, h, true).max(scale_edge(b.ymin, fy, h, false)),
            })
            .collect(),
    }
}

/// Mirrors left–right.
pub fn flip(it: Item) -> Item {
    let (w, h) = (it.rgb.width, it.rgb.height);
    let mirror = |x: usize, y: usize| y * w + (w - 1 - x);
    let mut data = vec![0u8; w * h * 3];
    for y in 0..h {
        for x in 0..w {
            let s = mirror(x, y) * 3;
            data[(y * w + x) * 3..(y * w + x) * 3 + 3].copy_from_slice(&it.rgb.data[s..s + 3]);
        }
    }
    let pt = |p: [f32; 2]| [(w - 1) as f32 - p[0], p[1]];
    Item {
        rgb: Rgb {
            width: w,
            height: h,
            data,
        },
        mask: it.mask.map(|m| LabelMap {
            width: w,
            height: h,
            data: (0..w * h).map(|i| m.data[mirror(i % w, i / w)]).collect(),
        }),
        cam: it.cam.map(|c| Cam {
            channels: c.channels,
            data: (0..c.channels * w * h)
                .map(|i| {
                    let (k, p) = (i / (w * h), i % (w * h));
                    c.data[k * w * h + mirror(p % w, p / w)]
                })
                .collect(),
        }),
        points: it.points.into_iter().map(pt).collect(),
        scribbles: it
            .scribbles
            .into_iter()
            .map(|s| s.into_iter().map(pt).collect())
            .collect(),
        boxes: it
            .boxes
            .into_iter()
            .map(|b| BoxLabel {
                xmin: w as u32 - 1 - b.xmax,
                xmax: w as u32 - 1 - b.xmin,
                ..b
            })
            .collect(),
    }
}

/// The w×h window at (x0, y0), which may reach outside the image: outside
/// is image 0, label 255, CAM 0. Points outside are dropped, scribble
/// vertices outside removed, boxes clipped (and dropped when nothing is left).
pub fn crop(it: Item, x0: isize, y0: isize, w: usize, h: usize) -> Item {
    let (sw, sh) = (it.rgb.width as isize, it.rgb.height as isize);
    let src = |x: usize, y: usize| -> Option<usize> {
        let (sx, sy) = (x as isize + x0, y as isize + y0);
        (sx >= 0 && sy >= 0 && sx < sw && sy < sh).then(|| (sy * sw + sx) as usize)
    };
    let mut data = vec![0u8; w * h * 3];
    for i in 0..w * h {
        if let Some(s) = src(i % w, i / w) {
            data[i * 3..i * 3 + 3].copy_from_slice(&it.rgb.data[s * 3..s * 3 + 3]);
        }
    }
    let inside = |p: &[f32; 2]| {
        p[0] >= 0.0 && p[1] >= 0.0 && p[0] <= (w - 1) as f32 && p[1] <= (h - 1) as f32
    };
    let shift = |p: [f32; 2]| [p[0] - x0 as f32, p[1] - y0 as f32];
    let plane = (sw * sh) as usize;
    Item {
        rgb: Rgb {
            width: w,
            height: h,
            data,
        },
        mask: it.mask.map(|m| LabelMap {
            width: w,
            height: h,
            data: (0..w * h)
                .map(|i| src(i % w, i / w).map_or(IGNORE, |s| m.data[s]))
                .collect(),
        }),
        cam: it.cam.map(|c| Cam {
            channels: c.channels,
            data: (0..c.channels * w * h)
                .map(|i| {
                    let (k, p) = (i / (w * h), i % (w * h));
                    src(p % w, p / w).map_or(0.0, |s| c.data[k * plane + s])
                })
                .collect(),
        }),
        points: it.points.into_iter().map(shift).filter(inside).collect(),
        scribbles: it
            .scribbles
            .into_iter()
            .map(|s| s.into_iter().map(shift).filter(inside).collect::<Vec<_>>())
            .filter(|s| !s.is_empty())
            .collect(),
        boxes: it
            .boxes
            .into_iter()
            .filter_map(|b| {
                let (bx0, by0) = (b.xmin as isize - x0, b.ymin as isize - y0);
                let (bx1, by1) = (b.xmax as isize - x0, b.ymax as isize - y0);
                let (cx0, cy0) = (bx0.max(0), by0.max(0));
                let (cx1, cy1) = (bx1.min(w as isize - 1), by1.min(h as isize - 1));
                (cx0 <= cx1 && cy0 <= cy1).then_some(BoxLabel {
                    class: b.class,
                    xmin: cx0 as u32,
                    ymin: cy0 as u32,
                    xmax: cx1 as u32,
                    ymax: cy1 as u32,
                })
            })
            .collect(),
    }
}

/// Brightness, contrast, saturation and hue jitter, in a random order of
/// the first three as torchvision does.
fn jitter(img: &mut Rgb, j: &Jitter, rng: &mut SmallRng) {
    let mut factor = |s: f32| {
        if s > 0.0 {
            rng.random_range(1.0 - s..1.0 + s)
        } else {
            1.0
        }
    };
    let (b, c, s) = (
        factor(j.brightness),
        factor(j.contrast),
        factor(j.saturation),
    );
    let hue = if j.hue > 0.0 {
        rng.random_range(-j.hue..j.hue)
    } else {
        0.0
    };
    let mut px: Vec<[f32; 3]> = img
        .data
        .chunks_exact(3)
        .map(|p| [p[0] as f32, p[1] as f32, p[2] as f32])
        .collect();
    let grey = |p: &[f32; 3]| 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2];
    let mean = px.iter().map(grey).sum::<f32>() / px.len().max(1) as f32;
    let mut order = [0usize, 1, 2];
    for i in (1..3).rev() {
        order.swap(i, rng.random_range(0..=i));
    }
    for op in order {
        for p in px.iter_mut() {
            let g = grey(p);
            *p = match op {
                0 => p.map(|v| v * b),
                1 => p.map(|v| (v - mean) * c + mean),
                _ => p.map(|v| (v - g) * s + g),
            };
        }
    }
    if hue != 0.0 {
        let (sin, cos) = (hue * std::f32::consts::TAU).sin_cos();
        for p in px.iter_mut() {
            let y = 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2];
            let i = 0.596 * p[0] - 0.274 * p[1] - 0.322 * p[2];
            let q = 0.211 * p[0] - 0.523 * p[1] + 0.312 * p[2];
            let (i2, q2) = (i * cos - q * sin, i * sin + q * cos);
            *p = [
                y + 0.956 * i2 + 0.621 * q2,
                y - 0.272 * i2 - 0.647 * q2,
                y - 1.106 * i2 + 1.703 * q2,
            ];
        }
    }
    for (d, p) in img.data.chunks_exact_mut(3).zip(&px) {
        for c in 0..3 {
            d[c] = p[c].clamp(0.0, 255.0).round() as u8;
        }
    }
}
