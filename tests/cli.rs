//! The `weakseg classify` command against the library on the same weights
//! and image, and its errors on bad input.

use std::process::Command;

use weakseg::io::checkpoint::{self, SaveDtype, Sidecar};
use weakseg::io::image as wimage;
use weakseg::models::resnet::{ResNet, ResNetConfig};
use weakseg::nn::{Builder, ModuleExt};
use weakseg::{Gpu, Tensor, no_grad};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_weakseg"));
    c.env("XDG_RUNTIME_DIR", "/tmp");
    c
}

#[test]
fn classify_matches_the_library_and_reports_bad_input() {
    let dir = std::env::temp_dir().join(format!("weakseg-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let png = dir.join("img.png");
    let img = image::RgbImage::from_fn(48, 40, |x, y| {
        image::Rgb([(x * 5) as u8, (y * 6) as u8, ((x + y) * 3) as u8])
    });
    img.save(&png).unwrap();

    let gpu = Gpu::new_blocking().unwrap();
    let net = ResNet::new(
        &mut Builder::new(&gpu, 3),
        &ResNetConfig::new(50, 32).unwrap().with_classes(10),
    )
    .unwrap();
    let weights = dir.join("r50.safetensors");
    checkpoint::save(&weights, &net, &Sidecar::default(), SaveDtype::F32).unwrap();

    let out = bin()
        .args([
            "classify",
            "--arch",
            "resnet50",
            "--topk",
            "3",
            "--json",
            "--weights",
        ])
        .arg(&weights)
        .arg("--image")
        .arg(&png)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let logits: Vec<f32> = serde_json::from_value(doc["logits"].clone()).unwrap();
    let top: Vec<(usize, f64)> = serde_json::from_value(doc["top"].clone()).unwrap();

    net.set_train(false);
    let rgb = wimage::read(&png).unwrap();
    assert_eq!((rgb.width, rgb.height), (48, 40));
    let x = Tensor::from_slice(&gpu, &wimage::normalize_imagenet(&rgb), &[1, 3, 40, 48]).unwrap();
    let want = no_grad(|| net.classify(&x))
        .unwrap()
        .to_vec_blocking::<f32>()
        .unwrap();
    assert_eq!(logits.len(), 10);
    let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
    for (a, b) in logits.iter().zip(&want) {
        assert!((a - b).abs() <= 1e-5 * scale, "{a} vs {b}");
    }
    assert_eq!(top.len(), 3);
    let best = (0..10)
        .max_by(|&i, &j| want[i].total_cmp(&want[j]))
        .unwrap();
    assert_eq!(top[0].0, best);
    assert!(top.windows(2).all(|w| w[0].1 >= w[1].1) && top[0].1 <= 1.0);

    // WEAKSEG_PROFILE=1 follows any command with the kernel-time table.
    let out = bin()
        .env("WEAKSEG_PROFILE", "1")
        .args(["classify", "--arch", "resnet50", "--weights"])
        .arg(&weights)
        .arg("--image")
        .arg(&png)
        .output()
        .unwrap();
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    if gpu.report().features.contains(&"timestamp-query") {
        assert!(
            err.contains("mean us") && err.contains("conv2d"),
            "no profile table in: {err}"
        );
    } else {
        assert!(err.contains("GPU timings unavailable"), "{err}");
    }

    // --f16: the trunk in f16, within 2e-2 of the f32 logits' scale; on an
    // adapter without shader-f16, an error naming the feature.
    let half = bin()
        .args([
            "classify",
            "--arch",
            "resnet50",
            "--json",
            "--f16",
            "--weights",
        ])
        .arg(&weights)
        .arg("--image")
        .arg(&png)
        .output()
        .unwrap();
    if gpu.has_f16() {
        assert!(
            half.status.success(),
            "{}",
            String::from_utf8_lossy(&half.stderr)
        );
        let doc: serde_json::Value = serde_json::from_slice(&half.stdout).unwrap();
        let l16: Vec<f32> = serde_json::from_value(doc["logits"].clone()).unwrap();
        let err = l16
            .iter()
            .zip(&want)
            .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(
            err <= 2e-2 * scale,
            "f16 logits off by {err} (scale {scale})"
        );
        assert_ne!(l16, logits, "--f16 changed nothing");
    } else {
        assert!(!half.status.success());
        assert!(String::from_utf8_lossy(&half.stderr).contains("shader-f16"));
    }

    let resized = bin()
        .args([
            "classify",
            "--arch",
            "resnet50",
            "--resize",
            "32",
            "--weights",
        ])
        .arg(&weights)
        .arg("--image")
        .arg(&png)
        .output()
        .unwrap();
    assert!(resized.status.success());
    assert!(String::from_utf8_lossy(&resized.stdout).starts_with("38×32 image"));

    let missing = bin()
        .args(["classify", "--arch", "resnet50", "--weights"])
        .arg(&weights)
        .args(["--image", "/nonexistent/cat.jpg"])
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/cat.jpg"));

    let wrong = bin()
        .args(["classify", "--arch", "resnet101", "--weights"])
        .arg(&weights)
        .arg("--image")
        .arg(&png)
        .output()
        .unwrap();
    assert!(!wrong.status.success());
    let err = String::from_utf8_lossy(&wrong.stderr);
    assert!(
        err.contains("missing") && err.contains("layer3.6.conv1.weight"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn train_aff_names_an_unknown_relation() {
    // Relative paths, resolved in a temporary folder: nothing may land in
    // the source tree however late the command fails.
    let cwd = tempfile::tempdir().unwrap();
    let out = bin()
        .current_dir(cwd.path())
        .args([
            "train-aff",
            "--data",
            "d",
            "--classifier",
            "c",
            "--aff-labels",
            "a",
            "--out",
            "o",
            "--relation",
            "edges",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unknown relation `edges`") && err.contains("boundary"),
        "{err}"
    );
}

#[test]
fn help_lists_every_registered_method() {
    // The method list in the help comes from the registry's names, so a
    // new method cannot be missing from it (it once listed 10 of 16).
    for (cmd, flag) in [("train-cls", "--method <"), ("compare", "--methods <")] {
        let out = bin().args([cmd, "--help"]).output().unwrap();
        let help = String::from_utf8_lossy(&out.stdout);
        // The flag's entry: its line and any continuation lines before the
        // next option.
        let mut lines = help.lines().skip_while(|l| !l.contains(flag));
        let first = lines.next().unwrap_or_default().to_string();
        let line = lines
            .take_while(|l| !l.trim_start().starts_with('-'))
            .fold(first, |acc, l| acc + l);
        for name in weakseg::methods::Method::NAMES {
            assert!(
                line.contains(&format!(" {name},")) || line.contains(&format!(" {name}]")),
                "{cmd}: {name} missing from {line}"
            );
        }
    }
}

#[test]
fn every_registered_method_is_documented() {
    // The README's table and docs/methods.md name each method as the CLI
    // selects it.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for doc in ["README.md", "docs/methods.md"] {
        let text = std::fs::read_to_string(root.join(doc)).unwrap();
        for name in weakseg::methods::Method::NAMES {
            assert!(
                text.contains(&format!("`--method {name}`")),
                "{doc} does not list `--method {name}`"
            );
        }
    }
}

#[test]
fn train_seg_crops_images_of_any_size_only_when_asked() {
    // The scenes vary in size: without --crop the batch cannot be formed
    // and the error says so; with it the stage trains.
    let dir = std::env::temp_dir().join(format!("weakseg-cli-crop-{}", std::process::id()));
    let data = dir.join("data");
    let synth = bin()
        .args(["synth", "--out"])
        .arg(&data)
        .args([
            "--train",
            "4",
            "--val",
            "1",
            "--size",
            "32",
            "--classes",
            "2",
        ])
        .output()
        .unwrap();
    assert!(
        synth.status.success(),
        "{}",
        String::from_utf8_lossy(&synth.stderr)
    );
    let train = |out: &str, crop: &[&str]| {
        bin()
            .args(["train-seg", "--data"])
            .arg(&data)
            .arg("--out")
            .arg(dir.join(out))
            .args(["--epochs", "1", "--batch-size", "4"])
            .args(crop)
            .output()
            .unwrap()
    };
    let uncropped = train("plain", &[]);
    let err = String::from_utf8_lossy(&uncropped.stderr);
    assert!(!uncropped.status.success());
    assert!(err.contains("collate"), "{err}");
    let cropped = train("cropped", &["--crop", "32", "--crop-scale", "0.5,1.5"]);
    assert!(
        cropped.status.success(),
        "{}",
        String::from_utf8_lossy(&cropped.stderr)
    );
    assert!(dir.join("cropped/segmenter.safetensors").exists());
    let _ = std::fs::remove_dir_all(&dir);
}
