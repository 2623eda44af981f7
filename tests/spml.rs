//! SPML: the contrastive loss against its formula on the host, the
//! segments, label downsampling, grid k-means and SLIC on hand-made inputs,
//! the memory bank and the prototype vote, and the train → predict stages
//! on a tiny synthetic set, through the library and the CLI.

mod common;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use weakseg::data::synth::{self};
use weakseg::ops::superpixel::{SlicSettings, slic};
use weakseg::pipeline::spml::{self, SpmlSettings};
use weakseg::spml::{
    MemoryBank, PrototypeBank, Relations, Segments, SpmlBatch, SpmlLoss, block_labels, contrastive,
    feature_affinity_masks, grid_kmeans, segment, spread,
};
use weakseg::{Gpu, Tensor};

const U: u32 = 255;

fn unit_rows(r: &mut SmallRng, n: usize, d: usize) -> Vec<f32> {
    let mut v: Vec<f32> = (0..n * d).map(|_| r.random_range(-1.0..1.0)).collect();
    for row in v.chunks_mut(d) {
        let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt();
        row.iter_mut().for_each(|x| *x /= norm);
    }
    v
}

/// (a, b) scaled to unit length.
fn unit(a: f32, b: f32) -> [f32; 2] {
    let n = (a * a + b * b).sqrt();
    [a / n, b / n]
}

#[test]
fn contrastive_matches_its_formula_on_the_host() {
    let gpu = Gpu::new_blocking().unwrap();
    let mut r = SmallRng::seed_from_u64(5);
    let (n, c, d, kappa) = (7usize, 5usize, 4usize, 6.0f32);
    let rows = unit_rows(&mut r, n, d);
    let protos = unit_rows(&mut r, c, d);
    let mut pos = vec![0f32; n * c];
    let mut den = vec![0f32; n * c];
    for i in 0..n {
        pos[i * c + i % c] = 1.0;
        for j in 0..c {
            if r.random_bool(0.6) || j == i % c {
                den[i * c + j] = 1.0;
            }
        }
    }
    let got = contrastive(
        &Tensor::from_slice(&gpu, &rows, &[n, d]).unwrap(),
        &Tensor::from_slice(&gpu, &protos, &[c, d]).unwrap(),
        kappa,
        &pos,
        &den,
    )
    .unwrap()
    .item()
    .unwrap() as f64;
    let mut want = 0f64;
    for i in 0..n {
        let (mut num, mut all) = (0f64, 0f64);
        for j in 0..c {
            let dot: f64 = (0..d)
                .map(|k| rows[i * d + k] as f64 * protos[j * d + k] as f64)
                .sum();
            let sim = (kappa as f64 * dot).exp();
            num += pos[i * c + j] as f64 * sim;
            all += den[i * c + j] as f64 * sim;
        }
        want += -(num / all).ln() / n as f64;
    }
    // Tolerance 1e-4: f32 sums of exponentials.
    assert!(
        (got - want).abs() < 1e-4 * (1.0 + want.abs()),
        "{got} vs {want}"
    );
    assert!(
        contrastive(
            &Tensor::from_slice(&gpu, &rows, &[n, d]).unwrap(),
            &Tensor::from_slice(&gpu, &protos, &[c, d]).unwrap(),
            kappa,
            &pos[1..],
            &den,
        )
        .is_err()
    );
}

