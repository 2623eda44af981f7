//! CAM inference: the CAM kernel against the network's own 1×1 classifier,
//! the per-class normalisation, and multi-scale + flip aggregation.
//!
//! Tolerances: 1e-4 absolute on maps normalised to [0, 1] (f32 sums of at
//! most a few hundred products).

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use weakseg::cam::{self, MultiScale, ViewResize};
use weakseg::io::image;
use weakseg::models::{ArchSpec, CamNet};
use weakseg::nn::{Builder, ModuleExt};
use weakseg::{Gpu, ResizeMode, Tensor, no_grad};

const TOL: f32 = 1e-4;

fn setup(seed: u64) -> (Gpu, CamNet, Tensor) {
    let gpu = Gpu::new_blocking().unwrap();
    let net = CamNet::new(
        &mut Builder::new(&gpu, seed),
        &ArchSpec::new("resnet-tiny", 8),
        4,
    )
    .unwrap();
    net.set_train(false);
    let mut r = SmallRng::seed_from_u64(seed);
    let (h, w) = (37usize, 29usize);
    let x: Vec<f32> = (0..3 * h * w).map(|_| r.random_range(-1.0..1.0)).collect();
    let img = Tensor::from_slice(&gpu, &x, &[1, 3, h, w]).unwrap();
    (gpu, net, img)
}

fn vals(t: &Tensor) -> Vec<f32> {
    t.to_vec_blocking().unwrap()
}

#[track_caller]
fn close(what: &str, a: &[f32], b: &[f32]) {
    assert_eq!(a.len(), b.len(), "{what}");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= TOL * y.abs().max(1.0),
            "{what}[{i}]: {x} vs {y}"
        );
    }
}

#[test]
fn cam_kernel_matches_the_classifier_and_masks_absent_classes() {
    let (_gpu, net, img) = setup(1);
    let present = [true, false, true, true];
    let (f, raw) = no_grad(|| {
        let f = net.backbone.features(&img)?;
        let raw = net.head.cams(&f)?;
        Ok::<_, weakseg::Error>((f, raw))
    })
    .unwrap();
    let got = vals(&cam::maps(&f, &net.head.classifier.weight.get(), &present).unwrap());
    let raw = vals(&raw);
    let hw = got.len() / 4;
    let want: Vec<f32> = raw
        .iter()
        .enumerate()
        .map(|(i, v)| if present[i / hw] { v.max(0.0) } else { 0.0 })
        .collect();
    close("cam", &got, &want);
    assert!(want.iter().any(|&v| v > 0.0));
    let normed =
        vals(&cam::normalise(&Tensor::from_slice(&_gpu, &want, &[4, 1, hw]).unwrap()).unwrap());
    for k in 0..4 {
        let m = &want[k * hw..(k + 1) * hw];
        let peak = m.iter().copied().fold(0.0, f32::max);
        let expect: Vec<f32> = m.iter().map(|v| v / (peak + 1e-5)).collect();
        close("normalised", &normed[k * hw..(k + 1) * hw], &expect);
        assert_eq!(present[k], peak > 0.0, "class {k}");
    }
    assert!(cam::maps(&f, &net.head.classifier.weight.get(), &present[..3]).is_err());
}

#[test]
fn single_scale_is_the_upsampled_normalised_cam() {
    let (_gpu, net, img) = setup(2);
    let present = [true; 4];
    let ms = MultiScale {
        scales: vec![1.0],
        flip: false,
        ..MultiScale::default()
    };
    let got = vals(&cam::multiscale(&net, &img, &present, &ms).unwrap());
    let want = no_grad(|| {
        let (_, raw) = net.logits_and_cams(&img)?;
        let up = raw
            .relu()?
            .interpolate((37, 29), ResizeMode::Bilinear(false))?;
        cam::normalise(&up.reshape(&[4, 37, 29])?)
    })
    .unwrap();
    close("single scale", &got, &vals(&want));
}

