//! Every kernel against its f64 CPU reference (`weakseg_kernels::cpu`), one
//! module per kernel family: random inputs of size 1 and of odd sizes, sizes
//! that are not multiples of the kernels' tiles, each output buffer poisoned
//! (NaN) before the run.
//!
//! # Tolerances
//! Every comparison states its bound next to it, derived from the arithmetic
//! the kernel does in f32 (u = 2⁻²⁴ is f32's unit roundoff, and one ulp is
//! at most 2u relative):
//! - **Exact** (bit for bit) for what computes nothing: copies, layout
//!   moves, gathers, selections, comparisons, max and min, sign, ReLU,
//!   clamps, masks, arg-reductions.
//! - **Rounding** for elementwise arithmetic: one rounding (u·|x|) for +, −
//!   and ×, 2.5 ulp for division (WGSL's accuracy), and WGSL's stated
//!   accuracy of each builtin (exp: 3 + 2|x| ulp; log: 2⁻²¹ absolute on
//!   [0.5, 2], else 3 ulp; pow: exp2 of y·log2 x) for the transcendental
//!   maps. [`Tol`] holds a relative and an absolute part.
//! - **Sums** (matmul, convolution, reductions, pooling, resizing, the CAM,
//!   the walk): a length-n f32 sum is within λ·√n·u·Σ|terms| of the exact
//!   one under the probabilistic model of rounding errors (Higham and Mary,
//!   SIAM J. Sci. Comput. 2019; λ = 4), with Σ|terms| computed by running
//!   the reference on absolute values ([`summed`]). On top of that, runs on
//!   **dyadic** inputs ([`dyadic`]: small integers over a power of two),
//!   whose every product and partial sum is exact in f32, must match the
//!   reference exactly: a term dropped, doubled or misindexed is caught
//!   however long the sum.

mod affinity;
mod cam;
mod clicks;
mod cluster;
mod conv;
mod elementwise;
mod half;
mod lattice;
mod layout;
mod loss;
mod matmul;
mod norm;
mod optim;
mod pool;
mod random;
mod reduce;
mod resize;
mod select;
mod superpixel;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use weakseg_kernels::{Gpu, GpuBuffer, View};

/// f32's unit roundoff: a correctly rounded result is within U·|x|.
pub const U: f64 = 1.0 / 16_777_216.0;

pub fn gpu() -> Gpu {
    Gpu::new_blocking().expect("a GPU adapter (install mesa-vulkan-drivers for lavapipe)")
}

pub fn rng(seed: u64) -> SmallRng {
    SmallRng::seed_from_u64(seed)
}

pub fn rand_vec(r: &mut SmallRng, n: usize, lo: f32, hi: f32) -> Vec<f32> {
    (0..n).map(|_| r.random_range(lo..hi)).collect()
}

/// n dyadic values j / 2^shift with |j| ≤ m: for m ≤ 8 and shift 3, any
/// sum of up to 2¹⁸ products of two of them is exact in f32 (its numerator
/// stays below 2²⁴ over the common denominator 2⁶).
pub fn dyadic(r: &mut SmallRng, n: usize, m: i32, shift: i32) -> Vec<f32> {
    let scale = (2f32).powi(-shift);
    (0..n)
        .map(|_| r.random_range(-m..=m) as f32 * scale)
        .collect()
}

/// The absolute values of `v`.
pub fn abs(v: &[f32]) -> Vec<f32> {
    v.iter().map(|x| x.abs()).collect()
}

pub fn up(g: &Gpu, v: &[f32]) -> GpuBuffer {
    g.upload(bytemuck::cast_slice(v)).unwrap()
}

pub fn up_u32(g: &Gpu, v: &[u32]) -> GpuBuffer {
    g.upload(bytemuck::cast_slice(v)).unwrap()
}

/// An output buffer of n elements filled with NaN.
pub fn poisoned(g: &Gpu, n: usize) -> GpuBuffer {
    up(g, &vec![f32::NAN; n.max(1)])
}

