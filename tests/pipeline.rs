//! The pipeline stages on a tiny synthetic set: files written, CAM shapes
//! and scores, the skip on an identical re-run, the re-run when a setting
//! or an input changes, and a clear error for a missing input.

mod common;
use weakseg::Gpu;
use weakseg::data::synth::{self};
use weakseg::io::{labels, npy};
use weakseg::pipeline::aff_labels::{self, AffLabelSettings};
use weakseg::pipeline::cams::{self, CamSettings};
use weakseg::pipeline::classifier::{self, CHECKPOINT, ClassifierSettings};
use weakseg::refine::cam_crf::threshold_crf_labels;
use weakseg::train::progress::Silent;

#[test]
fn classifier_and_cam_stages_write_skip_and_rerun() {
    let dir = std::env::temp_dir().join(format!("weakseg-pipeline-{}", std::process::id()));
    let data = dir.join("data");
    let cfg = common::parts(6, 2, 32, 3, 7);
    synth::write(&cfg, &data, |_| {}).unwrap();
    let gpu = Gpu::new_blocking().unwrap();
    let s = ClassifierSettings {
        epochs: 1,
        batch_size: 3,
        ..ClassifierSettings::default()
    };
    let cls = dir.join("cls");
    let m = classifier::train(&gpu, &data, &cls, &s, &mut Silent).unwrap();
    assert!(!m.skipped && cls.join(CHECKPOINT).exists());
    // A finished stage keeps no resume checkpoints.
    let resume_dirs = |dir: &std::path::Path| {
        std::fs::read_dir(dir)
            .unwrap()
            .filter(|e| {
                let e = e.as_ref().unwrap();
                e.file_name().to_string_lossy().starts_with("resume-")
            })
            .count()
    };
    assert_eq!(resume_dirs(&cls), 0);
    assert!(
        classifier::train(&gpu, &data, &cls, &s, &mut Silent)
            .unwrap()
            .skipped
    );

    let cs = CamSettings {
        multiscale: weakseg::cam::MultiScale {
            scales: vec![1.0, 0.5],
            flip: true,
            ..weakseg::cam::MultiScale::default()
        },
        ..CamSettings::default()
    };
    let ckpt = cls.join(CHECKPOINT);
    let out = dir.join("cam");
    let m = cams::infer(&gpu, &data, &ckpt, &out, &cs, |_, _| {}).unwrap();
    assert!(!m.skipped);
    assert_eq!(m.outputs.len(), 2 * cfg.train);
    let a = npy::read(&out.join("cams/000000.npy")).unwrap();
    assert_eq!(a.shape, vec![3, 32, 32]);
    assert!(a.data.iter().all(|v| (0.0..=1.0).contains(v)));
    let l = labels::read(&out.join("labels/000000.png")).unwrap();
    assert_eq!((l.width, l.height), (32, 32));
    common::assert_rescored(
        "cam",
        m.results.miou.unwrap(),
        common::rescore(&out.join("labels"), &data, "train", cfg.classes + 1),
    );
    assert_eq!(m.results.sweep.as_ref().unwrap().len(), 60);
    assert!(
        cams::infer(&gpu, &data, &ckpt, &out, &cs, |_, _| {})
            .unwrap()
            .skipped
    );

    // An interrupted run (no stage.json; a journal naming image 000000)
    // resumes: the journalled image's CAMs are read back, not recomputed
    // (a marked file survives), the rest are computed again, and the
    // journal goes once the stage finishes.
    let fingerprint = m.fingerprint.clone();
    std::fs::remove_file(out.join("stage.json")).unwrap();
    let journal = out.join(format!("done-{fingerprint}.txt"));
    std::fs::write(&journal, "000000\n000001").unwrap();
    let marked: Vec<f32> = (0..3 * 32 * 32).map(|i| (i % 7) as f32 / 7.0).collect();
    npy::write(&out.join("cams/000000.npy"), &[3, 32, 32], &marked).unwrap();
    let before = npy::read(&out.join("cams/000001.npy")).unwrap();
    npy::write(&out.join("cams/000001.npy"), &[3, 32, 32], &marked).unwrap();
    let resumed = cams::infer(&gpu, &data, &ckpt, &out, &cs, |_, _| {}).unwrap();
    assert!(!resumed.skipped);
    assert_eq!(resumed.fingerprint, fingerprint);
    assert_eq!(
        npy::read(&out.join("cams/000000.npy")).unwrap().data,
        marked
    );
    // 000001's line was cut short (no newline), so it was computed again.
    assert_eq!(npy::read(&out.join("cams/000001.npy")).unwrap(), before);
    assert!(!journal.exists());

    // A changed setting or a retrained classifier runs the stage again.
    let higher = CamSettings {
        threshold: 0.3,
        ..cs.clone()
    };
    assert!(
        !cams::infer(&gpu, &data, &ckpt, &out, &higher, |_, _| {})
            .unwrap()
            .skipped
    );
    let s2 = ClassifierSettings { seed: 2, ..s };
    std::fs::create_dir_all(cls.join("resume-0123456789abcdef")).unwrap();
    assert!(
        !classifier::train(&gpu, &data, &cls, &s2, &mut Silent)
            .unwrap()
            .skipped
    );
    assert_eq!(resume_dirs(&cls), 0, "a stale run's resume folder stays");
    assert!(
        !cams::infer(&gpu, &data, &ckpt, &out, &higher, |_, _| {})
            .unwrap()
            .skipped
    );

    let aff = dir.join("aff");
    let settings = AffLabelSettings::default();
    let m = aff_labels::make(&gpu, &data, &out, &aff, &settings, |_, _| {}).unwrap();
    assert_eq!(m.outputs.len(), 4 * cfg.train);
    let (la, ha, af) = (
        labels::read(&aff.join("la/000001.png")).unwrap(),
        labels::read(&aff.join("ha/000001.png")).unwrap(),
        labels::read(&aff.join("aff/000001.png")).unwrap(),
    );
    assert_eq!(af.data, aff_labels::combine(&la.data, &ha.data));
    // psa's probability maps, kept for AffinityNet: [2·L, H, W], the α-low
    // marginals then the α-high ones, each of which the label maps are the
    // argmax (background exactly where the argmax is plane 0).
    let probs = npy::read(&aff.join("probs/000001.npy")).unwrap();
    let (l2, n) = (probs.shape[0], 32 * 32);
    assert_eq!(probs.shape[1..], [32, 32]);
    assert!(l2 % 2 == 0 && l2 >= 4, "{:?}", probs.shape);
    let l = l2 / 2;
    for (map, first) in [(&la, 0), (&ha, l)] {
        for u in 0..n {
            let arg = (0..l)
                .max_by(|&a, &b| {
                    probs.data[(first + a) * n + u]
                        .total_cmp(&probs.data[(first + b) * n + u])
                        .then(b.cmp(&a))
                })
                .unwrap();
            assert_eq!(map.data[u] == 0, arg == 0, "pixel {u}");
        }
    }
    assert!(m.results.crf_low_miou.is_some());
    assert!(
        aff_labels::make(&gpu, &data, &out, &aff, &settings, |_, _| {})
            .unwrap()
            .skipped
    );

    let e = cams::infer(
        &gpu,
        &data,
        &dir.join("none.safetensors"),
        &out,
        &cs,
        |_, _| {},
    )
    .err()
    .unwrap()
    .to_string();
    assert!(e.contains("none.safetensors"), "{e}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn affinity_labels_combine_as_psa() {
    // low: [bg, fg 2, fg 1, bg]; high: [bg, bg, fg 1, fg 3].
    let got = aff_labels::combine(&[0, 2, 1, 0], &[0, 0, 1, 3]);
    assert_eq!(got, vec![0, 0, 1, 255]);
    // IRN keeps a confident-foreground label even where the other map says
    // background, and calls a pixel background only where both do.
    let got = aff_labels::combine_irn(&[0, 2, 1, 0], &[0, 0, 1, 3]);
    assert_eq!(got, vec![0, 2, 1, 255]);
}

#[test]
fn irn_labels_are_the_thresholded_argmax_refined_by_the_crf() {
    use weakseg::io::image::Rgb;
    use weakseg::refine::crf::{CrfParams, DenseCrf};
    let gpu = Gpu::new_blocking().unwrap();
    let (h, w) = (3, 5);
    let img = Rgb {
        width: w,
        height: h,
        data: (0..h * w * 3).map(|i| (i * 37 % 256) as u8).collect(),
    };
    // Three classes; class 1 is absent, so its high scores are ignored.
    let mut cams = vec![0f32; 3 * h * w];
    for p in 0..h * w {
        cams[p] = p as f32 / 20.0;
        cams[h * w + p] = 0.9;
        cams[2 * h * w + p] = if p % 4 == 1 { 0.45 } else { 0.1 };
    }
    let present = [true, false, true];
    let want: Vec<u8> = (0..h * w)
        .map(|p| {
            let (a, c) = (p as f32 / 20.0, if p % 4 == 1 { 0.45 } else { 0.1 });
            match (a > 0.3 && a >= c, c > 0.3 && c > a) {
                (true, _) => 1,
                (_, true) => 3,
                _ => 0,
            }
        })
        .collect();
    // With no mean-field iteration the CRF returns its unary's argmax: the
    // seeds themselves (a tie goes to the earlier label: pixel 6's 0.30
    // stays background, pixel 9's 0.45 stays class 0).
    let none = DenseCrf::new_blocking(
        &gpu,
        &img,
        &CrfParams {
            iters: 0,
            ..CrfParams::irn()
        },
    )
    .unwrap();
    let labels = |crf: &DenseCrf, present: &[bool]| {
        pollster::block_on(threshold_crf_labels(
            crf,
            &gpu,
            &cams,
            present,
            (h, w),
            0.3,
            0.7,
        ))
        .unwrap()
    };
    let got = labels(&none, &present);
    assert_eq!(got, want);
    assert_eq!((got[1], got[6], got[9], got[13]), (3, 0, 1, 1));
    // IRN's CRF changes labels only among background and the present
    // classes; with no class present everything is background.
    let crf = DenseCrf::new_blocking(&gpu, &img, &CrfParams::irn()).unwrap();
    let got = labels(&crf, &present);
    assert!(got.iter().all(|&v| [0, 1, 3].contains(&v)), "{got:?}");
    let empty = labels(&crf, &[false; 3]);
    assert_eq!(empty, vec![0; h * w]);
}

#[test]
fn a_stage_directory_has_one_run_and_one_kind() {
    use weakseg::pipeline::stage::{LOCK_FILE, Stage};
    let dir = std::env::temp_dir().join(format!("weakseg-stage-lock-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let settings = serde_json::json!({ "a": 1 });
    // A live holder (pid 1 always runs) refuses a second run, naming it.
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(LOCK_FILE), "1").unwrap();
    let e = Stage::new("cam", &dir, &settings, &[])
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("process 1") && e.contains(LOCK_FILE), "{e}");
    // A dead holder's lock is taken over, and released when the stage ends;
    // the temporary files its interrupted writes left are removed, nothing
    // else.
    std::fs::write(dir.join(LOCK_FILE), "4000000000").unwrap();
    std::fs::create_dir_all(dir.join("cams")).unwrap();
    let own = format!("x.npy.tmp{}", std::process::id());
    let stale = ["cams/a.npy.tmp4000000000", "b.png.tmp12"];
    let kept = ["cams/c.npy", "notes.tmp", "cams/d.tmp.npy", own.as_str()];
    for f in stale.iter().chain(&kept) {
        std::fs::write(dir.join(f), "x").unwrap();
    }
    let stage = Stage::new("cam", &dir, &settings, &[]).unwrap();
    for f in stale {
        assert!(!dir.join(f).exists(), "{f} left");
    }
    for f in kept {
        assert!(dir.join(f).exists(), "{f} removed");
    }
    assert_eq!(
        std::fs::read_to_string(dir.join(LOCK_FILE)).unwrap(),
        std::process::id().to_string()
    );
    stage.finish(1.0, vec![], Default::default()).unwrap();
    assert!(!dir.join(LOCK_FILE).exists());
    // Another stage's folder, or a dataset root, is refused before writing.
    let e = Stage::new("train-aff", &dir, &settings, &[])
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("outputs of the cam stage"), "{e}");
    std::fs::create_dir_all(dir.join("root/JPEGImages")).unwrap();
    let e = Stage::new("cam", &dir.join("root"), &settings, &[])
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("dataset root"), "{e}");
    assert!(!dir.join("root").join(LOCK_FILE).exists());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Copies the tree `from` to `to`, keeping modification times (as
/// `cp -a` does).
fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let (src, dst) = (e.path(), to.join(e.file_name()));
        if e.file_type().unwrap().is_dir() {
            copy_tree(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).unwrap();
            let t = std::fs::metadata(&src).unwrap().modified().unwrap();
            std::fs::File::options()
                .write(true)
                .open(&dst)
                .unwrap()
                .set_modified(t)
                .unwrap();
        }
    }
}

