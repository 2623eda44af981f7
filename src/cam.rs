//! Class activation maps: computed on the GPU by a dedicated kernel
//! (classifier-weighted sum of the feature map, ReLU, absent classes
//! zeroed), aggregated over scales and flips and normalised per class as psa
//! and IRN do ([`multiscale`]), and turned into label maps with a constant
//! background score ([`label_map`]).

use serde::{Deserialize, Serialize};
use weakseg_kernels::launch::cam::{self as kcam, CamShape};
use weakseg_kernels::{Error, Result};

use crate::io::image::{Rgb, normalize_imagenet, resize_bicubic};
use crate::models::CamNet;
use crate::ops::resize::ResizeMode;
use crate::tensor::{DType, Tensor};

/// CAMs [B, K, h, w] of a feature map [B, C, h, w] under classifier weights
/// [K, C] (or [K, C, 1, 1]): ReLU of the class-weighted channel sum, with
/// classes whose `present` flag is false set to zero. No autograd.
pub fn maps(features: &Tensor, weight: &Tensor, present: &[bool]) -> Result<Tensor> {
    let fs = features.shape();
    let ws = weight.shape();
    if fs.len() != 4 || ws.len() < 2 || ws[1] != fs[1] || ws[0] != present.len() {
        return Err(Error::invalid(
            "cam",
            format!(
                "features {fs:?}, weights {ws:?} and {} class flags do not agree",
                present.len()
            ),
        ));
    }
    features.check_dtype("cam", DType::F32)?;
    let s = CamShape {
        batch: fs[0],
        channels: fs[1],
        classes: ws[0],
        hw: fs[2] * fs[3],
    };
    let gpu = features.gpu();
    let flags: Vec<f32> = present.iter().map(|&p| p as u32 as f32).collect();
    let flags = Tensor::from_slice(gpu, &flags, &[flags.len()])?;
    let out = Tensor::empty(gpu, &[fs[0], ws[0], fs[2], fs[3]], DType::F32)?;
    let (fh, wh, ph, oh) = (features.held(), weight.held(), flags.held(), out.held());
    kcam::cam(gpu, s, fh.v(), wh.v(), ph.v(), oh.v())?;
    Ok(out)
}

/// Divides each map of `cams` ([.., h, w]) by its spatial maximum + 1e-5,
/// so present classes peak at (almost) 1 and zero maps stay zero.
pub fn normalise(cams: &Tensor) -> Result<Tensor> {
    let s = cams.shape();
    if s.len() < 2 {
        return Err(Error::invalid("cam", format!("maps {s:?} need [.., h, w]")));
    }
    let hw = s[s.len() - 2] * s[s.len() - 1];
    let maps = cams.numel() / hw.max(1);
    let (peaks, _) = cams.reshape(&[maps, hw])?.max_axis(1, false)?;
    let out = Tensor::empty(cams.gpu(), s, DType::F32)?;
    let (ch, ph, oh) = (cams.held(), peaks.held(), out.held());
    kcam::normalise(cams.gpu(), maps, hw, ch.v(), ph.v(), oh.v(), 1e-5)?;
    Ok(out)
}

/// How [`multiscale`] scales a method's summed maps, as the method's
/// released inference script does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Normalisation {
    /// Each map over its maximum + 1e-5 (psa `infer_cls.py`, IRN
    /// `make_cam.py`): [`normalise`].
    Max,
    /// SEAM's min-max (`infer_SEAM.py:72–77`): [`min_max`].
    MinMax,
}

/// SEAM's inference normalisation of summed maps [K, h, w] (`infer_SEAM.py`
/// lines 72–77): clamped at 0, values below min + 1e-5 set to 0, then
/// (x − min − 1e-5)/(max − min + 1e-5) per map, min and max taken after
/// the clamp. The pixels at a map's minimum therefore come out slightly
/// negative, as in the released code. Maps of classes not flagged in
/// `present` (SEAM does not keep them) stay zero.
pub fn min_max(maps: &Tensor, present: &[bool]) -> Result<Tensor> {
    let s = maps.shape();
    if s.len() != 3 || s[0] != present.len() {
        return Err(Error::invalid(
            "cam",
            format!("maps {s:?} for {} classes; want [K, h, w]", present.len()),
        ));
    }
    let (k, hw) = (s[0], s[1] * s[2]);
    let x = maps.reshape(&[k, hw])?.relu()?;
    let (lo, _) = x.min_axis(1, true)?;
    let (hi, _) = x.max_axis(1, true)?;
    let floor = lo.add_scalar(1e-5)?;
    let kept = x.mul(&x.ge(&floor)?)?;
    let flags: Vec<f32> = present.iter().map(|&p| p as u8 as f32).collect();
    let flags = Tensor::from_slice(maps.gpu(), &flags, &[k, 1])?;
    kept.sub(&floor)?
        .div(&hi.sub(&lo)?.add_scalar(1e-5)?)?
        .mul(&flags)?
        .reshape(s)
}