#[test]
fn feature_affinity_expands_labels_to_the_nearest_labelled_segment() {
    let gpu = Gpu::new_blocking().unwrap();
    // Columns 1 and 3 are unlabelled: 1 lies nearest labelled column 0
    // (label 1), 3 nearest column 2 (label 2). Column 4 is the only one
    // labelled 3. Pixel 5 sits in column 4, so its only positive is its own.
    let cols: Vec<f32> = [
        unit(1.0, 0.0),
        unit(0.9, 0.2),
        unit(0.0, 1.0),
        unit(0.2, 0.9),
        unit(-1.0, -1.0),
    ]
    .concat();
    let cols = Tensor::from_slice(&gpu, &cols, &[5, 2]).unwrap();
    let labels = [1, U, 2, U, 3];
    let of_pixel = [0u32, 1, 2, 3, 1, 4];
    let (pos, den) = feature_affinity_masks(&cols, &labels, &of_pixel)
        .unwrap()
        .unwrap();
    let pos = pos.to_vec_blocking::<f32>().unwrap();
    let den = den.to_vec_blocking::<f32>().unwrap();
    #[rustfmt::skip]
    let want_pos = [
        0., 1., 0., 0., 0.,
        1., 0., 0., 0., 0.,
        0., 0., 0., 1., 0.,
        0., 0., 1., 0., 0.,
        1., 0., 0., 0., 0.,
        0., 0., 0., 0., 1.,
    ];
    #[rustfmt::skip]
    let want_den = [
        0., 1., 1., 1., 1.,
        1., 0., 1., 1., 1.,
        1., 1., 0., 1., 1.,
        1., 1., 1., 0., 1.,
        1., 0., 1., 1., 1.,
        1., 1., 1., 1., 1.,
    ];
    assert_eq!(pos, want_pos);
    assert_eq!(den, want_den);
    assert!(
        feature_affinity_masks(&cols, &[U; 5], &of_pixel)
            .unwrap()
            .is_none(),
        "nothing labelled: no relation"
    );
    assert!(feature_affinity_masks(&cols, &labels, &[0, 5]).is_err());
    assert!(feature_affinity_masks(&cols, &labels[1..], &of_pixel).is_err());

    // Off by default and then absent from settings files; SPML's DensePose
    // values when on.
    let tags = serde_json::to_string(&Relations::tags()).unwrap();
    assert!(!tags.contains("feature_affinity"), "{tags}");
    let back: Relations = serde_json::from_str(&tags).unwrap();
    assert_eq!(back, Relations::tags());
    let dp = Relations::densepose_points();
    assert_eq!(
        (dp.feature_affinity.kappa, dp.feature_affinity.weight),
        (12.0, 0.5)
    );
    let back: Relations = serde_json::from_str(&serde_json::to_string(&dp).unwrap()).unwrap();
    assert_eq!(back, dp);
}

#[test]
fn segments_split_clusters_by_label_and_region() {
    // Two images of four pixels each.
    let clusters = [0, 0, 1, 1, 0, 0, 0, 0];
    let labels = [1, 2, 1, 1, U, U, 3, 3];
    let regions = [0, 0, 0, 5, 1, 1, 1, 1];
    let s = Segments::build(4, &clusters, &labels, Some(&regions)).unwrap();
    assert_eq!(s.of_pixel, vec![0, 1, 2, 3, 4, 4, 5, 5]);
    assert_eq!(s.image, vec![0, 0, 0, 0, 1, 1]);
    assert_eq!(s.label, vec![1, 2, 1, 1, U, 3]);
    assert_eq!(s.region, vec![0, 0, 0, 5, 1, 1]);
    let plain = Segments::build(4, &clusters, &labels, None).unwrap();
    assert_eq!(
        plain.len(),
        5,
        "without regions pixels 2 and 3 share a segment"
    );
    assert!(Segments::build(4, &clusters, &labels[1..], None).is_err());

    // Prototypes: the unit mean of each segment's rows.
    let gpu = Gpu::new_blocking().unwrap();
    let rows: Vec<f32> = (0..8).flat_map(|p| [1.0, p as f32]).collect();
    let protos = s
        .prototypes(&Tensor::from_slice(&gpu, &rows, &[8, 2]).unwrap())
        .unwrap()
        .to_vec_blocking::<f32>()
        .unwrap();
    let want: Vec<f32> = [
        unit(1.0, 0.0),
        unit(1.0, 1.0),
        unit(1.0, 2.0),
        unit(1.0, 3.0),
        unit(2.0, 9.0),
        unit(2.0, 13.0),
    ]
    .concat();
    for (g, w) in protos.iter().zip(&want) {
        assert!((g - w).abs() < 1e-5, "{protos:?} vs {want:?}");
    }
}

#[test]
fn block_labels_keep_sparse_marks() {
    // One 4×4 map to 2×2: a single marked pixel survives in its cell; ties
    // go to the lower label; an unmarked cell stays unlabelled.
    #[rustfmt::skip]
    let map = [
        U, U, 3, 2,
        U, 7, 2, 3,
        U, U, 1, 1,
        U, U, 1, 4,
    ];
    let out = block_labels(&map, 1, (4, 4), (2, 2), Some(U)).unwrap();
    assert_eq!(out, vec![7, 2, U, 1]);
    let all = block_labels(&map, 1, (4, 4), (2, 2), None).unwrap();
    assert_eq!(all, vec![U, 2, U, 1]);
    assert!(block_labels(&map, 1, (4, 4), (5, 2), None).is_err());
}

