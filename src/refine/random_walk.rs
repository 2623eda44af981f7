//! Random-walk propagation of class scores over learned affinities (psa's
//! `infer_aff.py`): with pair weights w = a^β, 1 on the diagonal, and the
//! column-normalised transition T_ij = w_ij / Σ_k w_kj, the scores become
//! v T^t. psa forms T densely (N × N) and squares it log₂ t times; on a
//! VOC image at stride 4 that matrix alone is ~600 MB, which is where the
//! reference code runs out of memory. [`WalkForm::Iterative`] instead
//! applies the sparse T t times, in memory linear in N; [`WalkForm::Auto`]
//! picks the dense form only for grids up to `dense_max_pixels`.

use serde::{Deserialize, Serialize};
use weakseg_kernels::launch::affinity as ak;
use weakseg_kernels::{Error, Result};

use crate::ResizeMode;
use crate::ops::affinity::PairOffsets;
use crate::tensor::{DType, Tensor, no_grad};

/// How the walk is computed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WalkForm {
    /// Dense up to `dense_max_pixels`, iterative beyond.
    #[default]
    Auto,
    /// T^t by repeated squaring on the GEMM (psa's form).
    Dense,
    /// t sparse steps (memory linear in the grid).
    Iterative,
}

/// Settings of the walk.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RandomWalk {
    /// Power of the affinities (psa: 8).
    pub beta: f32,
    /// log₂ of the number of steps t (psa: 8, t = 256).
    pub log_t: u32,
    /// Background power (1 − max CAM)^α of the walked scores (psa: 16).
    pub alpha: f32,
    /// IRN's background instead of psa's: the classes are walked without a
    /// background row, the walked scores divided by their largest value,
    /// and a pixel is background where no class reaches this (IRN: 0.25).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bg_threshold: Option<f32>,
    /// Dense or iterative.
    pub form: WalkForm,
    /// Largest grid (pixels) [`WalkForm::Auto`] walks densely: 4096 pixels
    /// is 64 MiB per matrix.
    pub dense_max_pixels: usize,
}

impl Default for RandomWalk {
    fn default() -> Self {
        RandomWalk {
            beta: 8.0,
            log_t: 8,
            alpha: 16.0,
            bg_threshold: None,
            form: WalkForm::Auto,
            dense_max_pixels: 4096,
        }
    }
}

impl RandomWalk {
    /// Checks the settings, naming the bad one.
    pub fn validate(&self) -> Result<()> {
        let op = "random walk";
        if !(self.beta.is_finite() && self.beta > 0.0) {
            return Err(Error::invalid(
                op,
                format!("beta {} must be positive", self.beta),
            ));
        }
        if self.log_t > 16 {
            return Err(Error::invalid(op, format!("log_t {} above 16", self.log_t)));
        }
        if !(self.alpha.is_finite() && self.alpha > 0.0) {
            return Err(Error::invalid(
                op,
                format!("alpha {} must be positive", self.alpha),
            ));
        }
        if let Some(t) = self.bg_threshold.filter(|t| !(t.is_finite() && *t > 0.0)) {
            return Err(Error::invalid(
                op,
                format!("background threshold {t} must be positive"),
            ));
        }
        Ok(())
    }

    /// The walk's input on the host, [K + 1, hw]: row 0 the background,
    /// then each present class's CAM (zero for absent classes). With psa's
    /// background row 0 is (1 − max over the present classes)^α; with
    /// IRN's it is zero, as the background is decided after the walk
    /// ([`RandomWalk::finish_background`]).
    pub fn input(&self, cams: &[f32], present: &[bool], hw: usize) -> Result<Vec<f32>> {
        let mut v = with_background(cams, present, hw, self.alpha)?;
        if self.bg_threshold.is_some() {
            v[..hw].fill(0.0);
        }
        Ok(v)
    }

    /// Walked scores [K + 1, h, w] with their background row decided: as
    /// walked for psa's background; for IRN's, every row divided by the
    /// largest class score and row 0 set to the threshold.
    pub fn finish_background(&self, walked: Tensor) -> Result<Tensor> {
        let Some(th) = self.bg_threshold else {
            return Ok(walked);
        };
        let (k, h, w) = match *walked.shape() {
            [k, h, w] if k >= 2 => (k - 1, h, w),
            ref sh => {
                return Err(Error::invalid(
                    "random walk background",
                    format!("scores must be [K + 1, h, w] with K ≥ 1, got {sh:?}"),
                ));
            }
        };
        no_grad(|| {
            let classes = walked.narrow(0, 1, k)?;
            let (top, _) = classes.reshape(&[k * h * w])?.max_axis(0, true)?;
            let scaled = classes.div(&top.clamp(1e-5, f32::MAX)?.reshape(&[1, 1, 1])?)?;
            Tensor::concat(&[Tensor::full(walked.gpu(), &[1, h, w], th)?, scaled], 0)
        })
    }

    /// The number of steps t = 2^log_t.
    pub fn steps(&self) -> usize {
        1 << self.log_t
    }

    /// Whether a grid of `pixels` is walked densely.
    pub fn dense_for(&self, pixels: usize) -> bool {
        match self.form {
            WalkForm::Dense => true,
            WalkForm::Iterative => false,
            WalkForm::Auto => pixels <= self.dense_max_pixels,
        }
    }

