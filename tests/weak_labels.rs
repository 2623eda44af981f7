//! Labels cheaper than tags turned into segmentation targets: points and
//! scribbles drawn as sparse maps, boxes as Box, Box^i, the CRF cut and the
//! CAM inside each box, and the `weak-masks` stage that writes them with
//! their agreement with the ground truth.

mod common;

use weakseg::Gpu;
use weakseg::data::annotations::{BoxLabel, Marks};
use weakseg::data::classes::ClassList;
use weakseg::data::sparse::{MarkKind, rasterise};
use weakseg::data::synth::{self};
use weakseg::io::image::Rgb;
use weakseg::io::labels::IGNORE;
use weakseg::pipeline::weak_masks::{self, WeakLabel, WeakMaskSettings};
use weakseg::refine::boxes::{self, BoxMode};
use weakseg::refine::crf::{CrfParams, DenseCrf};

fn classes() -> ClassList {
    ClassList::parse("cat\ndog\n", "test").unwrap()
}

fn bx(class: u8, xmin: u32, ymin: u32, xmax: u32, ymax: u32) -> BoxLabel {
    BoxLabel {
        class,
        xmin,
        ymin,
        xmax,
        ymax,
    }
}

fn count(data: &[u8], v: u8) -> usize {
    data.iter().filter(|&&x| x == v).count()
}

#[test]
fn points_and_scribbles_are_drawn_with_their_radius() {
    let marks = vec![
        Marks {
            class: "dog".into(),
            points: vec![[5.0, 5.0]],
            scribbles: vec![vec![[2.0, 1.0], [8.0, 1.0]]],
        },
        Marks {
            class: "background".into(),
            points: vec![],
            scribbles: vec![vec![[0.0, 1.0], [9.0, 1.0]], vec![[3.0, 8.0]]],
        },
    ];
    let p0 = rasterise(&marks, &classes(), MarkKind::Points, (10, 10), 0.0).unwrap();
    assert_eq!(count(&p0.data, 2), 1);
    assert_eq!(p0.at(5, 5), 2);
    assert_eq!(count(&p0.data, IGNORE), 99);
    // Radius 1: the pixel and its four neighbours.
    let p1 = rasterise(&marks, &classes(), MarkKind::Points, (10, 10), 1.0).unwrap();
    assert_eq!(count(&p1.data, 2), 5);
    assert_eq!(p1.at(5, 4), 2);
    assert_eq!(p1.at(4, 4), IGNORE);
    // Scribbles: the object's stroke lies over the background's, and wins.
    let s = rasterise(&marks, &classes(), MarkKind::Scribbles, (10, 10), 0.0).unwrap();
    assert_eq!(s.at(0, 1), 0);
    assert_eq!(s.at(9, 1), 0);
    assert!((2..=8).all(|x| s.at(x, 1) == 2));
    assert_eq!(s.at(3, 8), 0, "a one-vertex scribble is a dot");
    assert_eq!(count(&s.data, IGNORE), 100 - 10 - 1);
    // Marks off the image are clipped.
    let edge = vec![Marks {
        class: "cat".into(),
        points: vec![[0.0, 0.0]],
        scribbles: vec![],
    }];
    let e = rasterise(&edge, &classes(), MarkKind::Points, (4, 4), 2.0).unwrap();
    assert_eq!(count(&e.data, 1), 6);
    // A radius far past the image covers it, at the image's cost.
    let all = rasterise(&edge, &classes(), MarkKind::Points, (4, 4), 1e30).unwrap();
    assert_eq!(count(&all.data, 1), 16);
    let bad = vec![Marks {
        class: "horse".into(),
        ..edge[0].clone()
    }];
    let err = rasterise(&bad, &classes(), MarkKind::Points, (4, 4), 1.0).unwrap_err();
    assert!(err.to_string().contains("horse"), "{err}");
    let err = rasterise(&edge, &classes(), MarkKind::Points, (4, 4), -1.0).unwrap_err();
    assert!(err.to_string().contains("radius"), "{err}");
}

