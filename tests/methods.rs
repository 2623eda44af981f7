//! The CAM-expansion methods: settings parsing and checking, the host-side
//! samplers (Hide-and-Seek patches, FMix masks), the attention masks and
//! losses against host computations, the backbone edit points Manifold
//! Mixup uses, and every method trained and read through the classifier
//! and CAM stages by `compare`.

mod common;
use common::{gpu, host};
use rand::SeedableRng;
use rand::rngs::SmallRng;
use weakseg::data::synth::{self};
use weakseg::methods::{self, Method, attention, fmix, has, mixup};
use weakseg::models::{ArchSpec, Backbone};
use weakseg::nn::Builder;
use weakseg::pipeline::compare;
use weakseg::pipeline::run::{PipelineConfig, Quiet, dirs};
use weakseg::{Gpu, Tensor};

#[test]
fn methods_parse_with_defaults_and_name_bad_settings() {
    let m = Method::from_name("acol", &["threshold=0.5".into()]).unwrap();
    assert_eq!(m, Method::Acol(methods::AcolSettings { threshold: 0.5 }));
    assert_eq!(
        Method::from_name("mdc", &[]).unwrap(),
        Method::Mdc(methods::MdcSettings::default())
    );
    for name in Method::NAMES {
        let m = Method::from_name(name, &[]).unwrap();
        assert_eq!(m.name(), name);
        m.validate().unwrap();
    }
    let e = Method::from_name("csae-x", &[]).unwrap_err().to_string();
    assert!(e.contains("unknown method") && e.contains("acol"), "{e}");
    let e = Method::from_name("acol", &["treshold=0.5".into()])
        .unwrap_err()
        .to_string();
    assert!(e.contains("treshold"), "{e}");
    let e = Method::from_name("acol", &["threshold".into()])
        .unwrap_err()
        .to_string();
    assert!(e.contains("key=value"), "{e}");
    // Each range check of each method's `validate`, one setting off at a
    // time: the error names the method.
    let bad: &[(&str, &[&str])] = &[
        ("ae", &["rounds=0"]),
        ("ae", &["threshold=1.0"]),
        ("has", &["hide_probability=1.5"]),
        ("has", &["grid_sizes=[]"]),
        ("has", &["reference_size=0"]),
        ("acol", &["threshold=1.5"]),
        ("acol", &["threshold=-0.1"]),
        ("seenet", &["low=0.9", "high=0.5"]),
        ("seenet", &["low=0.5", "high=0.5"]),
        ("csae", &["adversarial=-1.0"]),
        ("csae", &["area=-1.0"]),
        ("mdc", &["dilations=[1]"]),
        ("mdc", &["dilations=[1, 0]"]),
        ("mixup", &["alpha=0.0"]),
        ("fmix", &["alpha=0.0"]),
        ("fmix", &["decay=0.0"]),
        ("manifold", &["alpha=0.0"]),
        ("subcat", &["k=0"]),
        ("subcat", &["rounds=0"]),
        ("subcat", &["max_iter=0"]),
        ("subcat-teach", &["k=0"]),
        ("subcat-teach", &["max_iter=0"]),
        ("seam", &["scale=1.0"]),
        ("seam", &["scale=0.0"]),
        ("seam", &["hard_fraction=0.0"]),
        ("seam", &["hard_fraction=1.5"]),
        ("seam", &["min_pool_fraction=0.0"]),
        ("seam", &["min_pool_fraction=1.5"]),
        ("rib", &["iterations=0"]),
        ("rib", &["lr=-1.0"]),
        ("rib", &["weight_decay=-1.0"]),
        ("rib", &["explode_threshold=1.5"]),
        ("rib", &["explode_ratio=-0.1"]),
        ("cosa", &["low=0.6", "high=0.5"]),
        ("cosa", &["low=-0.1"]),
        ("cosa", &["high=1.0"]),
        ("cosa", &["momentum=1.0"]),
        ("cosa", &["momentum=0.0"]),
        ("cosa", &["temperature=0.0"]),
        ("cosa", &["scales=[]"]),
        ("cosa", &["scales=[1.0, 0.0]"]),
        ("cosa", &["decoder_channels=0"]),
        ("cosa", &["gmm_queue=0"]),
    ];
    // The edges of each range are valid.
    let edges: &[(&str, &[&str])] = &[
        ("ae", &["rounds=1", "threshold=0.0"]),
        ("has", &["hide_probability=0.0", "reference_size=1"]),
        ("has", &["hide_probability=1.0"]),
        ("acol", &["threshold=0.0"]),
        ("acol", &["threshold=1.0"]),
        ("csae", &["adversarial=0.0", "area=0.0"]),
        ("mdc", &["dilations=[1, 3]"]),
        ("subcat", &["k=1", "rounds=1", "max_iter=1"]),
        ("subcat-teach", &["k=1", "max_iter=1"]),
        ("seam", &["hard_fraction=1.0", "min_pool_fraction=1.0"]),
        ("rib", &["iterations=1", "lr=0.0", "weight_decay=0.0"]),
        ("rib", &["explode_threshold=0.0", "explode_ratio=1.0"]),
        ("rib", &["explode_threshold=1.0", "explode_ratio=0.0"]),
        ("cosa", &["low=0.0", "high=0.0"]),
        ("cosa", &["low=0.5", "high=0.5"]),
    ];
    for (name, settings) in edges {
        let settings: Vec<String> = settings.iter().map(|s| s.to_string()).collect();
        let m = Method::from_name(name, &settings).unwrap();
        assert!(m.validate().is_ok(), "{name} {settings:?} refused");
    }
    for (name, settings) in bad {
        let settings: Vec<String> = settings.iter().map(|s| s.to_string()).collect();
        let m = Method::from_name(name, &settings).unwrap();
        let e = m.validate().unwrap_err().to_string();
        assert!(e.contains(name), "{name} {settings:?}: {e}");
        let gpu = gpu();
        let arch = weakseg::models::ArchSpec::new("resnet-tiny", 8);
        let built = methods::MethodNet::new(&mut weakseg::nn::Builder::new(&gpu, 0), &m, &arch, 3);
        assert!(built.is_err(), "{name} {settings:?} built");
    }
}