#[test]
fn grid_kmeans_finds_each_images_parts() {
    let gpu = Gpu::new_blocking().unwrap();
    // Two 4×6 images whose pixels point one of two ways: image 0 split
    // into left and right halves (the 1×2 grid's own cells), image 1 with
    // a top-left block that straddles both cells, which the rounds must
    // find. Cluster ids are local to each image.
    let (h, w) = (4usize, 6usize);
    let first = |b: usize, y: usize, x: usize| if b == 0 { x < w / 2 } else { y < 2 && x < 4 };
    let mut rows = Vec::new();
    for b in 0..2 {
        for y in 0..h {
            for x in 0..w {
                rows.extend(if first(b, y, x) {
                    [1.0f32, 0.0]
                } else {
                    [0.0, 1.0]
                });
            }
        }
    }
    let t = Tensor::from_slice(&gpu, &rows, &[2 * h * w, 2]).unwrap();
    let labels = pollster::block_on(grid_kmeans(&t, 2, (h, w), (1, 2), 10)).unwrap();
    for b in 0..2 {
        let at = |y: usize, x: usize| labels[(b * h + y) * w + x];
        for y in 0..h {
            for x in 0..w {
                assert!(at(y, x) < 2, "local cluster ids");
                assert_eq!(
                    at(y, x) == at(0, 0),
                    first(b, y, x),
                    "image {b} ({y}, {x}): {labels:?}"
                );
            }
        }
    }
    assert!(pollster::block_on(grid_kmeans(&t, 3, (h, w), (1, 2), 10)).is_err());
}

#[test]
fn slic_regions_follow_colour_edges() {
    let gpu = Gpu::new_blocking().unwrap();
    // A 12×12 image, left third dark and the rest bright, in one channel
    // of three; 4-pixel regions (a 3×3 grid) with a small compactness.
    let (h, w) = (12usize, 12usize);
    let mut img = vec![0f32; 3 * h * w];
    for y in 0..h {
        for x in 0..w {
            img[y * w + x] = if x < 5 { -2.0 } else { 2.0 };
        }
    }
    let t = Tensor::from_slice(&gpu, &img, &[1, 3, h, w]).unwrap();
    let s = SlicSettings {
        region: 4,
        compactness: 0.5,
        iterations: 10,
    };
    let labels = slic(&t, &s).unwrap().to_vec_blocking::<u32>().unwrap();
    assert!(labels.iter().all(|&l| l < 9));
    let mut dark = std::collections::HashSet::new();
    let mut bright = std::collections::HashSet::new();
    for y in 0..h {
        for x in 0..w {
            if x < 5 {
                dark.insert(labels[y * w + x]);
            } else {
                bright.insert(labels[y * w + x]);
            }
        }
    }
    assert!(dark.is_disjoint(&bright), "{dark:?} {bright:?}");
    assert!(slic(&t, &SlicSettings { region: 0, ..s }).is_err());
    assert!(slic(&t.reshape(&[3, h, w]).unwrap(), &s).is_err());
}

#[test]
fn memory_bank_keeps_the_last_steps() {
    let gpu = Gpu::new_blocking().unwrap();
    let mut m = MemoryBank::new(2);
    for step in 0..3u32 {
        let p = Tensor::full(&gpu, &[1 + step as usize, 2], step as f32).unwrap();
        m.push(
            &p,
            vec![step; 1 + step as usize],
            vec![1 << step; 1 + step as usize],
        );
    }
    assert_eq!(m.len(), 2);
    let (protos, labels, tags) = m.all().unwrap();
    assert_eq!(labels, vec![1, 1, 2, 2, 2]);
    assert_eq!(tags, vec![2, 2, 4, 4, 4]);
    let p = protos.unwrap();
    assert!(!p.requires_grad());
    assert_eq!(
        p.to_vec_blocking::<f32>().unwrap(),
        vec![1., 1., 1., 1., 2., 2., 2., 2., 2., 2.]
    );
    let mut off = MemoryBank::new(0);
    off.push(&p, vec![0; 5], vec![0; 5]);
    assert!(off.is_empty());
}