#[test]
fn boxes_fill_with_the_smaller_on_top_and_inner_boxes_ignore_their_rim() {
    let b = [bx(1, 0, 0, 9, 9), bx(2, 2, 2, 4, 4)];
    let f = boxes::filled(&b, (12, 12));
    assert_eq!(count(&f.data, 2), 9);
    assert_eq!(count(&f.data, 1), 100 - 9);
    assert_eq!(count(&f.data, 0), 144 - 100);
    // The same with the boxes listed the other way round.
    let g = boxes::filled(&[b[1], b[0]], (12, 12));
    assert_eq!(f, g);
    // Box^i at 20 %: a 10×10 box keeps a centred ≈ 4.5×4.5 core.
    let i = boxes::inner(&[bx(1, 0, 0, 9, 9)], (12, 12), 0.2).unwrap();
    let core = count(&i.data, 1);
    assert!((16..=25).contains(&core), "core {core}");
    assert_eq!(i.at(4, 4), 1);
    assert_eq!(i.at(0, 0), IGNORE);
    assert_eq!(count(&i.data, IGNORE), 100 - core);
    assert_eq!(count(&i.data, 0), 44);
    let whole = boxes::inner(&[bx(1, 0, 0, 9, 9)], (12, 12), 1.0).unwrap();
    assert_eq!(count(&whole.data, 1), 100);
    let e = boxes::inner(&b, (12, 12), 0.0).unwrap_err();
    assert!(e.to_string().contains("inner area"), "{e}");
    assert!(
        BoxMode::parse("grabcut")
            .unwrap_err()
            .to_string()
            .contains("box-inner")
    );
}

#[test]
fn cam_in_boxes_normalises_inside_each_box() {
    // One 8×8 box of class 2 over a CAM rising left to right (plane 1);
    // plane 0 is large everywhere but belongs to no box.
    let (w, h) = (10, 10);
    let mut cams = vec![5.0f32; 2 * w * h];
    for y in 0..h {
        for x in 0..w {
            cams[w * h + y * w + x] = 100.0 + x as f32;
        }
    }
    let m = boxes::cam_in_boxes(&[bx(2, 1, 1, 8, 8)], &cams, (w, h), 0.5).unwrap();
    // Normalised inside the box: x = 1 → 0, x = 8 → 1; ≥ 0.5 from x = 5.
    for y in 1..=8 {
        for x in 1..=8 {
            assert_eq!(m.at(x, y), if x >= 5 { 2 } else { 0 }, "({x}, {y})");
        }
    }
    assert_eq!(count(&m.data, 2), 4 * 8);
    let e = boxes::cam_in_boxes(&[bx(3, 0, 0, 1, 1)], &cams, (w, h), 0.5).unwrap_err();
    assert!(e.to_string().contains("class 3"), "{e}");
    let e = boxes::cam_in_boxes(&[], &cams[..7], (w, h), 0.5).unwrap_err();
    assert!(e.to_string().contains("CAM values"), "{e}");
}

#[test]
fn the_crf_cuts_the_object_out_of_its_box() {
    // A red disc on grey, its box twice its diameter: Box labels the grey
    // corners of the box; the CRF cut gives them back to background.
    let (w, h) = (24usize, 24usize);
    let inside = |x: usize, y: usize| {
        let (dx, dy) = (x as f32 - 11.5, y as f32 - 11.5);
        dx * dx + dy * dy <= 25.0
    };
    let mut data = Vec::with_capacity(w * h * 3);
    for y in 0..h {
        for x in 0..w {
            data.extend_from_slice(if inside(x, y) {
                &[220, 30, 30]
            } else {
                &[120, 120, 120]
            });
        }
    }
    let img = Rgb {
        width: w,
        height: h,
        data,
    };
    let gpu = Gpu::new_blocking().unwrap();
    let crf = DenseCrf::new_blocking(&gpu, &img, &CrfParams::default()).unwrap();
    let b = [bx(1, 4, 4, 19, 19)];
    let cut = pollster::block_on(boxes::crf_cut(&crf, &gpu, &b, (w, h), 0.7)).unwrap();
    let filled = boxes::filled(&b, (w, h));
    let errors = |m: &[u8]| {
        (0..w * h)
            .filter(|&i| (m[i] == 1) != inside(i % w, i / w))
            .count()
    };
    let (e_cut, e_box) = (errors(&cut.data), errors(&filled.data));
    assert!(e_cut * 4 < e_box, "CRF {e_cut} wrong pixels, Box {e_box}");
    // Nothing outside the box is foreground.
    assert!((0..w * h).all(|i| cut.data[i] == 0 || filled.data[i] == 1));
    let e = pollster::block_on(boxes::crf_cut(&crf, &gpu, &b, (w, h), 1.0)).unwrap_err();
    assert!(e.to_string().contains("inside"), "{e}");
}