#[test]
fn multiscale_flip_cams_are_flip_equivariant() {
    let (_gpu, net, img) = setup(3);
    let present = [true, true, false, true];
    let ms = MultiScale::default();
    let a = cam::multiscale(&net, &img, &present, &ms).unwrap();
    let b = cam::multiscale(&net, &img.flip(3).unwrap(), &present, &ms).unwrap();
    close("flip", &vals(&a.flip(2).unwrap()), &vals(&b));
    let plain = MultiScale {
        flip: false,
        ..MultiScale::default()
    };
    let c = vals(&cam::multiscale(&net, &img, &present, &plain).unwrap());
    assert!(
        vals(&a).iter().zip(&c).any(|(x, y)| (x - y).abs() > 1e-3),
        "flip must matter"
    );
    let bad = MultiScale {
        scales: vec![0.0],
        ..MultiScale::default()
    };
    assert!(cam::multiscale(&net, &img, &present, &bad).is_err());
    // One RGB image only, named in the refusal.
    for shape in [[2, 3, 4, 4], [1, 4, 4, 4]] {
        let x = Tensor::zeros(img.gpu(), &shape).unwrap();
        let e = cam::multiscale(&net, &x, &present, &ms)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("want [1, 3, H, W]"), "{shape:?}: {e}");
    }
}

/// Scales 1 and 0.5 with flips against a sum built here view by view: each
/// view (the image, or its resize to 19×15 = 37·0.5 and 29·0.5 rounded
/// half away from zero: psa's PIL bicubic of the image's pixels by default,
/// or bilinear on the tensor) and its mirror image go through the network
/// alone; their ReLU'd CAMs are upsampled to 37×29, the mirror's
/// un-flipped on the host, all four summed on the host, absent classes
/// zeroed, each class divided by its maximum + 1e-5 (psa's `infer_cls.py`).
#[test]
fn multiscale_is_the_normalised_sum_over_views() {
    for resize in [ViewResize::Bicubic, ViewResize::Bilinear] {
        sum_over_views(resize);
    }
}

fn sum_over_views(resize: ViewResize) {
    let (_gpu, net, img) = setup(4);
    let present = [true, false, true, true];
    let ms = MultiScale {
        scales: vec![1.0, 0.5],
        flip: true,
        resize,
    };
    let got = vals(&cam::multiscale(&net, &img, &present, &ms).unwrap());
    let (h, w, k) = (37usize, 29usize, 4usize);
    let up = |x: &Tensor| -> Vec<f32> {
        no_grad(|| {
            let (_, raw) = net.logits_and_cams(x)?;
            raw.relu()?.interpolate((h, w), ResizeMode::Bilinear(false))
        })
        .map(|t| vals(&t))
        .unwrap()
    };
    let mut sum = vec![0f64; k * h * w];
    let half = match resize {
        ViewResize::Bilinear => img
            .interpolate((19, 15), ResizeMode::Bilinear(false))
            .unwrap(),
        ViewResize::Bicubic => {
            let rgb = image::denormalize_imagenet(&vals(&img), w, h).unwrap();
            let small = image::normalize_imagenet(&image::resize_bicubic(&rgb, 15, 19).unwrap());
            Tensor::from_slice(img.gpu(), &small, &[1, 3, 19, 15]).unwrap()
        }
    };
    for view in [img.clone(), half] {
        let (plain, mirrored) = (up(&view), up(&view.flip(3).unwrap()));
        for c in 0..k {
            for y in 0..h {
                for x in 0..w {
                    let i = (c * h + y) * w + x;
                    sum[i] += plain[i] as f64 + mirrored[(c * h + y) * w + (w - 1 - x)] as f64;
                }
            }
        }
    }
    let mut want = vec![0f32; k * h * w];
    for c in 0..k {
        if !present[c] {
            continue;
        }
        let plane = &sum[c * h * w..(c + 1) * h * w];
        let peak = plane.iter().copied().fold(0.0, f64::max);
        for (o, v) in want[c * h * w..].iter_mut().zip(plane) {
            *o = (v / (peak + 1e-5)) as f32;
        }
    }
    assert!(want.iter().any(|&v| v > 0.0) && want.contains(&0.0));
    if resize == ViewResize::Bicubic {
        // The CAM stage hands over the pixels it holds: the same maps
        // without a readback; pixels of another size are refused.
        let rgb = image::denormalize_imagenet(&vals(&img), w, h).unwrap();
        let held = vals(&cam::multiscale_with_pixels(&net, &img, &rgb, &present, &ms).unwrap());
        assert_eq!(held, got, "pixels handed over");
        let small = image::denormalize_imagenet(&vals(&img)[..3 * 4], 2, 2).unwrap();
        assert!(cam::multiscale_with_pixels(&net, &img, &small, &present, &ms).is_err());
    }
    close("multi-scale", &got, &want);
}