    /// Walks `scores` [K, gh, gw] over the affinities `aff` [1, D, gh, gw]
    /// of `offsets`; returns the walked scores [K, gh, gw].
    pub fn propagate(
        &self,
        aff: &Tensor,
        offsets: &PairOffsets,
        scores: &Tensor,
    ) -> Result<Tensor> {
        let op = "random walk";
        self.validate()?;
        let s = offsets.shape(op, aff.shape())?;
        let (k, gh, gw) = match *scores.shape() {
            [k, gh, gw] => (k, gh, gw),
            ref sh => {
                return Err(Error::invalid(
                    op,
                    format!("scores must be [K, h, w], got {sh:?}"),
                ));
            }
        };
        if s.batch != 1 || s.pairs != s.channels || (s.h, s.w) != (gh, gw) {
            return Err(Error::invalid(
                op,
                format!(
                    "affinities {:?} do not match {} offsets on the {gh}×{gw} score grid",
                    aff.shape(),
                    offsets.len()
                ),
            ));
        }
        let n = gh * gw;
        let gpu = aff.gpu();
        no_grad(|| {
            let weights = aff.pow(self.beta)?;
            let colsum = Tensor::empty(gpu, &[n], DType::F32)?;
            {
                let (oh, wh, ch) = (offsets.tensor().held(), weights.held(), colsum.held());
                ak::rw_colsum(gpu, s, oh.v(), wh.v(), ch.v())?;
            }
            let v = scores.reshape(&[k, n])?;
            let walked = if self.dense_for(n) {
                let mut t = Tensor::empty(gpu, &[n, n], DType::F32)?;
                {
                    let (oh, wh, ch, th) = (
                        offsets.tensor().held(),
                        weights.held(),
                        colsum.held(),
                        t.held(),
                    );
                    ak::rw_dense(gpu, s, oh.v(), wh.v(), ch.v(), th.v())?;
                }
                for _ in 0..self.log_t {
                    t = t.matmul(&t)?;
                }
                v.matmul(&t)?
            } else {
                let mut v = v;
                for _ in 0..self.steps() {
                    let out = Tensor::empty(gpu, &[k, n], DType::F32)?;
                    {
                        let (oh, wh, ch, vh, outh) = (
                            offsets.tensor().held(),
                            weights.held(),
                            colsum.held(),
                            v.held(),
                            out.held(),
                        );
                        ak::rw_step(gpu, s, k, oh.v(), wh.v(), ch.v(), vh.v(), outh.v())?;
                    }
                    v = out;
                }
                v
            };
            walked.reshape(&[k, gh, gw])
        })
    }
}

/// The walk's input on the host: row 0 the background (1 − max over the
/// present classes)^α, then each class's CAM ([K, hw], normalised), zero
/// for absent classes. Returns [K + 1, hw].
pub fn with_background(cams: &[f32], present: &[bool], hw: usize, alpha: f32) -> Result<Vec<f32>> {
    if cams.len() != present.len() * hw {
        return Err(Error::invalid(
            "with_background",
            format!(
                "{} CAM values for {} classes of {hw} pixels",
                cams.len(),
                present.len()
            ),
        ));
    }
    let mut out = Vec::with_capacity(cams.len() + hw);
    out.extend((0..hw).map(|p| {
        let mx = (0..present.len())
            .filter(|&k| present[k])
            .map(|k| cams[k * hw + p])
            .fold(0f32, f32::max);
        (1.0 - mx).clamp(0.0, 1.0).powf(alpha)
    }));
    for (k, &on) in present.iter().enumerate() {
        if on {
            out.extend_from_slice(&cams[k * hw..(k + 1) * hw]);
        } else {
            out.extend(std::iter::repeat_n(0.0, hw));
        }
    }
    Ok(out)
}

/// Zero-padded block means of `planes` maps of h×w: each s×s block of the
/// map padded to a multiple of s becomes one value (psa's avg-pool of the
/// padded CAMs). Returns [planes, ⌈h/s⌉, ⌈w/s⌉].
pub fn block_mean(data: &[f32], planes: usize, (h, w): (usize, usize), s: usize) -> Vec<f32> {
    let (gh, gw) = (h.div_ceil(s), w.div_ceil(s));
    let mut out = vec![0f32; planes * gh * gw];
    for (pl, plane) in data.chunks(h * w).take(planes).enumerate() {
        for y in 0..h {
            for x in 0..w {
                out[(pl * gh + y / s) * gw + x / s] += plane[y * w + x];
            }
        }
    }
    let area = (s * s) as f32;
    out.iter_mut().for_each(|v| *v /= area);
    out
}

/// The label map [h, w] (u32 class indices) of walked scores [K, gh, gw]:
/// [`upsample`], then argmax over classes.
pub fn labels(scores: &Tensor, stride: usize, hw: (usize, usize)) -> Result<Tensor> {
    no_grad(|| upsample(scores, stride, hw)?.argmax(0))
}

/// Walked scores [K, gh, gw] at image resolution [K, h, w]: bilinear
/// upsampling by `stride`, cropped to h×w.
pub fn upsample(scores: &Tensor, stride: usize, (h, w): (usize, usize)) -> Result<Tensor> {
    let (k, gh, gw) = match *scores.shape() {
        [k, gh, gw] => (k, gh, gw),
        ref sh => {
            return Err(Error::invalid(
                "rw labels",
                format!("scores must be [K, h, w], got {sh:?}"),
            ));
        }
    };
    if gh * stride < h || gw * stride < w {
        return Err(Error::invalid(
            "rw labels",
            format!("a {gh}×{gw} grid at stride {stride} does not cover {h}×{w}"),
        ));
    }
    no_grad(|| {
        scores
            .reshape(&[1, k, gh, gw])?
            .interpolate((gh * stride, gw * stride), ResizeMode::Bilinear(false))?
            .narrow(2, 0, h)?
            .narrow(3, 0, w)?
            .reshape(&[k, h, w])
    })
}