#[test]
fn skips_follow_content_and_verify_outputs() {
    let root = std::env::temp_dir().join(format!("weakseg-verify-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let dir = root.join("a");
    let data = dir.join("data");
    synth::write(&common::parts(6, 2, 32, 3, 5), &data, |_| {}).unwrap();
    let gpu = Gpu::new_blocking().unwrap();
    let s = ClassifierSettings {
        epochs: 1,
        batch_size: 3,
        ..ClassifierSettings::default()
    };
    let cs = CamSettings::default();
    classifier::train(&gpu, &data, &dir.join("cls"), &s, &mut Silent).unwrap();
    let ckpt = dir.join("cls").join(CHECKPOINT);
    cams::infer(&gpu, &data, &ckpt, &dir.join("cam"), &cs, |_, _| {}).unwrap();

    // A copy holding the same bytes (times kept) skips every stage: paths
    // are not part of a fingerprint.
    let b = root.join("b");
    copy_tree(&dir, &b);
    let (data, cls, cam) = (b.join("data"), b.join("cls"), b.join("cam"));
    let ckpt = cls.join(CHECKPOINT);
    assert!(
        classifier::train(&gpu, &data, &cls, &s, &mut Silent)
            .unwrap()
            .skipped
    );
    assert!(
        cams::infer(&gpu, &data, &ckpt, &cam, &cs, |_, _| {})
            .unwrap()
            .skipped
    );

    // A truncated CAM and one whose bytes changed at the same size are
    // found; only their images are computed again, the others are read
    // back (their files are not rewritten), and the message names them.
    let npy_of = |id: &str| cam.join(format!("cams/{id}.npy"));
    let (two, three) = (
        std::fs::read(npy_of("000002")).unwrap(),
        std::fs::read(npy_of("000003")).unwrap(),
    );
    let untouched = std::fs::metadata(npy_of("000000"))
        .unwrap()
        .modified()
        .unwrap();
    std::fs::write(npy_of("000002"), &two[..two.len() / 2]).unwrap();
    let mut flipped = three.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 0x40;
    std::fs::write(npy_of("000003"), &flipped).unwrap();
    let m = cams::infer(&gpu, &data, &ckpt, &cam, &cs, |_, _| {}).unwrap();
    assert!(!m.skipped);
    let why = m.rerun.clone().unwrap();
    assert!(
        why.contains("2 of the earlier run's 12 outputs damaged"),
        "{why}"
    );
    assert!(
        why.contains("cams/000002.npy") && why.contains("cams/000003.npy"),
        "{why}"
    );
    assert!(why.contains("content changed"), "{why}");
    assert_eq!(std::fs::read(npy_of("000002")).unwrap(), two);
    assert_eq!(std::fs::read(npy_of("000003")).unwrap(), three);
    assert_eq!(
        std::fs::metadata(npy_of("000000"))
            .unwrap()
            .modified()
            .unwrap(),
        untouched
    );
    assert!(
        cams::infer(&gpu, &data, &ckpt, &cam, &cs, |_, _| {})
            .unwrap()
            .skipped
    );

    // Bytes changed under an unchanged size and time pass a skip, which
    // hashes only what moved; `verify` hashes everything, finds them, and
    // with `remove` deletes them so the next run redoes that image.
    use weakseg::pipeline::stage::verify;
    let png = cam.join("labels/000004.png");
    let (bytes, t) = (
        std::fs::read(&png).unwrap(),
        std::fs::metadata(&png).unwrap().modified().unwrap(),
    );
    let mut rotten = bytes.clone();
    rotten[bytes.len() / 2] ^= 1;
    std::fs::write(&png, &rotten).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&png)
        .unwrap()
        .set_modified(t)
        .unwrap();
    assert!(
        cams::infer(&gpu, &data, &ckpt, &cam, &cs, |_, _| {})
            .unwrap()
            .skipped
    );
    let found = verify(&cam, false).unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, "labels/000004.png");
    assert!(png.exists());
    assert_eq!(verify(&cam, true).unwrap(), found);
    assert!(!png.exists());
    let m = cams::infer(&gpu, &data, &ckpt, &cam, &cs, |_, _| {}).unwrap();
    assert!(m.rerun.unwrap().contains("labels/000004.png (missing)"));
    assert_eq!(std::fs::read(&png).unwrap(), bytes);
    assert!(verify(&cam, false).unwrap().is_empty());
    let e = verify(&data, false).unwrap_err().to_string();
    assert!(e.contains("stage.json"), "{e}");

    // An image replaced in place re-runs the classifier, which says so.
    std::fs::copy(
        data.join("JPEGImages/000002.jpg"),
        data.join("JPEGImages/000001.jpg"),
    )
    .unwrap();
    let m = classifier::train(&gpu, &data, &cls, &s, &mut Silent).unwrap();
    assert!(!m.skipped);
    let why = m.rerun.unwrap();
    assert!(
        why.contains("data JPEGImages/") && !why.contains("settings"),
        "{why}"
    );

    // A later stage refuses the folder of a stage that never finished (a
    // journal, no stage.json) instead of reading its partial outputs.
    std::fs::remove_file(cam.join("stage.json")).unwrap();
    std::fs::write(cam.join("done-0123.txt"), "000000\n").unwrap();
    let aff = b.join("aff");
    let e = aff_labels::make(
        &gpu,
        &data,
        &cam,
        &aff,
        &AffLabelSettings::default(),
        |_, _| {},
    )
    .err()
    .unwrap()
    .to_string();
    assert!(e.contains("has not finished") && e.contains("cam"), "{e}");
    assert!(!aff.join("stage.json").exists());
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn stage_results_read_every_earlier_form() {
    // A stage that scored nothing wrote `null`; a reader must still see a
    // finished stage (or `done()` would re-run it), and keys a later
    // version no longer writes are ignored.
    use weakseg::pipeline::stage::Manifest;
    let head = r#"{"stage":"cam","fingerprint":"f","seconds":1.0,"outputs":[]"#;
    let null: Manifest = serde_json::from_str(&format!(r#"{head},"results":null}}"#)).unwrap();
    assert_eq!(null.results, Default::default());
    let none: Manifest = serde_json::from_str(&format!("{head}}}")).unwrap();
    assert_eq!(none.results, Default::default());
    let old: Manifest = serde_json::from_str(&format!(
        r#"{head},"results":{{"miou":0.5,"gone":1,"scored_on":{{"list":"train","masks":"m","images":3}}}}}}"#
    ))
    .unwrap();
    assert_eq!(old.results.miou, Some(0.5));
    assert_eq!(
        old.results.scored_on.unwrap().to_string(),
        "train, m (3 images)"
    );
    // Outputs were bare names before they carried sizes and hashes; such
    // an output is checked for existence only.
    let names: Manifest = serde_json::from_str(
        r#"{"stage":"cam","fingerprint":"f","seconds":1.0,"outputs":["cams/a.npy"]}"#,
    )
    .unwrap();
    assert_eq!(names.outputs[0].path, "cams/a.npy");
    assert_eq!(
        (names.outputs[0].size, &names.outputs[0].xxh3),
        (None, &None)
    );
    // Only what a stage measured is written.
    let json = serde_json::to_string(&null).unwrap();
    assert!(json.contains(r#""results":{}"#), "{json}");
}

#[test]
fn predict_refuses_a_segmenter_of_another_class_count() {
    use weakseg::io::checkpoint::{self, SaveDtype, Sidecar};
    use weakseg::models::{ArchSpec, SegNet};
    use weakseg::pipeline::segmenter::{self, PredictSettings, SegSettings};
    let dir = std::env::temp_dir().join(format!("weakseg-predict-k-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let data = dir.join("data");
    let cfg = common::parts(2, 1, 32, 3, 1);
    synth::write(&cfg, &data, |_| {}).unwrap();
    let gpu = Gpu::new_blocking().unwrap();
    // Two classes and the background: one class short of the data's.
    let s = SegSettings::default();
    let arch = ArchSpec::new(&s.arch, s.output_stride);
    let net = SegNet::new(&mut weakseg::nn::Builder::new(&gpu, 0), &arch, s.head, 3).unwrap();
    let ck = dir.join("seg.safetensors");
    let side = Sidecar::new(Some(arch), Some(3), serde_json::to_value(&s).unwrap());
    checkpoint::save(&ck, &net, &side, SaveDtype::F32).unwrap();
    let e = segmenter::predict(
        &gpu,
        &data,
        &ck,
        &dir.join("pred"),
        &PredictSettings::default(),
        |_, _| {},
    )
    .err()
    .unwrap()
    .to_string();
    assert!(
        e.contains("scores 3 labels") && e.contains("3 classes"),
        "{e}"
    );
    assert!(!dir.join("pred/stage.json").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_bad_configuration_fails_before_the_first_stage() {
    // A bad `[predict] list` or `[segmenter] arch` once failed only when its
    // stage started, after every stage before it had run.
    use weakseg::pipeline::run::{self, PipelineConfig, Quiet};
    let dir = std::env::temp_dir().join(format!("weakseg-config-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let data = dir.join("data");
    let synth = common::parts(2, 1, 32, 3, 1);
    synth::write(&synth, &data, |_| {}).unwrap();
    let gpu = Gpu::new_blocking().unwrap();
    let good = PipelineConfig::synthetic(data.clone(), dir.join("run"), &synth);
    good.validate().unwrap();
    // A safetensors file cut short, and a file that is not one.
    let ck = dir.join("w.safetensors");
    let t = weakseg::io::checkpoint::HostTensor {
        name: "a".into(),
        shape: vec![2, 2],
        data: vec![1.0; 4],
    };
    let bytes =
        weakseg::io::checkpoint::encode(&[t], weakseg::io::checkpoint::SaveDtype::F32).unwrap();
    std::fs::write(&ck, &bytes[..bytes.len() - 3]).unwrap();
    std::fs::write(dir.join("notes.txt"), "not weights").unwrap();
    let cases: Vec<(&str, &str, Box<dyn Fn(&mut PipelineConfig)>)> = vec![
        (
            "[cam]",
            "scale 0",
            Box::new(|c| c.cam.multiscale.scales = vec![1.0, 0.0]),
        ),
        (
            "[cam]",
            "no scales",
            Box::new(|c| c.cam.multiscale.scales.clear()),
        ),
        (
            "[cam]",
            "threshold 1.5",
            Box::new(|c| c.cam.threshold = 1.5),
        ),
        (
            "[predict]",
            "nope",
            Box::new(|c| c.predict.list = "nope".into()),
        ),
        (
            "[segmenter]",
            "resnet51",
            Box::new(|c| c.segmenter.arch = "resnet51".into()),
        ),
        (
            "[segmenter]",
            "output stride 4",
            Box::new(|c| c.segmenter.output_stride = 4),
        ),
        (
            "[segmenter]",
            "cut short",
            Box::new(move |c| c.segmenter.pretrained = Some(ck.clone())),
        ),
        (
            "[segmenter]",
            "epochs is 0",
            Box::new(|c| c.segmenter.epochs = 0),
        ),
        ("[classifier]", "notes.txt", {
            let notes = dir.join("notes.txt");
            Box::new(move |c| c.classifier.pretrained = Some(notes.clone()))
        }),
        (
            "[classifier]",
            "batch_size is 0",
            Box::new(|c| c.classifier.batch_size = 0),
        ),
        (
            "[affinity]",
            "crop",
            Box::new(|c| {
                c.affinity.crop = Some(weakseg::data::augment::Crop {
                    side: 0,
                    ..Default::default()
                })
            }),
        ),
        (
            "[walk]",
            "train2",
            Box::new(|c| c.walk.list = "train2".into()),
        ),
        (
            "[aff_labels]",
            "iterations",
            Box::new(|c| c.aff_labels.crf.iters = 5000),
        ),
    ];
    for (table, what, bad) in cases {
        let mut cfg = good.clone();
        bad(&mut cfg);
        let e = run::run(&gpu, &cfg, &mut Quiet::default())
            .err()
            .unwrap_or_else(|| panic!("{table} {what} ran"))
            .to_string();
        assert!(e.contains(table) && e.contains(what), "{table} {what}: {e}");
        assert!(!cfg.out.exists(), "{table} {what}: a stage ran");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_image_past_the_adapter_fails_before_the_first_image() {
    // The list's largest image is tried first (blank, at every scale), so
    // it fails in seconds, naming the file, not after the images before it.
    let dir = std::env::temp_dir().join(format!("weakseg-largest-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (small, big) = (dir.join("small"), dir.join("big"));
    synth::write(&common::parts(2, 1, 32, 3, 1), &small, |_| {}).unwrap();
    synth::write(&common::parts(1, 1, 512, 3, 1), &big, |_| {}).unwrap();
    let gpu = Gpu::new_blocking().unwrap();
    let s = ClassifierSettings {
        epochs: 1,
        batch_size: 2,
        ..ClassifierSettings::default()
    };
    classifier::train(&gpu, &small, &dir.join("cls"), &s, &mut Silent).unwrap();
    // 8× a 512-px image: a 4096² view, past every binding limit of a
    // CPU adapter (128 MiB) for its first copy.
    let limit = gpu.limits().max_storage_buffer_binding_size as usize;
    assert!(
        3 * 4096 * 4096 * 4 > limit,
        "the test needs a binding limit below 192 MiB (lavapipe's and llvmpipe's: 128 MiB)"
    );
    let cs = CamSettings {
        multiscale: weakseg::cam::MultiScale {
            scales: vec![8.0],
            flip: false,
            ..weakseg::cam::MultiScale::default()
        },
        ..CamSettings::default()
    };
    let ckpt = dir.join("cls").join(CHECKPOINT);
    let e = cams::infer(&gpu, &big, &ckpt, &dir.join("cam"), &cs, |_, _| {})
        .err()
        .expect("a 4096² view fit")
        .to_string();
    assert!(
        e.contains("000000.jpg") && e.contains("512×512") && e.contains("does not fit"),
        "{e}"
    );
    assert!(!dir.join("cam/cams").exists(), "an image was processed");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_training_batch_past_the_adapter_names_the_batch() {
    // A crop the adapter cannot hold fails in the first step with the
    // batch's size and what to lower, not a bare binding message.
    let dir = std::env::temp_dir().join(format!("weakseg-big-batch-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    synth::write(&common::parts(3, 1, 32, 2, 1), &dir.join("data"), |_| {}).unwrap();
    let gpu = Gpu::new_blocking().unwrap();
    // Three 1024² crops: the stem's 16 channels alone are 192 MiB.
    let limit = gpu.limits().max_storage_buffer_binding_size as usize;
    assert!(
        3 * 16 * 1024 * 1024 * 4 > limit,
        "the test needs a binding limit below 192 MiB (lavapipe's and llvmpipe's: 128 MiB)"
    );
    let s = ClassifierSettings {
        epochs: 1,
        batch_size: 3,
        crop: Some(1024),
        ..ClassifierSettings::default()
    };
    let e = classifier::train(&gpu, &dir.join("data"), &dir.join("cls"), &s, &mut Silent)
        .err()
        .expect("a 3×1024² batch fit")
        .to_string();
    assert!(
        e.contains("a batch of 3 images of 1024×1024 px does not fit")
            && e.contains("lower the batch size or the crop"),
        "{e}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
