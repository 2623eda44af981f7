//! Interactive segmentation: the distance transform against brute force,
//! the simulated user's clicks and extreme points on hand-made objects,
//! click maps on the device, and the train → evaluate stages on a tiny
//! synthetic set, through the library and the CLI.

mod common;

use rand::SeedableRng;
use rand::rngs::SmallRng;
use weakseg::Gpu;
use weakseg::data::synth::{self};
use weakseg::interactive::clicks::{
    self, Click, Guidance, distance_to_outside, extreme_points, first_click, next_click,
    training_clicks,
};
use weakseg::pipeline::interactive::{self, InteractiveSettings};

/// A w×h mask true inside the inclusive rectangle.
fn rect(w: usize, h: usize, (x0, y0, x1, y1): (usize, usize, usize, usize)) -> Vec<bool> {
    (0..w * h)
        .map(|i| (x0..=x1).contains(&(i % w)) && (y0..=y1).contains(&(i / w)))
        .collect()
}

#[test]
fn distance_transform_matches_brute_force() {
    let (w, h) = (11usize, 7usize);
    // An irregular region: a rectangle plus a diagonal line.
    let mut inside = rect(w, h, (2, 1, 8, 5));
    for k in 0..7 {
        inside[k * w + k] = true;
    }
    for border in [true, false] {
        let d = distance_to_outside(&inside, (w, h), border);
        for i in 0..w * h {
            let (y, x) = ((i / w) as f32, (i % w) as f32);
            let mut best = f32::MAX;
            for j in (0..w * h).filter(|&j| !inside[j]) {
                best =
                    best.min(((y - (j / w) as f32).powi(2) + (x - (j % w) as f32).powi(2)).sqrt());
            }
            if border && inside[i] {
                // The outside world beyond the border: one step past it.
                let edge = [y + 1.0, x + 1.0, h as f32 - y, w as f32 - x];
                best = edge.into_iter().fold(best, f32::min);
            }
            // Tolerance 1e-4: f64 arithmetic rounded to f32.
            assert!(
                (d[i] - best).abs() < 1e-4,
                "({y}, {x}) border {border}: {} vs {best}",
                d[i]
            );
        }
    }
    let none = distance_to_outside(&[true; 6], (3, 2), false);
    assert!(none.iter().all(|&v| v >= 1e6));
}

#[test]
fn simulated_user_clicks_centre_then_largest_error() {
    let (w, h) = (12usize, 9usize);
    let gt = rect(w, h, (2, 2, 8, 6));
    // The deepest points of a 7×5 box: its middle row, 3 from each end.
    let c = first_click(&gt, (w, h)).unwrap();
    assert!(c.positive && c.y == 4 && (4..=6).contains(&c.x), "{c:?}");
    assert_eq!(first_click(&vec![false; w * h], (w, h)), None);
    // The prediction misses the right half and spills into a thin strip:
    // the miss is deeper, so the next click is positive, inside it.
    let pred = rect(w, h, (0, 2, 4, 6));
    let c = next_click(&pred, &gt, (w, h)).unwrap();
    assert!(
        c.positive && gt[c.y * w + c.x] && !pred[c.y * w + c.x],
        "{c:?}"
    );
    // Everything predicted: the false alarm outside is what remains.
    let c = next_click(&vec![true; w * h], &gt, (w, h)).unwrap();
    assert!(!c.positive && !gt[c.y * w + c.x], "{c:?}");
    assert_eq!(next_click(&gt, &gt, (w, h)), None);
}

