//! Datasets, metrics and pictures: the synthetic benchmark round-trips
//! through the VOC reader exactly; mIoU agrees with an independent
//! computation; joint augmentation keeps annotations aligned; bad files
//! give errors that name them.

mod common;
use common::independent_miou;
use std::path::{Path, PathBuf};
use std::process::Command;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use weakseg::data::Dataset;
use weakseg::data::annotations::BoxLabel;
use weakseg::data::augment::{self, Augment, Cam, Item};
use weakseg::data::synth::{self, SynthConfig, SynthKind};
use weakseg::data::voc::{MaskSource, VocDataset, VocOptions};
use weakseg::io::image::Rgb;
use weakseg::io::labels::{self, LabelMap};
use weakseg::metrics::Confusion;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("weakseg-data-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// A parts benchmark of two training images and one validation image,
/// written at a fresh `tmp(name)`.
fn tiny_set(name: &str) -> PathBuf {
    let dir = tmp(name);
    let cfg = SynthConfig {
        train: 2,
        val: 1,
        ..small()
    };
    synth::write(&cfg, &dir, |_| {}).unwrap();
    dir
}

fn small() -> SynthConfig {
    common::parts(12, 4, 48, 4, 7)
}

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_weakseg"))
}

#[test]
fn synthetic_benchmark_round_trips_through_the_voc_reader() {
    round_trip(small(), "roundtrip-parts");
    round_trip(
        SynthConfig {
            kind: SynthKind::Scenes,
            ..small()
        },
        "roundtrip-scenes",
    );
}