#[test]
fn hide_and_seek_hides_whole_cells_at_the_expected_rate() {
    let mut rng = SmallRng::seed_from_u64(3);
    // One grid of 56 px on a 224-px reference: 16-px cells on 64-px images.
    let s = methods::HasSettings {
        grid_sizes: vec![56],
        ..Default::default()
    };
    let (n, h, w) = (200, 64, 64);
    let m = has::hide_patches(&s, n, h, w, &mut rng);
    assert!(m.iter().all(|&v| v == 0.0 || v == 1.0));
    let hidden = m.iter().filter(|&&v| v == 0.0).count() as f64 / m.len() as f64;
    // 16 cells per image at p = 0.5: the share is 0.5 ± 5 standard errors.
    assert!(
        (hidden - 0.5).abs() < 5.0 * (0.25 / (16.0 * n as f64)).sqrt(),
        "{hidden}"
    );
    // Each 16×16 cell is hidden or kept as a whole.
    for img in m.chunks(h * w) {
        for cy in 0..4 {
            for cx in 0..4 {
                let v = img[cy * 16 * w + cx * 16];
                for y in cy * 16..cy * 16 + 16 {
                    assert!(
                        img[y * w + cx * 16..y * w + cx * 16 + 16]
                            .iter()
                            .all(|&u| u == v)
                    );
                }
            }
        }
    }
    let none = methods::HasSettings {
        grid_sizes: vec![0],
        ..Default::default()
    };
    assert!(
        has::hide_patches(&none, 3, 8, 8, &mut rng)
            .iter()
            .all(|&v| v == 1.0)
    );
}

#[test]
fn fmix_masks_have_the_share_asked_for_and_large_blobs() {
    let mut rng = SmallRng::seed_from_u64(5);
    let (h, w) = (48, 40);
    for lambda in [0.1, 0.37, 0.8] {
        let m = fmix::mask(h, w, lambda, 3.0, &mut rng);
        let ones = m.iter().filter(|&&v| v == 1.0).count();
        assert!(m.iter().all(|&v| v == 0.0 || v == 1.0));
        let exact = lambda * (h * w) as f64;
        assert!(ones == exact.floor() as usize || ones == exact.ceil() as usize);
        // Decay 3 leaves low frequencies: horizontal neighbours agree far
        // more often than in a random mask with the same share (where they
        // agree with probability λ² + (1 − λ)²).
        let same = (0..h)
            .flat_map(|y| (0..w - 1).map(move |x| (y, x)))
            .filter(|&(y, x)| m[y * w + x] == m[y * w + x + 1])
            .count() as f64
            / (h * (w - 1)) as f64;
        let random = lambda * lambda + (1.0 - lambda) * (1.0 - lambda);
        assert!(same > 0.9 && same > random + 0.05, "λ {lambda}: {same}");
    }
    // The field is real-valued noise with its mean removed.
    let f = fmix::low_frequency_field(16, 16, 3.0, &mut rng);
    assert!(f.iter().sum::<f64>().abs() < 1e-6 * f.iter().map(|v| v.abs()).sum::<f64>().max(1.0));
}

#[test]
fn attention_and_erasing_masks_match_the_host() {
    let gpu = gpu();
    // Two images, two classes, 2×3 maps.
    let cams = [
        // image 0: class 0, class 1
        1.0, 2.0, 4.0, -1.0, 0.0, 3.0, //
        5.0, 0.5, 0.0, 2.5, 1.0, 0.0, //
        // image 1
        0.2, 0.4, 0.8, 0.1, 0.0, 0.0, //
        9.0, 9.0, 9.0, 9.0, 9.0, 9.0,
    ];
    let labels = [1.0, 1.0, 1.0, 0.0];
    let c = Tensor::from_slice(&gpu, &cams, &[2, 2, 2, 3]).unwrap();
    let y = Tensor::from_slice(&gpu, &labels, &[2, 2]).unwrap();
    let att = host(&attention::attention(&c, &y).unwrap());
    let mut want = Vec::new();
    for b in 0..2 {
        for p in 0..6 {
            let mut best = 0f32;
            for k in 0..2 {
                if labels[b * 2 + k] == 0.0 {
                    continue;
                }
                let map = &cams[(b * 2 + k) * 6..(b * 2 + k + 1) * 6];
                let peak = map.iter().fold(0f32, |a, &v| a.max(v));
                best = best.max(map[p].max(0.0) / (peak + 1e-5));
            }
            want.push(best);
        }
    }
    for (a, b) in att.iter().zip(&want) {
        assert!((a - b).abs() < 1e-5, "{att:?} vs {want:?}");
    }
    let a = Tensor::from_slice(&gpu, &want, &[2, 1, 2, 3]).unwrap();
    let keep = host(&attention::keep_below(&a, 0.6).unwrap());
    let tern = host(&attention::ternary(&a, 0.05, 0.8).unwrap());
    for (i, &v) in want.iter().enumerate() {
        assert_eq!(keep[i], if v > 0.6 { 0.0 } else { 1.0 });
        let t = if v > 0.8 {
            0.0
        } else if v < 0.05 {
            -1.0
        } else {
            1.0
        };
        assert_eq!(tern[i], t, "{v}");
    }
}