#[test]
fn extreme_points_and_training_clicks_respect_the_object() {
    let (w, h) = (10usize, 8usize);
    let gt = rect(w, h, (3, 2, 7, 4));
    let [left, right, top, bottom] = extreme_points(&gt, (w, h)).unwrap();
    assert_eq!((left.x, right.x, top.y, bottom.y), (3, 7, 2, 4));
    assert_eq!((left.y, right.y), (3, 3), "the middle of a tied edge");
    assert_eq!(extreme_points(&vec![false; w * h], (w, h)), None);
    let mut rng = SmallRng::seed_from_u64(5);
    let outside = distance_to_outside(&gt.iter().map(|&g| !g).collect::<Vec<_>>(), (w, h), false);
    for _ in 0..50 {
        let c = training_clicks(&gt, (w, h), 2.0, 2.0, &mut rng);
        let pos = c.iter().filter(|c| c.positive).count();
        assert!((1..=5).contains(&pos) && c.len() - pos <= 3, "{c:?}");
        for k in &c {
            let i = k.y * w + k.x;
            assert_eq!(gt[i], k.positive, "{k:?}");
            if !k.positive {
                assert!(outside[i] <= 2.0, "{k:?} is {} away", outside[i]);
            }
        }
    }
}

#[test]
fn click_maps_put_positive_and_negative_clicks_apart() {
    let gpu = Gpu::new_blocking().unwrap();
    let input = vec![
        vec![
            Click {
                y: 1,
                x: 1,
                positive: true,
            },
            Click {
                y: 3,
                x: 4,
                positive: false,
            },
        ],
        vec![],
    ];
    let maps: Vec<f32> = clicks::encode(&gpu, &input, Guidance::Gaussian, (4, 5), 1.0)
        .unwrap()
        .to_vec_blocking()
        .unwrap();
    assert_eq!(maps.len(), 2 * 2 * 20);
    // Tolerance 1e-6: exp(0) is exact; exp(−13/2) ≈ 0.0015 two clicks apart; the second
    // image has no click.
    assert!((maps[6] - 1.0).abs() < 1e-6 && maps[19] < 1e-2);
    assert!((maps[20 + 19] - 1.0).abs() < 1e-6 && maps[20 + 6] < 1e-2);
    assert!(maps[40..].iter().all(|&v| v == 0.0));
    let d: Vec<f32> = clicks::encode(&gpu, &input, Guidance::Distance, (4, 5), 4.0)
        .unwrap()
        .to_vec_blocking()
        .unwrap();
    // Distance 1 from the positive click, over the truncation 4.
    assert!((d[7] - 0.25).abs() < 1e-6 && d[40..].iter().all(|&v| v == 1.0));
    let e: Vec<f32> = clicks::encode(&gpu, &input, Guidance::Extreme, (4, 5), 1.0)
        .unwrap()
        .to_vec_blocking()
        .unwrap();
    assert_eq!(e.len(), 2 * 20);
    assert!(
        (e[19] - 1.0).abs() < 1e-6,
        "extreme points all share one map"
    );
}

