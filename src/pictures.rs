//! Pictures for people: label maps in the VOC palette, CAM heat maps over
//! images, annotations (boxes, points, scribbles) drawn on images, and the
//! per-sample grid image | CAM | pseudo-mask | prediction | ground truth.

use weakseg_kernels::{Error, Result};

use crate::data::annotations::BoxLabel;
use crate::io::image::Rgb;
use crate::io::labels::{LabelMap, voc_palette};

/// A label map in VOC colours (void in VOC's cream).
pub fn colourise(map: &LabelMap) -> Rgb {
    let pal = voc_palette();
    Rgb {
        width: map.width,
        height: map.height,
        data: map.data.iter().flat_map(|&l| pal[l as usize]).collect(),
    }
}

/// The jet colour map at t ∈ [0, 1] (blue → cyan → yellow → red).
pub fn jet(t: f32) -> [u8; 3] {
    let t = t.clamp(0.0, 1.0);
    let ch = |c: f32| ((1.5 - (4.0 * t - c).abs()).clamp(0.0, 1.0) * 255.0).round() as u8;
    [ch(3.0), ch(2.0), ch(1.0)]
}

/// `img` blended with the jet colours of `cam` (one h×w plane, any range:
/// scaled by its maximum), weight `alpha` on the heat map.
pub fn cam_overlay(img: &Rgb, cam: &[f32], alpha: f32) -> Result<Rgb> {
    if cam.len() != img.width * img.height {
        return Err(Error::invalid(
            "cam_overlay",
            format!(
                "{} CAM values for a {}×{} image",
                cam.len(),
                img.width,
                img.height
            ),
        ));
    }
    let max = cam.iter().copied().fold(0f32, f32::max).max(1e-12);
    let data = img
        .data
        .chunks_exact(3)
        .zip(cam)
        .flat_map(|(p, &v)| {
            let h = jet(v.max(0.0) / max);
            [0, 1, 2].map(|c| (p[c] as f32 * (1.0 - alpha) + h[c] as f32 * alpha).round() as u8)
        })
        .collect();
    Ok(Rgb {
        data,
        ..img.clone()
    })
}

/// `img` with a label map blended over it (background and void left clear).
pub fn label_overlay(img: &Rgb, map: &LabelMap, alpha: f32) -> Rgb {
    let pal = voc_palette();
    let data = img
        .data
        .chunks_exact(3)
        .zip(&map.data)
        .flat_map(|(p, &l)| {
            if l == 0 || l == 255 {
                [p[0], p[1], p[2]]
            } else {
                [0, 1, 2].map(|c| {
                    (p[c] as f32 * (1.0 - alpha) + pal[l as usize][c] as f32 * alpha).round() as u8
                })
            }
        })
        .collect();
    Rgb {
        data,
        ..img.clone()
    }
}

fn put(img: &mut Rgb, x: isize, y: isize, c: [u8; 3]) {
    if x >= 0 && y >= 0 && (x as usize) < img.width && (y as usize) < img.height {
        let i = (y as usize * img.width + x as usize) * 3;
        img.data[i..i + 3].copy_from_slice(&c);
    }
}

fn line(img: &mut Rgb, a: [f32; 2], b: [f32; 2], c: [u8; 3]) {
    let steps = ((b[0] - a[0]).abs().max((b[1] - a[1]).abs()) * 2.0)
        .ceil()
        .max(1.0) as usize;
    for s in 0..=steps {
        let t = s as f32 / steps as f32;
        put(
            img,
            (a[0] + t * (b[0] - a[0])).round() as isize,
            (a[1] + t * (b[1] - a[1])).round() as isize,
            c,
        );
    }
}

/// One label's marks to draw: (label, points, scribble polylines).
pub type LabelMarks = (u8, Vec<[f32; 2]>, Vec<Vec<[f32; 2]>>);

/// Draws box outlines in their class colours, scribbles as polylines and
/// points as small crosses (each mark in the colour of its label).
pub fn draw_annotations(img: &Rgb, boxes: &[BoxLabel], marks: &[LabelMarks]) -> Rgb {
    let pal = voc_palette();
    let mut out = img.clone();
    let colour = |l: u8| {
        if l == 0 {
            [255, 255, 255]
        } else {
            pal[l as usize]
        }
    };
    for b in boxes {
        let c = colour(b.class);
        let (x0, y0, x1, y1) = (b.xmin as f32, b.ymin as f32, b.xmax as f32, b.ymax as f32);
        for (p, q) in [
            ([x0, y0], [x1, y0]),
            ([x1, y0], [x1, y1]),
            ([x1, y1], [x0, y1]),
            ([x0, y1], [x0, y0]),
        ] {
            line(&mut out, p, q, c);
        }
    }
    for (label, points, scribbles) in marks {
        let c = colour(*label);
        for s in scribbles {
            for w in s.windows(2) {
                line(&mut out, w[0], w[1], c);
            }
            if let [only] = s.as_slice() {
                put(
                    &mut out,
                    only[0].round() as isize,
                    only[1].round() as isize,
                    c,
                );
            }
        }
        for p in points {
            let (x, y) = (p[0].round() as isize, p[1].round() as isize);
            for d in -2..=2 {
                put(&mut out, x + d, y, c);
                put(&mut out, x, y + d, c);
            }
        }
    }
    out
}

