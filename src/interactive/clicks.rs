//! User input of interactive segmentation and its simulation: clicks
//! (positive on the object, negative off it), DEXTR's four extreme points,
//! their encoding as guidance maps on the GPU (`shaders/clicks.wgsl`), and
//! the click a simulated user makes next (Xu et al.'s protocol: at the
//! point of the largest error region farthest from its boundary).

use rand::Rng;
use serde::{Deserialize, Serialize};
use weakseg_kernels::launch::clicks::{ClickMaps, ClickMode, click_maps};
use weakseg_kernels::{Error, Gpu, Result};

use crate::tensor::{DType, Tensor};

/// One click at pixel (y, x).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Click {
    /// Row.
    pub y: usize,
    /// Column.
    pub x: usize,
    /// On the object (true) or off it.
    pub positive: bool,
}

/// How the user's input reaches the network.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Guidance {
    /// Clicks as two truncated distance maps, positive and negative (Xu et
    /// al., CVPR 2016).
    Distance,
    /// Clicks as two Gaussian maps (Mahadevan et al., BMVC 2018).
    Gaussian,
    /// DEXTR: the object's four extreme points as one Gaussian map.
    Extreme,
}

impl Guidance {
    /// Every guidance.
    pub const ALL: [Guidance; 3] = [Guidance::Distance, Guidance::Gaussian, Guidance::Extreme];

    /// The name used in settings and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Guidance::Distance => "distance",
            Guidance::Gaussian => "gaussian",
            Guidance::Extreme => "extreme",
        }
    }

    /// The guidance called `name`, or an error listing them.
    pub fn parse(name: &str) -> Result<Guidance> {
        Self::ALL
            .into_iter()
            .find(|g| g.name() == name)
            .ok_or_else(|| {
                Error::invalid(
                    "interactive",
                    format!("unknown guidance `{name}`; one of distance, gaussian, extreme"),
                )
            })
    }

    /// Guidance maps per image.
    pub fn channels(self) -> usize {
        match self {
            Guidance::Extreme => 1,
            _ => 2,
        }
    }

    /// Whether the user clicks repeatedly (false: one set of extreme points).
    pub fn is_iterative(self) -> bool {
        self != Guidance::Extreme
    }

    fn mode(self) -> ClickMode {
        match self {
            Guidance::Distance => ClickMode::Distance,
            _ => ClickMode::Gaussian,
        }
    }
}

/// The guidance maps [B, channels, h, w] of each image's `clicks` under
/// `guidance` with truncation or σ `scale` (pixels). Positive clicks go to
/// map 0 and negative ones to map 1; extreme points (all positive) to the
/// single map.
pub fn encode(
    gpu: &Gpu,
    clicks: &[Vec<Click>],
    guidance: Guidance,
    (h, w): (usize, usize),
    scale: f32,
) -> Result<Tensor> {
    let slots = clicks.iter().map(Vec::len).max().unwrap_or(0).max(1);
    let mut flat = Vec::with_capacity(clicks.len() * slots * 3);
    for image in clicks {
        for k in 0..slots {
            flat.extend(match image.get(k) {
                Some(c) => [
                    c.y as f32,
                    c.x as f32,
                    if c.positive || guidance == Guidance::Extreme {
                        0.0
                    } else {
                        1.0
                    },
                ],
                None => [0.0, 0.0, -1.0],
            });
        }
    }
    let s = ClickMaps {
        batch: clicks.len(),
        channels: guidance.channels(),
        height: h,
        width: w,
        slots,
        mode: guidance.mode(),
        scale,
    };
    let c = Tensor::from_slice(gpu, &flat, &[clicks.len(), slots, 3])?;
    let maps = Tensor::empty(gpu, &[s.batch, s.channels, h, w], DType::F32)?;
    {
        let (ch, mh) = (c.held(), maps.held());
        click_maps(gpu, ch.v(), s, mh.v())?;
    }
    Ok(maps)
}

/// Euclidean distance of every pixel of a `w`×`h` map to the nearest pixel
/// where `inside` is false (0 there). With `border_outside`, the world
/// beyond the border counts as outside, so an inside pixel next to the
/// border is 1 away; without, a map with no outside pixel is far (10⁶)
/// everywhere. Exact, in linear time (Felzenszwalb & Huttenlocher's
/// separable transform).
pub fn distance_to_outside(
    inside: &[bool],
    (w, h): (usize, usize),
    border_outside: bool,
) -> Vec<f32> {
    // Pad by one pixel on each side: outside, or as far as inside.
    let (pw, ph) = (w + 2, h + 2);
    let far = 1e12f64;
    let mut f = vec![if border_outside { 0.0 } else { far }; pw * ph];
    for y in 0..h {
        for x in 0..w {
            f[(y + 1) * pw + x + 1] = if inside[y * w + x] { far } else { 0.0 };
        }
    }
    let mut col = vec![0f64; ph];
    let mut out = vec![0f64; ph];
    for x in 0..pw {
        for y in 0..ph {
            col[y] = f[y * pw + x];
        }
        squared_distance_1d(&col, &mut out);
        for y in 0..ph {
            f[y * pw + x] = out[y];
        }
    }
    let mut row = vec![0f64; pw];
    let mut out = vec![0f64; pw];
    let mut d = vec![0f32; w * h];
    for y in 1..=h {
        row.copy_from_slice(&f[y * pw..(y + 1) * pw]);
        squared_distance_1d(&row, &mut out);
        for x in 1..=w {
            d[(y - 1) * w + x - 1] = out[x].sqrt() as f32;
        }
    }
    d
}

