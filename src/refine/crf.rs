//! Dense CRF mean-field inference (Krähenbühl & Koltun 2011) with
//! pydensecrf's semantics: a unary from probabilities or labels, a Gaussian
//! (smoothness) and a bilateral (appearance) kernel filtered on the
//! permutohedral lattice with symmetric normalisation, Potts compatibility
//! (which rewards agreeing labels), softmax updates. Everything after the
//! unary runs on the GPU.

use serde::{Deserialize, Serialize};
use weakseg_kernels::launch::lattice::{self, Lattice};
use weakseg_kernels::{Error, Gpu, Result};

use crate::Tensor;
use crate::io::image::Rgb;
use crate::tensor::DType;

/// Most mean-field iterations [`CrfParams::validate`] accepts: far past
/// convergence (pydensecrf's users run 5–10), and a bound on how long one
/// image can take.
pub const MAX_ITERS: usize = 1000;

/// CRF settings, named as in pydensecrf's `addPairwiseGaussian` and
/// `addPairwiseBilateral`. The default is psa's `crf_inference`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CrfParams {
    /// Mean-field iterations.
    pub iters: usize,
    /// Gaussian kernel: spatial standard deviation (pixels).
    pub gauss_sxy: f32,
    /// Gaussian kernel weight (Potts compatibility).
    pub gauss_compat: f32,
    /// Bilateral kernel: spatial standard deviation (pixels).
    pub bilat_sxy: f32,
    /// Bilateral kernel: colour standard deviation (0..255 units).
    pub bilat_srgb: f32,
    /// Bilateral kernel weight (Potts compatibility).
    pub bilat_compat: f32,
}

impl Default for CrfParams {
    /// psa's settings (also SEAM's and SC-CAM's): 10 iterations, Gaussian
    /// 3/3, bilateral 80/13/10.
    fn default() -> Self {
        CrfParams {
            iters: 10,
            gauss_sxy: 3.0,
            gauss_compat: 3.0,
            bilat_sxy: 80.0,
            bilat_srgb: 13.0,
            bilat_compat: 10.0,
        }
    }
}

impl CrfParams {
    /// SEC's and DSRG's CRF (`krahenbuhl2013/CRF.py` called with scale
    /// factor 12 on 41×41 maps: Gaussian 3/12 px, weight 3; bilateral
    /// 80/12 px, 13, weight 10; 10 iterations) for maps of a network of
    /// output `stride` evaluated at the image's resolution: the spatial
    /// widths times stride/12 image pixels.
    pub fn sec(stride: usize) -> Self {
        let s = stride as f32 / 12.0;
        CrfParams {
            gauss_sxy: 3.0 * s,
            bilat_sxy: 80.0 * s,
            ..CrfParams::default()
        }
    }

    /// IRN's label-mode settings: Gaussian 3/3, bilateral 50/5/10.
    pub fn irn() -> Self {
        CrfParams {
            bilat_sxy: 50.0,
            bilat_srgb: 5.0,
            ..CrfParams::default()
        }
    }

    /// Checks the settings, naming the bad one.
    pub fn validate(&self) -> Result<()> {
        if self.iters > MAX_ITERS {
            return Err(Error::invalid(
                "crf",
                format!(
                    "{} mean-field iterations: at most {MAX_ITERS} (it converges in 5–10)",
                    self.iters
                ),
            ));
        }
        for (name, v) in [
            ("gauss-sxy", self.gauss_sxy),
            ("bilat-sxy", self.bilat_sxy),
            ("bilat-srgb", self.bilat_srgb),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return Err(Error::invalid(
                    "crf",
                    format!("{name} must be positive, got {v}"),
                ));
            }
        }
        for (name, v) in [
            ("gauss-compat", self.gauss_compat),
            ("bilat-compat", self.bilat_compat),
        ] {
            if !v.is_finite() {
                return Err(Error::invalid(
                    "crf",
                    format!("{name} must be finite, got {v}"),
                ));
            }
        }
        Ok(())
    }
}