#[test]
fn prototype_vote_and_spread() {
    let gpu = Gpu::new_blocking().unwrap();
    // Bank: three prototypes near (1, 0) labelled 1, 1, 2; two near (0, 1)
    // labelled 0; one unlabelled segment, which the bank leaves out.
    let bank_rows = [
        1.0f32, 0.0, 0.99, 0.14, 0.98, -0.2, 0.0, 1.0, 0.1, 0.99, 0.7, 0.7,
    ];
    let seg = Segments {
        of_pixel: vec![0, 1, 2, 3, 4, 5],
        image: vec![0; 6],
        label: vec![1, 1, 2, 0, 0, U],
        region: vec![0; 6],
    };
    let protos = Tensor::from_slice(&gpu, &bank_rows, &[6, 2]).unwrap();
    let bank = PrototypeBank::gather(&[(protos, seg)]).unwrap();
    assert_eq!(bank.len(), 5);
    let q = Tensor::from_slice(&gpu, &[1.0f32, 0.0, 0.0, 1.0], &[2, 2]).unwrap();
    let shares = pollster::block_on(bank.vote(&q, 3, 3)).unwrap();
    let third = 1.0 / 3.0;
    let want = [0.0, 2.0 * third, third, 2.0 * third, third, 0.0];
    for (g, w) in shares.iter().zip(want) {
        assert!((g - w).abs() < 1e-6, "{shares:?}");
    }
    assert!(
        pollster::block_on(bank.vote(&q, 2, 3)).is_err(),
        "label 2 needs 3 classes"
    );
    // Two segments over a 1×3 image.
    let s = Segments {
        of_pixel: vec![1, 0, 1],
        image: vec![0, 0],
        label: vec![U, U],
        region: vec![0, 0],
    };
    let probs = spread(&s, &shares, 3, (1, 3)).unwrap();
    let want = [
        2.0 * third,
        0.0,
        2.0 * third, // class 0 over the three pixels
        third,
        2.0 * third,
        third,
        0.0,
        third,
        0.0,
    ];
    assert_eq!(probs.len(), want.len());
    for (g, w) in probs.iter().zip(want) {
        assert!((g - w).abs() < 1e-6, "{probs:?}");
    }
}

#[test]
fn spml_loss_uses_memory_and_rejects_bad_batches() {
    let gpu = Gpu::new_blocking().unwrap();
    let mut r = SmallRng::seed_from_u64(9);
    let e = Tensor::from_slice(&gpu, &unit_rows(&mut r, 2 * 16, 4), &[2, 4, 4, 4]).unwrap();
    let labels: Vec<u32> = (0..32)
        .map(|p| if p % 3 == 0 { U } else { 1 + (p % 2) as u32 })
        .collect();
    let regions: Vec<u32> = (0..32).map(|p| (p % 16 / 8) as u32).collect();
    let seg = pollster::block_on(segment(&e, Some(&labels), Some(&regions), (2, 2), 10)).unwrap();
    let mut loss = SpmlLoss {
        relations: Relations::scribbles(),
        memory: MemoryBank::new(2),
    };
    let batch = SpmlBatch {
        rows: &seg.rows,
        rows_loc: &seg.rows_loc,
        segments: &seg.segments,
        labels: &labels,
        tags: &[0b1, 0b11],
    };
    let first = loss.loss(&batch).unwrap().item().unwrap();
    assert_eq!(loss.memory.len(), 1);
    let second = loss.loss(&batch).unwrap().item().unwrap();
    assert!(first.is_finite() && second.is_finite() && first > 0.0);
    assert_ne!(
        first, second,
        "the remembered segments join the semantic terms"
    );
    let short = SpmlBatch {
        tags: &[0b1],
        ..batch
    };
    assert!(loss.loss(&short).is_err(), "an image without tags");
    assert!(Relations::for_label("pixels").is_err());
}

/// `cfg` written under `dir`: its data, its ground-truth masks as the
/// labels to learn from, a device, and one epoch of batches of two.
fn one_epoch(
    dir: &std::path::Path,
    cfg: weakseg::data::synth::SynthConfig,
) -> (std::path::PathBuf, std::path::PathBuf, Gpu, SpmlSettings) {
    let data = dir.join("data");
    synth::write(&cfg, &data, |_| {}).unwrap();
    let labels = data.join("SegmentationClass");
    let s = SpmlSettings {
        epochs: 1,
        batch_size: 2,
        ..SpmlSettings::default()
    };
    (data, labels, Gpu::new_blocking().unwrap(), s)
}

