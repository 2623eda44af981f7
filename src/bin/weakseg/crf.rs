//! `weakseg crf`: dense-CRF refinement of any probability map (or label
//! map) on any RGB image, with pydensecrf's parameters.

use std::path::PathBuf;
use std::time::Instant;

use weakseg::data::augment::{Cam, Item, rescale};
use weakseg::io::labels::{self, LabelMap};
use weakseg::io::{image, npy};
use weakseg::refine::crf::{CrfParams, DenseCrf, unary_from_labels, unary_from_probs};
use weakseg::{Error, Gpu, Result, Tensor};

/// Arguments of `weakseg crf`.
#[derive(clap::Args)]
pub struct CrfArgs {
    /// RGB image (PNG or JPEG).
    #[arg(long)]
    image: PathBuf,
    /// Probabilities [L, H, W] as a float32 .npy (unary −ln p, as
    /// pydensecrf's unary_from_softmax).
    #[arg(long, conflicts_with = "labels", required_unless_present = "labels")]
    probs: Option<PathBuf>,
    /// Or a label PNG (unary_from_labels, label 0 = unsure unless
    /// --no-zero-unsure).
    #[arg(long)]
    labels: Option<PathBuf>,
    /// Number of labels for --labels.
    #[arg(long, requires = "labels")]
    n_labels: Option<usize>,
    /// Confidence of --labels.
    #[arg(long, default_value_t = 0.7)]
    gt_prob: f32,
    /// Treat label 0 as an ordinary class in --labels.
    #[arg(long)]
    no_zero_unsure: bool,
    /// Output label PNG (argmax of the marginals, VOC palette).
    #[arg(long)]
    out: PathBuf,
    /// Also save the marginals [L, H, W] as a float32 .npy.
    #[arg(long)]
    save_probs: Option<PathBuf>,
    /// Mean-field iterations.
    #[arg(long, default_value_t = 10)]
    iters: usize,
    /// Gaussian kernel spatial standard deviation.
    #[arg(long, default_value_t = 3.0)]
    gauss_sxy: f32,
    /// Gaussian kernel weight.
    #[arg(long, default_value_t = 3.0)]
    gauss_compat: f32,
    /// Bilateral kernel spatial standard deviation.
    #[arg(long, default_value_t = 80.0)]
    bilat_sxy: f32,
    /// Bilateral kernel colour standard deviation.
    #[arg(long, default_value_t = 13.0)]
    bilat_srgb: f32,
    /// Bilateral kernel weight.
    #[arg(long, default_value_t = 10.0)]
    bilat_compat: f32,
    /// Run the CRF on the image and its unary downscaled (bilinear) to this
    /// long side, and upsample the marginals (bilinear) to the full size:
    /// for images past the adapter's binding limit. The spatial widths are
    /// in the small image's pixels.
    #[arg(long)]
    max_side: Option<usize>,
}

/// Runs `weakseg crf`.
pub fn run(gpu: &Gpu, a: &CrfArgs) -> Result<()> {
    let params = CrfParams {
        iters: a.iters,
        gauss_sxy: a.gauss_sxy,
        gauss_compat: a.gauss_compat,
        bilat_sxy: a.bilat_sxy,
        bilat_srgb: a.bilat_srgb,
        bilat_compat: a.bilat_compat,
    };
    params.validate()?;
    let img = image::read(&a.image)?;
    let (h, w) = (img.height, img.width);
    let (unary, l) = match (&a.probs, &a.labels) {
        (Some(p), _) => {
            let probs = npy::read(p)?;
            probs.check_values(p, true)?;
            if probs.shape.len() != 3 || probs.shape[1] != h || probs.shape[2] != w {
                return Err(Error::invalid(
                    "crf",
                    format!(
                        "{}: shape {:?} does not match the image ({h}×{w}); want [labels, {h}, {w}]",
                        p.display(),
                        probs.shape
                    ),
                ));
            }
            let l = probs.shape[0];
            (unary_from_probs(&probs.data, l, None, 1e-5), l)
        }
        (None, Some(lp)) => {
            let map = labels::read(lp)?;
            if (map.width, map.height) != (w, h) {
                return Err(Error::invalid(
                    "crf",
                    format!(
                        "{}: {}×{} labels for a {w}×{h} image",
                        lp.display(),
                        map.width,
                        map.height
                    ),
                ));
            }
            let l = a
                .n_labels
                .ok_or_else(|| Error::invalid("crf", "--labels needs --n-labels"))?;
            (
                unary_from_labels(&map.data, l, a.gt_prob, !a.no_zero_unsure)?,
                l,
            )
        }
        (None, None) => return Err(Error::invalid("crf", "give --probs or --labels")),
    };
    let (small_w, small_h) = match a.max_side {
        Some(0) => return Err(Error::invalid("crf", "--max-side 0: want at least 1 px")),
        Some(s) if w.max(h) > s => {
            let f = s as f64 / w.max(h) as f64;
            (
                ((w as f64 * f).round() as usize).max(1),
                ((h as f64 * f).round() as usize).max(1),
            )
        }
        _ => (w, h),
    };
    if l > 256 {
        return Err(Error::invalid(
            "crf",
            format!("{l} labels do not fit a PNG label map (at most 256)"),
        ));
    }
    let t = Instant::now();
    let (small, unary) = if (small_w, small_h) == (w, h) {
        (img, unary)
    } else {
        let item = rescale(planes(img, l, unary), small_w, small_h);
        (item.rgb, item.cam.map(|c| c.data).unwrap_or_default())
    };
    let crf = DenseCrf::new_blocking(gpu, &small, &params)?;
    gpu.sync();
    let built = t.elapsed().as_secs_f64();
    let q = crf.infer(&Tensor::from_slice(gpu, &unary, &[l, small_h, small_w])?)?;
    let downscaled = (small_w, small_h) != (w, h);
    // The marginals come to the host only when they are upsampled or
    // saved; otherwise only the argmax (one u32 per pixel) does.
    let host: Option<Vec<f32>> = if downscaled || a.save_probs.is_some() {
        let q: Vec<f32> = q.to_vec_blocking()?;
        Some(if downscaled {
            rescale(planes(small, l, q), w, h)
                .cam
                .map(|c| c.data)
                .unwrap_or_default()
        } else {
            q
        })
    } else {
        None
    };
    let data: Vec<u8> = match &host {
        Some(q) => {
            let n = w * h;
            (0..n)
                .map(|i| {
                    (0..l).fold(0, |best, c| {
                        if q[c * n + i] > q[best * n + i] {
                            c
                        } else {
                            best
                        }
                    }) as u8
                })
                .collect()
        }
        None => q
            .argmax(0)?
            .to_vec_blocking::<u32>()?
            .into_iter()
            .map(|v| v as u8)
            .collect(),
    };
    eprintln!(
        "crf: {small_w}×{small_h}, {l} labels: lattices {built:.3} s, {} iterations {:.3} s",
        params.iters,
        t.elapsed().as_secs_f64() - built
    );
    if let (Some(sp), Some(q)) = (&a.save_probs, &host) {
        npy::write(sp, &[l, h, w], q)?;
    }
    labels::write(
        &a.out,
        &LabelMap {
            width: w,
            height: h,
            data,
        },
    )
}

/// An image with `l` planes of scores, for [`rescale`] (bilinear for both).
fn planes(rgb: image::Rgb, l: usize, data: Vec<f32>) -> Item {
    Item {
        rgb,
        mask: None,
        cam: Some(Cam { channels: l, data }),
        points: Vec::new(),
        scribbles: Vec::new(),
        boxes: Vec::new(),
    }
}