/// pydensecrf's `unary_from_softmax`: −ln(clip(p', clip, 1)) where
/// p' = scale·p + (1 − scale)/L mixes in the uniform distribution when
/// `scale` is given. `probs` is [L, N].
pub fn unary_from_probs(probs: &[f32], labels: usize, scale: Option<f32>, clip: f32) -> Vec<f32> {
    let uniform = 1.0 / labels.max(1) as f32;
    probs
        .iter()
        .map(|&p| {
            let p = scale.map_or(p, |s| s * p + (1.0 - s) * uniform);
            -p.clamp(clip, 1.0).ln()
        })
        .collect()
}

/// pydensecrf's `unary_from_labels`: −ln(gt_prob) for the given label,
/// −ln((1 − gt_prob)/(L − 1)) for the others. With `zero_unsure`, label 0
/// means "unknown" (uniform) and label l ≥ 1 is class l − 1. Values
/// [N] → [L, N]; a label outside the classes is an error.
pub fn unary_from_labels(
    labels: &[u8],
    n_labels: usize,
    gt_prob: f32,
    zero_unsure: bool,
) -> Result<Vec<f32>> {
    if !(gt_prob > 0.0 && gt_prob < 1.0) || n_labels < 2 {
        return Err(Error::invalid(
            "crf",
            format!("gt_prob {gt_prob} must be in (0, 1) with at least 2 labels ({n_labels})"),
        ));
    }
    let n = labels.len();
    let off = -((1.0 - gt_prob as f64) / (n_labels - 1) as f64).ln() as f32;
    let on = -(gt_prob as f64).ln() as f32;
    let unsure = -(1.0 / n_labels as f64).ln() as f32;
    let mut u = vec![off; n_labels * n];
    for (i, &l) in labels.iter().enumerate() {
        let l = l as usize;
        if zero_unsure && l == 0 {
            for k in 0..n_labels {
                u[k * n + i] = unsure;
            }
            continue;
        }
        let k = if zero_unsure { l - 1 } else { l };
        if k >= n_labels {
            return Err(Error::invalid(
                "crf",
                format!("label {l} at pixel {i} is outside the {n_labels} labels"),
            ));
        }
        u[k * n + i] = on;
    }
    Ok(u)
}

/// One pairwise term: its lattice, normalisation and weight.
struct Pairwise {
    lattice: Lattice,
    norm: Tensor,
    compat: f32,
}

impl Pairwise {
    async fn new(gpu: &Gpu, features: &Tensor, n: usize, d: usize, compat: f32) -> Result<Self> {
        let fh = features.held();
        let lattice = Lattice::build(gpu, fh.v(), n, d).await?;
        let ones = Tensor::ones(gpu, &[n])?;
        let sums = Tensor::empty(gpu, &[n], DType::F32)?;
        let (oh, sh) = (ones.held(), sums.held());
        lattice.filter(gpu, oh.v(), sh.v(), 1, None, false)?;
        let norm = sums.add_scalar(1e-20)?.pow(-0.5)?;
        Ok(Pairwise {
            lattice,
            norm,
            compat,
        })
    }

    /// compat · K̃ q with K̃ = D^−½ K D^−½.
    fn message(&self, q: &Tensor, labels: usize, n: usize) -> Result<Tensor> {
        let out = Tensor::empty(q.gpu(), &[labels, n], DType::F32)?;
        let (qh, oh, nh) = (q.held(), out.held(), self.norm.held());
        self.lattice
            .filter(q.gpu(), qh.v(), oh.v(), labels, Some(nh.v()), false)?;
        out.mul_scalar(self.compat)
    }
}