#[test]
fn concentration_is_the_mean_squared_distance_to_class_centroids() {
    let gpu = gpu();
    let (c, hw) = (3, 4);
    let feats: Vec<f32> = (0..c * hw).map(|i| ((i * 7) % 5) as f32 - 1.5).collect();
    // One image, two classes; class 0 peaks at pixels 0, 1; class 1 at 2;
    // pixel 3 is weak everywhere (unassigned at threshold 0.5).
    let cams = [1.0, 0.9, 0.1, 0.2, 0.2, 0.1, 1.0, 0.3];
    let f = Tensor::from_slice(&gpu, &feats, &[1, c, 2, 2]).unwrap();
    let k = Tensor::from_slice(&gpu, &cams, &[1, 2, 2, 2]).unwrap();
    let y = Tensor::from_slice(&gpu, &[1.0f32, 1.0], &[1, 2]).unwrap();
    let got = mixup::concentration(&f, &k, &y, 0.5)
        .unwrap()
        .item()
        .unwrap();
    let groups = [vec![0usize, 1], vec![2]];
    let mut sum = 0f64;
    for g in &groups {
        for ch in 0..c {
            let mean = g.iter().map(|&p| feats[ch * hw + p] as f64).sum::<f64>() / g.len() as f64;
            sum += g
                .iter()
                .map(|&p| (feats[ch * hw + p] as f64 - mean).powi(2))
                .sum::<f64>();
        }
    }
    let want = sum / (3.0 * c as f64);
    assert!((got as f64 - want).abs() < 1e-4, "{got} vs {want}");
}

#[test]
fn backbone_edit_points_leave_features_unchanged_under_identity() {
    let gpu = gpu();
    let bb = ArchSpec::new("resnet-tiny", 8)
        .build(&mut Builder::new(&gpu, 2))
        .unwrap();
    let x = Tensor::from_slice(
        &gpu,
        &(0..2 * 3 * 24 * 24)
            .map(|i| ((i % 13) as f32 - 6.0) / 6.0)
            .collect::<Vec<_>>(),
        &[2, 3, 24, 24],
    )
    .unwrap();
    let want = host(&bb.features(&x).unwrap());
    assert_eq!(bb.edit_points(), 4);
    for at in 0..bb.edit_points() {
        let mut seen = 0;
        let got = host(
            &bb.features_with(&x, at, &mut |t| {
                seen += 1;
                Ok(t.clone())
            })
            .unwrap(),
        );
        assert_eq!(seen, 1);
        let err = got
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(err < 1e-5, "edit point {at}: {err}");
    }
    assert!(bb.features_with(&x, 4, &mut |t| Ok(t.clone())).is_err());
}

