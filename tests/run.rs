//! The whole pipeline on a tiny synthetic set through `pipeline::run`:
//! every stage's files, metrics.json's keys, report.html and its pictures,
//! every stage skipped on an identical re-run, the TOML configuration, and
//! errors that name a corrupt or missing input. Scores are only checked to
//! be valid fractions: the set is far too small to learn from.

mod common;
use std::path::Path;

use weakseg::Gpu;
use weakseg::cam::MultiScale;
use weakseg::data::synth::{self};
use weakseg::io::labels;
use weakseg::pipeline::report;
use weakseg::pipeline::run::{self, Observer, PipelineConfig, dirs};
use weakseg::pipeline::stage::Manifest;
use weakseg::train::Reporter;
use weakseg::train::progress::Silent;

#[derive(Default)]
struct Log {
    begun: Vec<String>,
    skipped: Vec<bool>,
    silent: Silent,
}

impl Observer for Log {
    fn begin(&mut self, stage: &str) {
        self.begun.push(stage.to_string());
    }
    fn trainer(&mut self) -> &mut dyn Reporter {
        &mut self.silent
    }
    fn images(&mut self, done: usize, total: usize) {
        assert!(done <= total);
    }
    fn end(&mut self, _: &str, m: &Manifest) {
        self.skipped.push(m.skipped);
    }
}

const TOML: &str = r#"
data = "DATA"
out = "OUT"
fully_supervised = true

[classifier]
epochs = 1
batch_size = 4

[cam]
multiscale = { scales = [1.0], flip = false }

[aff_labels.crf]
iters = 2

[affinity]
epochs = 1
batch_size = 4
radius = 3

[walk.walk]
log_t = 2

[segmenter]
epochs = 1
batch_size = 4
"#;

fn config(dir: &Path) -> PipelineConfig {
    let text = TOML
        .replace("DATA", &dir.join("data").display().to_string())
        .replace("OUT", &dir.join("work").display().to_string());
    PipelineConfig::from_toml(&text, "test.toml").unwrap()
}