/// A source that returns fixed maps whatever the image, normalised as
/// SEAM's inference does.
struct FixedMinMax(Tensor);

impl cam::CamSource for FixedMinMax {
    fn cam_maps(&self, _x: &Tensor, _present: &[bool]) -> weakseg::Result<Tensor> {
        Ok(self.0.clone())
    }

    fn normalisation(&self) -> cam::Normalisation {
        cam::Normalisation::MinMax
    }
}

/// SEAM's inference (`YudeWang/SEAM:infer_SEAM.py:72–77`) on one view of
/// a 1×4 image: class 0's summed map (2, 0.5, −1, 1) is clamped to
/// (2, 0.5, 0, 1), min 0 and max 2; the pixel below min + 1e-5 is set to
/// 0 and every pixel becomes (x − 0 − 1e-5)/(2 − 0 + 1e-5), so the minimum
/// comes out at −1e-5/2.00001. Class 1 (4, 4, 6, 5): min 4, so the first
/// two pixels are zeroed and become (0 − 4 − 1e-5)/2.00001, about −2, as
/// the released arithmetic gives. Class 2 is absent and stays zero (SEAM
/// keeps no map for it). psa's division by the maximum is kept for the
/// plain CAM.
#[test]
fn seam_inference_min_max_normalises_the_summed_maps() {
    let g = Gpu::new_blocking().unwrap();
    let maps = [
        2.0f32, 0.5, -1.0, 1.0, 4.0, 4.0, 6.0, 5.0, 0.0, 0.0, 0.0, 0.0,
    ];
    let src = FixedMinMax(Tensor::from_slice(&g, &maps, &[1, 3, 1, 4]).unwrap());
    let image = Tensor::zeros(&g, &[1, 3, 1, 4]).unwrap();
    let ms = MultiScale {
        scales: vec![1.0],
        flip: false,
        ..MultiScale::default()
    };
    let got = vals(&cam::multiscale(&src, &image, &[true, true, false], &ms).unwrap());
    let d0 = 2.0 + 1e-5;
    let d1 = 2.0 + 1e-5;
    let want = [
        (2.0 - 1e-5) / d0,
        (0.5 - 1e-5) / d0,
        -1e-5 / d0,
        (1.0 - 1e-5) / d0,
        (0.0 - 4.0 - 1e-5) / d1,
        (0.0 - 4.0 - 1e-5) / d1,
        (6.0 - 4.0 - 1e-5) / d1,
        (5.0 - 4.0 - 1e-5) / d1,
        0.0,
        0.0,
        0.0,
        0.0,
    ];
    for (i, (a, b)) in got.iter().zip(want).enumerate() {
        // One subtraction and one division of values of order 1.
        assert!((*a as f64 - b).abs() < 1e-6, "[{i}] {a} vs {b}");
    }
    let refused = cam::min_max(&Tensor::zeros(&g, &[2, 1, 4]).unwrap(), &[true]);
    assert!(refused.unwrap_err().to_string().contains("[2, 1, 4]"));
}