#[test]
fn every_method_trains_and_yields_cams_through_the_stages() {
    let dir = std::env::temp_dir().join(format!("weakseg-methods-{}", std::process::id()));
    let data = dir.join("data");
    let synth_cfg = common::parts(6, 2, 32, 3, 4);
    synth::write(&synth_cfg, &data, |_| {}).unwrap();
    let gpu = gpu();
    let mut cfg = PipelineConfig::synthetic(data, dir.clone(), &synth_cfg);
    cfg.classifier.epochs = 1;
    cfg.classifier.batch_size = 3;
    cfg.cam.multiscale.scales = vec![1.0];
    // RIB's per-image fine-tuning with 2 negatives over 2 steps, to stay quick.
    let all: Vec<Method> = Method::NAMES
        .iter()
        .map(|&n| match n {
            "rib" => Method::from_name(n, &["negatives=2".into(), "iterations=2".into()]),
            _ => Method::from_name(n, &[]),
        })
        .map(Result::unwrap)
        .collect();
    let c = compare::methods(&gpu, &cfg, &all, true, &mut Quiet::default()).unwrap();
    assert_eq!(c.rows.len(), all.len());
    for (row, m) in c.rows.iter().zip(&all) {
        assert_eq!(row.method, m.name());
        // The figure is what the method's CAM stage wrote scores.
        let v = row.cam_miou_train.unwrap();
        let cam_dir = dir.join(m.name()).join(dirs::CAM);
        common::assert_rescored(
            m.name(),
            v,
            common::rescore(
                &cam_dir.join("labels"),
                &cfg.data,
                "train",
                synth_cfg.classes + 1,
            ),
        );
        let ckpt = dir
            .join(m.name())
            .join(dirs::CLASSIFIER)
            .join(weakseg::pipeline::classifier::CHECKPOINT);
        assert_eq!(&methods::MethodNet::load(&gpu, &ckpt).unwrap().method, m);
        let cams =
            weakseg::io::npy::read(&dir.join(m.name()).join(dirs::CAM).join("cams/000000.npy"))
                .unwrap();
        assert_eq!(cams.shape, vec![3, 32, 32]);
        // SEAM's min-max inference (infer_SEAM.py:72–77) leaves each map's
        // minimum pixels below 0, as the released code does.
        let lo = if m.name() == "seam" { f32::MIN } else { 0.0 };
        assert!(
            cams.data
                .iter()
                .all(|v| v.is_finite() && (lo..=1.0).contains(v)),
            "{}",
            m.name()
        );
    }
    let md = std::fs::read_to_string(dir.join("compare.md")).unwrap();
    for m in Method::NAMES {
        assert!(md.contains(&format!("| {m} |")), "{md}");
    }
    let json: compare::Comparison =
        serde_json::from_slice(&std::fs::read(dir.join("compare.json")).unwrap()).unwrap();
    // serde_json reads floats back to within an ulp.
    assert_eq!(json.rows.len(), c.rows.len());
    for (a, b) in json.rows.iter().zip(&c.rows) {
        assert_eq!(a.method, b.method);
        let (x, y) = (a.cam_miou_train.unwrap(), b.cam_miou_train.unwrap());
        assert!((x - y).abs() < 1e-12);
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// A batch of `labels.shape()[0]` fixed pseudo-images of `side`² pixels.
fn fixed_batch(gpu: &Gpu, labels: Tensor, side: usize) -> weakseg::data::Batch {
    let n = labels.shape()[0];
    let x: Vec<f32> = (0..n * 3 * side * side)
        .map(|i| (((i * 29) % 89) as f32 - 44.0) / 40.0)
        .collect();
    weakseg::data::Batch {
        images: Tensor::from_slice(gpu, &x, &[n, 3, side, side]).unwrap(),
        labels,
        masks: None,
        host_masks: None,
        cams: None,
        indices: (0..n).collect(),
    }
}

fn tiny_classifier(gpu: &Gpu) -> (weakseg::models::CamNet, Tensor) {
    use weakseg::nn::ModuleExt;
    let net = weakseg::models::CamNet::new(
        &mut Builder::new(gpu, 9),
        &ArchSpec::new("resnet-tiny", 8),
        3,
    )
    .unwrap();
    net.set_train(false);
    let x: Vec<f32> = (0..3 * 24 * 24)
        .map(|i| (((i * 37) % 101) as f32 - 50.0) / 40.0)
        .collect();
    (net, Tensor::from_slice(gpu, &x, &[1, 3, 24, 24]).unwrap())
}

#[test]
fn grad_cam_of_the_final_layer_is_the_normalised_cam() {
    use weakseg::cam::CamSource;
    let gpu = gpu();
    let (net, x) = tiny_classifier(&gpu);
    let present = [true, false, true];
    let cam = host(&attention::normalised(&net.cam_maps(&x, &present).unwrap()).unwrap());
    let g = methods::saliency::grad_cam(&net, &x, &present, None).unwrap();
    assert_eq!(g.shape(), &[1, 3, 3, 3]);
    let g = host(&attention::normalised(&g).unwrap());
    // Under GAP + linear, ∂score/∂A = w_c / hw: Grad-CAM is the CAM / hw.
    // Tolerance 1e-3: the normaliser's +1e-5 weighs 9× more on the
    // smaller Grad-CAM peaks.
    for (a, b) in g.iter().zip(&cam) {
        assert!((a - b).abs() < 1e-3, "{a} vs {b}");
    }
    assert!(g[9..18].iter().all(|&v| v == 0.0), "absent class not zero");
    // At an inner stage the maps have that stage's resolution.
    let inner = methods::saliency::grad_cam(&net, &x, &present, Some(1)).unwrap();
    assert_eq!(inner.shape(), &[1, 3, 12, 12]);
    assert!(host(&inner).iter().all(|&v| v >= 0.0 && v.is_finite()));
    // No gradient is left on the parameters.
    use weakseg::nn::ModuleExt;
    assert!(
        net.named_params()
            .iter()
            .all(|(_, p)| p.leaf().grad().is_none())
    );
}

#[test]
fn smooth_grad_without_noise_is_the_input_gradient() {
    use weakseg::cam::CamSource;
    let gpu = gpu();
    let (net, x) = tiny_classifier(&gpu);
    let present = [false, true, false];
    let source = methods::SaliencySource {
        net: &net,
        saliency: &methods::Saliency::SmoothGrad {
            samples: 1,
            noise: 0.0,
            seed: 0,
        },
    };
    let m = host(&source.cam_maps(&x, &present).unwrap());
    assert_eq!(m.len(), 3 * 24 * 24);
    let xs = host(&x);
    let score = |v: &[f32]| -> f64 {
        let t = Tensor::from_slice(&gpu, v, &[1, 3, 24, 24]).unwrap();
        weakseg::no_grad(|| host(&net.logits(&t).unwrap()))[1] as f64
    };
    // Central differences, step 1e-2 (f32 forward): tolerance 2e-3 + 5 %.
    for p in [0usize, 100, 333, 575] {
        let mut best = 0f64;
        for ch in 0..3 {
            let i = ch * 576 + p;
            let (mut up, mut down) = (xs.clone(), xs.clone());
            up[i] += 1e-2;
            down[i] -= 1e-2;
            best = best.max(((score(&up) - score(&down)) / 2e-2).abs());
        }
        let got = m[576 + p] as f64;
        assert!(
            (got - best).abs() < 2e-3 + 0.05 * best,
            "pixel {p}: {got} vs {best}"
        );
    }
    assert!(m[..576].iter().chain(&m[1152..]).all(|&v| v == 0.0));
}

/// k-means on three well-separated blobs finds them (up to the clusters'
/// order), stops before its iteration cap, and caps k at the point count.
#[test]
fn kmeans_recovers_separated_blobs() {
    use rand::Rng;
    use weakseg::ops::kmeans::{KMeansSettings, kmeans_blocking};
    let gpu = gpu();
    let mut r = SmallRng::seed_from_u64(5);
    let centres = [
        [0.0f32, 0.0, 0.0, 0.0],
        [9.0, 9.0, 0.0, 0.0],
        [0.0, 0.0, -9.0, 9.0],
    ];
    let truth: Vec<usize> = (0..45).map(|i| i % 3).collect();
    let pts: Vec<f32> = truth
        .iter()
        .flat_map(|&c| centres[c].map(|v| v + r.random_range(-1.0..1.0)))
        .collect();
    let points = Tensor::from_slice(&gpu, &pts, &[45, 4]).unwrap();
    let s = KMeansSettings {
        k: 3,
        ..KMeansSettings::default()
    };
    let fit = kmeans_blocking(&points, &s).unwrap();
    assert!(fit.iterations < s.max_iter, "{} iterations", fit.iterations);
    for i in 0..45 {
        for j in 0..45 {
            assert_eq!(
                truth[i] == truth[j],
                fit.labels[i] == fit.labels[j],
                "points {i} and {j}"
            );
        }
    }
    assert_eq!(fit.centroids.shape(), &[3, 4]);
    let few = Tensor::from_slice(&gpu, &pts[..8], &[2, 4]).unwrap();
    let fit = kmeans_blocking(&few, &KMeansSettings::default()).unwrap();
    assert_eq!((fit.k, fit.labels.len()), (2, 2));
    assert_ne!(fit.labels[0], fit.labels[1]);
}

/// Sub-category discovery gives every sample one sub-category for each
/// class it holds, inside that class's block of K, and multi-hot targets
/// with those ones.
#[test]
fn subcategories_follow_the_image_labels() {
    use weakseg::data::Dataset;
    use weakseg::data::voc::{VocDataset, VocOptions};
    let dir = std::env::temp_dir().join(format!("weakseg-subcat-{}", std::process::id()));
    let cfg = common::parts(8, 1, 24, 3, 2);
    synth::write(&cfg, &dir, |_| {}).unwrap();
    let gpu = gpu();
    let ds = VocDataset::open(&dir, &VocOptions::split("train")).unwrap();
    let (net, _) = tiny_classifier(&gpu);
    let sc = pollster::block_on(methods::subcat::explore(&net, &ds, 3, 4, 50)).unwrap();
    assert_eq!(sc.table.len(), ds.len());
    for (i, subs) in sc.table.iter().enumerate() {
        let labels = ds.sample(i, 0).unwrap().labels;
        let held: Vec<usize> = (0..3).filter(|&c| labels[c] > 0.5).collect();
        let parents: Vec<usize> = subs.iter().map(|s| s / 4).collect();
        assert_eq!(parents, held, "sample {i}");
    }
    let t = host(&sc.targets(&gpu, &[0, 1]).unwrap());
    assert_eq!(t.len(), 2 * 12);
    for (row, i) in [0, 1].into_iter().enumerate() {
        let ones: Vec<usize> = (0..12).filter(|&j| t[row * 12 + j] == 1.0).collect();
        assert_eq!(ones, sc.table[i]);
    }
    assert!(sc.targets(&gpu, &[99]).is_err());
    std::fs::remove_dir_all(&dir).ok();
}

/// SEAM's max_norm against a host computation; its loss on a tiny batch is
/// finite and trains both the backbone and the PCM (whose inputs are
/// detached, so its gradient comes through ECR and the min-pooling term);
/// its CAMs are non-negative and zero for absent classes.
#[test]
fn seam_loss_trains_backbone_and_pcm() {
    use weakseg::methods::seam;
    use weakseg::nn::ModuleExt;
    let gpu = gpu();
    let p: Vec<f32> = (0..2 * 9).map(|i| ((i * 7) % 11) as f32 - 3.0).collect();
    let got = host(&seam::max_norm(&Tensor::from_slice(&gpu, &p, &[1, 2, 3, 3]).unwrap()).unwrap());
    for (m, maps) in p.chunks(9).enumerate() {
        let r: Vec<f32> = maps.iter().map(|v| v.max(0.0)).collect();
        let (lo, hi) = (
            r.iter().cloned().fold(f32::MAX, f32::min),
            r.iter().cloned().fold(f32::MIN, f32::max),
        );
        for (j, v) in r.iter().enumerate() {
            let want = (v - lo - 1e-5).max(0.0) / (hi - lo + 1e-5);
            assert!((got[m * 9 + j] - want).abs() < 1e-5, "map {m} entry {j}");
        }
    }
    let net = common::tiny_method_net(&gpu, "seam", 3);
    let batch = fixed_batch(
        &gpu,
        Tensor::from_slice(&gpu, &[1.0, 0.0, 1.0, 0.0, 1.0, 0.0], &[2, 3]).unwrap(),
        32,
    );
    let loss = pollster::block_on(methods::Trainer::new(1).loss(&net, &batch)).unwrap();
    let v = loss.item().unwrap();
    assert!(v.is_finite() && v > 0.0, "loss {v}");
    loss.backward().unwrap();
    let grads = net.named_params();
    for wanted in [
        "pcm.f9.weight",
        "pcm.reduce1.weight",
        "head.classifier.weight",
    ] {
        let (_, p) = grads.iter().find(|(n, _)| n == wanted).unwrap();
        let g = host(&p.get().grad().unwrap());
        assert!(g.iter().any(|v| *v != 0.0), "{wanted} got no gradient");
    }
    net.set_train(false);
    use weakseg::cam::CamSource;
    let maps = host(&net.cam_maps(&batch.images, &[true, false, true]).unwrap());
    let hw = maps.len() / 6;
    assert!(maps.iter().all(|v| *v >= 0.0 && v.is_finite()));
    assert!(
        maps[hw..2 * hw]
            .iter()
            .chain(&maps[4 * hw..5 * hw])
            .all(|v| *v == 0.0)
    );
}

/// CS-AE draws exactly one present class per image, each present class
/// in turn over repeated draws; its loss is finite and trains the erasing
/// network.
#[test]
fn csae_draws_one_present_class_and_trains_the_eraser() {
    use weakseg::methods::csae;
    use weakseg::nn::ModuleExt;
    let gpu = gpu();
    let labels = [1.0f32, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 1.0, 1.0];
    let y = Tensor::from_slice(&gpu, &labels, &[3, 3]).unwrap();
    let mut rng = SmallRng::seed_from_u64(8);
    let mut seen = [0usize; 9];
    for _ in 0..40 {
        let c = host(&csae::draw_present(&y, &mut rng).unwrap());
        for (row, l) in c.chunks(3).zip(labels.chunks(3)) {
            assert_eq!(row.iter().sum::<f32>(), 1.0, "{row:?}");
            assert!(
                row.iter().zip(l).all(|(c, l)| c <= l),
                "{row:?} outside {l:?}"
            );
        }
        for (s, v) in seen.iter_mut().zip(&c) {
            *s += *v as usize;
        }
    }
    for (i, (&s, &l)) in seen.iter().zip(&labels).enumerate() {
        assert_eq!(s > 0, l > 0.0, "entry {i} drawn {s} times");
    }
    let net = common::tiny_method_net(&gpu, "csae", 3);
    let batch = fixed_batch(&gpu, y, 24);
    let mut trainer = methods::Trainer::new(2);
    trainer.set_round(1);
    let loss = pollster::block_on(trainer.loss(&net, &batch)).unwrap();
    assert!(loss.item().unwrap().is_finite());
    loss.backward().unwrap();
    let params = net.named_params();
    let (_, w) = params
        .iter()
        .find(|(n, _)| n == "backbone.conv1.weight")
        .unwrap();
    assert!(host(&w.get().grad().unwrap()).iter().any(|v| *v != 0.0));
    assert_eq!(net.phases().len(), 2);
}

#[test]
fn gndrp_pools_present_classes_below_the_threshold_only() {
    let gpu = gpu();
    let (b, k, hw) = (2, 3, 7);
    let cams: Vec<f32> = (0..b * k * hw)
        .map(|i| ((i * 29 % 23) as f32 - 6.0) / 4.0)
        .collect();
    let present = [1.0, 0.0, 1.0, 0.0, 1.0, 1.0];
    let t = Tensor::from_slice(&gpu, &cams, &[b, k, 1, hw]).unwrap();
    let p = Tensor::from_slice(&gpu, &present, &[b, k]).unwrap();
    let got = host(&methods::rib::gndrp(&t, &p, 0.4).unwrap());
    for m in 0..b * k {
        let row = &cams[m * hw..(m + 1) * hw];
        let peak = row.iter().cloned().fold(f32::MIN, f32::max).max(1e-5);
        let want: f32 = row
            .iter()
            .filter(|&&v| present[m] == 0.0 || v / peak < 0.4)
            .sum::<f32>()
            / hw as f32;
        assert!(
            (got[m] - want).abs() < 1e-5,
            "map {m}: {} vs {want}",
            got[m]
        );
    }
    let bad = Tensor::from_slice(&gpu, &present[..3], &[1, 3]).unwrap();
    assert!(methods::rib::gndrp(&t, &bad, 0.4).is_err());
}

#[test]
fn rib_resets_per_image_and_without_steps_is_the_cam() {
    use weakseg::cam::{self, MultiScale};
    use weakseg::methods::rib::{Localiser, RibSettings};
    use weakseg::nn::ModuleExt;
    let gpu = gpu();
    let (net, x) = tiny_classifier(&gpu);
    let (trained, _) = tiny_classifier(&gpu);
    let present = [true, false, true];
    let ms = MultiScale {
        scales: vec![1.0, 0.5],
        flip: true,
        resize: weakseg::cam::ViewResize::Bilinear,
    };
    let negs: Vec<f32> = (0..2 * 3 * 24 * 24)
        .map(|i| ((i * 13 % 47) as f32 - 23.0) / 20.0)
        .collect();
    let neg_images = Tensor::from_slice(&gpu, &negs, &[2, 3, 24, 24]).unwrap();
    let neg_labels = Tensor::from_slice(&gpu, &[0.0f32, 1.0, 0.0, 0.0, 1.0, 0.0], &[2, 3]).unwrap();
    let mut negatives = || Ok(vec![(neg_images.clone(), neg_labels.clone())]);
    let plain = host(&cam::multiscale(&trained, &x, &present, &ms).unwrap());
    let params = |n: &weakseg::models::CamNet| -> Vec<f32> {
        n.named_params()
            .iter()
            .flat_map(|(_, p)| host(&p.get()))
            .collect()
    };
    let before = params(&trained);
    let never_stop = RibSettings {
        iterations: 3,
        stop_logit: f32::MAX,
        explode_ratio: 1.0,
        ..RibSettings::default()
    };
    // Learning rate 0: every step sums the same maps, so RIB is the CAM.
    let frozen = RibSettings {
        lr: 0.0,
        weight_decay: 0.0,
        ..never_stop.clone()
    };
    let mut l = Localiser::new(&net, &trained, &frozen).unwrap();
    let (maps, trace) = pollster::block_on(l.localise(&x, &present, &ms, &mut negatives)).unwrap();
    assert_eq!((trace.steps, trace.stopped), (3, false));
    // Tolerance 1e-5: three equal sums normalised, against one.
    for (a, b) in host(&maps).iter().zip(&plain) {
        assert!((a - b).abs() < 1e-5, "{a} vs {b}");
    }
    // A real rate changes the maps; the tuned copy is reset before the next
    // image, so the same image gives the same maps, and the trained
    // weights are never touched.
    let tuned = RibSettings {
        lr: 1e-3,
        ..never_stop
    };
    let mut l = Localiser::new(&net, &trained, &tuned).unwrap();
    let (a, _) = pollster::block_on(l.localise(&x, &present, &ms, &mut negatives)).unwrap();
    let after_first = params(&net);
    let (b, _) = pollster::block_on(l.localise(&x, &present, &ms, &mut negatives)).unwrap();
    let (a, b) = (host(&a), host(&b));
    assert_ne!(
        after_first, before,
        "fine-tuning left the weights as they were"
    );
    assert_eq!(params(&trained), before);
    for (u, v) in a.iter().zip(&b) {
        assert!((u - v).abs() < 1e-5, "{u} vs {v}");
    }
    let moved = a
        .iter()
        .zip(&plain)
        .map(|(u, v)| (u - v).abs())
        .fold(0.0, f32::max);
    assert!(moved > 1e-3, "the maps did not change ({moved})");
    assert!(
        a[24 * 24..2 * 24 * 24].iter().all(|&v| v == 0.0),
        "absent class not zero"
    );
    // The stop rules: a logit sum past 0 ends the first step; any coverage
    // past 0 ends the second (the first step is never checked).
    for (rule, steps) in [
        (
            RibSettings {
                stop_logit: 0.0,
                ..tuned.clone()
            },
            1,
        ),
        (
            RibSettings {
                explode_ratio: 0.0,
                ..tuned.clone()
            },
            2,
        ),
    ] {
        let mut l = Localiser::new(&net, &trained, &rule).unwrap();
        let (_, trace) = pollster::block_on(l.localise(&x, &present, &ms, &mut negatives)).unwrap();
        assert_eq!((trace.steps, trace.stopped), (steps, true));
    }
    // An image without classes is refused.
    let none = pollster::block_on(l.localise(&x, &[false; 3], &ms, &mut negatives));
    assert!(none.is_err());
}

#[test]
fn gmm_thresholds_split_three_clusters() {
    use weakseg::methods::cosa::gmm_thresholds;
    let mut v = Vec::new();
    for (centre, count) in [(0.1f32, 300), (0.45, 200), (0.9, 250)] {
        v.extend((0..count).map(|i| centre + ((i % 21) as f32 - 10.0) * 0.004));
    }
    let (low, high) = gmm_thresholds(&v, 100).unwrap();
    // The first cluster spans 0.06..0.14, the third 0.86..0.94.
    assert!((0.13..0.15).contains(&low), "low {low}");
    assert!((0.85..0.87).contains(&high), "high {high}");
    assert!(gmm_thresholds(&[0.5, 0.5], 10).is_none());
}

#[test]
fn cosa_assignment_loss_matches_the_host() {
    use weakseg::methods::cosa::assignment_loss;
    let gpu = gpu();
    // One image, K = 2, 4 pixels: peaks 0.9 (class 1), 0.1, 0.5, 0.8 (class 0).
    let cams = [0.2f32, 0.1, 0.5, 0.8, 0.9, 0.0, 0.3, 0.1];
    let seg: Vec<f32> = (0..12).map(|i| ((i * 5) % 7) as f32 / 3.0 - 1.0).collect();
    let c = Tensor::from_slice(&gpu, &cams, &[1, 2, 2, 2]).unwrap();
    let s = Tensor::from_slice(&gpu, &seg, &[1, 3, 2, 2]).unwrap();
    let got = assignment_loss(&s, &c, 0.25, 0.7).unwrap().item().unwrap();
    let logp = |p: usize, l: usize| {
        let z: f32 = (0..3).map(|j| seg[j * 4 + p].exp()).sum();
        seg[l * 4 + p] - z.ln()
    };
    // Pixel 1 is background (peak 0.1 ≤ 0.25); pixel 2 (0.5) is ignored;
    // pixel 0 is class 1 → label 2, pixel 3 class 0 → label 1.
    let bg = -logp(1, 0);
    let fg = -(logp(0, 2) + logp(3, 1)) / 2.0;
    let want = 0.5 * bg + 0.5 * fg;
    assert!((got - want).abs() < 1e-5, "{got} vs {want}");
}

/// CoSA: the settings scale to the run; the first step copies the online
/// network into the assignment network and trains only the classifiers
/// during warm-up; after it the whole loss trains the decoder and the
/// auxiliary head but never the assignment network, which follows by its
/// moving average; the step counter resumes from the network.
#[test]
fn cosa_co_trains_with_its_moving_average() {
    use weakseg::methods::{CosaSettings, Trainer};
    use weakseg::nn::ModuleExt;
    let s = CosaSettings::default();
    assert_eq!(s.scaled(32_000), (0.9994, 6_000));
    let (m, w) = s.scaled(3_200);
    assert!((m - 0.9994f32.powi(10)).abs() < 1e-6 && w == 600, "{m} {w}");
    let gpu = gpu();
    let net = common::tiny_method_net(&gpu, "cosa", 5);
    let batch = fixed_batch(
        &gpu,
        Tensor::from_slice(&gpu, &[1.0, 0.0, 1.0, 0.0, 1.0, 0.0], &[2, 3]).unwrap(),
        32,
    );
    let params = net.named_params();
    let value = |name: &str| -> Vec<f32> {
        let (_, p) = params.iter().find(|(n, _)| n == name).unwrap();
        host(&p.get())
    };
    let grad = |name: &str| -> Option<Vec<f32>> {
        let (_, p) = params.iter().find(|(n, _)| n == name).unwrap();
        p.leaf().grad().map(|g| host(&g))
    };
    assert_ne!(
        value("assign.head.classifier.weight"),
        value("head.classifier.weight")
    );
    // 32 steps in all: warm-up is round(6000/32000·32) = 6 steps.
    let mut trainer = Trainer::new(1);
    trainer.set_total_steps(32);
    let warm = pollster::block_on(trainer.loss(&net, &batch)).unwrap();
    assert_eq!(
        value("assign.head.classifier.weight"),
        value("head.classifier.weight")
    );
    warm.backward().unwrap();
    assert!(grad("aux.classifier.weight").is_some());
    assert!(
        grad("seg.cls.weight").is_none(),
        "the decoder trained in warm-up"
    );
    for (_, p) in &params {
        p.leaf().zero_grad();
    }
    // A resumed trainer reads the step from the network: past warm-up.
    let steps = net
        .state()
        .into_iter()
        .find(|(n, _)| n == "cosa_step")
        .unwrap()
        .1;
    steps.assign(&[6.0f32]).unwrap();
    let mut resumed = Trainer::new(1);
    resumed.set_total_steps(32);
    let student = value("head.classifier.weight");
    let teacher = value("assign.head.classifier.weight");
    let full = pollster::block_on(resumed.loss(&net, &batch)).unwrap();
    let v = full.item().unwrap();
    assert!(v.is_finite() && v > 0.0, "loss {v}");
    assert_eq!(host(&steps), vec![7.0]);
    full.backward().unwrap();
    for trained in [
        "seg.cls.weight",
        "seg.conv.weight",
        "aux.classifier.weight",
        "backbone.conv1.weight",
    ] {
        let g = grad(trained).unwrap_or_else(|| panic!("{trained} got no gradient"));
        assert!(g.iter().any(|v| *v != 0.0), "{trained} got a zero gradient");
    }
    assert!(grad("assign.seg.cls.weight").is_none_or(|g| g.iter().all(|v| *v == 0.0)));
    // The moving average: teacher ← m·teacher + (1 − m)·student.
    let (m, _) = s.scaled(32);
    for ((t, st), now) in teacher
        .iter()
        .zip(&student)
        .zip(value("assign.head.classifier.weight"))
    {
        let want = m * t + (1.0 - m) * st;
        assert!((now - want).abs() < 1e-5, "{now} vs {want}");
    }
}
