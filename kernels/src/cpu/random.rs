//! Reference of `shaders/random.wgsl`: the same counter-based hash.

fn pcg(v: u32) -> u32 {
    let s = v.wrapping_mul(747796405).wrapping_add(2891336453);
    let w = ((s >> ((s >> 28) + 4)) ^ s).wrapping_mul(277803737);
    (w >> 22) ^ w
}

/// Uniform draw in [0, 1) for counter i under a seed.
pub fn uniform01(seed: u32, i: u32) -> f32 {
    (pcg(pcg(i) ^ seed) >> 8) as f32 * (1.0 / 16777216.0)
}

/// The dropout mask: 1/(1−p) where kept, 0 where dropped.
pub fn bernoulli(n: usize, group: usize, seed: u32, p: f32) -> Vec<f64> {
    (0..n)
        .map(|i| {
            if uniform01(seed, (i / group) as u32) >= p {
                1.0 / (1.0 - p as f64)
            } else {
                0.0
            }
        })
        .collect()
}