fn round_trip(cfg: SynthConfig, name: &str) {
    let dir = tmp(name);
    synth::write(&cfg, &dir, |_| {}).unwrap();
    for (masks, list, first) in [
        (MaskSource::Class, "train", 0),
        (MaskSource::Aug, "val", cfg.train),
    ] {
        let mut o = VocOptions::split(list);
        o.masks = masks;
        let ds = VocDataset::open(&dir, &o).unwrap();
        assert_eq!(ds.classes, cfg.class_list());
        assert_eq!(ds.len(), if list == "train" { cfg.train } else { cfg.val });
        for (k, rec) in ds.records.iter().enumerate() {
            let want = synth::render(&cfg, first + k);
            assert_eq!(rec.id, want.id);
            assert_eq!(rec.boxes, want.xml.boxes, "{}: boxes", rec.id);
            assert_eq!(rec.labels, want.xml.labels(), "{}: labels", rec.id);
            assert_eq!(rec.marks, want.marks, "{}: points and scribbles", rec.id);
            let item = ds.item(k).unwrap();
            assert_eq!(item.mask.as_ref(), Some(&want.mask), "{}: mask", rec.id);
            let mut in_mask: Vec<u8> = want.mask.data.clone();
            in_mask.retain(|&v| v != 0);
            in_mask.sort_unstable();
            in_mask.dedup();
            assert_eq!(
                in_mask, rec.labels,
                "{}: labels are the mask's classes",
                rec.id
            );
            for m in &want.marks {
                let l = ds.classes.label(&m.class).unwrap();
                for p in m.points.iter().chain(m.scribbles.iter().flatten()) {
                    assert_eq!(
                        want.mask.at(p[0] as usize, p[1] as usize),
                        l,
                        "{}: mark of {} on another label",
                        rec.id,
                        m.class
                    );
                }
            }
            let s = ds.sample(k, 0).unwrap();
            assert_eq!((s.height, s.width), (want.rgb.height, want.rgb.width));
            for (c, &v) in s.labels.iter().enumerate() {
                assert_eq!(v == 1.0, rec.labels.contains(&(c as u8 + 1)));
            }
        }
    }
    assert_eq!(
        synth::render(&cfg, 3),
        synth::render(&cfg, 3),
        "deterministic"
    );
    let other = SynthConfig {
        seed: 8,
        ..cfg.clone()
    };
    assert_ne!(synth::render(&cfg, 3).rgb, synth::render(&other, 3).rgb);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn synthetic_objects_have_small_parts_and_varied_layouts() {
    let cfg = SynthConfig {
        kind: SynthKind::Parts,
        ..SynthConfig::default()
    };
    let (mut counts, mut overlaps) = ([0usize; 4], 0);
    for i in 0..60 {
        let img = synth::render(&cfg, i);
        let n = img.xml.boxes.len();
        assert!((1..=3).contains(&n), "1–3 objects, got {n}");
        counts[n] += 1;
        let b = &img.xml.boxes;
        overlaps += (0..n)
            .flat_map(|a| (a + 1..n).map(move |c| (a, c)))
            .filter(|&(a, c)| {
                b[a].xmin <= b[c].xmax
                    && b[c].xmin <= b[a].xmax
                    && b[a].ymin <= b[c].ymax
                    && b[c].ymin <= b[a].ymax
            })
            .count();
        assert_eq!(img.marks.last().unwrap().class, "background");
        assert!(
            !img.marks.last().unwrap().scribbles.is_empty(),
            "background scribbles"
        );
    }
    assert!(
        counts[1] > 0 && counts[2] > 0 && counts[3] > 0,
        "{counts:?}"
    );
    assert!(overlaps > 0, "some objects overlap");
}

#[test]
fn miou_matches_an_independent_computation() {
    let mut r = SmallRng::seed_from_u64(5);
    let k = 7;
    let (mut pred, mut gt) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        let n = r.random_range(20..200);
        // Classes 5 and 6 never appear on either side; ignore pixels in both.
        let draw = |r: &mut SmallRng| match r.random_range(0..10) {
            0 => 255u8,
            _ => r.random_range(0..5u8),
        };
        gt.push((0..n).map(|_| draw(&mut r)).collect::<Vec<u8>>());
        pred.push((0..n).map(|_| draw(&mut r)).collect::<Vec<u8>>());
    }
    let mut m = Confusion::new(k);
    for (p, g) in pred.iter().zip(&gt) {
        m.add(p, g).unwrap();
    }
    let s = m.scores();
    let (want, per) = independent_miou(&pred, &gt, k);
    assert!((s.miou - want).abs() < 1e-12, "{} vs {want}", s.miou);
    assert_eq!(s.per_class_iou.len(), k);
    for (a, b) in s.per_class_iou.iter().zip(&per) {
        match (a, b) {
            (Some(a), Some(b)) => assert!((a - b).abs() < 1e-12),
            (None, None) => {}
            _ => panic!("presence differs: {a:?} vs {b:?}"),
        }
    }
    assert_eq!(s.per_class_iou[5], None);
    let counted: u64 = gt.iter().flatten().filter(|&&v| v != 255).count() as u64;
    assert_eq!(s.pixels, counted);
    assert!(Confusion::new(3).add(&[0, 1], &[0]).is_err());
    let e = Confusion::new(3).add(&[7], &[0]).unwrap_err().to_string();
    assert!(e.contains("label 7"), "{e}");
}

/// An image whose pixels encode their label, so alignment is checkable.
fn coded_item(w: usize, h: usize) -> Item {
    let label = |x: usize, y: usize| -> u8 { ((x / 4 + y / 4) % 3) as u8 + 1 };
    let mut data = Vec::new();
    for y in 0..h {
        for x in 0..w {
            data.extend_from_slice(&[label(x, y) * 60, x as u8, y as u8]);
        }
    }
    Item {
        rgb: Rgb {
            width: w,
            height: h,
            data,
        },
        mask: Some(LabelMap {
            width: w,
            height: h,
            data: (0..w * h).map(|i| label(i % w, i / w)).collect(),
        }),
        cam: Some(Cam {
            channels: 1,
            data: (0..w * h).map(|i| (i % w) as f32).collect(),
        }),
        points: vec![[5.0, 2.0], [13.0, 9.0]],
        scribbles: vec![vec![[1.0, 1.0], [10.0, 6.0]]],
        boxes: vec![BoxLabel {
            class: 2,
            xmin: 3,
            ymin: 2,
            xmax: 11,
            ymax: 9,
        }],
    }
}

