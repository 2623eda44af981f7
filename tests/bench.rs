//! `weakseg bench`: every suite's cases in its JSON, the peak and the
//! fractions of it, the reference files the CPU peers check against, and
//! the stage suite's throughput.

use std::process::Command;

use weakseg::bench::{Measurement, Peak};
use weakseg::io::npy;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_weakseg"));
    c.env("XDG_RUNTIME_DIR", "/tmp");
    c
}

fn case(name: &str, flops: f64, bytes: f64, seconds: f64) -> Measurement {
    Measurement {
        name: name.into(),
        seconds,
        cold_seconds: seconds,
        flops,
        bytes,
        peak_fraction: None,
    }
}

#[test]
fn peak_is_the_best_matmul_and_the_copy() {
    let mut ms = vec![
        case("matmul_256", 2e9, 0.0, 1.0),
        case("matmul_512", 4e9, 0.0, 1.0),
        case("conv_fwd", 1e9, 0.0, 1.0),
        case("sum", 0.0, 1e9, 1.0),
        case("copy_16MiB", 0.0, 4e9, 1.0),
        case("crf_iter", 0.0, 0.0, 1.0),
    ];
    let p = Peak::of(&ms);
    assert_eq!(
        p,
        Peak {
            gflops: 4.0,
            gbps: 4.0
        }
    );
    p.apply(&mut ms);
    let f: Vec<Option<f64>> = ms.iter().map(|m| m.peak_fraction).collect();
    assert_eq!(
        f,
        [
            Some(0.5),
            Some(1.0),
            Some(0.25),
            Some(0.25),
            Some(1.0),
            None
        ]
    );
}

#[test]
fn kernel_suite_json_and_peer_reference() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("reference");
    let out = bin()
        .args([
            "bench",
            "--suite",
            "kernels",
            "--reps",
            "1",
            "--json",
            "--reference",
        ])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(!doc["adapter"].as_str().unwrap().is_empty());
    assert!(doc["peak"]["gflops"].as_f64().unwrap() > 0.0);
    assert!(doc["peak"]["gbps"].as_f64().unwrap() > 0.0);
    let cases = doc["cases"].as_array().unwrap();
    let get = |name: &str| {
        cases
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("no case {name} in {cases:?}"))
    };
    for name in [
        "matmul_512",
        "conv3x3_n8_c32_64_fwd",
        "conv3x3_n8_c32_64_bwd_data",
        "conv3x3_n8_c32_64_bwd_weight",
        "conv3x3_n8_c32_64_fwd_bwd",
        "conv3x3_d2_n8_c64_32_bwd_weight",
        "affinity_r5_n8_c128_32",
        "gap_cam_n8_c128_32_k20",
        "rw_step_63x47_k21",
    ] {
        let c = get(name);
        assert!(c["gflops"].as_f64().unwrap() > 0.0, "{name}");
        assert!(c["peak_fraction"].as_f64().unwrap() > 0.0, "{name}");
        assert!(c["cold_seconds"].as_f64().unwrap() > 0.0, "{name}");
    }
    for name in [
        "sum_512x4096",
        "copy_16MiB",
        "crf_iter_320x240_l21",
        "crf_iter_500x375_l21",
    ] {
        assert!(get(name)["gbps"].as_f64().unwrap() > 0.0, "{name}");
    }
    for name in ["crf_build_320x240", "crf_build_500x375", "readback_1KiB"] {
        assert!(get(name)["seconds"].as_f64().unwrap() > 0.0, "{name}");
    }

    // The reference files hold C = A·B (spot-checked in f64) and the
    // convolution's tensors in their shapes.
    let a = npy::read(&dir.join("matmul_512_a.npy")).unwrap();
    let b = npy::read(&dir.join("matmul_512_b.npy")).unwrap();
    let c = npy::read(&dir.join("matmul_512_c.npy")).unwrap();
    assert_eq!(c.shape, [512, 512]);
    for (i, j) in [(0, 0), (7, 300), (511, 511), (260, 3)] {
        let terms = (0..512).map(|k| a.data[i * 512 + k] as f64 * b.data[k * 512 + j] as f64);
        let (want, mag): (f64, f64) = terms.fold((0.0, 0.0), |(s, m), t| (s + t, m + t.abs()));
        let got = c.data[i * 512 + j] as f64;
        // A 512-term f32 dot product: within 4·√512·u·Σ|a·b| (the
        // probabilistic bound of the kernel oracles).
        let bound = 4.0 * 512f64.sqrt() * mag / 16_777_216.0;
        assert!(
            (got - want).abs() <= bound,
            "C[{i},{j}] {got} vs {want} (bound {bound:e})"
        );
    }
    for (s, shape) in [
        ("x", [8, 32, 64, 64]),
        ("w", [32, 32, 3, 3]),
        ("y", [8, 32, 64, 64]),
        ("dy", [8, 32, 64, 64]),
        ("dx", [8, 32, 64, 64]),
        ("dw", [32, 32, 3, 3]),
    ] {
        let t = npy::read(&dir.join(format!("conv3x3_n8_c32_64_{s}.npy"))).unwrap();
        assert_eq!(t.shape, shape, "{s}");
        assert!(t.data.iter().all(|v| v.is_finite()), "{s}");
    }
}

#[test]
fn stage_suite_reports_images_per_second() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let run = || {
        let out = bin()
            .args([
                "bench",
                "--suite",
                "stages",
                "--stage-images",
                "8",
                "--json",
                "--work",
            ])
            .arg(&dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    // A second run into the same directory measures again rather than
    // reporting the first run's stages as skipped: it clears what the
    // first left (a file planted among the first run's stages is gone).
    run();
    let planted = dir.join("warm/planted");
    std::fs::write(&planted, b"left by the first run").unwrap();
    let doc = run();
    assert!(
        !planted.exists(),
        "the second run kept the first run's stages"
    );
    let stages: Vec<(String, u64, f64)> = doc["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            assert!(s["cold_seconds"].as_f64().unwrap() > 0.0);
            (
                s["name"].as_str().unwrap().to_string(),
                s["images"].as_u64().unwrap(),
                s["images_per_s"].as_f64().unwrap(),
            )
        })
        .collect();
    let names: Vec<&str> = stages.iter().map(|s| s.0.as_str()).collect();
    assert_eq!(
        names,
        [
            "train-cls",
            "cam",
            "aff-labels",
            "train-aff",
            "rw",
            "train-seg",
            "predict"
        ]
    );
    let images: Vec<u64> = stages.iter().map(|s| s.1).collect();
    assert_eq!(images, [8, 8, 8, 8, 8, 8, 2]);
    assert!(
        stages.iter().all(|s| s.2 > 0.0 && s.2.is_finite()),
        "{stages:?}"
    );
}
