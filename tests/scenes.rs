//! The scenes benchmark: its properties hold on generated scenes, erasing
//! parts touches only parts, and the statistics and measurements that
//! describe it count what they say (expected values derived by hand).

use weakseg::data::annotations::VocXml;
use weakseg::data::synth::errors::ErrorSplit;
use weakseg::data::synth::scenes::{self, Appendage, CONTEXTS, Region, Scene, SceneObject};
use weakseg::data::synth::stats;
use weakseg::data::synth::{SynthConfig, SynthImage, SynthKind};
use weakseg::io::image::Rgb;
use weakseg::io::labels::LabelMap;
use weakseg::metrics::average_precision;
use weakseg::pipeline::synth_stats::eroded_inner_half;

fn scenes(n: usize) -> Vec<Scene> {
    let cfg = SynthConfig::default();
    (0..n).map(|i| scenes::compose(&cfg, i)).collect()
}

#[test]
fn scenes_are_the_default_and_vary_in_shape() {
    let cfg = SynthConfig::default();
    assert_eq!(cfg.kind, SynthKind::Scenes);
    let (mut wide, mut tall) = (0, 0);
    for s in scenes(80) {
        let (w, h) = (s.image.rgb.width, s.image.rgb.height);
        let long = w.max(h);
        assert!((64..=112).contains(&long), "long side {long}");
        assert!(w.min(h) * 10 >= long * 6 - 10, "{w}×{h} flatter than 0.6");
        assert_eq!((s.image.mask.width, s.image.mask.height), (w, h));
        assert_eq!(
            (s.image.xml.width, s.image.xml.height),
            (w as u32, h as u32)
        );
        assert_eq!(s.clean.len(), w * h);
        assert!(
            (1..=4).contains(&s.objects.len()),
            "{} objects",
            s.objects.len()
        );
        wide += usize::from(w > h);
        tall += usize::from(h > w);
    }
    assert!(wide > 40 && tall > 10, "{wide} landscape, {tall} portrait");
    assert_eq!(
        scenes::compose(&cfg, 5),
        scenes::compose(&cfg, 5),
        "deterministic"
    );
    let other = SynthConfig { seed: 1, ..cfg };
    assert_ne!(
        scenes::compose(&other, 5).image.rgb,
        scenes::compose(&SynthConfig::default(), 5).image.rgb
    );
}

#[test]
fn scenes_have_the_properties_they_promise() {
    let s = stats::measure(&scenes(240), 5);
    assert_eq!(s.images, 240);
    assert!(
        (1.2..=1.8).contains(&s.classes_per_image),
        "{} classes per image",
        s.classes_per_image
    );
    assert!(
        s.repeated_instances > 0.1,
        "repeated instances {}",
        s.repeated_instances
    );
    assert!(
        s.object_share.min < 0.03 && s.object_share.max > 0.3,
        "{:?}",
        s.object_share
    );
    assert!(s.object_share.max <= 0.5);
    // Each image is framed around a subject of 8–50% (VOC's photographs
    // are), so the largest object is large even among small ones.
    assert!(
        s.largest_object_share.median > 0.14 && s.foreground_share.median > 0.18,
        "largest {:?}, foreground {:?}",
        s.largest_object_share,
        s.foreground_share
    );
    assert!(s.occluded > 0.05 && s.truncated > 0.1 && s.truncated < 0.7);
    for c in &s.context {
        assert!(
            c.with_class > 0.5 && c.without_class < 0.5 && c.with_class > 2.0 * c.without_class,
            "class {} in {}: {} with, {} without",
            c.class,
            c.context,
            c.with_class,
            c.without_class
        );
    }
    assert!(
        (0.4..=0.6).contains(&s.low_contrast_objects),
        "{}",
        s.low_contrast_objects
    );
    assert!(s.thin_objects > 0.05 && s.detached_objects > 0.05);
    // The strong pairs co-occur more than the others: 0–1 against 0–2.
    assert!(
        s.cooccurrence[0][1] > 2 * s.cooccurrence[0][2],
        "{:?}",
        s.cooccurrence
    );
    assert_eq!(s.cooccurrence[1][0], s.cooccurrence[0][1]);
    // Class 0 is drawn twice as often as any other as a first object.
    assert!(s.class_images[0] > s.class_images[2]);
}

