//! Images in and out: decoding PNG/JPEG to RGB, resizing, and the ImageNet
//! normalisation every WSSS backbone expects (pixels/255, minus the mean,
//! over the std, channels RGB).

use weakseg_kernels::{Error, Result};

/// ImageNet channel means (RGB), on pixels scaled to [0, 1].
pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
/// ImageNet channel standard deviations (RGB).
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

/// An 8-bit RGB image, rows top to bottom, pixels interleaved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rgb {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// `height·width·3` bytes.
    pub data: Vec<u8>,
}

/// Decodes PNG or JPEG bytes; `what` names the source in errors. A JPEG
/// must run to its end-of-image marker: the decoder would fill a file cut
/// short with grey and read it as whole.
pub fn decode(bytes: &[u8], what: &str) -> Result<Rgb> {
    if bytes.starts_with(&[0xFF, 0xD8]) {
        jpeg_complete(bytes).map_err(|m| Error::format(what, m))?;
    }
    let img = image::load_from_memory(bytes)
        .map_err(|e| Error::format(what, format!("cannot decode image: {e}")))?
        .to_rgb8();
    Ok(Rgb {
        width: img.width() as usize,
        height: img.height() as usize,
        data: img.into_raw(),
    })
}

/// Walks a JPEG's segments and entropy-coded data to its end-of-image
/// marker; a file that ends first is cut short. Bytes after the marker
/// (some cameras append data) are allowed.
fn jpeg_complete(b: &[u8]) -> std::result::Result<(), String> {
    let cut = |at: usize| {
        format!(
            "the JPEG is cut short: no end-of-image marker in its {} bytes (stopped at byte {at})",
            b.len()
        )
    };
    let mut i = 2;
    loop {
        if i >= b.len() {
            return Err(cut(i));
        }
        if b[i] != 0xFF {
            return Err(format!("corrupt JPEG: byte {i} should start a marker"));
        }
        while i < b.len() && b[i] == 0xFF {
            i += 1;
        }
        let Some(&marker) = b.get(i) else {
            return Err(cut(i));
        };
        i += 1;
        match marker {
            0xD9 => return Ok(()),
            0x01 | 0xD0..=0xD7 => continue,
            _ => {}
        }
        let Some(len) = b
            .get(i..i + 2)
            .map(|l| u16::from_be_bytes([l[0], l[1]]) as usize)
        else {
            return Err(cut(i));
        };
        if len < 2 {
            return Err(format!(
                "corrupt JPEG: segment at byte {i} has length {len}"
            ));
        }
        i += len;
        if i > b.len() {
            return Err(cut(b.len()));
        }
        if marker == 0xDA {
            // Entropy-coded data runs to the next marker: FF 00 is a
            // stuffed byte, FF D0–D7 a restart, FF FF fill.
            loop {
                match (b.get(i), b.get(i + 1)) {
                    (None, _) | (Some(0xFF), None) => return Err(cut(b.len())),
                    (Some(0xFF), Some(0x00 | 0xD0..=0xD7)) => i += 2,
                    (Some(0xFF), Some(0xFF)) => i += 1,
                    (Some(0xFF), Some(_)) => break,
                    _ => i += 1,
                }
            }
        }
    }
}

/// Reads and decodes an image file.
#[cfg(not(target_arch = "wasm32"))]
pub fn read(path: &std::path::Path) -> Result<Rgb> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path.display(), e))?;
    decode(&bytes, &path.display().to_string())
}

/// Resizes so the shorter side is `side` pixels (bilinear), as
/// torchvision's `Resize(side)`.
pub fn resize_shorter(img: &Rgb, side: usize) -> Result<Rgb> {
    if side == 0 || img.width == 0 || img.height == 0 {
        return Err(Error::invalid(
            "resize",
            format!(
                "cannot resize {}×{} to a side of {side}",
                img.width, img.height
            ),
        ));
    }
    let short = img.width.min(img.height) as f64;
    let (w, h) = (
        ((img.width as f64 * side as f64 / short).round() as u32).max(1),
        ((img.height as f64 * side as f64 / short).round() as u32).max(1),
    );
    let buf = image::RgbImage::from_raw(img.width as u32, img.height as u32, img.data.clone())
        .ok_or_else(|| Error::invalid("resize", "pixel buffer does not match the size"))?;
    let out = image::imageops::resize(&buf, w, h, image::imageops::FilterType::Triangle);
    Ok(Rgb {
        width: w as usize,
        height: h as usize,
        data: out.into_raw(),
    })
}

/// Resizes to w×h as PIL's `Image.resize(…, BICUBIC)`, which psa's and
/// IRN's `pil_rescale` use for each CAM scale: the cubic kernel with
/// a = −0.5, its support widened by the factor when shrinking (so a
/// downscaled view is antialiased), rounded and clamped to bytes.
pub fn resize_bicubic(img: &Rgb, w: usize, h: usize) -> Result<Rgb> {
    if w == 0 || h == 0 {
        return Err(Error::invalid(
            "resize",
            format!("cannot resize {}×{} to {w}×{h}", img.width, img.height),
        ));
    }
    let buf = image::RgbImage::from_raw(img.width as u32, img.height as u32, img.data.clone())
        .ok_or_else(|| Error::invalid("resize", "pixel buffer does not match the size"))?;
    let out = image::imageops::resize(
        &buf,
        w as u32,
        h as u32,
        image::imageops::FilterType::CatmullRom,
    );
    Ok(Rgb {
        width: w,
        height: h,
        data: out.into_raw(),
    })
}

/// The image whose [`normalize_imagenet`] is `chw` (3 planes of
/// `width`·`height`), rounded and clamped to bytes: the RGB pixels of a
/// network input, for refinements (the dense CRF) that need colours.
pub fn denormalize_imagenet(chw: &[f32], width: usize, height: usize) -> Result<Rgb> {
    let hw = width * height;
    if chw.len() != 3 * hw {
        return Err(Error::invalid(
            "denormalize",
            format!("{} values for 3 planes of {width}×{height}", chw.len()),
        ));
    }
    let data = (0..hw)
        .flat_map(|p| {
            (0..3).map(move |c| {
                ((chw[c * hw + p] * IMAGENET_STD[c] + IMAGENET_MEAN[c]) * 255.0)
                    .round()
                    .clamp(0.0, 255.0) as u8
            })
        })
        .collect();
    Ok(Rgb {
        width,
        height,
        data,
    })
}

/// CHW floats normalised with the ImageNet mean and std.
pub fn normalize_imagenet(img: &Rgb) -> Vec<f32> {
    let hw = img.width * img.height;
    let mut out = vec![0f32; 3 * hw];
    for (p, px) in img.data.chunks_exact(3).enumerate() {
        for c in 0..3 {
            out[c * hw + p] = (px[c] as f32 / 255.0 - IMAGENET_MEAN[c]) / IMAGENET_STD[c];
        }
    }
    out
}