/// The most pixels a dense CRF with `labels` labels fits in one binding of
/// the adapter's `max_storage_buffer_binding_size`: its bilateral lattice's
/// keys and hash table, and each [labels, pixels] marginal map.
pub fn max_pixels(gpu: &Gpu, labels: usize) -> usize {
    let limit = gpu.limits().max_storage_buffer_binding_size as u64;
    let fits = |n: u64| {
        let n = usize::try_from(n).unwrap_or(usize::MAX);
        lattice::build_binding(n, 5) <= limit && labels as u64 * n as u64 * 4 <= limit
    };
    let (mut lo, mut hi) = (0u64, limit);
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if fits(mid) { lo = mid } else { hi = mid - 1 }
    }
    usize::try_from(lo).unwrap_or(usize::MAX)
}

/// Refuses, before any work, a w×h image whose CRF (with `labels` labels)
/// would need a binding past the adapter's limit: the message gives the
/// limit, the pixels that fit, and the long side to downscale to.
pub fn check_size(gpu: &Gpu, w: usize, h: usize, labels: usize) -> Result<()> {
    let fit = max_pixels(gpu, labels);
    if w * h <= fit {
        return Ok(());
    }
    let side = (w.max(h) as f64 * (fit as f64 / (w * h) as f64).sqrt()).floor() as usize;
    let limit = gpu.limits().max_storage_buffer_binding_size as u64;
    Err(Error::Limit {
        op: "crf",
        msg: format!(
            "a {w}×{h} image{} needs more than this adapter's \
             max_storage_buffer_binding_size ({} MiB) allows, about {fit} pixels: \
             downscale the image and its scores to a long side of at most {side} px \
             (`weakseg crf --max-side {side}`), or use an adapter with a larger limit",
            if labels > 1 {
                format!(" with {labels} labels")
            } else {
                String::new()
            },
            limit >> 20
        ),
    })
}

/// A dense CRF over one image: the lattices of its Gaussian and bilateral
/// kernels, built once and reused for any unary on that image.
pub struct DenseCrf {
    width: usize,
    height: usize,
    iters: usize,
    pairwise: Vec<Pairwise>,
}

impl DenseCrf {
    /// Builds the kernels of `image` under `params`. Terms with zero
    /// compatibility are left out (they contribute nothing).
    pub async fn new(gpu: &Gpu, image: &Rgb, params: &CrfParams) -> Result<DenseCrf> {
        params.validate()?;
        let (w, h) = (image.width, image.height);
        let n = w * h;
        if n == 0 || image.data.len() != n * 3 {
            return Err(Error::invalid(
                "crf",
                format!("image of {w}×{h} holds {} bytes", image.data.len()),
            ));
        }
        check_size(gpu, w, h, 1)?;
        let mut pairwise = Vec::new();
        if params.gauss_compat != 0.0 {
            let f = Tensor::empty(gpu, &[n, 2], DType::F32)?;
            let s = params.gauss_sxy;
            lattice::crf_features(gpu, w, n, (s, s), None, f.held().v())?;
            pairwise.push(Pairwise::new(gpu, &f, n, 2, params.gauss_compat).await?);
        }
        if params.bilat_compat != 0.0 {
            let planar: Vec<f32> = (0..3)
                .flat_map(|c| image.data.iter().skip(c).step_by(3).map(|&v| v as f32))
                .collect();
            let img = Tensor::from_slice(gpu, &planar, &[3, n])?;
            let f = Tensor::empty(gpu, &[n, 5], DType::F32)?;
            let s = params.bilat_sxy;
            let c = params.bilat_srgb;
            let (ih, fh) = (img.held(), f.held());
            lattice::crf_features(gpu, w, n, (s, s), Some((ih.v(), [c, c, c])), fh.v())?;
            pairwise.push(Pairwise::new(gpu, &f, n, 5, params.bilat_compat).await?);
        }
        Ok(DenseCrf {
            width: w,
            height: h,
            iters: params.iters,
            pairwise,
        })
    }

