//! Helpers shared by the integration tests (`mod common;` in each).

#![allow(dead_code)]

/// The test device: the adapter `WGPU_BACKEND` / `WGPU_ADAPTER_NAME` pick.
pub fn gpu() -> weakseg::Gpu {
    weakseg::Gpu::new_blocking().expect("a GPU adapter")
}

/// A parts benchmark of `train` and `val` images of `size` px with
/// `classes` classes from `seed`, parts kept: the tests' small datasets.
pub fn parts(
    train: usize,
    val: usize,
    size: usize,
    classes: usize,
    seed: u64,
) -> weakseg::data::synth::SynthConfig {
    weakseg::data::synth::SynthConfig {
        train,
        val,
        size,
        classes,
        seed,
        kind: weakseg::data::synth::SynthKind::Parts,
        erase_parts: false,
    }
}

/// A small scenes benchmark (images of varied sizes, long side from
/// `size`), otherwise as [`parts`].
pub fn scenes(
    train: usize,
    val: usize,
    size: usize,
    classes: usize,
    seed: u64,
) -> weakseg::data::synth::SynthConfig {
    weakseg::data::synth::SynthConfig {
        kind: weakseg::data::synth::SynthKind::Scenes,
        ..parts(train, val, size, classes, seed)
    }
}

/// A tensor's f32 values on the host.
pub fn host(t: &weakseg::Tensor) -> Vec<f32> {
    t.to_vec_blocking::<f32>().expect("a readback")
}

use std::path::Path;

/// The mIoU of `pred` against `gt` (label maps of equal sizes), computed
/// here without weakseg's metrics: ground truth 255 ignored, a predicted 255
/// counted as background, a class absent from both sides left out of the
/// mean; intersections and unions summed over all maps (VOC's dataset-level
/// IoU). Also each class's IoU.
pub fn independent_miou(pred: &[Vec<u8>], gt: &[Vec<u8>], k: usize) -> (f64, Vec<Option<f64>>) {
    let mut ious = Vec::new();
    for c in 0..k as u8 {
        let (mut inter, mut union) = (0u64, 0u64);
        for (p, g) in pred.iter().zip(gt) {
            assert_eq!(p.len(), g.len(), "prediction and ground truth sizes");
            for (&pv, &gv) in p.iter().zip(g) {
                if gv == 255 {
                    continue;
                }
                let pv = if pv == 255 { 0 } else { pv };
                inter += (pv == c && gv == c) as u64;
                union += (pv == c || gv == c) as u64;
            }
        }
        ious.push((union > 0).then(|| inter as f64 / union as f64));
    }
    let present: Vec<f64> = ious.iter().flatten().copied().collect();
    (present.iter().sum::<f64>() / present.len() as f64, ious)
}

/// The mIoU of the label PNGs `pred_dir/ID.png` for the ids of the VOC list
/// `list` under `data`, against `data/SegmentationClass/ID.png`, with
/// [`independent_miou`]: what a stage that wrote those labels must report.
pub fn rescore(pred_dir: &Path, data: &Path, list: &str, classes: usize) -> f64 {
    let ids = std::fs::read_to_string(data.join(format!("ImageSets/Segmentation/{list}.txt")))
        .unwrap_or_else(|e| panic!("list {list}: {e}"));
    let read = |p: &Path| {
        weakseg::io::labels::read(p)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
            .data
    };
    let (pred, gt): (Vec<_>, Vec<_>) = ids
        .split_whitespace()
        .map(|id| {
            (
                read(&pred_dir.join(format!("{id}.png"))),
                read(&data.join(format!("SegmentationClass/{id}.png"))),
            )
        })
        .unzip();
    independent_miou(&pred, &gt, classes).0
}

/// Asserts a reported mIoU equals the independent re-scoring (to rounding).
#[track_caller]
pub fn assert_rescored(what: &str, reported: f64, rescored: f64) {
    assert!(
        (reported - rescored).abs() < 1e-9,
        "{what}: reported mIoU {reported}, the written labels score {rescored}"
    );
}