#[test]
fn erasing_parts_repaints_only_part_pixels() {
    let cfg = SynthConfig::default();
    let erased = SynthConfig {
        erase_parts: true,
        ..cfg.clone()
    };
    let (mut changed, mut object_pixels) = (0usize, 0usize);
    for i in 0..20 {
        let (a, b) = (scenes::compose(&cfg, i), scenes::compose(&erased, i));
        assert_eq!(a.image.mask, b.image.mask);
        assert_eq!(a.image.xml, b.image.xml);
        assert_eq!(a.image.marks, b.image.marks);
        for (k, (p, q)) in a.clean.iter().zip(&b.clean).enumerate() {
            if p != q {
                assert_ne!(
                    a.image.mask.data[k], 0,
                    "image {i}: background pixel {k} repainted"
                );
                changed += 1;
            }
        }
        object_pixels += a.image.mask.data.iter().filter(|&&v| v > 0).count();
    }
    let share = changed as f64 / object_pixels as f64;
    assert!(
        (0.03..0.25).contains(&share),
        "{share} of object pixels repainted"
    );
    assert!(
        SynthConfig {
            kind: SynthKind::Parts,
            ..erased
        }
        .validate()
        .is_err(),
        "the parts generator has no body to erase to"
    );
}

#[test]
fn scene_classes_are_limited_to_twenty() {
    let mut cfg = SynthConfig {
        classes: 20,
        train: 30,
        val: 0,
        ..SynthConfig::default()
    };
    cfg.validate().unwrap();
    for i in 0..30 {
        let s = scenes::compose(&cfg, i);
        assert!(s.image.mask.data.iter().all(|&v| v <= 20));
    }
    cfg.classes = 21;
    let e = cfg.validate().unwrap_err().to_string();
    assert!(e.contains("21 classes") && e.contains("scenes"), "{e}");
}

/// A 4×2 scene by hand: object pixels (1,0), (2,0) of class 0 over a
/// background. Boundary pairs (4-neighbours, different labels): (0,0)–(1,0),
/// (2,0)–(3,0), (1,0)–(1,1), (2,0)–(2,1): four. Clean colours make the
/// first two steps 0.01 and 0.05 (below σ√6 = 0.0612) and the last two 0.2
/// and 0.07 (above), so half of the boundary is below the noise.
fn hand_scene() -> Scene {
    let g = |v: f32| [v, v, v];
    // Steps along one channel only: |Δ| in one channel is the distance.
    let clean = vec![
        g(0.5),
        [0.51, 0.5, 0.5],
        [0.51, 0.5, 0.5],
        [0.56, 0.5, 0.5],
        g(0.5),
        [0.71, 0.5, 0.5],
        [0.44, 0.5, 0.5],
        g(0.5),
    ];
    let mask = LabelMap {
        width: 4,
        height: 2,
        data: vec![0, 1, 1, 0, 0, 0, 0, 0],
    };
    Scene {
        image: SynthImage {
            id: "x".into(),
            rgb: Rgb {
                width: 4,
                height: 2,
                data: vec![0; 24],
            },
            mask,
            xml: VocXml {
                width: 4,
                height: 2,
                boxes: Vec::new(),
            },
            marks: Vec::new(),
        },
        clean,
        objects: vec![SceneObject {
            class: 0,
            full_pixels: 3,
            visible_pixels: 2,
            low_contrast: true,
            appendage: Appendage::Thin,
            appendage_pixels: 1,
            truncated: true,
        }],
        contexts: vec![0],
        surround: vec![None; 8],
        regions: vec![Region::None; 8],
    }
}

#[test]
fn error_split_by_hand() {
    // A 20×1 strip: object of class 0 on x = 0 (part), 1 (body), 2
    // (appendage); background x = 3–10 within 8 px of it; x = 11–14 on
    // class 0's typical surround; x = 15–19 plain.
    let own = scenes::ClassLook::of(0, 2).context;
    let mut scene = hand_scene();
    scene.image.mask = LabelMap {
        width: 20,
        height: 1,
        data: [vec![1; 3], vec![0; 17]].concat(),
    };
    scene.surround = (0..20)
        .map(|x| (11..15).contains(&x).then_some(own))
        .collect();
    scene.regions = [
        vec![Region::Part, Region::Body, Region::Appendage],
        vec![Region::None; 17],
    ]
    .concat();
    // Right, missed, right; two near pixels taken; on the surround one
    // taken as class 0 (whose surround it is), one void; one plain pixel
    // taken as class 1.
    let pred = [1, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 255, 2, 0, 0, 0, 0];
    let mut e = ErrorSplit::default();
    e.add(&scene, &pred, 2);
    assert_eq!((e.object, e.missed), ([1, 1, 1], [0, 1, 0]));
    assert_eq!((e.near, e.near_taken), (8, 2));
    assert_eq!((e.own_context, e.own_context_taken), (4, 1));
    assert_eq!((e.elsewhere, e.elsewhere_taken), (5, 1));
    assert_eq!(e.recall(), [Some(1.0), Some(0.0), Some(1.0)]);
    assert_eq!(e.context_taken(), Some(0.25));
}