pub fn read(g: &Gpu, b: &GpuBuffer, n: usize) -> Vec<f32> {
    bytemuck::cast_slice(&g.read(b, 0, n as u64 * 4).unwrap().wait().unwrap()).to_vec()
}

pub fn read_u32(g: &Gpu, b: &GpuBuffer, n: usize) -> Vec<u32> {
    bytemuck::cast_slice(&g.read(b, 0, n as u64 * 4).unwrap().wait().unwrap()).to_vec()
}

pub fn v(b: &GpuBuffer, n: usize) -> View<'_> {
    View::new(b, n)
}

/// A per-element bound |got − want| ≤ rel·|want| + abs.
#[derive(Clone, Copy, Debug)]
pub struct Tol {
    pub rel: f64,
    pub abs: f64,
}

impl Tol {
    /// Bit for bit.
    pub const EXACT: Tol = Tol { rel: 0.0, abs: 0.0 };

    /// k ulps of the reference (one ulp is at most 2u relative).
    pub const fn ulps(k: f64) -> Tol {
        Tol {
            rel: 2.0 * k * U,
            abs: 0.0,
        }
    }

    /// This bound plus an absolute part, for results that cancel or whose
    /// builtin has an absolute accuracy (log near 1).
    pub const fn plus(self, abs: f64) -> Tol {
        Tol {
            rel: self.rel,
            abs: self.abs + abs,
        }
    }
}

/// `got` against `want` within `tol`; NaN matches NaN.
#[track_caller]
pub fn within(what: &str, got: &[f32], want: &[f64], tol: Tol) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let bound = tol.rel * w.abs() + tol.abs;
        let ok = (g as f64 - w).abs() <= bound || (g.is_nan() && w.is_nan());
        assert!(
            ok,
            "{what}: element {i}: got {g}, want {w}, |Δ| {:.3e} > bound {bound:.3e} ({tol:?})",
            (g as f64 - w).abs()
        );
    }
}

/// `got` equal to `want` bit for bit (the reference holds f32 values).
#[track_caller]
pub fn exact(what: &str, got: &[f32], want: &[f64]) {
    within(what, got, want, Tol::EXACT);
}

/// The probabilistic error bound of a length-n f32 sum, per unit of
/// Σ|terms|: λ·√n·u with λ = 4.
pub fn sum_bound(n: usize) -> f64 {
    4.0 * (n.max(1) as f64).sqrt() * U
}

/// `got` against sums `want` of at most `n` terms whose absolute values sum
/// to `mag` (the reference run on absolute values): within
/// ([`sum_bound`]`(n)` + tol.rel)·mag + tol.abs, where `tol` covers what is
/// done to each term or to the sum besides adding (a product's or a
/// division's rounding is relative to a term, so at most tol.rel·mag in
/// all).
#[track_caller]
pub fn summed(what: &str, got: &[f32], want: &[f64], mag: &[f64], n: usize, tol: Tol) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    assert_eq!(mag.len(), want.len(), "{what}: magnitudes");
    for (i, ((&g, &w), &m)) in got.iter().zip(want).zip(mag).enumerate() {
        let bound = (sum_bound(n) + tol.rel) * m + tol.abs;
        assert!(
            (g as f64 - w).abs() <= bound,
            "{what}: element {i}: got {g}, want {w}, |Δ| {:.3e} > bound {bound:.3e} (n {n}, Σ|terms| {m:.3e})",
            (g as f64 - w).abs()
        );
    }
}

/// `got` against `want` within a bound per element, for kernels whose error
/// mixes several sources (each test derives its bounds next to it).
#[track_caller]
pub fn bounded(what: &str, got: &[f32], want: &[f64], bound: &[f64]) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, ((&g, &w), &b)) in got.iter().zip(want).zip(bound).enumerate() {
        assert!(
            (g as f64 - w).abs() <= b,
            "{what}: element {i}: got {g}, want {w}, |Δ| {:.3e} > bound {b:.3e}",
            (g as f64 - w).abs()
        );
    }
}