/// A network that yields class activation maps: what [`multiscale`] runs
/// at every scale. The plain [`CamNet`] and every method's network
/// (`crate::methods::MethodNet`) implement it.
pub trait CamSource {
    /// Non-negative maps [B, K, h, w] of images [B, 3, H, W], classes not
    /// flagged in `present` zero. Called under no-grad.
    fn cam_maps(&self, x: &Tensor, present: &[bool]) -> Result<Tensor>;

    /// How the summed maps are normalised at inference: by their maximum
    /// unless the method's released inference does otherwise.
    fn normalisation(&self) -> Normalisation {
        Normalisation::Max
    }
}

impl CamSource for CamNet {
    /// The CAM kernel on the backbone's features.
    fn cam_maps(&self, x: &Tensor, present: &[bool]) -> Result<Tensor> {
        let f = self.precision.features(&self.backbone, x)?;
        maps(&f, &self.head.classifier.weight.get(), present)
    }
}

/// How [`multiscale`] makes each scale's view of an image.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ViewResize {
    /// The image's pixels resized by PIL's bicubic filter, as psa's and
    /// IRN's `pil_rescale` (antialiased when shrinking), then normalised.
    #[default]
    Bicubic,
    /// The normalised tensor resized bilinearly ([`views`]): cheaper, on
    /// the GPU, but the 0.5× view aliases.
    Bilinear,
}

/// Multi-scale, flip-averaged CAM inference (psa's `infer_cls.py`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MultiScale {
    /// Image scales (the default: 1, 0.5, 1.5, 2).
    pub scales: Vec<f32>,
    /// Also run each scale on the horizontally flipped image.
    pub flip: bool,
    /// How each scale's view is made (psa's bicubic by default).
    #[serde(default)]
    pub resize: ViewResize,
}

impl Default for MultiScale {
    fn default() -> Self {
        MultiScale {
            scales: vec![1.0, 0.5, 1.5, 2.0],
            flip: true,
            resize: ViewResize::Bicubic,
        }
    }
}

impl MultiScale {
    /// The largest scale accepted: 8× a VOC image is already 4000 px.
    pub const MAX_SCALE: f32 = 8.0;

    /// At least one scale, each a finite number in (0, 8].
    pub fn validate(&self) -> Result<()> {
        if self.scales.is_empty() {
            return Err(Error::invalid(
                "cam",
                "no scales: give at least one (1.0 is the image itself)",
            ));
        }
        match self
            .scales
            .iter()
            .find(|s| !(**s > 0.0 && **s <= Self::MAX_SCALE))
        {
            Some(s) => Err(Error::invalid(
                "cam",
                format!(
                    "scale {s} in {:?}: want numbers in (0, {}]",
                    self.scales,
                    Self::MAX_SCALE
                ),
            )),
            None => Ok(()),
        }
    }
}

/// Images [B, 3, H, W] rescaled by `scale` (bilinear, align_corners false;
/// each side rounded, at least 1; the images themselves at scale 1), and,
/// with `flip`, followed by their mirror images along the batch axis:
/// the views of multi-scale, flip-averaged inference.
pub fn views(images: &Tensor, scale: f32, flip: bool) -> Result<Tensor> {
    let s = images.shape();
    let (h, w) = (s[s.len() - 2], s[s.len() - 1]);
    let size = (scaled(h, scale), scaled(w, scale));
    let x = if size == (h, w) {
        images.clone()
    } else {
        images.interpolate(size, ResizeMode::Bilinear(false))?
    };
    with_mirror(x, flip)
}