/// The 1-D squared distance transform d(q) = min_p (q − p)² + f(p) by the
/// lower envelope of parabolas.
fn squared_distance_1d(f: &[f64], d: &mut [f64]) {
    let n = f.len();
    let mut v = vec![0usize; n];
    let mut z = vec![0f64; n + 1];
    let mut k = 0usize;
    z[0] = f64::NEG_INFINITY;
    z[1] = f64::INFINITY;
    let meet = |q: usize, p: usize| {
        ((f[q] + (q * q) as f64) - (f[p] + (p * p) as f64)) / (2.0 * (q as f64 - p as f64))
    };
    for q in 1..n {
        let mut s = meet(q, v[k]);
        while s <= z[k] {
            k -= 1;
            s = meet(q, v[k]);
        }
        k += 1;
        v[k] = q;
        z[k] = s;
        z[k + 1] = f64::INFINITY;
    }
    k = 0;
    for (q, dq) in d.iter_mut().enumerate() {
        while z[k + 1] < q as f64 {
            k += 1;
        }
        *dq = (q as f64 - v[k] as f64).powi(2) + f[v[k]];
    }
}

/// The pixel of `region` farthest from its boundary (the first such in
/// raster order) and that distance; None for an empty region.
fn deepest(region: &[bool], size: (usize, usize)) -> Option<(usize, f32)> {
    distance_to_outside(region, size, true)
        .into_iter()
        .enumerate()
        .filter(|&(i, _)| region[i])
        .fold(None, |best: Option<(usize, f32)>, (i, d)| match best {
            Some((_, bd)) if bd >= d => best,
            _ => Some((i, d)),
        })
}

/// The simulated user's first click: on the object `gt`, at its point
/// farthest from the boundary. None for an empty object.
pub fn first_click(gt: &[bool], (w, h): (usize, usize)) -> Option<Click> {
    deepest(gt, (w, h)).map(|(i, _)| Click {
        y: i / w,
        x: i % w,
        positive: true,
    })
}

/// The simulated user's next click for prediction `pred` of object `gt`:
/// in whichever error (missed object or false alarm) reaches deepest, at
/// its point farthest from the error's boundary; positive on a miss.
/// None when the prediction is exact.
pub fn next_click(pred: &[bool], gt: &[bool], (w, h): (usize, usize)) -> Option<Click> {
    let missed: Vec<bool> = gt.iter().zip(pred).map(|(&g, &p)| g && !p).collect();
    let false_alarm: Vec<bool> = gt.iter().zip(pred).map(|(&g, &p)| p && !g).collect();
    let m = deepest(&missed, (w, h));
    let f = deepest(&false_alarm, (w, h));
    let (i, positive) = match (m, f) {
        (Some((i, dm)), Some((_, df))) if dm >= df => (i, true),
        (_, Some((j, _))) => (j, false),
        (Some((i, _)), None) => (i, true),
        (None, None) => return None,
    };
    Some(Click {
        y: i / w,
        x: i % w,
        positive,
    })
}

/// DEXTR's four extreme points of object `gt`: its leftmost, rightmost,
/// topmost and bottommost pixels (the middle one where several tie).
/// None for an empty object.
pub fn extreme_points(gt: &[bool], (w, h): (usize, usize)) -> Option<[Click; 4]> {
    let pixels: Vec<(usize, usize)> = (0..w * h)
        .filter(|&i| gt[i])
        .map(|i| (i / w, i % w))
        .collect();
    let pick = |key: &dyn Fn(&(usize, usize)) -> usize, largest: bool| {
        let target = if largest {
            pixels.iter().map(key).max()
        } else {
            pixels.iter().map(key).min()
        }?;
        let ties: Vec<&(usize, usize)> = pixels.iter().filter(|p| key(p) == target).collect();
        let &(y, x) = ties[ties.len() / 2];
        Some(Click {
            y,
            x,
            positive: true,
        })
    };
    Some([
        pick(&|p| p.1, false)?,
        pick(&|p| p.1, true)?,
        pick(&|p| p.0, false)?,
        pick(&|p| p.0, true)?,
    ])
}

/// Random training clicks for object `gt`, as Xu et al. sample them: 1–5 positive clicks on the object,
/// at least `margin` pixels inside it where it is that thick, and 0–3
/// negative ones in the band 1..=`band` pixels away from it.
pub fn training_clicks(
    gt: &[bool],
    (w, h): (usize, usize),
    margin: f32,
    band: f32,
    rng: &mut impl Rng,
) -> Vec<Click> {
    let inside = distance_to_outside(gt, (w, h), true);
    let background: Vec<bool> = gt.iter().map(|&g| !g).collect();
    let outside = distance_to_outside(&background, (w, h), false);
    let deep = inside.iter().cloned().fold(0f32, f32::max);
    let pos: Vec<usize> = (0..w * h)
        .filter(|&i| gt[i] && inside[i] >= margin.min(deep))
        .collect();
    let neg: Vec<usize> = (0..w * h)
        .filter(|&i| !gt[i] && outside[i] <= band)
        .collect();
    let (p, n) = (rng.random_range(1..=5), rng.random_range(0..=3));
    let mut clicks = Vec::new();
    let mut draw = |from: &[usize], count: usize, positive: bool| {
        for _ in 0..count.min(from.len()) {
            let i = from[rng.random_range(0..from.len())];
            clicks.push(Click {
                y: i / w,
                x: i % w,
                positive,
            });
        }
    };
    draw(&pos, p, true);
    draw(&neg, n, false);
    clicks
}