#[test]
fn spml_stages_train_predict_and_skip() {
    let dir = std::env::temp_dir().join(format!("weakseg-spml-{}", std::process::id()));
    let (data, labels, gpu, s) = one_epoch(&dir, common::parts(4, 2, 32, 2, 3));
    let mut quiet = weakseg::train::progress::Silent;
    let train = dir.join("train");
    let m = spml::train(&gpu, &data, &labels, &train, &s, &mut quiet).unwrap();
    assert!(!m.skipped);
    let ck = train.join(spml::CHECKPOINT);
    let p = spml::predict(
        &gpu,
        &data,
        &labels,
        &ck,
        &dir.join("predict"),
        &s,
        |_, _| {},
    )
    .unwrap();
    common::assert_rescored(
        "spml predict",
        p.results.miou.unwrap(),
        common::rescore_files(&dir.join("predict/pred"), &data, 3),
    );
    assert!(p.results.prototypes.unwrap() > 0);
    assert_eq!(
        std::fs::read_dir(dir.join("predict/pred")).unwrap().count(),
        2
    );
    assert!(
        spml::train(&gpu, &data, &labels, &train, &s, &mut quiet)
            .unwrap()
            .skipped
    );
    // Bad settings and a missing label directory are named.
    let bad = SpmlSettings {
        top_k: 0,
        ..s.clone()
    };
    let e = spml::train(&gpu, &data, &labels, &dir.join("x"), &bad, &mut quiet).unwrap_err();
    assert!(e.to_string().contains("top_k"), "{e}");
    let mut bad = s.clone();
    bad.relations.feature_affinity.weight = -0.5;
    let e = spml::train(&gpu, &data, &labels, &dir.join("x"), &bad, &mut quiet).unwrap_err();
    assert!(e.to_string().contains("relation weights"), "{e}");
    // An evaluation list that does not exist fails before training, not
    // after it (spml-predict reads it).
    let bad = SpmlSettings {
        eval_list: "nope".into(),
        ..s.clone()
    };
    let e = spml::train(&gpu, &data, &labels, &dir.join("z"), &bad, &mut quiet).unwrap_err();
    assert!(e.to_string().contains("nope"), "{e}");
    assert!(!dir.join("z").exists());
    assert!(
        spml::train(
            &gpu,
            &data,
            &dir.join("nowhere"),
            &dir.join("y"),
            &s,
            &mut quiet
        )
        .is_err()
    );

    // The CLI fails with `flags`, naming `what` on stderr.
    let cli_error = |flags: &[&str], what: &str| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_weakseg"))
            .env("XDG_RUNTIME_DIR", "/tmp")
            .arg("spml")
            .args(flags)
            .arg("--data")
            .arg(&data)
            .arg("--labels")
            .arg(&labels)
            .arg("--out")
            .arg(dir.join("cli"))
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(what), "{err}");
    };
    cli_error(&["--relations", "pixels"], "pixels");
    cli_error(
        &["--relations", "points", "--feature-affinity=-1"],
        "relation weights",
    );
    assert!(!dir.join("cli/train/embedding.safetensors").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn embedding_walk_spreads_scores_within_similar_pixels() {
    let gpu = Gpu::new_blocking().unwrap();
    // Six pixels: 0–2 embed one way, 3–5 the orthogonal way. A score on
    // pixel 0 reaches 1 and 2 equally and never 3–5 (their affinity
    // exp(5 (0 − 1))^20 underflows); a score on pixel 4 stays among 3–5.
    let rows: Vec<f32> = (0..6)
        .flat_map(|p| if p < 3 { [1.0f32, 0.0] } else { [0.0, 1.0] })
        .collect();
    let view = Tensor::from_slice(&gpu, &rows, &[6, 2]).unwrap();
    let mut v = vec![0f32; 12];
    v[0] = 1.0;
    v[6 + 4] = 1.0;
    let walk = weakseg::spml::EmbeddingWalk::default();
    let t = walk.transition(&[view.clone(), view.clone()]).unwrap();
    let t = t.to_vec_blocking::<f32>().unwrap();
    for j in 0..6 {
        let col: f32 = (0..6).map(|i| t[i * 6 + j]).sum();
        assert!((col - 1.0).abs() < 1e-5, "column {j} sums to {col}");
    }
    let out = walk
        .propagate(&[view], &Tensor::from_slice(&gpu, &v, &[2, 6]).unwrap())
        .unwrap()
        .to_vec_blocking::<f32>()
        .unwrap();
    // Tolerance 1e-5: sums of thirds.
    for p in 0..6 {
        let (a, b) = (out[p], out[6 + p]);
        let (wa, wb) = if p < 3 {
            (1.0 / 3.0, 0.0)
        } else {
            (0.0, 1.0 / 3.0)
        };
        assert!((a - wa).abs() < 1e-5 && (b - wb).abs() < 1e-5, "{out:?}");
    }
    assert!(walk.transition(&[]).is_err());
}

/// SPML's three relations against the released pixel-to-segment loss
/// (`twke18/SPML:spml/utils/segsort/loss.py:46–82` and `:98–130` for the
/// set version), written here from its definition: with s_pk =
/// exp(κ·e_pᵀμ_k), the numerator is Σ of s over the segments related to the
/// pixel minus its own segment's, or its own segment's when that leaves
/// nothing; the denominator adds Σ s over the unrelated segments; the loss
/// is the mean of −log(numerator/denominator). Image similarity relates
/// the segments of the pixel's image in the same superpixel region (on the
/// rows with location; other images' segments are no candidates);
/// semantic annotation relates, for labelled pixels, the labelled
/// segments of the same label; co-occurrence relates every segment whose
/// image shares a tag with the pixel's image. Two 2×2 images, one
/// relation at a time, κ 2.
#[test]
fn relations_follow_the_released_segsort_loss() {
    use weakseg::spml::{Relation, Relations};
    let gpu = Gpu::new_blocking().unwrap();
    let raw: [[f64; 3]; 8] = [
        [1.0, 0.2, 0.0],
        [0.9, 0.1, 0.3],
        [0.1, 1.0, 0.2],
        [0.3, 0.3, 1.0],
        [0.2, 0.9, 0.1],
        [0.0, 1.0, 0.4],
        [1.0, 0.0, 0.5],
        [0.5, 0.5, 0.5],
    ];
    let unit = |v: &[f64]| {
        let n = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        v.iter().map(|x| x / n).collect::<Vec<f64>>()
    };
    let rows: Vec<Vec<f64>> = raw.iter().map(|r| unit(r)).collect();
    // Segments: image 0 {p0, p1} (label 1, region 0), {p2} (2, region 1),
    // {p3} (unlabelled, region 1); image 1 {p4, p5} (2, region 0), {p6}
    // (1, region 0), {p7} (unlabelled, region 1).
    let labels = [1u32, 1, 2, U, 2, 2, 1, U];
    let seg = Segments::build(
        4,
        &[0, 0, 0, 1, 0, 0, 1, 1],
        &labels,
        Some(&[0, 0, 1, 1, 0, 0, 0, 1]),
    )
    .unwrap();
    assert_eq!(seg.of_pixel, [0, 0, 1, 2, 3, 3, 4, 5]);
    let tags = [0b01u64, 0b10];
    // Location rows: (y, x) of a 2×2 grid, each in {−0.5, 0.5}, appended
    // and renormalised.
    let loc: Vec<Vec<f64>> = rows
        .iter()
        .enumerate()
        .map(|(p, r)| {
            let q = p % 4;
            let mut v = r.clone();
            v.extend([(q / 2) as f64 - 0.5, (q % 2) as f64 - 0.5]);
            unit(&v)
        })
        .collect();
    let protos = |rs: &Vec<Vec<f64>>| -> Vec<Vec<f64>> {
        (0..seg.len())
            .map(|s| {
                let mut m = vec![0.0; rs[0].len()];
                for p in (0..8).filter(|&p| seg.of_pixel[p] as usize == s) {
                    m.iter_mut().zip(&rs[p]).for_each(|(a, b)| *a += b);
                }
                unit(&m)
            })
            .collect()
    };
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
    // The released log-likelihood of pixel p over the candidate segments,
    // `related(k)` telling which are related.
    let nll = |e: &[f64],
               mu: &[Vec<f64>],
               own: usize,
               cands: &[usize],
               related: &dyn Fn(usize) -> bool| {
        let s = |k: usize| (2.0 * dot(e, &mu[k])).exp();
        let same: f64 = cands
            .iter()
            .filter(|&&k| related(k))
            .map(|&k| s(k))
            .sum::<f64>()
            - s(own);
        let num = if same > 0.0 { same } else { s(own) };
        let diff: f64 = cands.iter().filter(|&&k| !related(k)).map(|&k| s(k)).sum();
        -(num / (num + diff)).ln()
    };
    let image = |k: usize| seg.image[k] as usize;
    let (mu, mu_loc) = (protos(&rows), protos(&loc));
    let all: Vec<usize> = (0..seg.len()).collect();
    let img_sim: f64 = (0..8)
        .map(|p| {
            let own = seg.of_pixel[p] as usize;
            let cands: Vec<usize> = all.iter().copied().filter(|&k| image(k) == p / 4).collect();
            nll(&loc[p], &mu_loc, own, &cands, &|k| {
                seg.region[k] == seg.region[own]
            })
        })
        .sum::<f64>()
        / 8.0;
    let labelled_segs: Vec<usize> = all.iter().copied().filter(|&k| seg.label[k] != U).collect();
    let labelled: Vec<usize> = (0..8).filter(|&p| labels[p] != U).collect();
    let sem_ann: f64 = labelled
        .iter()
        .map(|&p| {
            let own = seg.of_pixel[p] as usize;
            nll(&rows[p], &mu, own, &labelled_segs, &|k| {
                seg.label[k] == labels[p]
            })
        })
        .sum::<f64>()
        / labelled.len() as f64;
    let sem_occ: f64 = (0..8)
        .map(|p| {
            let own = seg.of_pixel[p] as usize;
            nll(&rows[p], &mu, own, &all, &|k| {
                tags[image(k)] & tags[p / 4] != 0
            })
        })
        .sum::<f64>()
        / 8.0;
    let flat: Vec<f32> = rows.iter().flatten().map(|&v| v as f32).collect();
    let t = Tensor::from_slice(&gpu, &flat, &[8, 3]).unwrap();
    let t_loc = weakseg::spml::segments::with_location(&t, 2, (2, 2)).unwrap();
    let off = Relation {
        kappa: 2.0,
        weight: 0.0,
    };
    let on = Relation {
        kappa: 2.0,
        weight: 1.0,
    };
    for (what, relations, want) in [
        (
            "image similarity",
            Relations {
                image_similarity: on,
                semantic_annotation: off,
                semantic_cooccurrence: off,
                feature_affinity: off,
            },
            img_sim,
        ),
        (
            "semantic annotation",
            Relations {
                image_similarity: off,
                semantic_annotation: on,
                semantic_cooccurrence: off,
                feature_affinity: off,
            },
            sem_ann,
        ),
        (
            "co-occurrence",
            Relations {
                image_similarity: off,
                semantic_annotation: off,
                semantic_cooccurrence: on,
                feature_affinity: off,
            },
            sem_occ,
        ),
    ] {
        let mut loss = SpmlLoss {
            relations,
            memory: MemoryBank::new(2),
        };
        let got = loss
            .loss(&SpmlBatch {
                rows: &t,
                rows_loc: &t_loc,
                segments: &seg,
                labels: &labels,
                tags: &tags,
            })
            .unwrap()
            .item()
            .unwrap() as f64;
        // f32 dot products, exponentials and logs of values of order 1.
        assert!(
            (got - want).abs() < 1e-5 * want.max(1.0),
            "{what}: {got} vs {want}"
        );
    }
}

#[test]
fn images_of_varied_sizes_train_in_crops() {
    // The scenes vary in size: without a crop their batches cannot form;
    // with one (SPML's DeepLab-style crop) the embedding trains and
    // predicts on whole images.
    let dir = std::env::temp_dir().join(format!("weakseg-spml-crop-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (data, labels, gpu, s) = one_epoch(&dir, common::scenes(4, 2, 32, 2, 3));
    let mut quiet = weakseg::train::progress::Silent;
    let e = spml::train(&gpu, &data, &labels, &dir.join("whole"), &s, &mut quiet).unwrap_err();
    assert!(e.to_string().contains("collate"), "{e}");
    let cropped = SpmlSettings {
        crop: Some(weakseg::data::augment::Crop {
            side: 40,
            scale: [0.5, 1.5],
            jitter: false,
        }),
        ..s
    };
    let train = dir.join("train");
    spml::train(&gpu, &data, &labels, &train, &cropped, &mut quiet).unwrap();
    let m = spml::predict(
        &gpu,
        &data,
        &labels,
        &train.join(spml::CHECKPOINT),
        &dir.join("predict"),
        &cropped,
        |_, _| {},
    )
    .unwrap();
    assert!(m.results.miou.is_some_and(|v| v.is_finite()));
    let _ = std::fs::remove_dir_all(&dir);
}