#[test]
fn weak_masks_stage_scores_writes_and_skips() {
    let dir = std::env::temp_dir().join(format!("weakseg-weak-masks-{}", std::process::id()));
    let cfg = common::parts(6, 2, 32, 2, 3);
    synth::write(&cfg, &dir.join("data"), |_| {}).unwrap();
    let gpu = Gpu::new_blocking().unwrap();
    let data = dir.join("data");
    let mut shares = Vec::new();
    for (label, mode) in [
        (WeakLabel::Points, BoxMode::Box),
        (WeakLabel::Scribbles, BoxMode::Box),
        (WeakLabel::Boxes, BoxMode::Box),
        (WeakLabel::Boxes, BoxMode::BoxInner),
    ] {
        let s = WeakMaskSettings {
            label,
            box_mode: mode,
            ..WeakMaskSettings::default()
        };
        let out = dir.join(format!("{}-{}", label.name(), mode.name()));
        let m = weak_masks::make(&gpu, &data, None, &out, &s, |_, _| {}).unwrap();
        assert_eq!(m.outputs.len(), 6);
        let mask = weakseg::io::labels::read(&out.join("masks/000000.png")).unwrap();
        assert_eq!((mask.width, mask.height), (32, 32));
        let (acc, share) = (m.results.accuracy.unwrap(), m.results.labelled.unwrap());
        // Marks are drawn inside their regions; a radius of 1 may spill a
        // pixel over an edge.
        if label != WeakLabel::Boxes {
            assert!(acc > 0.9, "{} accuracy {acc}", label.name());
        }
        shares.push(share);
        let again = weak_masks::make(&gpu, &data, None, &out, &s, |_, _| {}).unwrap();
        assert!(again.skipped);
    }
    assert!(shares[0] < shares[1] && shares[1] < shares[3] && shares[3] < shares[2]);
    assert_eq!(shares[2], 1.0);
    let s = WeakMaskSettings {
        label: WeakLabel::Boxes,
        box_mode: BoxMode::Cam,
        ..WeakMaskSettings::default()
    };
    let e = weak_masks::make(&gpu, &data, None, &dir.join("cam"), &s, |_, _| {}).unwrap_err();
    assert!(e.to_string().contains("CAM stage"), "{e}");
    let e = weak_masks::make(
        &gpu,
        &data,
        Some(&dir.join("nowhere")),
        &dir.join("cam"),
        &s,
        |_, _| {},
    )
    .unwrap_err();
    assert!(e.to_string().contains("nowhere"), "{e}");
    // Without the marks file, points would be an all-unlabelled map.
    std::fs::remove_file(data.join(synth::MARKS_FILE)).unwrap();
    let points = WeakMaskSettings {
        label: WeakLabel::Points,
        ..WeakMaskSettings::default()
    };
    let e = weak_masks::make(&gpu, &data, None, &dir.join("no-marks"), &points, |_, _| {})
        .unwrap_err()
        .to_string();
    assert!(e.contains(synth::MARKS_FILE), "{e}");
    assert!(!dir.join("no-marks/masks").exists());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn marks_drawn_over_seed_maps_win_where_they_label() {
    use weakseg::io::labels::{self, LabelMap};
    let dir = std::env::temp_dir().join(format!("weakseg-over-{}", std::process::id()));
    let cfg = common::parts(3, 1, 32, 2, 5);
    synth::write(&cfg, &dir.join("data"), |_| {}).unwrap();
    let gpu = Gpu::new_blocking().unwrap();
    let data = dir.join("data");
    let seeds = dir.join("seeds");
    let ids = ["000000", "000001", "000002"];
    for id in ids {
        // Background on the left half, unlabelled on the right.
        let mut map = LabelMap::filled(32, 32, 255);
        for (i, v) in map.data.iter_mut().enumerate() {
            if i % 32 < 16 {
                *v = 0;
            }
        }
        labels::write(&seeds.join(format!("{id}.png")), &map).unwrap();
    }
    let plain = WeakMaskSettings {
        label: WeakLabel::Points,
        ..WeakMaskSettings::default()
    };
    weak_masks::make(&gpu, &data, None, &dir.join("clicks"), &plain, |_, _| {}).unwrap();
    let s = WeakMaskSettings {
        over: Some(seeds.clone()),
        ..plain.clone()
    };
    let m = weak_masks::make(&gpu, &data, None, &dir.join("over"), &s, |_, _| {}).unwrap();
    assert!(m.results.labelled.unwrap() > 0.5);
    for id in ids {
        let clicks = labels::read(&dir.join(format!("clicks/masks/{id}.png"))).unwrap();
        let over = labels::read(&dir.join(format!("over/masks/{id}.png"))).unwrap();
        for (i, (&c, &o)) in clicks.data.iter().zip(&over.data).enumerate() {
            let want = if c != 255 {
                c
            } else if i % 32 < 16 {
                0
            } else {
                255
            };
            assert_eq!(o, want, "{id} pixel {i}");
        }
    }
    labels::write(&seeds.join("000001.png"), &LabelMap::filled(16, 16, 0)).unwrap();
    let e = weak_masks::make(&gpu, &data, None, &dir.join("bad"), &s, |_, _| {}).unwrap_err();
    assert!(e.to_string().contains("000001.png"), "{e}");
    let boxes = WeakMaskSettings {
        label: WeakLabel::Boxes,
        box_mode: BoxMode::Box,
        ..s
    };
    let e = weak_masks::make(&gpu, &data, None, &dir.join("bad"), &boxes, |_, _| {}).unwrap_err();
    assert!(e.to_string().contains("points and scribbles"), "{e}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn weak_masks_command_writes_masks_and_names_bad_input() {
    use std::process::Command;
    let bin = || {
        let mut c = Command::new(env!("CARGO_BIN_EXE_weakseg"));
        c.env("XDG_RUNTIME_DIR", "/tmp");
        c
    };
    let dir = std::env::temp_dir().join(format!("weakseg-weak-cli-{}", std::process::id()));
    let cfg = common::parts(3, 1, 32, 2, 4);
    synth::write(&cfg, &dir.join("data"), |_| {}).unwrap();
    let out = bin()
        .args([
            "weak-masks",
            "--label",
            "boxes",
            "--box-mode",
            "box-inner",
            "--data",
        ])
        .arg(dir.join("data"))
        .arg("--out")
        .arg(dir.join("boxes"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("pixels labelled"), "{text}");
    assert!(dir.join("boxes/masks/000002.png").exists());
    let out = bin()
        .args(["weak-masks", "--label", "clicks", "--data"])
        .arg(dir.join("data"))
        .arg("--out")
        .arg(dir.join("x"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("clicks"));
    let out = bin()
        .args(["compare", "--supervision", "tags,clicks", "--out"])
        .arg(dir.join("cmp"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown supervision `clicks`"), "{err}");
    // SEC and DSRG train on seeds: here the inner boxes (255 on each rim).
    for method in ["sec", "dsrg"] {
        let out = bin()
            .args([
                "train-seg",
                "--seeded",
                method,
                "--epochs",
                "1",
                "--batch-size",
                "2",
            ])
            .arg("--data")
            .arg(dir.join("data"))
            .arg("--masks")
            .arg(dir.join("boxes/masks"))
            .arg("--out")
            .arg(dir.join(method))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{method}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(dir.join(method).join("segmenter.safetensors").exists());
    }
    let out = bin()
        .args(["train-seg", "--seeded", "sec", "--data"])
        .arg(dir.join("data"))
        .arg("--out")
        .arg(dir.join("y"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--masks"));
    let out = bin()
        .args(["train-seg", "--seeded", "seeds", "--masks", "m", "--data"])
        .arg(dir.join("data"))
        .arg("--out")
        .arg(dir.join("y"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("one of sec, dsrg"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}