    /// Builds the kernels and waits (native only).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn new_blocking(gpu: &Gpu, image: &Rgb, params: &CrfParams) -> Result<DenseCrf> {
        pollster::block_on(DenseCrf::new(gpu, image, params))
    }

    /// Mean-field marginals Q [L, H, W] from a unary energy [L, H, W]:
    /// Q ← softmax(−U), then `iters` times Q ← softmax(−U + Σ_k w_k K̃_k Q).
    pub fn infer(&self, unary: &Tensor) -> Result<Tensor> {
        let (h, w) = (self.height, self.width);
        let s = unary.shape();
        if s.len() != 3 || s[1] != h || s[2] != w || s[0] == 0 {
            return Err(Error::invalid(
                "crf",
                format!("unary {s:?} for an image of {h}×{w}; want [labels, {h}, {w}]"),
            ));
        }
        let labels = s[0];
        let n = h * w;
        check_size(unary.gpu(), w, h, labels)?;
        crate::no_grad(|| {
            let neg = unary.neg()?.reshape(&[labels, n])?;
            let mut q = neg.softmax(0)?;
            for _ in 0..self.iters {
                q = self.update(&neg, &q)?;
            }
            q.reshape(&[labels, h, w])
        })
    }

    /// One mean-field update: softmax(−U + Σ_k w_k K̃_k Q) from the negated
    /// unary −U and the marginals Q, both [L, H·W]. [`DenseCrf::infer`] runs
    /// `iters` of them; the benchmarks time one.
    pub fn mean_field_step(&self, neg_unary: &Tensor, q: &Tensor) -> Result<Tensor> {
        let n = self.height * self.width;
        let (sn, sq) = (neg_unary.shape(), q.shape());
        if sn.len() != 2 || sn[1] != n || sn[0] == 0 || sq != sn {
            return Err(Error::invalid(
                "crf",
                format!("mean-field step needs −U and Q of [labels, {n}], got {sn:?} and {sq:?}"),
            ));
        }
        crate::no_grad(|| self.update(neg_unary, q))
    }

    fn update(&self, neg: &Tensor, q: &Tensor) -> Result<Tensor> {
        let (labels, n) = (neg.shape()[0], neg.shape()[1]);
        let mut logits = neg.clone();
        for pw in &self.pairwise {
            logits = logits.add(&pw.message(q, labels, n)?)?;
        }
        logits.softmax(0)
    }
}

/// The dense CRF's labels [H, W] (u32) for non-negative class scores
/// `scores` [L, H, W] on the host, at any scale (a random walk's output):
/// each pixel's scores divided by their sum (uniform where all are zero),
/// the unary −log p clipped at 1e-5, `params.iters` mean-field updates on
/// `image`, argmax. psa's author refines the random-walk labels this way
/// before training the segmenter (psa#10), as SPML does its walk's.
pub async fn refine_scores(
    gpu: &Gpu,
    image: &Rgb,
    scores: &[f32],
    labels: usize,
    params: &CrfParams,
) -> Result<Tensor> {
    let n = image.width * image.height;
    if labels == 0 || scores.len() != labels * n {
        return Err(Error::invalid(
            "crf refine",
            format!(
                "{} scores for {labels} labels on a {}×{} image",
                scores.len(),
                image.width,
                image.height
            ),
        ));
    }
    let mut probs = scores.to_vec();
    for p in 0..n {
        let total: f32 = (0..labels).map(|c| probs[c * n + p].max(0.0)).sum();
        for c in 0..labels {
            let v = &mut probs[c * n + p];
            *v = if total > 0.0 {
                v.max(0.0) / total
            } else {
                1.0 / labels as f32
            };
        }
    }
    let unary = unary_from_probs(&probs, labels, None, 1e-5);
    let crf = DenseCrf::new(gpu, image, params).await?;
    crf.infer(&Tensor::from_slice(
        gpu,
        &unary,
        &[labels, image.height, image.width],
    )?)?
    .argmax(0)
}