/// The normalised CAMs [K, H, W] of one image ([1, 3, H, W], normalised as
/// for training) with its classes flagged in `present`: at each scale (and
/// its flip) the CAMs are bilinearly upsampled to H×W, un-flipped and summed;
/// absent classes are zero; each class is normalised as the source says
/// ([`CamSource::normalisation`]: by its maximum, or SEAM's min-max). Each
/// view is made as `ms.resize` says: by default as psa and IRN make it,
/// the image's pixels resized bicubically.
pub fn multiscale(
    net: &dyn CamSource,
    image: &Tensor,
    present: &[bool],
    ms: &MultiScale,
) -> Result<Tensor> {
    let (h, w) = one_image(image)?;
    let resized = ms
        .scales
        .iter()
        .any(|&sc| scaled(h, sc) != h || scaled(w, sc) != w);
    let rgb = match ms.resize {
        ViewResize::Bicubic if resized => Some(host_pixels(image)?),
        _ => None,
    };
    summed_views(net, image, rgb.as_ref(), present, ms)
}

/// [`multiscale`] for a caller that holds the image's pixels `rgb` (as the
/// CAM stage does): the bicubic views need no readback of `image`.
pub fn multiscale_with_pixels(
    net: &dyn CamSource,
    image: &Tensor,
    rgb: &Rgb,
    present: &[bool],
    ms: &MultiScale,
) -> Result<Tensor> {
    let (h, w) = one_image(image)?;
    if (rgb.height, rgb.width) != (h, w) {
        return Err(Error::invalid(
            "cam",
            format!(
                "pixels {}×{} for an image of {w}×{h}",
                rgb.width, rgb.height
            ),
        ));
    }
    let rgb = (ms.resize == ViewResize::Bicubic).then_some(rgb);
    summed_views(net, image, rgb, present, ms)
}

/// (H, W) of one RGB image [1, 3, H, W], or an error naming the shape.
fn one_image(image: &Tensor) -> Result<(usize, usize)> {
    match *image.shape() {
        [1, 3, h, w] => Ok((h, w)),
        ref s => Err(Error::invalid(
            "cam",
            format!("image {s:?}; want [1, 3, H, W]"),
        )),
    }
}

/// The summed views of `image`: bicubic from `rgb` when given, else
/// bilinear on the tensor.
fn summed_views(
    net: &dyn CamSource,
    image: &Tensor,
    rgb: Option<&Rgb>,
    present: &[bool],
    ms: &MultiScale,
) -> Result<Tensor> {
    let s = image.shape();
    summed(net, (s[2], s[3]), present, ms, &|sc| match rgb {
        Some(rgb) => bicubic_views(image, rgb, sc, ms.flip),
        None => views(image, sc, ms.flip),
    })
}

/// `x`, followed along the batch axis by its mirror image with `flip`.
fn with_mirror(x: Tensor, flip: bool) -> Result<Tensor> {
    if flip {
        Tensor::concat(&[x.clone(), x.flip(3)?], 0)
    } else {
        Ok(x)
    }
}

/// A side of `v` pixels at `scale`: rounded, at least 1.
fn scaled(v: usize, scale: f32) -> usize {
    ((v as f32 * scale).round() as usize).max(1)
}

/// The RGB pixels of a normalised image [1, 3, H, W], read back to the
/// host for the bicubic views.
#[cfg(not(target_arch = "wasm32"))]
fn host_pixels(image: &Tensor) -> Result<Rgb> {
    let s = image.shape();
    crate::io::image::denormalize_imagenet(&image.to_vec_blocking::<f32>()?, s[3], s[2])
}

/// In the browser nothing blocks: the bicubic views, which resize the
/// pixels on the host, are refused there.
#[cfg(target_arch = "wasm32")]
fn host_pixels(_image: &Tensor) -> Result<Rgb> {
    Err(Error::invalid(
        "cam",
        "bicubic views resize the pixels on the host; in the browser use resize = \"bilinear\"",
    ))
}

/// The view of `image` (normalised [1, 3, H, W], whose pixels are `rgb`)
/// at `scale` as psa's `infer_cls.py` and IRN's `make_cam.py` make it: the
/// RGB image resized by PIL's bicubic filter (`pil_rescale`; antialiased
/// when shrinking, [`resize_bicubic`]) to the rounded scaled size, then
/// normalised; the image itself at its own size; with `flip`, followed by
/// its mirror image.
fn bicubic_views(image: &Tensor, rgb: &Rgb, scale: f32, flip: bool) -> Result<Tensor> {
    let (w, h) = (rgb.width, rgb.height);
    let (vw, vh) = (scaled(w, scale), scaled(h, scale));
    let x = if (vw, vh) == (w, h) {
        image.clone()
    } else {
        let small = normalize_imagenet(&resize_bicubic(rgb, vw, vh)?);
        Tensor::from_slice(image.gpu(), &small, &[1, 3, vh, vw])?
    };
    with_mirror(x, flip)
}

