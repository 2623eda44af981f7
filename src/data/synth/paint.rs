//! Appearance of the synthetic benchmark: textured backgrounds, object
//! bodies whose colour is only weakly class-specific, and the small
//! class-specific part patterns a classifier latches onto.

use rand::Rng;
use rand::rngs::SmallRng;

/// An RGB colour in [0, 1].
pub type Colour = [f32; 3];

/// Body colours shared by every class (and by background distractors).
const BODY_COLOURS: [Colour; 4] = [
    [0.74, 0.56, 0.38],
    [0.50, 0.60, 0.70],
    [0.66, 0.50, 0.60],
    [0.56, 0.64, 0.44],
];

/// Names of the part patterns, in class order (cycled past six classes).
pub const PATTERNS: [&str; 6] = ["checker", "stripes", "dots", "rings", "cross", "zigzag"];

/// A sum of sinusoidal gratings: smooth texture.
#[derive(Clone, Debug)]
pub struct Grating {
    waves: Vec<(f32, f32, f32, f32)>,
}

impl Grating {
    /// `n` gratings with periods in [pmin, pmax] pixels and amplitude `amp`.
    pub fn random(rng: &mut SmallRng, n: usize, pmin: f32, pmax: f32, amp: f32) -> Grating {
        Grating {
            waves: (0..n)
                .map(|_| {
                    let th: f32 = rng.random_range(0.0..std::f32::consts::PI);
                    let k = std::f32::consts::TAU / rng.random_range(pmin..pmax);
                    (k * th.cos(), k * th.sin(), rng.random_range(0.0..6.3), amp)
                })
                .collect(),
        }
    }

    /// `n` gratings whose stripes run at `angle` ± `spread` radians, with
    /// periods in [pmin, pmax] pixels and amplitude `amp`: a texture with a
    /// preferred orientation and scale.
    pub fn oriented(
        rng: &mut SmallRng,
        n: usize,
        (pmin, pmax): (f32, f32),
        (angle, spread): (f32, f32),
        amp: f32,
    ) -> Grating {
        Grating {
            waves: (0..n)
                .map(|_| {
                    let th =
                        angle + std::f32::consts::FRAC_PI_2 + rng.random_range(-spread..=spread);
                    let k = std::f32::consts::TAU / rng.random_range(pmin..=pmax);
                    (k * th.cos(), k * th.sin(), rng.random_range(0.0..6.3), amp)
                })
                .collect(),
        }
    }

    /// The texture value at (x, y).
    pub fn at(&self, x: f32, y: f32) -> f32 {
        self.waves
            .iter()
            .map(|(kx, ky, p, a)| a * (kx * x + ky * y + p).sin())
            .sum()
    }
}

/// A textured surface: a base colour modulated by a grating.
#[derive(Clone, Debug)]
pub struct Surface {
    base: Colour,
    texture: Grating,
}

impl Surface {
    /// A surface of colour `base` textured by `texture`.
    pub fn new(base: Colour, texture: Grating) -> Surface {
        Surface { base, texture }
    }

    /// The base colour (the texture averages to zero around it).
    pub fn base(&self) -> Colour {
        self.base
    }

    /// The same texture around another base colour.
    pub fn with_base(&self, base: Colour) -> Surface {
        Surface {
            base,
            texture: self.texture.clone(),
        }
    }

    /// A muted background with broad, low-contrast texture.
    pub fn background(rng: &mut SmallRng) -> Surface {
        Surface {
            base: [(); 3].map(|_| rng.random_range(0.30..0.60)),
            texture: Grating::random(rng, 3, 12.0, 40.0, 0.07),
        }
    }

    /// An object body (or a look-alike distractor): a shared body colour,
    /// a small tint of `class` that per-object jitter mostly hides, and a
    /// fine mottled texture independent of the class.
    pub fn body(rng: &mut SmallRng, class: usize, classes: usize) -> Surface {
        let c = BODY_COLOURS[rng.random_range(0..BODY_COLOURS.len())];
        let hue = class as f32 / classes.max(1) as f32 * std::f32::consts::TAU;
        let tint = [hue.cos(), (hue + 2.1).cos(), (hue + 4.2).cos()].map(|v| 0.02 * v);
        Surface {
            base: [0, 1, 2].map(|i| c[i] + tint[i] + rng.random_range(-0.07..0.07)),
            texture: Grating::random(rng, 2, 4.0, 9.0, 0.05),
        }
    }

    /// The colour at (x, y).
    pub fn at(&self, x: f32, y: f32) -> Colour {
        let t = self.texture.at(x, y);
        self.base.map(|v| v + t)
    }
}

/// The RGB colour of hue `h` (turns), saturation `s` and value `v`.
pub fn hsv(h: f32, s: f32, v: f32) -> Colour {
    let h6 = (h.rem_euclid(1.0)) * 6.0;
    let f = h6 - h6.floor();
    let (p, q, t) = (v * (1.0 - s), v * (1.0 - s * f), v * (1.0 - s * (1.0 - f)));
    match h6 as usize % 6 {
        0 => [v, t, p],
        1 => [q, v, p],
        2 => [p, v, t],
        3 => [p, q, v],
        4 => [t, p, v],
        _ => [v, p, q],
    }
}

/// The discriminative part of class `class` (0-based): a high-contrast
/// pattern in the class's own saturated colour, around centre (cx, cy).
#[derive(Clone, Debug)]
pub struct Part {
    /// Pattern index into [`PATTERNS`].
    pattern: usize,
    ink: Colour,
    paper: Colour,
    cx: f32,
    cy: f32,
}

impl Part {
    /// The part style of `class` out of `classes`, centred at (cx, cy).
    pub fn of_class(class: usize, classes: usize, cx: f32, cy: f32) -> Part {
        let hue = class as f32 / classes.max(1) as f32;
        Part {
            pattern: class % PATTERNS.len(),
            ink: hsv(hue, 0.9, 0.95),
            paper: if (class / PATTERNS.len()).is_multiple_of(2) {
                [0.08, 0.08, 0.1]
            } else {
                [0.95, 0.95, 0.92]
            },
            cx,
            cy,
        }
    }

    /// The colour at (x, y).
    pub fn at(&self, x: f32, y: f32) -> Colour {
        let (u, v) = (x - self.cx, y - self.cy);
        let on = match self.pattern {
            0 => ((x / 2.0).floor() as i32 + (y / 2.0).floor() as i32) % 2 == 0,
            1 => ((x + y) / 2.0).floor() as i32 % 2 == 0,
            2 => (x.rem_euclid(4.0) - 2.0).powi(2) + (y.rem_euclid(4.0) - 2.0).powi(2) < 2.0,
            3 => ((u * u + v * v).sqrt() / 1.5).floor() as i32 % 2 == 0,
            4 => u.abs() < 1.2 || v.abs() < 1.2,
            _ => ((y + 2.0 * (x / 3.0).floor().rem_euclid(2.0)) / 2.0).floor() as i32 % 2 == 0,
        };
        if on { self.ink } else { self.paper }
    }
}