#[test]
fn every_stage_runs_reports_and_skips_on_rerun() {
    let dir = std::env::temp_dir().join(format!("weakseg-run-{}", std::process::id()));
    let synth_cfg = common::parts(8, 4, 32, 2, 5);
    synth::write(&synth_cfg, &dir.join("data"), |_| {}).unwrap();
    let cfg = config(&dir);
    assert_eq!(
        cfg.cam.multiscale,
        MultiScale {
            scales: vec![1.0],
            flip: false,
            ..MultiScale::default()
        }
    );
    assert_eq!(cfg.walk.walk.log_t, 2);
    let gpu = Gpu::new_blocking().unwrap();

    let mut log = Log::default();
    let (metrics, stages) = run::run(&gpu, &cfg, &mut log).unwrap();
    assert_eq!(stages.len(), 9, "{:?}", log.begun);
    assert!(log.skipped.iter().all(|s| !s));
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(cfg.out.join("metrics.json")).unwrap()).unwrap();
    // Each reported mIoU is what the labels its stage wrote score.
    let k = synth_cfg.classes + 1;
    for (key, labels, list) in [
        ("cam_miou_train", format!("{}/labels", dirs::CAM), "train"),
        (
            "crf_miou_train",
            format!("{}/la", dirs::AFF_LABELS),
            "train",
        ),
        ("rw_miou_train", format!("{}/rw", dirs::WALK), "train"),
        ("seg_miou_val", format!("{}/pred", dirs::PREDICT), "val"),
        (
            "full_miou_val",
            format!("{}/pred", dirs::FULL_PREDICT),
            "val",
        ),
    ] {
        let v = json[key]
            .as_f64()
            .unwrap_or_else(|| panic!("{key} missing"));
        common::assert_rescored(
            key,
            v,
            common::rescore(&cfg.out.join(labels), &cfg.data, list, k),
        );
    }
    assert_eq!(json["seconds"].as_object().unwrap().len(), 9);
    let rw = weakseg::io::labels::read(&cfg.out.join(dirs::WALK).join("rw/000000.png")).unwrap();
    assert_eq!((rw.width, rw.height), (32, 32));
    assert!(rw.data.iter().all(|&v| v <= 2));
    assert!(cfg.out.join(dirs::PREDICT).join("pred/000008.png").exists());

    let page = report::write(&cfg, &metrics, 2).unwrap();
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("random walk") && html.contains("report/loss-"));
    let pics = std::fs::read_dir(cfg.out.join("report")).unwrap().count();
    assert!(pics >= 4 + 4, "{pics} pictures");

    // An identical re-run skips every stage.
    let mut again = Log::default();
    run::run(&gpu, &cfg, &mut again).unwrap();
    assert!(again.skipped.iter().all(|s| *s), "{:?}", again.skipped);

    // The walk's optional CRF writes refined masks and scores both.
    let crf_walk = weakseg::pipeline::walk::WalkSettings {
        crf: Some(weakseg::refine::crf::CrfParams {
            iters: 2,
            ..Default::default()
        }),
        ..cfg.walk.clone()
    };
    let m = weakseg::pipeline::walk::run(
        &gpu,
        &cfg.data,
        &cfg.out.join(dirs::AFFINITY).join("affinity.safetensors"),
        &cfg.out.join(dirs::CAM),
        &dir.join("rw-crf"),
        &crf_walk,
        |_, _| {},
    )
    .unwrap();
    common::assert_rescored(
        "walk + CRF",
        m.results.miou.unwrap(),
        common::rescore(&dir.join("rw-crf/rw"), &cfg.data, "train", k),
    );
    assert_eq!(
        Some(m.results.walk_miou.unwrap()),
        metrics.rw_miou_train,
        "the same walk before its CRF"
    );
    let refined = weakseg::io::labels::read(&dir.join("rw-crf/rw/000000.png")).unwrap();
    assert_eq!((refined.width, refined.height), (32, 32));

    // IRN: the boundary relation trains on the same affinity labels, loads
    // back as a boundary network, and walks with IRN's background.
    use weakseg::pipeline::affinity::{self, Relation, RelationNet};
    let irn = affinity::AffinitySettings {
        relation: Relation::Boundary,
        freeze_backbone: true,
        ..cfg.affinity.clone()
    };
    let m = affinity::train(
        &gpu,
        &cfg.data,
        &cfg.out
            .join(dirs::CLASSIFIER)
            .join("classifier.safetensors"),
        &cfg.out.join(dirs::AFF_LABELS),
        &dir.join("irn"),
        &irn,
        &mut weakseg::train::progress::Silent,
    )
    .unwrap();
    assert!(!m.skipped);
    let ckpt = dir.join("irn/affinity.safetensors");
    let names: Vec<String> = weakseg::io::checkpoint::read(&ckpt)
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert!(
        names.iter().any(|n| n == "head.reduce.0.norm.weight"),
        "{names:?}"
    );
    let (net, _) = affinity::load(&gpu, &ckpt).unwrap();
    assert!(matches!(net, RelationNet::Boundary(_)));

    // With ImageNet weights (`pretrained`) both relation networks start
    // from them, not from the classifier, as psa's and IRN's do; IRN's
    // backbone then stays fixed. Stand-in weights: the classifier's
    // backbone halved, plus an ImageNet `fc` the loader ignores.
    use weakseg::io::checkpoint::{self, HostTensor, SaveDtype};
    let classifier_ckpt = cfg
        .out
        .join(dirs::CLASSIFIER)
        .join("classifier.safetensors");
    let backbone: Vec<HostTensor> = checkpoint::read(&classifier_ckpt)
        .unwrap()
        .into_iter()
        .filter(|t| t.name.starts_with("backbone."))
        .map(|t| HostTensor {
            data: t.data.iter().map(|v| v * 0.5).collect(),
            ..t
        })
        .collect();
    // An ImageNet file names the backbone's tensors without the prefix
    // (torchvision's names).
    let mut imagenet: Vec<HostTensor> = backbone
        .iter()
        .map(|t| HostTensor {
            name: t.name["backbone.".len()..].to_string(),
            ..t.clone()
        })
        .collect();
    imagenet.push(HostTensor {
        name: "fc.weight".into(),
        shape: vec![2, 2],
        data: vec![0.0; 4],
    });
    let weights = dir.join("imagenet.safetensors");
    std::fs::write(
        &weights,
        checkpoint::encode(&imagenet, SaveDtype::F32).unwrap(),
    )
    .unwrap();
    for (name, relation, lr) in [
        ("psa-imagenet", Relation::Features, 0.0),
        ("irn-imagenet", Relation::Boundary, 0.1),
    ] {
        let s = affinity::AffinitySettings {
            relation,
            lr,
            pretrained: Some(weights.clone()),
            ..cfg.affinity.clone()
        };
        affinity::train(
            &gpu,
            &cfg.data,
            &classifier_ckpt,
            &cfg.out.join(dirs::AFF_LABELS),
            &dir.join(name),
            &s,
            &mut weakseg::train::progress::Silent,
        )
        .unwrap();
        // psa at learning rate 0 keeps the ImageNet weights exactly (its
        // batch-norm statistics move with the data), IRN's fixed backbone
        // the statistics too.
        let trained = checkpoint::read(&dir.join(name).join("affinity.safetensors")).unwrap();
        let frozen = relation == Relation::Boundary;
        for t in backbone
            .iter()
            .filter(|t| frozen || !t.name.contains("running_"))
        {
            let got = trained.iter().find(|u| u.name == t.name).unwrap();
            assert_eq!(got.data, t.data, "{name}: {}", t.name);
        }
    }
    let missing = affinity::AffinitySettings {
        pretrained: Some(dir.join("nowhere.safetensors")),
        ..cfg.affinity.clone()
    };
    let e = affinity::train(
        &gpu,
        &cfg.data,
        &classifier_ckpt,
        &cfg.out.join(dirs::AFF_LABELS),
        &dir.join("missing"),
        &missing,
        &mut weakseg::train::progress::Silent,
    )
    .err()
    .unwrap()
    .to_string();
    assert!(e.contains("nowhere.safetensors"), "{e}");
    let irn_walk = weakseg::pipeline::walk::WalkSettings {
        walk: weakseg::refine::random_walk::RandomWalk {
            bg_threshold: Some(0.25),
            ..cfg.walk.walk.clone()
        },
        ..cfg.walk.clone()
    };
    let m = weakseg::pipeline::walk::run(
        &gpu,
        &cfg.data,
        &ckpt,
        &cfg.out.join(dirs::CAM),
        &dir.join("irn-rw"),
        &irn_walk,
        |_, _| {},
    )
    .unwrap();
    common::assert_rescored(
        "IRN walk",
        m.results.miou.unwrap(),
        common::rescore(
            &dir.join("irn-rw/rw"),
            &cfg.data,
            "train",
            synth_cfg.classes + 1,
        ),
    );
    let masks = weakseg::io::labels::read(&dir.join("irn-rw/rw/000000.png")).unwrap();
    assert!(masks.data.iter().all(|&v| v <= 2));

    // A CAM damaged after its stage finished is computed again by that
    // stage on the next run (its manifest says which), and a stage that
    // reads a corrupt CAM names the file.
    let cam = cfg.out.join(dirs::CAM).join("cams/000001.npy");
    let good = std::fs::read(&cam).unwrap();
    std::fs::write(&cam, b"not an npy file").unwrap();
    let changed = PipelineConfig {
        walk: weakseg::pipeline::walk::WalkSettings {
            walk: weakseg::refine::random_walk::RandomWalk {
                log_t: 1,
                ..cfg.walk.walk.clone()
            },
            ..cfg.walk.clone()
        },
        ..cfg.clone()
    };
    let (_, stages) = run::run(&gpu, &changed, &mut Log::default()).unwrap();
    let why = stages[1].1.rerun.clone().unwrap_or_default();
    assert!(why.contains("cams/000001.npy"), "{why}");
    assert_eq!(std::fs::read(&cam).unwrap(), good);
    std::fs::write(&cam, b"not an npy file").unwrap();
    let e = weakseg::pipeline::walk::run(
        &gpu,
        &cfg.data,
        &cfg.out
            .join(dirs::AFFINITY)
            .join(weakseg::pipeline::affinity::CHECKPOINT),
        &cfg.out.join(dirs::CAM),
        &dir.join("rw-of-corrupt"),
        &changed.walk,
        |_, _| {},
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("000001.npy"), "{e}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn config_errors_name_the_file_and_the_field() {
    let e = PipelineConfig::from_toml("[classifier]\nepochz = 3\n", "my.toml").unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("my.toml") && msg.contains("epochz"), "{msg}");
    let e = PipelineConfig::from_toml("surprise = 1\n", "my.toml").unwrap_err();
    assert!(e.to_string().contains("surprise"), "{e}");
    let e = PipelineConfig::read(Path::new("/nonexistent/run.toml")).unwrap_err();
    assert!(e.to_string().contains("/nonexistent/run.toml"), "{e}");
}