/// The mIoU of every label PNG in `pred_dir` against the dataset's ground
/// truth of the same id, with [`independent_miou`].
pub fn rescore_files(pred_dir: &Path, data: &Path, classes: usize) -> f64 {
    let mut names: Vec<_> = std::fs::read_dir(pred_dir)
        .unwrap_or_else(|e| panic!("{}: {e}", pred_dir.display()))
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".png"))
        .collect();
    names.sort();
    let read = |p: &Path| {
        weakseg::io::labels::read(p)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
            .data
    };
    let (pred, gt): (Vec<_>, Vec<_>) = names
        .iter()
        .map(|n| {
            (
                read(&pred_dir.join(n)),
                read(&data.join("SegmentationClass").join(n)),
            )
        })
        .unzip();
    independent_miou(&pred, &gt, classes).0
}

/// Every stage under `root` (a folder with `stage.json`) whose results
/// report an `miou` and that wrote its labels into `labels/`, `pred/` or
/// `rw/`: its reported figure is checked against [`rescore_files`] of those
/// labels. Returns the figures checked.
pub fn rescore_stages(root: &Path, data: &Path, classes: usize) -> Vec<f64> {
    let mut checked = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            }
        }
        let Ok(text) = std::fs::read(dir.join("stage.json")) else {
            continue;
        };
        let json: serde_json::Value = serde_json::from_slice(&text).unwrap();
        let Some(reported) = json["results"]["miou"].as_f64() else {
            continue;
        };
        let Some(labels) = ["labels", "pred", "rw"]
            .iter()
            .map(|s| dir.join(s))
            .find(|d| d.is_dir())
        else {
            continue;
        };
        assert_rescored(
            &dir.display().to_string(),
            reported,
            rescore_files(&labels, data, classes),
        );
        checked.push(reported);
    }
    checked
}

/// A 3-class resnet-tiny network of CAM-expansion method `name` with its
/// defaults, initialised from `seed`.
pub fn tiny_method_net(gpu: &weakseg::Gpu, name: &str, seed: u64) -> weakseg::methods::MethodNet {
    let method = weakseg::methods::Method::from_name(name, &[]).unwrap();
    weakseg::methods::MethodNet::new(
        &mut weakseg::nn::Builder::new(gpu, seed),
        &method,
        &weakseg::models::ArchSpec::new("resnet-tiny", 8),
        3,
    )
    .unwrap()
}

/// DSRG's seed growing written here from the released
/// `generate_seed_step` (speedinghzl/DSRG pylayers/pylayers/pylayers.py:237–273):
/// the seeds, each confident best present label (> 0.85 object, > 0.99
/// background) laid over them, then per class the 8-connected components
/// of its label that hold one of its seeds join it (pixels seeded with
/// another class excepted).
pub fn dsrg_grow_reference(q: &[f32], present: &[bool], seeds: &[u32], w: usize) -> Vec<u32> {
    let n = seeds.len();
    let mut map = seeds.to_vec();
    for u in 0..n {
        let (mut best, mut value) = (usize::MAX, f32::MIN);
        for c in (0..present.len()).filter(|&c| present[c]) {
            if q[c * n + u] > value {
                (best, value) = (c, q[c * n + u]);
            }
        }
        if (best > 0 && value > 0.85) || (best == 0 && value > 0.99) {
            map[u] = best as u32;
        }
    }
    // Component ids by repeated relaxation to the smallest neighbour id.
    let mut id: Vec<usize> = (0..n).collect();
    loop {
        let mut changed = false;
        for u in 0..n {
            for v in 0..n {
                let (dy, dx) = ((u / w).abs_diff(v / w), (u % w).abs_diff(v % w));
                if dy <= 1 && dx <= 1 && map[u] == map[v] && id[v] < id[u] {
                    id[u] = id[v];
                    changed = true;
                }
            }
        }
        if !changed {
            break;
        }
    }
    let anchored: Vec<usize> = (0..n)
        .filter(|&u| map[u] != 255 && seeds[u] == map[u])
        .map(|u| id[u])
        .collect();
    (0..n)
        .map(|u| {
            if seeds[u] == 255 && map[u] != 255 && anchored.contains(&id[u]) {
                map[u]
            } else {
                seeds[u]
            }
        })
        .collect()
}
