//! Weight initialisers (torch.nn.init's definitions), drawn on the host from
//! a seeded generator so that a model built twice with one seed is identical.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// Which fan a Kaiming initialiser preserves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fan {
    /// Preserve the forward variance (fan_in).
    In,
    /// Preserve the backward variance (fan_out), torchvision's ResNet choice.
    Out,
}

/// An initialisation rule.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Init {
    /// Every value equal.
    Constant(f32),
    /// N(0, gain²/fan), gain = √2 for ReLU.
    KaimingNormal(Fan),
    /// U(−b, b), b = √(6/fan), the ReLU gain.
    KaimingUniform(Fan),
    /// U(−b, b), b = gain·√(6/(fan_in+fan_out)).
    XavierUniform(f32),
    /// N(0, std²).
    Normal(f32),
}

/// fan_in and fan_out of a weight shape ([out, in, kh, kw] or [out, in]).
pub fn fans(shape: &[usize]) -> (usize, usize) {
    let receptive: usize = shape.iter().skip(2).product();
    let (out, inp) = (
        shape.first().copied().unwrap_or(1),
        shape.get(1).copied().unwrap_or(1),
    );
    (inp * receptive, out * receptive)
}

/// A seeded stream of initial values.
pub struct Initializer {
    rng: SmallRng,
}

impl Initializer {
    /// A generator for one seed.
    pub fn new(seed: u64) -> Initializer {
        Initializer {
            rng: SmallRng::seed_from_u64(seed),
        }
    }

    fn normal(&mut self) -> f32 {
        let u1: f64 = self.rng.random::<f64>().max(1e-300);
        let u2: f64 = self.rng.random();
        ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
    }

    /// Values for a tensor of `shape` under `rule`.
    pub fn values(&mut self, shape: &[usize], rule: Init) -> Vec<f32> {
        let n: usize = shape.iter().product();
        let (fan_in, fan_out) = fans(shape);
        let fan = |f: Fan| {
            (match f {
                Fan::In => fan_in,
                Fan::Out => fan_out,
            })
            .max(1) as f32
        };
        match rule {
            Init::Constant(c) => vec![c; n],
            Init::Normal(std) => (0..n).map(|_| std * self.normal()).collect(),
            Init::KaimingNormal(f) => {
                let std = (2.0 / fan(f)).sqrt();
                (0..n).map(|_| std * self.normal()).collect()
            }
            Init::KaimingUniform(f) => {
                let b = (6.0 / fan(f)).sqrt();
                (0..n).map(|_| self.rng.random_range(-b..=b)).collect()
            }
            Init::XavierUniform(gain) => {
                let b = gain * (6.0 / (fan_in + fan_out).max(1) as f32).sqrt();
                (0..n).map(|_| self.rng.random_range(-b..=b)).collect()
            }
        }
    }
}