/// Checks mask, CAM and padding against the coded image.
fn check_aligned(it: &Item, what: &str) {
    let m = it.mask.as_ref().unwrap();
    let cam = &it.cam.as_ref().unwrap().data;
    for y in 0..m.height {
        for x in 0..m.width {
            let l = m.at(x, y);
            let px = &it.rgb.data[(y * m.width + x) * 3..][..3];
            if l == 255 {
                assert_eq!(px, [0, 0, 0], "{what}: padding is black");
                assert_eq!(cam[y * m.width + x], 0.0, "{what}: padded CAM is 0");
            } else {
                assert_eq!(px[0], l * 60, "{what}: mask and image at ({x}, {y})");
                assert_eq!(cam[y * m.width + x], px[1] as f32, "{what}: CAM and image");
            }
        }
    }
}

/// Each moved point `q` reads the original coordinates `p` from G and B.
fn check_points(orig: &[[f32; 2]], moved: &Item, what: &str) {
    assert_eq!(orig.len(), moved.points.len(), "{what}: points kept");
    let w = moved.rgb.width;
    for (p, q) in orig.iter().zip(&moved.points) {
        let px = &moved.rgb.data[(q[1] as usize * w + q[0] as usize) * 3..][..3];
        assert_eq!(
            (px[1] as f32, px[2] as f32),
            (p[0], p[1]),
            "{what}: point {p:?} → {q:?}"
        );
    }
}

#[test]
fn flips_and_crops_keep_everything_aligned() {
    let it = coded_item(17, 13);
    check_aligned(&it, "identity");
    let f = augment::flip(it.clone());
    check_aligned(&f, "flip");
    check_points(&it.points, &f, "flip");
    assert_eq!(
        f.boxes[0],
        BoxLabel {
            class: 2,
            xmin: 5,
            ymin: 2,
            xmax: 13,
            ymax: 9
        }
    );
    let c = augment::crop(it.clone(), 2, 1, 12, 12);
    check_aligned(&c, "crop");
    check_points(&it.points, &c, "crop");
    assert_eq!(
        c.boxes[0],
        BoxLabel {
            class: 2,
            xmin: 1,
            ymin: 1,
            xmax: 9,
            ymax: 8
        }
    );
    assert_eq!(
        c.scribbles,
        vec![vec![[8.0, 5.0]]],
        "the outside vertex is dropped"
    );
    let padded = augment::crop(it.clone(), -3, 4, 12, 12);
    check_aligned(&padded, "crop with padding");
    assert!(padded.mask.as_ref().unwrap().data.contains(&255));
    assert!(
        padded.points.is_empty(),
        "points outside the window are dropped"
    );
    assert_eq!(
        padded.boxes[0],
        BoxLabel {
            class: 2,
            xmin: 6,
            ymin: 0,
            xmax: 11,
            ymax: 5
        }
    );
    let a = Augment::psa(16).apply(it.clone(), 3);
    assert_eq!((a.rgb.width, a.rgb.height), (16, 16));
    assert_eq!(Augment::psa(16).apply(it.clone(), 3), a, "seeded");
    assert_eq!(
        Augment::default().apply(it.clone(), 9),
        it,
        "default is the identity"
    );
}

#[test]
fn rescale_moves_points_with_the_labels() {
    let it = coded_item(32, 24);
    let s = augment::rescale(it.clone(), 48, 36);
    let m = s.mask.as_ref().unwrap();
    for (p, q) in it.points.iter().zip(&s.points) {
        let before = it.mask.as_ref().unwrap().at(p[0] as usize, p[1] as usize);
        assert_eq!(
            m.at(q[0].round() as usize, q[1].round() as usize),
            before,
            "point {p:?} → {q:?}"
        );
    }
    assert_eq!(s.cam.as_ref().unwrap().data.len(), 48 * 36);
}

fn write_png(path: &Path, map: &LabelMap) {
    labels::write(path, map).unwrap();
}