#[test]
fn shipped_configs_parse() {
    for entry in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/configs")).unwrap() {
        let p = entry.unwrap().path();
        let cfg = PipelineConfig::read(&p).unwrap_or_else(|e| panic!("{e}"));
        assert!(!cfg.data.as_os_str().is_empty(), "{}", p.display());
    }
}

#[test]
fn supervision_comparison_trains_from_every_label_and_skips_on_rerun() {
    use weakseg::pipeline::supervision::{self, Supervision};
    let dir = std::env::temp_dir().join(format!("weakseg-supervision-{}", std::process::id()));
    let synth_cfg = common::parts(8, 4, 32, 2, 6);
    synth::write(&synth_cfg, &dir.join("data"), |_| {}).unwrap();
    let mut cfg = config(&dir);
    cfg.aff_labels.crf.iters = 1;
    let gpu = Gpu::new_blocking().unwrap();
    let mut log = Log::default();
    let c = supervision::compare(&gpu, &cfg, &Supervision::ALL, &mut log).unwrap();
    // tags 4 (pipeline, constrained CNN, SEC, DSRG), boxes 4 modes,
    // points 5 recipes and DSRG, scribbles 3, SPML's prototypes for each of
    // the four weak labels, with feature affinity for points, and its random
    // walk for tags, full 1.
    assert_eq!(c.rows.len(), 24, "{:?}", c.rows);
    let walk = &c.rows[5];
    assert!(walk.method.contains("walked"), "{walk:?}");
    let side = cfg.out.join("supervision/tags-spml/seg/segmenter.json");
    assert!(side.exists(), "the walk's segmenter");
    for k in [
        Supervision::Tags,
        Supervision::Boxes,
        Supervision::Points,
        Supervision::Scribbles,
    ] {
        let row = c
            .rows
            .iter()
            .find(|r| r.supervision == k && r.method.contains("prototypes"));
        assert!(row.is_some(), "{k:?}: {:?}", c.rows);
        let side = cfg.out.join(format!(
            "supervision/{}-spml/train/embedding.json",
            k.name()
        ));
        let side: serde_json::Value =
            serde_json::from_slice(&std::fs::read(side).unwrap()).unwrap();
        let ann = &side["config"]["relations"]["semantic_annotation"]["weight"];
        let want = if k == Supervision::Scribbles {
            1.0
        } else if k == Supervision::Points {
            0.1
        } else {
            0.3
        };
        assert!((ann.as_f64().unwrap() - want).abs() < 1e-6, "{k:?}: {ann}");
        assert!(
            side["config"]["relations"]
                .get("feature_affinity")
                .is_none(),
            "{k:?}: feature affinity is off in SPML's VOC scripts"
        );
    }
    let side = cfg
        .out
        .join("supervision/points-spml-affinity/train/embedding.json");
    let side: serde_json::Value = serde_json::from_slice(&std::fs::read(side).unwrap()).unwrap();
    let fa = &side["config"]["relations"]["feature_affinity"];
    assert_eq!(
        (fa["kappa"].as_f64(), fa["weight"].as_f64()),
        (Some(12.0), Some(0.5))
    );
    assert!(
        c.rows
            .iter()
            .any(|r| r.supervision == Supervision::Points && r.method.contains("feature affinity")),
        "{:?}",
        c.rows
    );
    // SEC and DSRG learn from the pipeline's affinity labels as seeds.
    for m in ["sec", "dsrg"] {
        let side = cfg
            .out
            .join(format!("supervision/tags-{m}/seg/segmenter.json"));
        let side: serde_json::Value =
            serde_json::from_slice(&std::fs::read(side).unwrap()).unwrap();
        assert_eq!(side["config"]["seeded"]["method"], m);
        let seeds = &c.rows[if m == "sec" { 2 } else { 3 }];
        assert!(seeds.method.starts_with(&m.to_uppercase()), "{seeds:?}");
        assert!(seeds.labelled.unwrap() < 1.0, "{seeds:?}");
    }
    // Points' DSRG grows from the affinity labels with every click drawn
    // over them.
    let row = c
        .rows
        .iter()
        .find(|r| r.supervision == Supervision::Points && r.method.starts_with("DSRG"))
        .unwrap();
    let clicks_only = c
        .rows
        .iter()
        .find(|r| r.supervision == Supervision::Points)
        .unwrap();
    assert!(
        row.labelled.unwrap() > clicks_only.labelled.unwrap(),
        "{row:?}"
    );
    let side = cfg.out.join("supervision/points-dsrg/seg/segmenter.json");
    let side: serde_json::Value = serde_json::from_slice(&std::fs::read(side).unwrap()).unwrap();
    assert_eq!(side["config"]["seeded"]["method"], "dsrg");
    let masks = cfg.out.join("supervision/points/weak-masks/masks");
    let mut drawn = 0;
    for e in std::fs::read_dir(&masks).unwrap() {
        let p = e.unwrap().path();
        let clicks = labels::read(&p).unwrap();
        let seeds = labels::read(
            &cfg.out
                .join("supervision/points-dsrg/weak-masks/masks")
                .join(p.file_name().unwrap()),
        )
        .unwrap();
        for (c, s) in clicks.data.iter().zip(&seeds.data) {
            if *c != 255 {
                assert_eq!(c, s, "{}", p.display());
                drawn += 1;
            }
        }
    }
    assert!(drawn > 0);
    // What's the Point reads the CAM through the walk's background power.
    let side = cfg
        .out
        .join("supervision/points/seg-point-loss/segmenter.json");
    let side: serde_json::Value = serde_json::from_slice(&std::fs::read(side).unwrap()).unwrap();
    assert_eq!(
        side["config"]["objectness_power"].as_f64(),
        Some(cfg.walk.walk.alpha as f64)
    );
    let full = c.full_miou_val.unwrap();
    assert_eq!(c.rows.last().unwrap().miou_val, Some(full));
    // Every figure of the table is one a stage reported and its written
    // labels score.
    let checked = common::rescore_stages(&cfg.out, &cfg.data, synth_cfg.classes + 1);
    for r in &c.rows {
        let v = r.miou_val.unwrap();
        assert!(
            checked.iter().any(|c| (c - v).abs() < 1e-12),
            "{r:?}: no re-scored stage reports {v}"
        );
        if let Some(l) = r.labelled {
            assert!(l > 0.0 && l <= 1.0, "{r:?}");
        }
    }
    // Sparse labels cover a small share of the pixels; box masks all.
    let share = |k: Supervision| c.rows.iter().find(|r| r.supervision == k).unwrap().labelled;
    assert!(share(Supervision::Points) < share(Supervision::Scribbles));
    assert!(share(Supervision::Scribbles).unwrap() < 0.5);
    assert_eq!(share(Supervision::Boxes), Some(1.0));
    let md = std::fs::read_to_string(cfg.out.join("supervision.md")).unwrap();
    assert!(
        md.contains("% of full") && md.contains("normalized-cut"),
        "{md}"
    );
    assert!(cfg.out.join("supervision.json").exists());
    // The second phase starts from the first phase's segmenter.
    let fine = cfg
        .out
        .join("supervision/scribbles/seg-dense-crf/segmenter.json");
    let side: serde_json::Value = serde_json::from_slice(&std::fs::read(fine).unwrap()).unwrap();
    assert!(
        side["config"]["init"]
            .as_str()
            .unwrap()
            .ends_with("scribbles/seg/segmenter.safetensors")
    );
    assert_eq!(side["config"]["regulariser"]["kind"], "dense-crf");
    let wtp = cfg
        .out
        .join("supervision/points/seg-point-loss-dense-crf/segmenter.json");
    let side: serde_json::Value = serde_json::from_slice(&std::fs::read(wtp).unwrap()).unwrap();
    assert!(
        side["config"]["objectness"]
            .as_str()
            .unwrap()
            .ends_with("2-cam/cams")
    );
    assert!(
        side["config"]["init"]
            .as_str()
            .unwrap()
            .ends_with("seg-point-loss/segmenter.safetensors")
    );

    let mut again = Log::default();
    let c2 = supervision::compare(&gpu, &cfg, &Supervision::ALL, &mut again).unwrap();
    assert!(again.skipped.iter().all(|s| *s), "{:?}", again.begun);
    // The same scores, read back from the stages' manifests (JSON keeps
    // them to within an ulp).
    assert_eq!(c.rows.len(), c2.rows.len());
    for (a, b) in c.rows.iter().zip(&c2.rows) {
        assert_eq!((a.supervision, &a.method), (b.supervision, &b.method));
        assert!(
            (a.miou_val.unwrap() - b.miou_val.unwrap()).abs() < 1e-12,
            "{a:?} {b:?}"
        );
    }
    let e = supervision::compare(&gpu, &cfg, &[], &mut Log::default()).unwrap_err();
    assert!(e.to_string().contains("no supervision"), "{e}");
    assert!(
        Supervision::parse("clicks")
            .unwrap_err()
            .to_string()
            .contains("scribbles")
    );
    std::fs::remove_dir_all(&dir).ok();
}
