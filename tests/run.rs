//! The whole pipeline on a tiny synthetic set through `pipeline::run`:
//! every stage's files, metrics.json's keys, report.html and its pictures,
//! every stage skipped on an identical re-run, the TOML configuration, and
//! errors that name a corrupt or missing input. Scores are only checked to
//! be valid fractions: the set is far too small to learn from.

use std::path::Path;

use weakseg::Gpu;
use weakseg::cam::MultiScale;
use weakseg::data::synth::{self, SynthConfig};
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
    let synth_cfg = SynthConfig {
        train: 8,
        val: 4,
        size: 32,
        classes: 2,
        seed: 5,
    };
    synth::write(&synth_cfg, &dir.join("data"), |_| {}).unwrap();
    let cfg = config(&dir);
    assert_eq!(
        cfg.cam.multiscale,
        MultiScale {
            scales: vec![1.0],
            flip: false
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
    for key in [
        "cam_miou_train",
        "crf_miou_train",
        "rw_miou_train",
        "seg_miou_val",
        "full_miou_val",
    ] {
        let v = json[key]
            .as_f64()
            .unwrap_or_else(|| panic!("{key} missing"));
        assert!((0.0..=1.0).contains(&v), "{key} = {v}");
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

    // A corrupt CAM file is named by the stage that reads it.
    let cam = cfg.out.join(dirs::CAM).join("cams/000001.npy");
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
    let e = run::run(&gpu, &changed, &mut Log::default())
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