#[test]
fn label_pngs_round_trip_and_refuse_colour() {
    let dir = tmp("png");
    let map = LabelMap {
        width: 5,
        height: 3,
        data: vec![0, 1, 2, 255, 20, 3, 3, 3, 0, 0, 1, 1, 1, 1, 255],
    };
    write_png(&dir.join("a.png"), &map);
    assert_eq!(labels::read(&dir.join("a.png")).unwrap(), map);
    std::fs::write(dir.join("g.png"), labels::encode_grey(&map).unwrap()).unwrap();
    assert_eq!(labels::read(&dir.join("g.png")).unwrap(), map);
    image::RgbImage::new(4, 4)
        .save(dir.join("rgb.png"))
        .unwrap();
    let e = labels::read(&dir.join("rgb.png")).unwrap_err().to_string();
    assert!(
        e.contains("rgb.png") && e.contains("palette or greyscale"),
        "{e}"
    );
    std::fs::write(dir.join("bad.png"), b"not a png").unwrap();
    let e = labels::read(&dir.join("bad.png")).unwrap_err().to_string();
    assert!(e.contains("bad.png"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_files_are_named_or_skipped() {
    let cfg = small();
    let dir = tmp("bad");
    synth::write(&cfg, &dir, |_| {}).unwrap();
    std::fs::remove_file(dir.join("JPEGImages/000002.jpg")).unwrap();
    std::fs::write(dir.join("Annotations/000005.xml"), "<annotation><size>").unwrap();
    let e = VocDataset::open(&dir, &VocOptions::split("train"))
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("000002.jpg") && e.contains("missing"), "{e}");
    let mut o = VocOptions::split("train");
    o.skip_bad = true;
    let ds = VocDataset::open(&dir, &o).unwrap();
    assert_eq!(ds.len(), cfg.train - 2);
    assert_eq!(ds.skipped.len(), 2, "{:?}", ds.skipped);
    assert!(ds.skipped[1].contains("000005.xml"), "{:?}", ds.skipped);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn eval_and_show_commands() {
    let cfg = small();
    let dir = tmp("cli");
    synth::write(&cfg, &dir, |_| {}).unwrap();
    let gt = dir.join("SegmentationClass");
    let pred = dir.join("pred");
    std::fs::create_dir_all(&pred).unwrap();
    let mut confusion = Confusion::new(cfg.classes + 1);
    let mut r = SmallRng::seed_from_u64(1);
    for i in 0..cfg.train + cfg.val {
        let g = labels::read(&gt.join(format!("{:06}.png", i))).unwrap();
        let p = LabelMap {
            data: g
                .data
                .iter()
                .map(|&v| {
                    if r.random_bool(0.2) {
                        r.random_range(0..5)
                    } else {
                        v
                    }
                })
                .collect(),
            ..g.clone()
        };
        confusion.add(&p.data, &g.data).unwrap();
        write_png(&pred.join(format!("{:06}.png", i)), &p);
    }
    let out = bin()
        .args(["eval", "--json", "--pred"])
        .arg(&pred)
        .arg("--gt")
        .arg(&gt)
        .arg("--classes")
        .arg(dir.join("classes.txt"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let miou = doc["miou"].as_f64().unwrap();
    assert!((miou - confusion.scores().miou).abs() < 1e-12);
    assert_eq!(
        doc["per_class_iou"].as_array().unwrap().len(),
        cfg.classes + 1
    );
    assert!(doc["pixel_accuracy"].as_f64().unwrap() > 0.5);

    std::fs::remove_file(pred.join("000003.png")).unwrap();
    write_png(&pred.join("000004.png"), &LabelMap::filled(7, 7, 0));
    let out = bin()
        .args(["eval", "--pred"])
        .arg(&pred)
        .arg("--gt")
        .arg(&gt)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("000003.png") && err.contains("000004.png is 7×7"),
        "{err}"
    );

    let png = dir.join("show.png");
    let out = bin()
        .args(["show", "--id", "000001", "--data"])
        .arg(&dir)
        .arg("--out")
        .arg(&png)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let img = image::open(&png).unwrap();
    assert_eq!((img.width(), img.height()), (4 * 48 + 3 * 2, 48));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A dataset whose sample i carries i as its label and fails at `bad`.
struct Numbers {
    n: usize,
    bad: Option<usize>,
}

impl Dataset for Numbers {
    fn len(&self) -> usize {
        self.n
    }
    fn sample(&self, index: usize, seed: u64) -> weakseg::Result<weakseg::data::Sample> {
        if Some(index) == self.bad {
            return Err(weakseg::Error::io(format!("image{index}.jpg"), "missing"));
        }
        Ok(weakseg::data::Sample {
            image: vec![seed as f32; 3],
            height: 1,
            width: 1,
            labels: vec![index as f32],
            mask: None,
            cam: None,
        })
    }
}

#[test]
fn prefetching_keeps_order_and_stops_on_errors() {
    use weakseg::data::loader::prefetch;
    let plans: Vec<Vec<(usize, u64)>> = (0..6).map(|b| vec![(2 * b, 7), (2 * b + 1, 8)]).collect();
    let mut seen = Vec::new();
    prefetch(&Numbers { n: 12, bad: None }, &plans, 2, |m, s| {
        seen.push((
            m,
            s.iter().map(|x| x.labels[0] as usize).collect::<Vec<_>>(),
            s[1].image[0],
        ));
        Ok(())
    })
    .unwrap();
    assert_eq!(seen.len(), 6);
    for (m, labels, seed) in &seen {
        assert_eq!(labels, &vec![2 * m, 2 * m + 1]);
        assert_eq!(*seed, 8.0);
    }
    let mut got = 0;
    let e = prefetch(
        &Numbers {
            n: 12,
            bad: Some(7),
        },
        &plans,
        2,
        |_, _| {
            got += 1;
            Ok(())
        },
    )
    .unwrap_err();
    assert!(e.to_string().contains("image7.jpg"), "{e}");
    assert_eq!(got, 3, "batches before the bad one are delivered");
    let e = prefetch(&Numbers { n: 12, bad: None }, &plans, 1, |m, _| {
        if m == 1 {
            Err(weakseg::Error::invalid("consume", "stop"))
        } else {
            Ok(())
        }
    })
    .unwrap_err();
    assert!(e.to_string().contains("stop"));
}

#[test]
fn cam_label_maps_normalise_threshold_and_skip_absent_classes() {
    // Two classes on a 1×4 image; class 1 is absent from the image labels.
    let cams = [
        2.0, 1.0, 0.2, -1.0, // class 0: normalised 1, 0.5, 0.1, 0
        9.0, 9.0, 9.0, 9.0, // class 1: absent, must be ignored
    ];
    let m = weakseg::cam::label_map(&cams, &[true, false], 1, 4, 0.3).unwrap();
    assert_eq!(m, vec![1, 1, 0, 0]);
    let m = weakseg::cam::label_map(&cams, &[true, true], 1, 4, 0.3).unwrap();
    assert_eq!(m, vec![1, 2, 2, 2], "a tie keeps the lower class");
    assert!(weakseg::cam::label_map(&cams, &[true], 1, 4, 0.3).is_err());
}

/// A training stage's crop recipe: every output is side × side whatever
/// the input's size; the rescale factor is drawn within its range (an
/// unrescaled crop of a 17×13 image at side 24 keeps all 221 pixels, a
/// 0.5× one at most 9·7 = 63); bad sides and ranges are refused.
#[test]
fn crop_recipes_give_fixed_sizes_within_their_scales() {
    use weakseg::data::augment::Crop;
    let it = coded_item(17, 13);
    let inside = |a: &Item| {
        a.mask
            .as_ref()
            .unwrap()
            .data
            .iter()
            .filter(|&&v| v != 255)
            .count()
    };
    let plain = Crop {
        side: 24,
        scale: [1.0, 1.0],
        jitter: false,
    };
    let half = Crop {
        scale: [0.5, 0.5],
        ..plain.clone()
    };
    for seed in 0..8 {
        let a = plain.augment().unwrap().apply(it.clone(), seed);
        assert_eq!((a.rgb.width, a.rgb.height), (24, 24));
        assert_eq!(inside(&a), 17 * 13, "seed {seed}");
        let b = half.augment().unwrap().apply(it.clone(), seed);
        assert_eq!((b.rgb.width, b.rgb.height), (24, 24));
        assert!(
            inside(&b) <= 9 * 7 && inside(&b) > 0,
            "seed {seed}: {}",
            inside(&b)
        );
    }
    assert_eq!(plain.augment().unwrap().jitter, None);
    assert!(
        Crop::default().augment().unwrap().jitter.is_some(),
        "psa jitters"
    );
    for bad in [
        Crop {
            side: 0,
            ..plain.clone()
        },
        Crop {
            scale: [1.5, 0.5],
            ..plain.clone()
        },
        Crop {
            scale: [0.0, 1.0],
            ..plain.clone()
        },
    ] {
        let e = bad.augment().unwrap_err().to_string();
        assert!(e.contains("crop"), "{e}");
    }
}

/// PIL's BICUBIC resize (`Image.resize`, psa's and IRN's `pil_rescale` for
/// each CAM scale), worked out by hand from PIL's `precompute_coeffs`: the
/// cubic with a = −0.5, k(0.25) = 0.8671875, k(0.75) = 0.2265625,
/// k(1.25) = −0.0703125; output pixel x samples at (x + 0.5)·scale, taps
/// at (i + 0.5 − centre)/max(scale, 1), weights normalised over the taps
/// inside the image.
/// - 4 → 2 (support widened 2×: antialiased): row (0, 100, 200, 250) gives
///   (100·k(.25) + 200·k(.75) − 250·0.0703125)/1.890625 = 60.54 → 61 and
///   (−0·0.0703 + 100·k(.75) + 200·k(.25) + 250·k(.25))/1.890625 = 218.39
///   → 218.
/// - 2 → 4: row (0, 200) gives −17.6 → 0 (clamped), 41.43 → 41,
///   158.57 → 159, 217.65 → 218.
#[test]
fn bicubic_resize_is_pils() {
    use weakseg::io::image::resize_bicubic;
    let grey = |v: &[u8]| Rgb {
        width: v.len(),
        height: 1,
        data: v.iter().flat_map(|&x| [x, x, x]).collect(),
    };
    let red = |img: &Rgb| img.data.iter().step_by(3).copied().collect::<Vec<u8>>();
    let down = resize_bicubic(&grey(&[0, 100, 200, 250]), 2, 1).unwrap();
    assert_eq!(red(&down), [61, 218]);
    let up = resize_bicubic(&grey(&[0, 200]), 4, 1).unwrap();
    assert_eq!(red(&up), [0, 41, 159, 218]);
    assert!(resize_bicubic(&grey(&[1, 2]), 0, 1).is_err());
}

#[test]
fn demo_refuses_data_written_with_other_settings() {
    // Stages beside the data were computed on it: overwriting it with
    // another benchmark would leave them stale, so the demo stops first.
    let dir = tmp("stale-data");
    let parts = SynthConfig {
        train: 2,
        val: 1,
        ..small()
    };
    synth::write(&parts, &dir.join("data"), |_| {}).unwrap();
    let out = bin()
        .args(["demo", "--out"])
        .arg(&dir)
        .args([
            "--kind",
            "scenes",
            "--train",
            "2",
            "--val",
            "1",
            "--size",
            "48",
            "--classes",
            "4",
            "--seed",
            "7",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("synth.json") && err.contains("other settings"),
        "{err}"
    );
    assert!(!dir.join("1-classifier").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn written_settings_read_back_and_old_files_read_as_parts() {
    // A benchmark written before there were two generators has no "kind"
    // in its settings: it was the parts generator, and must read as that,
    // or `compare --kind parts` would refuse every earlier working dir.
    let dir = tmp("written-settings");
    assert_eq!(synth::written(&dir).unwrap(), None);
    let parts = SynthConfig {
        train: 2,
        val: 1,
        ..small()
    };
    synth::write(&parts, &dir, |_| {}).unwrap();
    assert_eq!(synth::written(&dir).unwrap(), Some(parts.clone()));
    let old = r#"{"train": 2, "val": 1, "size": 48, "classes": 4, "seed": 7}"#;
    std::fs::write(dir.join(synth::SETTINGS_FILE), old).unwrap();
    assert_eq!(synth::written(&dir).unwrap(), Some(parts));
    std::fs::write(dir.join(synth::SETTINGS_FILE), "{\"train\": 2").unwrap();
    let err = synth::written(&dir).unwrap_err().to_string();
    assert!(err.contains(synth::SETTINGS_FILE), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[cfg(unix)]
#[test]
fn outputs_follow_symlinks_and_refuse_what_is_not_a_file() {
    // The rename that makes writes atomic must not cut a symlink loose or
    // replace a FIFO, device or directory with a regular file.
    use weakseg::io::write_atomic;
    let dir = tmp("write-targets");
    std::fs::create_dir_all(&dir).unwrap();
    let real = dir.join("real.png");
    std::fs::write(&real, b"old").unwrap();
    let link = dir.join("link.png");
    std::os::unix::fs::symlink("real.png", &link).unwrap();
    write_atomic(&link, b"new").unwrap();
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(std::fs::read(&real).unwrap(), b"new");
    // A dangling link creates its target.
    let dangling = dir.join("dangling.png");
    std::os::unix::fs::symlink("made.png", &dangling).unwrap();
    write_atomic(&dangling, b"made").unwrap();
    assert_eq!(std::fs::read(dir.join("made.png")).unwrap(), b"made");
    let fifo = dir.join("fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    for target in [fifo.clone(), dir.join("sub")] {
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        let err = write_atomic(&target, b"x").unwrap_err().to_string();
        assert!(err.contains("not a regular file"), "{err}");
        assert!(!std::fs::symlink_metadata(&target).unwrap().is_file());
    }
    use std::os::unix::fs::FileTypeExt;
    assert!(
        std::fs::symlink_metadata(&fifo)
            .unwrap()
            .file_type()
            .is_fifo()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_empty_list_is_an_error_naming_it() {
    // An empty list once made `cam` and `weak-masks` succeed with no
    // output at all.
    let dir = tiny_set("empty-list");
    let list = dir.join("empty.txt");
    std::fs::write(&list, "\n").unwrap();
    let e = VocDataset::open(&dir, &VocOptions::split(list.to_str().unwrap()))
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("empty.txt") && e.contains("names no image"),
        "{e}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn synth_refuses_a_folder_holding_something_else() {
    // Writing a smaller benchmark over a larger one kept the old images
    // past the new count beside the new lists.
    let dir = tmp("synth-over");
    let cfg = SynthConfig {
        train: 3,
        val: 1,
        ..small()
    };
    assert!(!synth::already_written(&cfg, &dir).unwrap());
    synth::write(&cfg, &dir, |_| {}).unwrap();
    assert!(synth::already_written(&cfg, &dir).unwrap());
    let fewer = SynthConfig {
        train: 2,
        ..cfg.clone()
    };
    let e = synth::already_written(&fewer, &dir)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("other settings") && e.contains("synth.json"),
        "{e}"
    );
    let out = bin()
        .args([
            "synth", "--kind", "parts", "--train", "2", "--val", "1", "--size", "48",
        ])
        .args(["--classes", "4", "--seed", "7", "--out"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let listed = std::fs::read_to_string(dir.join("ImageSets/Segmentation/train.txt")).unwrap();
    assert_eq!(listed.lines().count(), 3, "the lists were rewritten");
    let other = tmp("synth-over-other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("notes.txt"), "mine").unwrap();
    let e = synth::already_written(&cfg, &other)
        .unwrap_err()
        .to_string();
    assert!(e.contains("not empty"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&other);
}

#[test]
fn a_crop_past_the_limit_is_refused_before_any_allocation() {
    // `train-cls --crop 100000` once asked for 53 GB and aborted.
    use weakseg::data::augment::{Crop, MAX_CROP, check_crop};
    for side in [0, MAX_CROP + 1, 100_000] {
        let e = check_crop(side).unwrap_err().to_string();
        assert!(e.contains(&side.to_string()), "{e}");
        assert!(
            Crop {
                side,
                ..Crop::default()
            }
            .augment()
            .is_err()
        );
    }
    check_crop(MAX_CROP).unwrap();
    let out = bin()
        .args(["train-cls", "--data", "/nonexistent", "--out"])
        .arg(tmp("huge-crop"))
        .args(["--crop", "100000"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("100000"), "{err}");
}

#[test]
fn a_mask_label_past_the_classes_is_named() {
    // train-seg and spml once dropped such labels from the loss silently.
    let dir = tiny_set("label-past-classes");
    let path = dir.join("SegmentationClass/000000.png");
    let mut mask = weakseg::io::labels::read(&path).unwrap();
    mask.data[3] = 9;
    weakseg::io::labels::write(&path, &mask).unwrap();
    let ds = VocDataset::open(&dir, &VocOptions::split("train")).unwrap();
    let e = ds.item(0).err().unwrap().to_string();
    assert!(e.contains("000000.png") && e.contains("label 9"), "{e}");
    ds.item(1).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_xml_size_that_disagrees_with_its_image_is_named() {
    let dir = tiny_set("xml-size");
    let path = dir.join("Annotations/000001.xml");
    let xml = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, xml.replace("<width>48</width>", "<width>50</width>")).unwrap();
    let e = VocDataset::open(&dir, &VocOptions::split("train"))
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("000001.xml") && e.contains("50×48") && e.contains("48×48"),
        "{e}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn files_cut_short_are_named() {
    // A JPEG cut at half its bytes decoded as if whole (the rest grey), and
    // an XML cut mid-file parsed as far as it went.
    let dir = tiny_set("cut-short");
    let jpg = dir.join("JPEGImages/000000.jpg");
    let bytes = std::fs::read(&jpg).unwrap();
    // Bytes after the end-of-image marker are allowed (cameras add them).
    let mut trailing = bytes.clone();
    trailing.extend_from_slice(b"appended");
    weakseg::io::image::decode(&trailing, "trailing").unwrap();
    for cut in [bytes.len() / 2, bytes.len() - 1, 3] {
        let e = weakseg::io::image::decode(&bytes[..cut], "x.jpg")
            .err()
            .expect("a cut JPEG decoded")
            .to_string();
        assert!(e.contains("x.jpg") && e.contains("cut short"), "{cut}: {e}");
    }
    std::fs::write(&jpg, &bytes[..bytes.len() / 2]).unwrap();
    let ds = VocDataset::open(&dir, &VocOptions::split("train")).unwrap();
    let e = ds.item(0).err().unwrap().to_string();
    assert!(e.contains("000000.jpg") && e.contains("cut short"), "{e}");
    ds.item(1).unwrap();

    let png = dir.join("SegmentationClass/000001.png");
    let bytes = std::fs::read(&png).unwrap();
    std::fs::write(&png, &bytes[..bytes.len() / 2]).unwrap();
    let e = ds.item(1).err().unwrap().to_string();
    assert!(e.contains("000001.png"), "{e}");
    std::fs::write(&png, &bytes).unwrap();

    let xml = dir.join("Annotations/000001.xml");
    let text = std::fs::read_to_string(&xml).unwrap();
    let at = text.find("</annotation>").unwrap();
    std::fs::write(&xml, &text[..at]).unwrap();
    let e = VocDataset::open(&dir, &VocOptions::split("train"))
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("000001.xml") && e.contains("<annotation> is never closed"),
        "{e}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