/// Panels side by side with a 2-pixel grey gap; a missing panel is grey.
/// Panels must share one height.
pub fn grid(panels: &[Option<Rgb>]) -> Result<Rgb> {
    let first = panels
        .iter()
        .flatten()
        .next()
        .ok_or_else(|| Error::invalid("grid", "no panels"))?;
    let (pw, h) = (first.width, first.height);
    if panels
        .iter()
        .flatten()
        .any(|p| p.width != pw || p.height != h)
    {
        return Err(Error::invalid("grid", "panels differ in size"));
    }
    let gap = 2;
    let w = panels.len() * pw + (panels.len() - 1) * gap;
    let mut data = vec![128u8; w * h * 3];
    for (k, p) in panels.iter().enumerate() {
        if let Some(p) = p {
            let x0 = k * (pw + gap);
            for y in 0..h {
                let dst = (y * w + x0) * 3;
                data[dst..dst + pw * 3].copy_from_slice(&p.data[y * pw * 3..(y + 1) * pw * 3]);
            }
        }
    }
    Ok(Rgb {
        width: w,
        height: h,
        data,
    })
}

/// The sample grid: image | CAM overlay | pseudo-mask | prediction | ground
/// truth, any of the last four missing.
pub fn sample_grid(
    img: &Rgb,
    cam: Option<&[f32]>,
    pseudo: Option<&LabelMap>,
    pred: Option<&LabelMap>,
    gt: Option<&LabelMap>,
) -> Result<Rgb> {
    let cam = cam.map(|c| cam_overlay(img, c, 0.5)).transpose()?;
    grid(&[
        Some(img.clone()),
        cam,
        pseudo.map(colourise),
        pred.map(colourise),
        gt.map(colourise),
    ])
}

/// Encodes an RGB image as PNG.
pub fn encode_png(img: &Rgb) -> Result<Vec<u8>> {
    let buf = image::RgbImage::from_raw(img.width as u32, img.height as u32, img.data.clone())
        .ok_or_else(|| Error::invalid("png", "pixel buffer does not match the size"))?;
    let mut out = std::io::Cursor::new(Vec::new());
    buf.write_to(&mut out, image::ImageFormat::Png)
        .map_err(|e| Error::format("png", e.to_string()))?;
    Ok(out.into_inner())
}

/// A line chart of `values` (e.g. a loss per step) on a white `width` ×
/// `height` canvas: a grey frame, the series in blue scaled to fill it
/// between its minimum and maximum.
pub fn line_plot(values: &[f32], width: usize, height: usize) -> Result<Rgb> {
    if width < 8 || height < 8 {
        return Err(Error::invalid(
            "line_plot",
            "the canvas must be at least 8×8",
        ));
    }
    let mut img = Rgb {
        width,
        height,
        data: vec![255; width * height * 3],
    };
    let mut put = |x: usize, y: usize, c: [u8; 3]| {
        let i = (y * width + x) * 3;
        img.data[i..i + 3].copy_from_slice(&c);
    };
    for x in 0..width {
        put(x, 0, [160; 3]);
        put(x, height - 1, [160; 3]);
    }
    for y in 0..height {
        put(0, y, [160; 3]);
        put(width - 1, y, [160; 3]);
    }
    let finite: Vec<f32> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if finite.len() >= 2 {
        let lo = finite.iter().copied().fold(f32::INFINITY, f32::min);
        let hi = finite.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let span = (hi - lo).max(1e-12);
        let (w, h) = ((width - 5) as f32, (height - 5) as f32);
        let at = |i: usize, v: f32| {
            let x = 2.0 + w * i as f32 / (finite.len() - 1) as f32;
            let y = 2.0 + h * (1.0 - (v - lo) / span);
            (x, y)
        };
        for i in 1..finite.len() {
            let (x0, y0) = at(i - 1, finite[i - 1]);
            let (x1, y1) = at(i, finite[i]);
            let steps = (x1 - x0).abs().max((y1 - y0).abs()).ceil().max(1.0) as usize;
            for s in 0..=steps {
                let t = s as f32 / steps as f32;
                let (x, y) = (x0 + t * (x1 - x0), y0 + t * (y1 - y0));
                put(x.round() as usize, y.round() as usize, [31, 119, 180]);
            }
        }
    }
    Ok(img)
}
