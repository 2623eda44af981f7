//! The shipped VOC recipe (`configs/voc-resnet50.toml`) runs end to end on
//! a dataset with VOC's structure built here: images of varied sizes and
//! aspect ratios (60–130 px a side), `ImageSets/Segmentation/{train, val,
//! trainval, train_aug}.txt` with train_aug a superset of train, palette
//! `SegmentationClass` PNGs with 255 boundary bands for train + val only,
//! grey `SegmentationClassAug` PNGs for train_aug + val, XML annotations
//! for every image, and no classes.txt (VOC's 20 classes). The config is
//! changed only in `data`, `out`, the architectures and their output
//! strides, `pretrained`, epochs, batch sizes and crop sizes; `weakseg run`
//! must finish every stage and report each mIoU on the list and masks the
//! recipe names.

use std::path::Path;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use weakseg::data::annotations::{BoxLabel, VocXml};
use weakseg::data::classes::ClassList;
use weakseg::io::labels::{self, IGNORE, LabelMap};

/// The classes drawn (VOC's aeroplane, cat, person) and their colours.
const CLASSES: [(u8, [u8; 3]); 3] = [(1, [200, 40, 40]), (8, [40, 180, 60]), (15, [50, 60, 210])];

/// One image: a noisy background with one or two ellipses of a class's
/// colour; its label map and its objects' boxes.
fn image(rng: &mut SmallRng) -> (image::RgbImage, LabelMap, Vec<BoxLabel>) {
    let (w, h) = (
        rng.random_range(60..=130usize),
        rng.random_range(60..=130usize),
    );
    let mut rgb = image::RgbImage::new(w as u32, h as u32);
    for p in rgb.pixels_mut() {
        let v = rng.random_range(90..140u8);
        *p = image::Rgb([v, v, v]);
    }
    let mut mask = vec![0u8; w * h];
    let mut boxes = Vec::new();
    for _ in 0..rng.random_range(1..=2) {
        let (class, colour) = CLASSES[rng.random_range(0..CLASSES.len())];
        let (rx, ry) = (
            rng.random_range(w as f32 * 0.15..w as f32 * 0.3),
            rng.random_range(h as f32 * 0.15..h as f32 * 0.3),
        );
        let (cx, cy) = (
            rng.random_range(rx..w as f32 - rx),
            rng.random_range(ry..h as f32 - ry),
        );
        let (mut x0, mut y0, mut x1, mut y1) = (w, h, 0, 0);
        for y in 0..h {
            for x in 0..w {
                let (dx, dy) = ((x as f32 + 0.5 - cx) / rx, (y as f32 + 0.5 - cy) / ry);
                if dx * dx + dy * dy <= 1.0 {
                    mask[y * w + x] = class;
                    let shade = rng.random_range(0..30u8);
                    rgb.put_pixel(x as u32, y as u32, image::Rgb(colour.map(|c| c + shade)));
                    (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
                }
            }
        }
        boxes.push(BoxLabel {
            class,
            xmin: x0 as u32,
            ymin: y0 as u32,
            xmax: x1 as u32,
            ymax: y1 as u32,
        });
    }
    (
        rgb,
        LabelMap {
            width: w,
            height: h,
            data: mask,
        },
        boxes,
    )
}

/// VOC's SegmentationClass style: a 255 band over every pixel whose 3×3
/// neighbourhood holds another label.
fn with_bands(m: &LabelMap) -> LabelMap {
    let (w, h) = (m.width, m.height);
    let at = |x: usize, y: usize| m.data[y * w + x];
    let data = (0..w * h)
        .map(|i| {
            let (x, y) = (i % w, i / w);
            let edge = (x.saturating_sub(1)..=(x + 1).min(w - 1))
                .any(|u| (y.saturating_sub(1)..=(y + 1).min(h - 1)).any(|v| at(u, v) != at(x, y)));
            if edge { IGNORE } else { at(x, y) }
        })
        .collect();
    LabelMap {
        width: w,
        height: h,
        data,
    }
}

/// Writes the dataset: ids 2008_000000… ; train 0–5, val 6–9, train_aug
/// train plus 10–15.
fn write_voc(root: &Path) {
    let mut rng = SmallRng::seed_from_u64(2012);
    let id = |i: usize| format!("2008_{i:06}");
    let (train, val, extra) = (0..6, 6..10, 10..16);
    for dir in [
        "JPEGImages",
        "Annotations",
        "SegmentationClass",
        "SegmentationClassAug",
        "ImageSets/Segmentation",
    ] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    let classes = ClassList::voc();
    for i in 0..16 {
        let (rgb, mask, boxes) = image(&mut rng);
        let name = id(i);
        rgb.save(root.join(format!("JPEGImages/{name}.jpg")))
            .unwrap();
        let xml = VocXml {
            width: mask.width as u32,
            height: mask.height as u32,
            boxes,
        };
        std::fs::write(
            root.join(format!("Annotations/{name}.xml")),
            xml.to_xml(&name, &classes),
        )
        .unwrap();
        if i < 10 {
            std::fs::write(
                root.join(format!("SegmentationClass/{name}.png")),
                labels::encode(&with_bands(&mask)).unwrap(),
            )
            .unwrap();
        }
        std::fs::write(
            root.join(format!("SegmentationClassAug/{name}.png")),
            labels::encode_grey(&mask).unwrap(),
        )
        .unwrap();
    }
    let list = |r: std::ops::Range<usize>| r.map(|i| format!("{}\n", id(i))).collect::<String>();
    let sets = root.join("ImageSets/Segmentation");
    std::fs::write(sets.join("train.txt"), list(train.clone())).unwrap();
    std::fs::write(sets.join("val.txt"), list(val.clone())).unwrap();
    std::fs::write(sets.join("trainval.txt"), list(0..10)).unwrap();
    std::fs::write(sets.join("train_aug.txt"), list(train) + &list(extra)).unwrap();
}

/// The shipped config with only the edits the recipe allows.
fn tiny_recipe(data: &Path, out: &Path) -> String {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/configs/voc-resnet50.toml"
    ))
    .unwrap();
    let mut cfg: toml::Table = toml::from_str(&text).unwrap();
    cfg.insert("data".into(), data.display().to_string().into());
    cfg.insert("out".into(), out.display().to_string().into());
    let table = |cfg: &mut toml::Table, name: &str| -> toml::Table {
        cfg.get(name).and_then(|v| v.as_table()).cloned().unwrap()
    };
    let mut c = table(&mut cfg, "classifier");
    c.insert("arch".into(), "resnet-tiny".into());
    c.insert("output_stride".into(), 8.into());
    c.remove("pretrained");
    c.insert("epochs".into(), 1.into());
    c.insert("batch_size".into(), 4.into());
    c.insert("crop".into(), 64.into());
    cfg.insert("classifier".into(), c.into());
    let mut a = table(&mut cfg, "affinity");
    a.remove("pretrained");
    a.insert("epochs".into(), 1.into());
    a.insert("batch_size".into(), 4.into());
    let mut crop = a["crop"].as_table().cloned().unwrap();
    crop.insert("side".into(), 56.into());
    a.insert("crop".into(), crop.into());
    cfg.insert("affinity".into(), a.into());
    let mut s = table(&mut cfg, "segmenter");
    s.insert("arch".into(), "resnet-tiny".into());
    s.insert("output_stride".into(), 8.into());
    s.remove("pretrained");
    s.insert("epochs".into(), 1.into());
    s.insert("batch_size".into(), 4.into());
    let mut crop = s["crop"].as_table().cloned().unwrap();
    crop.insert("side".into(), 48.into());
    s.insert("crop".into(), crop.into());
    cfg.insert("segmenter".into(), s.into());
    toml::to_string(&cfg).unwrap()
}