#[test]
fn interactive_stages_train_evaluate_and_skip() {
    let dir = std::env::temp_dir().join(format!("weakseg-interactive-{}", std::process::id()));
    let cfg = common::parts(4, 2, 32, 2, 7);
    synth::write(&cfg, &dir.join("data"), |_| {}).unwrap();
    let gpu = Gpu::new_blocking().unwrap();
    let s = InteractiveSettings {
        epochs: 1,
        batch_size: 4,
        max_clicks: 3,
        ..InteractiveSettings::default()
    };
    let mut quiet = weakseg::train::progress::Silent;
    let rows = interactive::compare(
        &gpu,
        &dir.join("data"),
        &dir.join("out"),
        &s,
        &[Guidance::Distance, Guidance::Extreme],
        &mut quiet,
        |_, _| {},
    )
    .unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].iou_at.len(), 3);
    assert_eq!(rows[1].iou_at.len(), 1, "extreme points: one round");
    assert!(rows[0].objects > 0);
    // An object that reached 90% IoU reached 85% no later.
    for r in &rows {
        assert!(r.noc85 <= r.noc90, "{r:?}");
    }
    // NoC by hand: objects reaching the threshold at clicks 1 and 2, and
    // one never within 3 (counted as 3): (1 + 2 + 3) / 3.
    use weakseg::pipeline::interactive::clicks_to_reach;
    assert_eq!(clicks_to_reach(&[Some(1), Some(2), None], 3), 2.0);
    assert_eq!(clicks_to_reach(&[None, None], 5), 5.0);
    let md = std::fs::read_to_string(dir.join("out/interactive.md")).unwrap();
    assert!(
        md.contains("| distance |") && md.contains("| extreme |"),
        "{md}"
    );
    assert!(
        std::fs::read_dir(dir.join("out/distance/eval/pred"))
            .unwrap()
            .count()
            == rows[0].objects
    );
    let again = interactive::train(
        &gpu,
        &dir.join("data"),
        &dir.join("out/distance/train"),
        &s,
        &mut quiet,
    )
    .unwrap();
    assert!(again.skipped);
    // An empty click budget and a missing dataset are named.
    let bad = InteractiveSettings {
        max_clicks: 0,
        ..s.clone()
    };
    let ck = dir.join("out/distance/train/interactive.safetensors");
    let e = interactive::evaluate(
        &gpu,
        &dir.join("data"),
        &ck,
        &dir.join("x"),
        &bad,
        |_, _| {},
    )
    .unwrap_err();
    assert!(e.to_string().contains("max_clicks"), "{e}");
    // The comparison refuses it before training anything.
    let fresh = dir.join("no-clicks");
    let e = interactive::compare(
        &gpu,
        &dir.join("data"),
        &fresh,
        &bad,
        &[Guidance::Distance],
        &mut quiet,
        |_, _| {},
    )
    .unwrap_err();
    assert!(e.to_string().contains("max_clicks"), "{e}");
    assert!(!fresh.exists());
    assert!(
        interactive::train(&gpu, &dir.join("nowhere"), &dir.join("y"), &s, &mut quiet).is_err()
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_weakseg"))
        .env("XDG_RUNTIME_DIR", "/tmp")
        .current_dir(&dir)
        .args([
            "interactive",
            "--guidance",
            "scribble",
            "--out",
            "z",
            "--data",
        ])
        .arg(dir.join("data"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("one of distance, gaussian, extreme"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn images_of_varied_sizes_train_in_object_windows() {
    // The scenes vary in size: training batches windows around each
    // object (padded past the image), evaluation runs on whole images.
    let dir = std::env::temp_dir().join(format!("weakseg-interactive-crop-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let cfg = common::scenes(4, 2, 32, 2, 3);
    synth::write(&cfg, &dir.join("data"), |_| {}).unwrap();
    let sizes: std::collections::HashSet<(u32, u32)> =
        std::fs::read_dir(dir.join("data/JPEGImages"))
            .unwrap()
            .map(|e| image::image_dimensions(e.unwrap().path()).unwrap())
            .collect();
    assert!(sizes.len() > 1, "the scenes have one size: {sizes:?}");
    let gpu = Gpu::new_blocking().unwrap();
    let s = InteractiveSettings {
        epochs: 1,
        batch_size: 4,
        max_clicks: 2,
        ..InteractiveSettings::default()
    };
    let mut quiet = weakseg::train::progress::Silent;
    let data = dir.join("data");
    assert!(interactive::train(&gpu, &data, &dir.join("whole"), &s, &mut quiet).is_err());
    let cropped = InteractiveSettings {
        crop: Some(40),
        ..s.clone()
    };
    let m = interactive::train(&gpu, &data, &dir.join("train"), &cropped, &mut quiet).unwrap();
    assert!(
        m.results
            .epoch_losses
            .as_ref()
            .is_some_and(|l| l.iter().all(|v| v.is_finite()))
    );
    let ck = dir.join("train/interactive.safetensors");
    interactive::evaluate(&gpu, &data, &ck, &dir.join("eval"), &cropped, |_, _| {}).unwrap();
    let bad = InteractiveSettings { crop: Some(0), ..s };
    let e = interactive::evaluate(&gpu, &data, &ck, &dir.join("x"), &bad, |_, _| {}).unwrap_err();
    assert!(e.to_string().contains("side 0"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}