#[test]
fn scene_statistics_count_what_they_say() {
    let s = stats::measure(&[hand_scene()], 2);
    assert_eq!(s.boundary_below_noise, 0.5);
    assert_eq!(s.objects_per_image, vec![0, 1]);
    assert_eq!(s.classes_per_image, 1.0);
    assert_eq!(s.repeated_instances, 0.0);
    assert_eq!(s.object_share.median, 2.0 / 8.0);
    assert_eq!(
        (s.occluded, s.truncated, s.low_contrast_objects),
        (1.0, 1.0, 1.0)
    );
    assert_eq!((s.thin_objects, s.detached_objects), (1.0, 0.0));
    assert_eq!(s.appendage_pixels, 0.5);
    assert_eq!(s.landscape, 1.0);
    assert_eq!(s.four_to_three, 0.0);
    assert_eq!(s.class_images, vec![1, 0]);
    assert_eq!(s.cooccurrence, vec![vec![1, 0], vec![0, 0]]);
    // Classes 0 and 1 share water, which the scene shows: class 0 present
    // with it; class 1 absent, so its one image without it shows water.
    assert_eq!(
        (s.context[0].context, s.context[1].context),
        (CONTEXTS[0], CONTEXTS[0])
    );
    assert_eq!(
        (s.context[0].with_class, s.context[0].without_class),
        (1.0, 0.0)
    );
    assert_eq!(
        (s.context[1].with_class, s.context[1].without_class),
        (0.0, 1.0)
    );
}

#[test]
fn eroded_ground_truth_keeps_each_labels_inner_half() {
    // A 5×5 object in a 7×7 image. Object depths (chessboard distance to
    // the background): 16 px at 1, 8 at 2, 1 at 3. Thresholds keep 25/25,
    // 9/25 or 1/25: 9/25 = 0.36 is nearest one half. Every background
    // pixel touches the object (depth 1), so the background stays whole.
    let mut data = vec![0u8; 49];
    for y in 1..6 {
        for x in 1..6 {
            data[y * 7 + x] = 3;
        }
    }
    let mask = LabelMap {
        width: 7,
        height: 7,
        data,
    };
    let e = eroded_inner_half(&mask);
    for y in 0..7 {
        for x in 0..7 {
            let want = if (2..5).contains(&x) && (2..5).contains(&y) {
                4
            } else if (1..6).contains(&x) && (1..6).contains(&y) {
                0
            } else {
                1
            };
            assert_eq!(e[y * 7 + x], want, "pixel ({x}, {y})");
        }
    }
    // One label filling the image stays whole.
    assert_eq!(eroded_inner_half(&LabelMap::filled(3, 2, 2)), vec![3; 6]);
}

#[test]
fn average_precision_matches_its_definition() {
    // Ranked T F T F: recall 1/2 at precision 1, then 1 at 2/3:
    // 0.5·1 + 0.5·2/3 = 5/6.
    let ap = average_precision(&[0.9, 0.8, 0.7, 0.6], &[true, false, true, false]).unwrap();
    assert!((ap - 5.0 / 6.0).abs() < 1e-12, "{ap}");
    // A tie enters together: {T, F} at 0.5 (recall 1/2, precision 1/2),
    // then T (recall 1, precision 2/3): 0.25 + 1/3.
    let ap = average_precision(&[0.5, 0.5, 0.2], &[true, false, true]).unwrap();
    assert!((ap - 7.0 / 12.0).abs() < 1e-12, "{ap}");
    assert_eq!(average_precision(&[0.1, 0.2], &[false, false]), None);
    assert_eq!(average_precision(&[0.1], &[true, false]), None);
}
