//! What a pseudo-label stage is scored on: its images restricted to a
//! list, masks from SegmentationClass, SegmentationClassAug or either, and
//! clear errors for a missing list or mask and a mask of the wrong size.

use std::path::Path;

use weakseg::io::labels::{self, LabelMap};
use weakseg::pipeline::scoring::{GroundMasks, GroundTruth, Scoring};

fn write_mask(root: &Path, dir: &str, id: &str, value: u8, (w, h): (usize, usize)) {
    std::fs::create_dir_all(root.join(dir)).unwrap();
    let map = LabelMap {
        width: w,
        height: h,
        data: vec![value; w * h],
    };
    labels::write(&root.join(format!("{dir}/{id}.png")), &map).unwrap();
}

/// a: both masks (class 1 in SegmentationClass, 2 in the Aug set); b: an
/// Aug mask only; c: none. `train` lists a and c.
fn dataset() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("ImageSets/Segmentation")).unwrap();
    std::fs::write(root.join("ImageSets/Segmentation/train.txt"), "a\nc\n").unwrap();
    write_mask(root, "SegmentationClass", "a", 1, (3, 2));
    write_mask(root, "SegmentationClassAug", "a", 2, (3, 2));
    write_mask(root, "SegmentationClassAug", "b", 3, (3, 2));
    dir
}

#[test]
fn auto_takes_voc_masks_first_and_scores_every_image_with_one() {
    let d = dataset();
    let mut gt = GroundTruth::open(d.path(), "train_aug", &Scoring::default()).unwrap();
    assert_eq!(gt.mask("a", (3, 2)).unwrap(), Some(vec![1; 6]));
    assert_eq!(gt.mask("b", (3, 2)).unwrap(), Some(vec![3; 6]));
    assert_eq!(gt.mask("c", (3, 2)).unwrap(), None);
    let on = gt.describe();
    assert_eq!(on.list, "train_aug");
    assert_eq!(on.images, 2);
    assert_eq!(on.masks, "SegmentationClass, else SegmentationClassAug");
    assert_eq!(
        on.to_string(),
        "train_aug, SegmentationClass, else SegmentationClassAug (2 images)"
    );
}

#[test]
fn a_list_and_a_mask_source_restrict_the_scoring() {
    let d = dataset();
    let s = Scoring {
        list: Some("train".into()),
        masks: GroundMasks::Aug,
    };
    let mut gt = GroundTruth::open(d.path(), "train_aug", &s).unwrap();
    assert_eq!(gt.mask("a", (3, 2)).unwrap(), Some(vec![2; 6]));
    assert_eq!(gt.mask("b", (3, 2)).unwrap(), None, "b is not in train");
    let on = gt.describe();
    assert_eq!((on.list.as_str(), on.images), ("train", 1));
    assert_eq!(on.masks, "SegmentationClassAug");
    // c is in train but has no Aug mask: a named source must exist.
    let err = gt.mask("c", (3, 2)).unwrap_err().to_string();
    assert!(err.contains("SegmentationClassAug/c.png"), "{err}");
    let class = Scoring {
        list: None,
        masks: GroundMasks::Class,
    };
    let mut gt = GroundTruth::open(d.path(), "train_aug", &class).unwrap();
    let err = gt.mask("a", (2, 3)).unwrap_err().to_string();
    assert!(
        err.contains("SegmentationClass/a.png") && err.contains("3×2"),
        "{err}"
    );
}

#[test]
fn a_missing_scoring_list_is_named() {
    let d = dataset();
    let s = Scoring {
        list: Some("nowhere".into()),
        masks: GroundMasks::Auto,
    };
    let err = GroundTruth::open(d.path(), "train", &s)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("nowhere"), "{err}");
}

#[test]
fn scoring_settings_read_from_toml_and_stay_out_of_default_fingerprints() {
    let s: Scoring = toml::from_str("list = \"train\"\nmasks = \"class\"").unwrap();
    assert_eq!(s.list.as_deref(), Some("train"));
    assert_eq!(s.masks, GroundMasks::Class);
    assert!(toml::from_str::<Scoring>("masks = \"gt\"").is_err());
    assert!(Scoring::default().is_default() && !s.is_default());
    let cam = serde_json::to_value(weakseg::pipeline::cams::CamSettings::default()).unwrap();
    assert!(cam.get("eval").is_none(), "{cam}");
}

#[test]
fn missing_predictions_are_counted_and_the_first_named() {
    // A whole split missing once printed every path on one line.
    let dir = std::env::temp_dir().join(format!("weakseg-eval-missing-{}", std::process::id()));
    let (gt, pred) = (dir.join("gt"), dir.join("pred"));
    std::fs::create_dir_all(&pred).unwrap();
    let map = weakseg::io::labels::LabelMap {
        width: 2,
        height: 2,
        data: vec![0, 1, 1, 0],
    };
    for i in 0..7 {
        weakseg::io::labels::write(&gt.join(format!("{i:02}.png")), &map).unwrap();
    }
    let e = weakseg::metrics::evaluate_dirs(&pred, &gt, 2)
        .unwrap_err()
        .to_string();
    assert!(e.contains("7 predictions missing"), "{e}");
    assert!(
        e.contains("00.png") && e.contains("04.png") && !e.contains("05.png"),
        "{e}"
    );
    assert!(e.contains("and 2 more"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}
