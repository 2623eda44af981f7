//! FMix's mask sampler (Harris et al., `ecs-vlc/FMix:fmix.py`): a random
//! field with a 1/f^δ power spectrum, binarised so that a fraction λ of
//! the pixels is 1. Low frequencies dominate, so the mask is a few large
//! blobs of arbitrary shape rather than CutMix's rectangle.
//!
//! Runs on the host: one mask per batch of at most a few hundred pixels a
//! side, built by a separable inverse DFT in O(HW(H + W)), costs well under
//! a millisecond and saves a GPU round trip before the mix.

use rand::Rng;
use rand_distr::{Distribution, StandardNormal};

/// The signed frequency of DFT bin `i` of `n` (numpy's `fftfreq`).
fn freq(i: usize, n: usize) -> f64 {
    let i = if i <= n / 2 {
        i as f64
    } else {
        i as f64 - n as f64
    };
    i / n as f64
}

/// The real part of a random complex field of `h`×`w` whose spectrum is
/// complex Gaussian noise scaled by 1 / max(f, 1/max(h, w))^`decay`, the
/// mean (zero-frequency) term removed. Row-major.
pub fn low_frequency_field(h: usize, w: usize, decay: f64, rng: &mut impl Rng) -> Vec<f64> {
    let floor = 1.0 / h.max(w) as f64;
    let mut re = vec![0f64; h * w];
    let mut im = vec![0f64; h * w];
    for u in 0..h {
        for v in 0..w {
            let f = (freq(u, h).powi(2) + freq(v, w).powi(2)).sqrt();
            let scale = if u == 0 && v == 0 {
                0.0
            } else {
                1.0 / f.max(floor).powf(decay)
            };
            re[u * w + v] = scale * Distribution::<f64>::sample(&StandardNormal, rng);
            im[u * w + v] = scale * Distribution::<f64>::sample(&StandardNormal, rng);
        }
    }
    // Inverse DFT along columns (v → x), then along rows (u → y).
    let tau = std::f64::consts::TAU;
    let mut re1 = vec![0f64; h * w];
    let mut im1 = vec![0f64; h * w];
    for u in 0..h {
        for x in 0..w {
            let (mut a, mut b) = (0.0, 0.0);
            for v in 0..w {
                let (s, c) = (tau * (v * x) as f64 / w as f64).sin_cos();
                let (r, i) = (re[u * w + v], im[u * w + v]);
                a += r * c - i * s;
                b += r * s + i * c;
            }
            re1[u * w + x] = a;
            im1[u * w + x] = b;
        }
    }
    let mut out = vec![0f64; h * w];
    for y in 0..h {
        for x in 0..w {
            let mut a = 0.0;
            for u in 0..h {
                let (s, c) = (tau * (u * y) as f64 / h as f64).sin_cos();
                a += re1[u * w + x] * c - im1[u * w + x] * s;
            }
            out[y * w + x] = a;
        }
    }
    out
}

/// A binary FMix mask of `h`×`w` (row-major, 1.0 or 0.0) with a share
/// `lambda` of ones: the top ⌈λHW⌉ or ⌊λHW⌋ pixels (chosen at random, as
/// FMix does) of a [`low_frequency_field`] with power `decay`.
pub fn mask(h: usize, w: usize, lambda: f64, decay: f64, rng: &mut impl Rng) -> Vec<f32> {
    let field = low_frequency_field(h, w, decay, rng);
    let exact = lambda.clamp(0.0, 1.0) * (h * w) as f64;
    let ones = if rng.random::<bool>() {
        exact.ceil()
    } else {
        exact.floor()
    } as usize;
    let mut order: Vec<usize> = (0..h * w).collect();
    order.sort_by(|&a, &b| field[b].total_cmp(&field[a]));
    let mut m = vec![0f32; h * w];
    for &i in &order[..ones.min(h * w)] {
        m[i] = 1.0;
    }
    m
}