#[test]
fn the_voc_recipe_runs_on_a_voc_shaped_dataset() {
    let dir = tempfile::tempdir().unwrap();
    let (data, out) = (dir.path().join("VOC2012"), dir.path().join("run"));
    write_voc(&data);
    let config = dir.path().join("voc.toml");
    std::fs::write(&config, tiny_recipe(&data, &out)).unwrap();
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_weakseg"))
        .args(["run", "--config"])
        .arg(&config)
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "weakseg run failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let metrics: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("metrics.json")).unwrap()).unwrap();
    for key in [
        "cam_miou_train",
        "crf_miou_train",
        "rw_miou_train",
        "seg_miou_val",
    ] {
        let v = metrics[key].as_f64();
        assert!(
            v.is_some_and(|v| v.is_finite()),
            "{key}: {:?}",
            metrics[key]
        );
    }
    // psa's lists: the pseudo-labels of all 12 train_aug images, scored on
    // the 6 of train with SegmentationClass; the segmenter on the 4 of val.
    let on = &metrics["scored_on"];
    for stage in ["cam", "aff-labels", "rw"] {
        assert_eq!(
            on[stage], "train, SegmentationClass (6 images)",
            "{stage}: {on}"
        );
    }
    assert_eq!(on["predict"], "val, SegmentationClass (4 images)", "{on}");
    assert!(
        stdout.contains("cam: scored on 6 images of train, masks from SegmentationClass"),
        "{stdout}"
    );
    eprintln!("{stdout}");
    let cams = std::fs::read_dir(out.join("2-cam/cams")).unwrap().count();
    assert_eq!(cams, 12, "a CAM for every train_aug image");
}