/// The CAMs of the views `view(scale)` of an H×W image (each [1, 3, h, w],
/// followed by its flip with `ms.flip`), upsampled, un-flipped, summed and
/// normalised.
fn summed(
    net: &dyn CamSource,
    (h, w): (usize, usize),
    present: &[bool],
    ms: &MultiScale,
    view: &dyn Fn(f32) -> Result<Tensor>,
) -> Result<Tensor> {
    if ms.scales.is_empty() || ms.scales.iter().any(|v| !(v.is_finite() && *v > 0.0)) {
        return Err(Error::invalid(
            "cam",
            format!("scales {:?} must be positive", ms.scales),
        ));
    }
    crate::no_grad(|| {
        let mut sum: Option<Tensor> = None;
        for &sc in &ms.scales {
            let x = view(sc)?;
            let up = net
                .cam_maps(&x, present)?
                .interpolate((h, w), ResizeMode::Bilinear(false))?;
            let total = if ms.flip {
                up.narrow(0, 0, 1)?.add(&up.narrow(0, 1, 1)?.flip(3)?)?
            } else {
                up
            };
            sum = Some(match sum {
                None => total,
                Some(a) => a.add(&total)?,
            });
        }
        let k = present.len();
        let sum = sum
            .ok_or_else(|| Error::invalid("cam", "no scales"))?
            .reshape(&[k, h, w])?;
        match net.normalisation() {
            Normalisation::Max => normalise(&sum),
            Normalisation::MinMax => min_max(&sum, present),
        }
    })
}

/// The strongest present class at each pixel of `cams` ([K, H, W]
/// row-major, raw or ReLU'd) and its score after dividing each class map
/// by its maximum (negative values count as 0): (label k + 1, score), or
/// (0, 0) where no present class is positive. Thresholding the scores gives
/// [`label_map`] at any background threshold without redoing this pass.
pub fn best_class(
    cams: &[f32],
    present: &[bool],
    h: usize,
    w: usize,
) -> Result<(Vec<u8>, Vec<f32>)> {
    let k = present.len();
    if cams.len() != k * h * w {
        return Err(Error::invalid(
            "cam::label_map",
            format!("{} CAM values for {k} classes of {h}×{w}", cams.len()),
        ));
    }
    if k > 254 {
        return Err(Error::invalid(
            "cam::label_map",
            format!("{k} classes do not fit a label PNG"),
        ));
    }
    let hw = h * w;
    let maxes: Vec<f32> = (0..k)
        .map(|c| {
            cams[c * hw..(c + 1) * hw]
                .iter()
                .copied()
                .fold(1e-5, f32::max)
        })
        .collect();
    Ok((0..hw)
        .map(|p| {
            let mut best = (0u8, 0f32);
            for c in (0..k).filter(|&c| present[c]) {
                let v = cams[c * hw + p].max(0.0) / maxes[c];
                if v > best.1 {
                    best = (c as u8 + 1, v);
                }
            }
            best
        })
        .unzip())
}

/// The label map from [`best_class`] at a background threshold: a pixel is
/// background (0) unless its best score exceeds `threshold`.
pub fn threshold_labels(best: &(Vec<u8>, Vec<f32>), threshold: f32) -> Vec<u8> {
    best.0
        .iter()
        .zip(&best.1)
        .map(|(&l, &v)| if v > threshold { l } else { 0 })
        .collect()
}

/// The label map of `cams` ([K, H, W] row-major, raw or ReLU'd) for an image
/// with the foreground classes flagged in `present` ([K]): each class map is
/// divided by its maximum (negative values count as 0), classes not present
/// are ignored, and a pixel is background (0) unless some class exceeds
/// `threshold`, else the best class k gets label k + 1.
pub fn label_map(
    cams: &[f32],
    present: &[bool],
    h: usize,
    w: usize,
    threshold: f32,
) -> Result<Vec<u8>> {
    Ok(threshold_labels(
        &best_class(cams, present, h, w)?,
        threshold,
    ))
}
