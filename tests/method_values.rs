//! Each CAM-expansion method's targets and loss on a tiny case, against
//! numbers worked out from its released code (file and line cited at each
//! test) or, where none was released, from its paper (said so). Expected
//! values are written out as the arithmetic the released code does, in f64
//! on the host; where a loss runs a network, the test replays the method's
//! random draws from the same seed and applies the released formula to the
//! network's outputs on inputs built here.

mod common;
use common::{gpu, host};

use rand::SeedableRng;
use rand::rngs::SmallRng;
use weakseg::data::Batch;
use weakseg::methods::branch::TwoBranch;
use weakseg::methods::{self, ae, attention, fmix, gain, has, mixing, mixup, rib, seam};
use weakseg::models::{ArchSpec, CamNet};
use weakseg::nn::Builder;
use weakseg::{Gpu, Tensor};

/// f32 arithmetic against f64 hand values: a handful of roundings of
/// values of order 1.
#[track_caller]
fn near(what: &str, got: f32, want: f64) {
    assert!(
        (got as f64 - want).abs() <= 2e-6 * want.abs().max(1.0),
        "{what}: {got} vs {want}"
    );
}

#[track_caller]
fn all_near(what: &str, got: &[f32], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        near(&format!("{what}[{i}]"), g, w);
    }
}

/// BCE with logits, the multilabel soft margin's term.
fn bce(z: f64, y: f64) -> f64 {
    z.max(0.0) - z * y + (1.0 + (-z.abs()).exp()).ln()
}

/// Hide-and-Seek (`kkanshul/Hide-and-Seek:hide_patch.py:15–30`): one grid
/// side per image from {0, 16, 32, 44, 56}; cells start at multiples of it
/// from the top-left corner, the last ones clipped at the border; a cell is
/// hidden (0) with probability 0.5. Ours scales the side from 224 px to the
/// image: 56 of 224 is 25 px on a 100-px-wide image, so a 70×100 image has
/// 3 rows (the last 20 px tall) and 4 columns of cells.
#[test]
fn hide_and_seek_hides_the_released_grid() {
    let s = methods::HasSettings {
        grid_sizes: vec![56],
        ..Default::default()
    };
    let (h, w) = (70, 100);
    let mut rng = SmallRng::seed_from_u64(11);
    let masks = has::hide_patches(&s, 40, h, w, &mut rng);
    let mut hidden_cells = 0;
    let mut by_column = [0usize; 4];
    for m in masks.chunks(h * w) {
        for (cy, rows) in [(0, 0..25), (1, 25..50), (2, 50..70)] {
            for cx in 0..4 {
                let v = m[rows.start * w + cx * 25];
                for y in rows.clone() {
                    assert!(
                        m[y * w + cx * 25..y * w + cx * 25 + 25]
                            .iter()
                            .all(|&u| u == v),
                        "cell ({cy}, {cx}) is not uniform"
                    );
                }
                hidden_cells += (v == 0.0) as usize;
                by_column[cx] += (v == 0.0) as usize;
            }
        }
    }
    // 480 cells at p = 0.5: within 5 standard errors (√(480/4) ≈ 11).
    assert!((hidden_cells as f64 - 240.0).abs() < 55.0, "{hidden_cells}");
    // Each column independently: 120 cells, within 5 standard errors
    // (√(120/4) ≈ 5.5), so no column is never or always hidden.
    for (cx, &c) in by_column.iter().enumerate() {
        assert!(
            (c as f64 - 60.0).abs() < 28.0,
            "column {cx}: {c} of 120 hidden"
        );
    }
    // Grid 0 hides nothing.
    let none = methods::HasSettings {
        grid_sizes: vec![0],
        ..Default::default()
    };
    assert!(
        has::hide_patches(&none, 2, h, w, &mut rng)
            .iter()
            .all(|&v| v == 1.0)
    );
}

/// ACoL (`xiaomengyc/ACoL:models/vgg/vgg_v1.py`): branch A's map of the
/// class is min-max normalised, (x − min)/(max − min) (lines 139–146, no
/// ReLU), and branch B's features are zeroed where it is ≥ 0.6 (lines
/// 123–137). SeeNet's C-ReLU (`houqb/SeeNet:crelu_layer.py:28–41`): the
/// ReLU'd map of each present class min-max normalised with 1e-8 in the
/// denominator, absent classes 0, the maximum over classes; features are
/// zeroed above δh and negated below δl. By hand, one image, classes 0
/// (present) and 1 (absent), 2×2 maps: class 0 = [−2, 0, 1, 2] gives
/// ACoL's (x + 2)/4 = [0, 0.5, 0.75, 1] (erase pixels 2 and 3); SeeNet's
/// ReLU gives [0, 0, 1, 2] → [0, 0, 0.5, 1] (0.8: erase pixel 3; 0.05:
/// negate pixels 0 and 1).
#[test]
fn acol_and_seenet_erase_as_released() {
    let g = gpu();
    let cams = Tensor::from_slice(
        &g,
        &[-2.0f32, 0.0, 1.0, 2.0, 9.0, 9.0, 9.0, -9.0],
        &[1, 2, 2, 2],
    )
    .unwrap();
    let labels = Tensor::from_slice(&g, &[1.0f32, 0.0], &[1, 2]).unwrap();
    let acol = host(&attention::min_max_attention(&cams, &labels, false).unwrap());
    all_near("ACoL attention", &acol, &[0.0, 0.5, 0.75, 1.0]);
    let seenet = host(&attention::min_max_attention(&cams, &labels, true).unwrap());
    all_near(
        "SeeNet attention",
        &seenet,
        &[0.0, 0.0, 0.5, 2.0 / (2.0 + 1e-8)],
    );
    let feats: Vec<f32> = (0..2 * 4).map(|i| 1.0 + i as f32).collect();
    let f = Tensor::from_slice(&g, &feats, &[1, 2, 2, 2]).unwrap();
    let acol_net = common::tiny_method_net(&g, "acol", 1);
    let erased = host(
        &acol_net
            .extension::<TwoBranch<methods::AcolSettings>>()
            .unwrap()
            .erase(&f, &cams, &labels)
            .unwrap(),
    );
    assert_eq!(erased, [1.0, 2.0, 0.0, 0.0, 5.0, 6.0, 0.0, 0.0]);
    let seenet_net = common::tiny_method_net(&g, "seenet", 1);
    let crelu = host(
        &seenet_net
            .extension::<TwoBranch<methods::SeeNetSettings>>()
            .unwrap()
            .erase(&f, &cams, &labels)
            .unwrap(),
    );
    assert_eq!(crelu, [-1.0, -2.0, 3.0, 0.0, -5.0, -6.0, 7.0, 0.0]);
    // A 2×3 map (h·w = 6, h + w = 5): (x + 1)/6 over all six pixels.
    let wide = Tensor::from_slice(&g, &[-1.0f32, 0.0, 1.0, 2.0, 3.0, 5.0], &[1, 1, 2, 3]).unwrap();
    all_near(
        "min-max 2×3",
        &host(&attention::min_max(&wide, false, 1e-8).unwrap()),
        &[0.0, 1.0 / 6.0, 2.0 / 6.0, 3.0 / 6.0, 4.0 / 6.0, 1.0],
    );
}

/// SEAM's loss terms (`YudeWang/SEAM:train_SEAM.py:16–30, 113–142`;
/// `tool/visualization.py` max_norm) on one image, classes 0 (present) and
/// 1 (absent), 2×2 maps, the rescaled branch at the same size (so the
/// transform A is the identity). Written out as the released code computes
/// them.
#[test]
fn seam_terms_follow_train_seam() {
    let g = gpu();
    let cam1 = [2.0f64, 1.0, 0.0, -1.0, 1.0, 1.0, 1.0, 1.0];
    let cam2 = [1.0f64, 1.0, 0.5, 0.0, 0.0, 2.0, 0.0, 0.0];
    let rv1 = [
        0.1f64, 0.2, 0.6, 0.9, 0.8, 0.5, 0.3, 0.2, 0.3, 0.3, 0.3, 0.3,
    ];
    let rv2 = [
        0.0f64, 0.5, 0.5, 1.0, 1.0, 0.4, 0.6, 0.5, 0.2, 0.0, 0.0, 0.0,
    ];
    let t = |v: &[f64], c| {
        let v: Vec<f32> = v.iter().map(|&x| x as f32).collect();
        Tensor::from_slice(&g, &v, &[1, c, 2, 2]).unwrap()
    };
    let y = Tensor::from_slice(&g, &[1.0f32, 0.0], &[1, 2]).unwrap();
    let got = seam::terms(
        (&t(&cam1, 2), &t(&rv1, 3)),
        (&t(&cam2, 2), &t(&rv2, 3)),
        &y,
        &seam::SeamSettings::default(),
    )
    .unwrap();
    // Lines 114, 120, 125–126: GAP of each branch, multilabel soft margin
    // (the mean of the classes' BCE); line 141 averages the branches.
    let gap1 = [(2.0 + 1.0 + 0.0 - 1.0) / 4.0, 1.0];
    let gap2 = [2.5 / 4.0, 2.0 / 4.0];
    let cls = ((bce(gap1[0], 1.0) + bce(gap1[1], 0.0)) / 2.0
        + (bce(gap2[0], 1.0) + bce(gap2[1], 0.0)) / 2.0)
        / 2.0;
    near("cls", got.cls.item().unwrap(), cls);
    // Lines 16–24: the maximum over the masked foreground of the raw PCM
    // output, the hw/4 = 1 smallest, ReLU'd: min(0.8, 0.5, 0.3, 0.2) and
    // min(1.0, 0.4, 0.6, 0.5); averaged over the branches.
    near("min-pool", got.min_pool.item().unwrap(), (0.2 + 0.4) / 2.0);
    // max_norm: ReLU, then (p − min − 1e-5)₊ / (max − min + 1e-5).
    let max_norm = |p: &[f64]| -> Vec<f64> {
        let r: Vec<f64> = p.iter().map(|v| v.max(0.0)).collect();
        let (lo, hi) = r
            .iter()
            .fold((f64::MAX, f64::MIN), |(a, b), &v| (a.min(v), b.max(v)));
        r.iter()
            .map(|v| (v - lo - 1e-5).max(0.0) / (hi - lo + 1e-5))
            .collect()
    };
    // Lines 116, 122, 129: the masked max-normed CAMs (class 1 zeroed),
    // the mean |difference| over both foreground channels.
    let c1 = [max_norm(&cam1[..4]), vec![0.0; 4]].concat();
    let c2 = [max_norm(&cam2[..4]), vec![0.0; 4]].concat();
    let er = c1.iter().zip(&c2).map(|(a, b)| (a - b).abs()).sum::<f64>() / 8.0;
    near("ER", got.er.item().unwrap(), er);
    // Lines 117, 123: the PCM outputs max-normed per channel, masked by
    // [1, 1, 0]; lines 131–132: each CAM's background 1 − max foreground;
    // max_onehot (lines 26–30) keeps class 0 (the foreground maximum here);
    // lines 135–138: |target − PCM| over 3 channels × 4 pixels, the mean of
    // the int(21·h·w·0.2) → int(12·0.2) = 2 largest.
    let pcm = |rv: &[f64]| [max_norm(&rv[..4]), max_norm(&rv[4..8]), vec![0.0; 4]].concat();
    let target = |c: &[f64]| {
        let fg = &c[..4];
        [
            fg.iter().map(|v| 1.0 - v).collect(),
            fg.to_vec(),
            vec![0.0; 4],
        ]
        .concat()
    };
    let hard = |a: Vec<f64>, b: Vec<f64>| {
        let mut d: Vec<f64> = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).collect();
        d.sort_by(|x, y| y.total_cmp(x));
        (d[0] + d[1]) / 2.0
    };
    let ecr = hard(target(&c2), pcm(&rv1)) + hard(target(&c1), pcm(&rv2));
    near("ECR", got.ecr.item().unwrap(), ecr);
    near(
        "total",
        got.total().unwrap().item().unwrap(),
        cls + 0.3 + er + ecr,
    );
    // Every term is a mean per image: the same maps laid out as 1×4 rows
    // and repeated over a batch of two give the same values.
    let twice = |v: &[f64], c| {
        let v: Vec<f32> = v.iter().chain(v).map(|&x| x as f32).collect();
        Tensor::from_slice(&g, &v, &[2, c, 1, 4]).unwrap()
    };
    let y2 = Tensor::from_slice(&g, &[1.0f32, 0.0, 1.0, 0.0], &[2, 2]).unwrap();
    let batched = seam::terms(
        (&twice(&cam1, 2), &twice(&rv1, 3)),
        (&twice(&cam2, 2), &twice(&rv2, 3)),
        &y2,
        &seam::SeamSettings::default(),
    )
    .unwrap();
    near("batched min-pool", batched.min_pool.item().unwrap(), 0.3);
    near("batched ECR", batched.ecr.item().unwrap(), ecr);
    near(
        "batched total",
        batched.total().unwrap().item().unwrap(),
        cls + 0.3 + er + ecr,
    );
}

/// A 1×1 convolution [out, in] of `x` [in, n] on the host.
fn conv1x1(w: &[f32], x: &[f64], out: usize, n: usize) -> Vec<f64> {
    let inp = x.len() / n;
    (0..out * n)
        .map(|i| {
            let (o, p) = (i / n, i % n);
            (0..inp).map(|c| w[o * inp + c] as f64 * x[c * n + p]).sum()
        })
        .collect()
}

/// SEAM's PCM head (`network/resnet38_SEAM.py`, `forward` and `PCM`): the
/// image resized to the CAM, the last two taps through their 1×1
/// reductions (64 and 128 channels, ReLU), each resized to the CAM
/// (bilinear, corners aligned), concatenated with the image and mapped by
/// f9 (1×1 to 192, no bias), L2-normalised per pixel, then propagated.
/// Built here on the host from the PCM's own weights; of four taps the
/// PCM reads the two before the feature map (ResNet-38's conv4 and conv5,
/// `resnet38_SEAM.py:42–43`), the first of them at 5×7 (corner-aligned
/// resizing to 3×4 picks every other pixel).
#[test]
fn seam_pcm_reads_the_two_taps_before_the_features_as_released() {
    use weakseg::nn::ModuleExt;
    let g = gpu();
    let (b, h, w, n) = (2usize, 3usize, 4usize, 12usize);
    let pcm = seam::Pcm::new(&mut Builder::new(&g, 5), &[4, 5, 6, 7]).unwrap();
    let weights: std::collections::HashMap<String, Vec<f32>> = pcm
        .named_params()
        .into_iter()
        .map(|(k, p)| (k, host(&p.get())))
        .collect();
    let mut names: Vec<&String> = weights.keys().collect();
    names.sort();
    assert_eq!(names, ["f9.weight", "reduce0.weight", "reduce1.weight"]);
    let wave = |len: usize, k: usize| -> Vec<f32> {
        (0..len)
            .map(|i| (((i * k) % 23) as f32 - 11.0) / 7.0)
            .collect()
    };
    let x = wave(b * 3 * n, 5);
    let (t1, t2) = (wave(b * 5 * 35, 7), wave(b * 6 * n, 11));
    let cams = wave(b * 2 * n, 13);
    let taps = [
        Tensor::from_slice(&g, &wave(b * 4 * 4, 3), &[b, 4, 2, 2]).unwrap(),
        Tensor::from_slice(&g, &t1, &[b, 5, 5, 7]).unwrap(),
        Tensor::from_slice(&g, &t2, &[b, 6, h, w]).unwrap(),
        Tensor::from_slice(&g, &wave(b * 7 * n, 17), &[b, 7, h, w]).unwrap(),
    ];
    let cams_t = Tensor::from_slice(&g, &cams, &[b, 2, h, w]).unwrap();
    let got = host(
        &pcm.forward(
            &Tensor::from_slice(&g, &x, &[b, 3, h, w]).unwrap(),
            &taps,
            &cams_t,
        )
        .unwrap(),
    );
    let relu = |v: Vec<f64>| -> Vec<f64> { v.into_iter().map(|a| a.max(0.0)).collect() };
    let mut features = Vec::new();
    for i in 0..b {
        let image: Vec<f64> = x[i * 3 * n..(i + 1) * 3 * n]
            .iter()
            .map(|&v| v as f64)
            .collect();
        let sub: Vec<f64> = (0..5 * n)
            .map(|j| {
                let (c, y, xx) = (j / n, (j % n) / w, j % w);
                t1[i * 5 * 35 + c * 35 + 2 * y * 7 + 2 * xx] as f64
            })
            .collect();
        let last: Vec<f64> = t2[i * 6 * n..(i + 1) * 6 * n]
            .iter()
            .map(|&v| v as f64)
            .collect();
        let cat = [
            image,
            relu(conv1x1(&weights["reduce0.weight"], &sub, 64, n)),
            relu(conv1x1(&weights["reduce1.weight"], &last, 128, n)),
        ]
        .concat();
        let f = conv1x1(&weights["f9.weight"], &cat, 192, n);
        for c in 0..192 {
            for p in 0..n {
                let norm = (0..192).map(|d| f[d * n + p].powi(2)).sum::<f64>().sqrt();
                features.push((f[c * n + p] / norm.max(1e-5)) as f32);
            }
        }
    }
    let f = Tensor::from_slice(&g, &features, &[b, 192, n]).unwrap();
    let seeds = seam::pcm_input(&cams_t)
        .unwrap()
        .reshape(&[b, 3, n])
        .unwrap();
    let want = host(&seam::propagate(&f, &seeds).unwrap());
    // f32 GEMMs of up to 195 terms against f64 features, then a product
    // of unit vectors: a few 1e-6 each; the maps are weighted means in
    // [0, 1].
    assert_eq!(got.len(), want.len());
    for (i, (a, e)) in got.iter().zip(&want).enumerate() {
        assert!((a - e).abs() < 2e-5, "PCM map [{i}]: {a} vs {e}");
    }
    let err = pcm.forward(
        &Tensor::zeros(&g, &[b, 3, h, w]).unwrap(),
        &taps[2..],
        &cams_t,
    );
    assert!(err.unwrap_err().to_string().contains("2 taps"));
    // ResNet-38's taps (conv4 512, conv5 1024, conv6 4096): SEAM's f8_3
    // reduces 512 → 64 and f8_4 1024 → 128.
    let r38 = seam::Pcm::new(&mut Builder::new(&g, 5), &[512, 1024, 4096]).unwrap();
    let shapes: Vec<(String, Vec<usize>)> = r38
        .named_params()
        .into_iter()
        .map(|(k, p)| (k, p.get().shape().to_vec()))
        .collect();
    assert!(
        shapes.contains(&("reduce0.weight".into(), vec![64, 512, 1, 1])),
        "{shapes:?}"
    );
    assert!(
        shapes.contains(&("reduce1.weight".into(), vec![128, 1024, 1, 1])),
        "{shapes:?}"
    );
}

/// SEAM's batch loss (`train_SEAM.py:107–112`): the copy is the image
/// rescaled by 0.3 (bilinear, corners aligned: 16 px → 5 px), both go
/// through the network and the PCM, and the four terms are summed.
#[test]
fn seam_loss_rescales_the_copy_by_the_scale() {
    let g = gpu();
    let (net, batch) = classifier_and_batch(&g);
    let pcm = seam::Pcm::new(&mut Builder::new(&g, 4), &net.backbone.tap_channels()).unwrap();
    let s = seam::SeamSettings::default();
    let got = seam::loss(&net, &pcm, &batch, &s).unwrap().item().unwrap();
    let side = (16.0 * s.scale).round() as usize;
    let x2 = batch
        .images
        .interpolate((side, side), weakseg::ResizeMode::Bilinear(true))
        .unwrap();
    let (c1, r1) = seam::forward(&net, &pcm, &batch.images).unwrap();
    let (c2, r2) = seam::forward(&net, &pcm, &x2).unwrap();
    let want = seam::terms((&c1, &r1), (&c2, &r2), &batch.labels, &s)
        .unwrap()
        .total()
        .unwrap()
        .item()
        .unwrap();
    assert_eq!(got, want);
}

/// SEAM's PCM (`network/resnet38_SEAM.py`, `PCM`): S = ReLU(fᵀf) of unit
/// features, each column over its sum + 1e-5, and the seeds times S. By
/// hand with f₁ = (1, 0), f₂ = (0.6, 0.8), f₃ = (0, 1): fᵀf has rows
/// (1, 0.6, 0), (0.6, 1, 0.8), (0, 0.8, 1), column sums 1.6, 2.4, 1.8.
/// Its seeds (`pcm_input`): the ReLU'd CAM over its maximum + 1e-5, a
/// background of 1 − the foreground maximum, max_onehot.
#[test]
fn seam_pcm_propagates_along_cosine_affinities() {
    let g = gpu();
    let f = Tensor::from_slice(&g, &[1.0f32, 0.6, 0.0, 0.0, 0.8, 1.0], &[1, 2, 3]).unwrap();
    let seeds = Tensor::from_slice(&g, &[1.0f32, 0.0, 0.0, 0.0, 0.0, 1.0], &[1, 2, 3]).unwrap();
    let got = host(&seam::propagate(&f, &seeds).unwrap());
    let col = [1.6 + 1e-5, 2.4 + 1e-5, 1.8 + 1e-5];
    all_near(
        "propagated",
        &got,
        &[
            1.0 / col[0],
            0.6 / col[1],
            0.0,
            0.0,
            0.8 / col[1],
            1.0 / col[2],
        ],
    );
    // Two classes over 3 pixels: class 0 = [2, −1, 1], class 1 = [1, 4, 0].
    let cams = Tensor::from_slice(&g, &[2.0f32, -1.0, 1.0, 1.0, 4.0, 0.0], &[1, 2, 1, 3]).unwrap();
    let s = host(&seam::pcm_input(&cams).unwrap());
    let (a, b) = (
        [2.0 / 2.00001, 0.0, 1.0 / 2.00001],
        [1.0 / 4.00001, 4.0 / 4.00001, 0.0],
    );
    let fg_max: Vec<f64> = (0..3).map(|i| f64::max(a[i], b[i])).collect();
    let keep = |x: f64, m: f64| if x >= m { x } else { 0.0 };
    let want: Vec<f64> = (0..3)
        .map(|i| 1.0 - fg_max[i])
        .chain((0..3).map(|i| keep(a[i], fg_max[i])))
        .chain((0..3).map(|i| keep(b[i], fg_max[i])))
        .collect();
    all_near("seeds", &s, &want);
}

/// A 3-class resnet-tiny CAM classifier and a fixed batch of 4 images of
/// 16 px with labels.
fn classifier_and_batch(g: &Gpu) -> (CamNet, Batch) {
    use weakseg::nn::ModuleExt;
    let net = CamNet::new(&mut Builder::new(g, 9), &ArchSpec::new("resnet-tiny", 8), 3).unwrap();
    net.set_train(false);
    let x: Vec<f32> = (0..4 * 3 * 16 * 16)
        .map(|i| (((i * 29) % 89) as f32 - 44.0) / 40.0)
        .collect();
    let y = [
        1.0f32, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0,
    ];
    let batch = Batch {
        images: Tensor::from_slice(g, &x, &[4, 3, 16, 16]).unwrap(),
        labels: Tensor::from_slice(g, &y, &[4, 3]).unwrap(),
        masks: None,
        host_masks: None,
        cams: None,
        indices: (0..4).collect(),
    };
    (net, batch)
}

/// λ·BCE(z, y) + (1 − λ)·BCE(z, y[perm]), each a mean over the batch and
/// classes.
fn mixed_bce(logits: &[f32], y: &[f32], perm: &[u32], lambda: f64, k: usize) -> f64 {
    let n = logits.len();
    (0..n)
        .map(|i| {
            let (b, c) = (i / k, i % k);
            let z = logits[i] as f64;
            lambda * bce(z, y[i] as f64)
                + (1.0 - lambda) * bce(z, y[perm[b] as usize * k + c] as f64)
        })
        .sum::<f64>()
        / n as f64
}

/// Mixup's blend λ·a + (1 − λ)·a[perm] by hand, and FMix
/// (`ecs-vlc/FMix:fmix.py:124–162`): one binary mask m per batch,
/// x = m·x + (1 − m)·x[perm], and the loss λ·L(y) + (1 − λ)·L(y[perm]) with
/// the *sampled* λ (`sample_mask` returns it; the mask's share is ⌈λ·HW⌉
/// or ⌊λ·HW⌋ over HW). The test replays the loss's draws (λ, mask,
/// permutation) from the same seed.
#[test]
fn mixup_and_fmix_blend_images_and_targets_as_released() {
    let g = gpu();
    let a = Tensor::from_slice(&g, &[1.0f32, 2.0, 10.0, 20.0, 100.0, 200.0], &[3, 2]).unwrap();
    let perm = Tensor::from_slice(&g, &[2u32, 0, 1], &[3]).unwrap();
    let mixed = host(&mixing::mix(&a, &perm, 0.25).unwrap());
    all_near(
        "mix",
        &mixed,
        &[
            0.25 * 1.0 + 0.75 * 100.0,
            0.25 * 2.0 + 0.75 * 200.0,
            0.25 * 10.0 + 0.75 * 1.0,
            0.25 * 20.0 + 0.75 * 2.0,
            0.25 * 100.0 + 0.75 * 10.0,
            0.25 * 200.0 + 0.75 * 20.0,
        ],
    );

    let (net, batch) = classifier_and_batch(&g);
    let s = methods::FmixSettings::default();
    let got = fmix::fmix_loss(&net, &batch, &s, &mut SmallRng::seed_from_u64(5))
        .unwrap()
        .item()
        .unwrap();
    let mut replay = SmallRng::seed_from_u64(5);
    let lambda = mixing::beta(s.alpha, &mut replay).unwrap();
    let m = fmix::mask(16, 16, lambda as f64, s.decay as f64, &mut replay);
    let perm = host_u32(&mixing::permutation(&g, 4, &mut replay).unwrap());
    let ones = m.iter().filter(|&&v| v == 1.0).count() as f64;
    let exact = lambda as f64 * 256.0;
    assert!(
        ones == exact.floor() || ones == exact.ceil(),
        "{ones} of 256 for λ {lambda}"
    );
    let x = host(&batch.images);
    let px = 3 * 256;
    let blended: Vec<f32> = (0..4 * px)
        .map(|i| {
            let (b, j) = (i / px, i % px);
            let mv = m[j % 256];
            mv * x[i] + (1.0 - mv) * x[perm[b] as usize * px + j]
        })
        .collect();
    let logits = host(
        &net.logits(&Tensor::from_slice(&g, &blended, &[4, 3, 16, 16]).unwrap())
            .unwrap(),
    );
    let want = mixed_bce(&logits, &host(&batch.labels), &perm, lambda as f64, 3);
    near("fmix loss", got, want);
}

fn host_u32(t: &Tensor) -> Vec<u32> {
    t.to_vec_blocking::<u32>().unwrap()
}

/// SC-CAM's sub-category labels (`Juliachang/SC-CAM:create_pseudo_label.py:31–36`):
/// an image of parent class c in cluster j gets sub-class c·K + j; one per
/// present parent. By hand with K = 10 over 3 parents.
#[test]
fn subcategory_targets_are_parent_times_k_plus_cluster() {
    let g = gpu();
    let sc = methods::Subcategories {
        k: 10,
        classes: 3,
        table: vec![vec![3], vec![10 + 7, 20], vec![]],
    };
    let t = host(&sc.targets(&g, &[1, 0, 2]).unwrap());
    let mut want = vec![0.0f32; 3 * 30];
    want[17] = 1.0;
    want[20] = 1.0;
    want[30 + 3] = 1.0;
    assert_eq!(t, want);
}

/// RIB's global non-discriminative region pooling
/// (`jbeomlee93/RIB:misc/torchutils.py:79–94`, `gndp2d`): for a present
/// class, the mean over every pixel of x·[x / max(x) < 0.4] (the pixels
/// at or above 0.4 of the maximum count as 0, still in the denominator);
/// an absent class's mask is −1 < 0.4 everywhere, its plain mean. By hand,
/// class 0 present = [5, 1, 2, −1]: ratios 1, 0.2, 0.4, −0.2 keep 1 and −1,
/// (1 − 1)/4 = 0; class 1 absent = [3, −1, 0, 2]: 4/4 = 1; image 2 with
/// class 0 = [10, 3, 4, 1]: keeps 3 and 1, 4/4 = 1.
#[test]
fn rib_pools_the_non_discriminative_pixels_as_released() {
    let g = gpu();
    let cams = Tensor::from_slice(
        &g,
        &[
            5.0f32, 1.0, 2.0, -1.0, 3.0, -1.0, 0.0, 2.0, 10.0, 3.0, 4.0, 1.0, 1.0, 1.0, 1.0, 1.0,
        ],
        &[2, 2, 2, 2],
    )
    .unwrap();
    let present = Tensor::from_slice(&g, &[1.0f32, 0.0, 1.0, 1.0], &[2, 2]).unwrap();
    let got = host(&rib::gndrp(&cams, &present, 0.4).unwrap());
    // Image 2, class 1 present and flat at 1: every ratio is 1 ≥ 0.4.
    all_near("gndrp", &got, &[0.0, 1.0, 1.0, 0.0]);
}

/// CoSA (`youshyee/CoSA:utils/seg_helper.py`): the assignment (`cam2mask`,
/// lines 721–785, refinement off) labels a pixel with its strongest
/// present class where that CAM beats the high background score 0.7,
/// background where no CAM beats the low one 0.25, and ignores the rest;
/// `seg_loss` (lines 800–813) is ½ the background pixels' mean
/// cross-entropy plus ½ the foreground's; `cam_loss` (lines 593–601) is
/// the multilabel soft margin between each pixel's ReLU'd CAM (as logits)
/// and its swapped target, `seg_refine_by_label` (lines 553–567): the
/// segmentation with absent classes at −1e5, softmax at temperature 0.01.
/// By hand on one image, two classes, 4 pixels.
#[test]
fn cosa_terms_follow_the_released_helpers() {
    use weakseg::methods::cosa::assignment_loss;
    let g = gpu();
    // Peaks: pixel 0 class 1 at 0.9 (fg, label 2), pixel 1 at 0.2 (bg),
    // pixel 2 at 0.5 (ignored), pixel 3 class 0 at 0.8 (fg, label 1).
    let cams = [0.2f32, 0.1, 0.5, 0.8, 0.9, 0.2, 0.3, 0.1];
    let seg = [
        0.5f32, -1.0, 0.0, 1.0, 2.0, 0.3, -0.5, 0.0, -1.0, 0.7, 1.5, 0.2,
    ];
    let c = Tensor::from_slice(&g, &cams, &[1, 2, 2, 2]).unwrap();
    let s = Tensor::from_slice(&g, &seg, &[1, 3, 2, 2]).unwrap();
    let got = assignment_loss(&s, &c, 0.25, 0.7).unwrap().item().unwrap();
    let logp = |p: usize, l: usize| {
        let z: f64 = (0..3).map(|j| (seg[j * 4 + p] as f64).exp()).sum();
        seg[l * 4 + p] as f64 - z.ln()
    };
    let bg = -logp(1, 0);
    let fg = -(logp(0, 2) + logp(3, 1)) / 2.0;
    near("seg_loss", got, 0.5 * bg + 0.5 * fg);

    // The swapped CAM loss with class 1 absent: at temperature 0.01 the
    // target of class 0 is softmax([bg, c0]/0.01)'s c0 share (class 1 shut
    // out); the loss averages BCE(ReLU(cam), target) over 4 pixels × 2
    // classes.
    use weakseg::methods::cosa::swapped_cam_loss;
    let y = Tensor::from_slice(&g, &[1.0f32, 0.0], &[1, 2]).unwrap();
    let raw = [0.3f32, -0.2, 1.2, 0.0, 0.5, 0.9, -1.0, 2.0];
    let rc = Tensor::from_slice(&g, &raw, &[1, 2, 2, 2]).unwrap();
    let got = swapped_cam_loss(&rc, &s, &y, 0.01, 0.0)
        .unwrap()
        .item()
        .unwrap();
    let mut want = 0.0;
    for p in 0..4 {
        let (zb, z0) = (seg[p] as f64 / 0.01, seg[4 + p] as f64 / 0.01);
        let m = zb.max(z0);
        let t0 = (z0 - m).exp() / ((zb - m).exp() + (z0 - m).exp());
        want += bce((raw[p] as f64).max(0.0), t0) + bce((raw[4 + p] as f64).max(0.0), 0.0);
    }
    near("cam_loss", got, want / 8.0);
    // Our option (not in the released code): each pixel's two terms
    // weighted by exp(−β·H), H the entropy of the segmentation's softmax
    // at temperature 1 with class 1 shut out; β = 0.5.
    let got = swapped_cam_loss(&rc, &s, &y, 0.01, 0.5)
        .unwrap()
        .item()
        .unwrap();
    let mut want = 0.0;
    for p in 0..4 {
        let (zb, z0) = (seg[p] as f64, seg[4 + p] as f64);
        let (eb, e0) = (
            (zb / 0.01 - z0.max(zb) / 0.01).exp(),
            (z0 / 0.01 - z0.max(zb) / 0.01).exp(),
        );
        let t0 = e0 / (eb + e0);
        let (pb, p0) = (
            zb.exp() / (zb.exp() + z0.exp()),
            z0.exp() / (zb.exp() + z0.exp()),
        );
        let entropy = -(pb * (pb + 1e-12).ln() + p0 * (p0 + 1e-12).ln());
        let terms = bce((raw[p] as f64).max(0.0), t0) + bce((raw[4 + p] as f64).max(0.0), 0.0);
        want += terms * (-0.5 * entropy).exp();
    }
    near("weighted cam_loss", got, want / 8.0);
}

/// Mixup-CAM (Chang et al., BMVC 2020; no released code, the paper's
/// form with our regulariser weights): images and targets blended by
/// λ ~ Beta(1, 1) with a permutation, BCE against the blended targets,
/// plus 0.1 × the mean binary entropy −[p ln(p + 1e-6) + (1 − p) ln(1 − p +
/// 1e-6)] of the sigmoid predictions, plus 0.01 × the concentration loss
/// (its own value test is in tests/methods.rs). Replayed from the seed.
#[test]
fn mixup_loss_blends_and_regularises_as_the_paper() {
    let g = gpu();
    let (net, batch) = classifier_and_batch(&g);
    let s = methods::MixupSettings::default();
    let got = mixup::mixup_loss(&net, &batch, &s, &mut SmallRng::seed_from_u64(8))
        .unwrap()
        .item()
        .unwrap();
    let mut replay = SmallRng::seed_from_u64(8);
    let lambda = mixing::beta(s.alpha, &mut replay).unwrap();
    let perm = host_u32(&mixing::permutation(&g, 4, &mut replay).unwrap());
    let blend = |v: &[f32], per: usize| -> Vec<f32> {
        (0..v.len())
            .map(|i| lambda * v[i] + (1.0 - lambda) * v[perm[i / per] as usize * per + i % per])
            .collect()
    };
    let x = Tensor::from_slice(&g, &blend(&host(&batch.images), 3 * 256), &[4, 3, 16, 16]).unwrap();
    let y = blend(&host(&batch.labels), 3);
    let f = net.backbone.features(&x).unwrap();
    let logits = host(&net.head.logits(&f).unwrap());
    let n = logits.len() as f64;
    let cls: f64 = logits
        .iter()
        .zip(&y)
        .map(|(&z, &t)| bce(z as f64, t as f64))
        .sum::<f64>()
        / n;
    let entropy: f64 = logits
        .iter()
        .map(|&z| {
            let p = 1.0 / (1.0 + (-(z as f64)).exp());
            -(p * (p + 1e-6).ln() + (1.0 - p) * (1.0 - p + 1e-6).ln())
        })
        .sum::<f64>()
        / n;
    let present = Tensor::from_slice(
        &g,
        &y.iter()
            .map(|&v| (v > 0.0) as u8 as f32)
            .collect::<Vec<_>>(),
        &[4, 3],
    )
    .unwrap();
    let con = mixup::concentration(&f, &net.head.cams(&f).unwrap(), &present, 0.5)
        .unwrap()
        .item()
        .unwrap() as f64;
    near("mixup loss", got, cls + 0.1 * entropy + 0.01 * con);
}

/// GAIN (Li et al., CVPR 2018; no released code, the paper's Eq. 2–4):
/// the attention A is the ReLU'd CAM over its peak (Grad-CAM of a GAP
/// classifier's final map, up to a positive factor per class), the soft
/// mask T = sigmoid(ω(A − σ)) with σ 0.5, ω 10, the maximum over present
/// classes, upsampled bilinearly to the image; the attention-mining loss is
/// the mean sigmoid score of the present classes on x·(1 − T), added with
/// α 1 to the classification loss.
#[test]
fn gain_mines_attention_as_the_paper() {
    let g = gpu();
    let (net, batch) = classifier_and_batch(&g);
    let s = methods::GainSettings::default();
    let got = gain::gain_loss(&net, &batch.images, &batch.labels, &s)
        .unwrap()
        .item()
        .unwrap();
    let y = host(&batch.labels);
    let f = net.backbone.features(&batch.images).unwrap();
    let logits = host(&net.head.logits(&f).unwrap());
    let cls: f64 = logits
        .iter()
        .zip(&y)
        .map(|(&z, &t)| bce(z as f64, t as f64))
        .sum::<f64>()
        / 12.0;
    let cams = host(&net.head.cams(&f).unwrap());
    let hw = cams.len() / 12;
    let mut t = vec![0f32; 4 * hw];
    for b in 0..4 {
        for k in (0..3).filter(|&k| y[b * 3 + k] > 0.0) {
            let map = &cams[(b * 3 + k) * hw..(b * 3 + k + 1) * hw];
            let peak = map.iter().fold(0f32, |m, &v| m.max(v)) + 1e-5;
            for p in 0..hw {
                let a = map[p].max(0.0) / peak;
                let soft = 1.0 / (1.0 + (-(10.0 * (a - 0.5))).exp());
                t[b * hw + p] = t[b * hw + p].max(soft);
            }
        }
    }
    let side = (hw as f64).sqrt() as usize;
    let up = Tensor::from_slice(&g, &t, &[4, 1, side, side])
        .unwrap()
        .interpolate((16, 16), weakseg::ResizeMode::Bilinear(false))
        .unwrap();
    let up = host(&up);
    let x = host(&batch.images);
    let masked: Vec<f32> = (0..x.len())
        .map(|i| x[i] * (1.0 - up[(i / 768) * 256 + i % 256]))
        .collect();
    let scores = host(
        &net.logits(&Tensor::from_slice(&g, &masked, &[4, 3, 16, 16]).unwrap())
            .unwrap(),
    );
    let mined: f64 = scores
        .iter()
        .zip(&y)
        .map(|(&z, &t)| t as f64 / (1.0 + (-(z as f64)).exp()))
        .sum::<f64>()
        / (y.iter().sum::<f32>() as f64 + 1e-5);
    near("gain loss", got, cls + mined);
}

/// MDC (Wei et al., CVPR 2018; no released code, the paper's Eq. 1): the
/// localisation map H₀ + (1/n_d) Σᵢ Hᵢ of the undilated block's CAM and
/// the dilated blocks' (dilations 3, 6, 9), each block read by its own
/// classifier (absent classes zero, ReLU'd as every CAM here).
#[test]
fn mdc_map_is_the_undilated_plus_the_mean_of_the_dilated() {
    use weakseg::cam::{self, CamSource};
    let g = gpu();
    let net = common::tiny_method_net(&g, "mdc", 4);
    let (_, batch) = classifier_and_batch(&g);
    let x = batch.images.narrow(0, 0, 1).unwrap();
    let present = [true, false, true];
    let got = host(&net.cam_maps(&x, &present).unwrap());
    let mdc = &net.extension::<methods::mdc::Mdc>().unwrap().0;
    let f = net.base.backbone.features(&x).unwrap();
    let blocks = mdc.blocks(&f).unwrap();
    assert_eq!(blocks.len(), 4);
    let maps: Vec<Vec<f32>> = blocks
        .iter()
        .enumerate()
        .map(|(i, b)| {
            host(
                &cam::maps(
                    b,
                    &mdc.classifier(&net.base.head, i).classifier.weight.get(),
                    &present,
                )
                .unwrap(),
            )
        })
        .collect();
    let want: Vec<f64> = (0..got.len())
        .map(|j| maps[0][j] as f64 + (maps[1][j] + maps[2][j] + maps[3][j]) as f64 / 3.0)
        .collect();
    all_near("mdc map", &got, &want);
}

/// Adversarial erasing (Wei et al., CVPR 2017; no released code, the
/// paper's mining with our threshold): a round's maps are the ReLU'd CAMs
/// of the present classes over their peaks (+1e-5); the mined region is
/// where their maximum exceeds 0.5, brought to the image by nearest
/// upsampling (each map cell covers an 8×8 block at stride 8), and set to
/// 0, the dataset mean after normalisation.
#[test]
fn adversarial_erasing_mines_above_the_threshold() {
    let g = gpu();
    let (net, batch) = classifier_and_batch(&g);
    let (maps, erased) = ae::mine(&net, &batch.images, &batch.labels, 0.5).unwrap();
    let (_, cams) = net.logits_and_cams(&batch.images).unwrap();
    let cams = host(&cams);
    let y = host(&batch.labels);
    let hw = cams.len() / 12;
    let side = (hw as f64).sqrt() as usize;
    let mut want_maps = vec![0f64; 12 * hw];
    for m in 0..12 {
        if y[m] == 0.0 {
            continue;
        }
        let plane = &cams[m * hw..(m + 1) * hw];
        let peak = plane.iter().fold(0f32, |a, &v| a.max(v)) as f64 + 1e-5;
        for p in 0..hw {
            want_maps[m * hw + p] = plane[p].max(0.0) as f64 / peak;
        }
    }
    all_near("maps", &host(&maps), &want_maps);
    let x = host(&batch.images);
    let scale = 16 / side;
    let want: Vec<f64> = (0..x.len())
        .map(|i| {
            let (b, yy, xx) = (i / 768, (i % 256) / 16, i % 16);
            let cell = (yy / scale) * side + xx / scale;
            let top = (0..3)
                .map(|k| want_maps[(b * 3 + k) * hw + cell])
                .fold(0.0, f64::max);
            if top > 0.5 { 0.0 } else { x[i] as f64 }
        })
        .collect();
    let got = host(&erased);
    assert!(got.contains(&0.0) && got.iter().any(|&v| v != 0.0));
    all_near("erased", &got, &want);
}

/// CS-AE's class draw: one present class per image, uniformly (the largest
/// of labels·(1 + u), u ~ U(0, 1)); an image with one present class always
/// draws it, and over many draws each of two present classes comes up
/// about half the time.
#[test]
fn csae_draws_one_present_class_uniformly() {
    let g = gpu();
    let labels = Tensor::from_slice(&g, &[0.0f32, 1.0, 0.0, 1.0, 0.0, 1.0], &[2, 3]).unwrap();
    let mut rng = SmallRng::seed_from_u64(12);
    let mut first = 0;
    for _ in 0..200 {
        let d = host(&methods::csae::draw_present(&labels, &mut rng).unwrap());
        assert_eq!(&d[..3], [0.0, 1.0, 0.0], "the only present class");
        assert!(
            d[3..] == [1.0, 0.0, 0.0] || d[3..] == [0.0, 0.0, 1.0],
            "{d:?}"
        );
        first += (d[3] == 1.0) as usize;
    }
    // 200 fair draws: within 5 standard errors (√50 ≈ 7) of 100.
    assert!((first as i64 - 100).abs() < 36, "{first}");
}

/// Sub-category exploration (`Juliachang/SC-CAM:train_cls.py:264–267`):
/// L = L_cls20 + 5·L_cls200, both multilabel soft margins, the second
/// against the sub-class targets, on the same GAP features. Sub-category
/// teaching (ours; the seed project gives no code): after the teacher's
/// rounds a fresh student learns its parent labels plus 5 × the BCE of its
/// sub-category logits against the teacher's sigmoid predictions.
#[test]
fn subcategory_losses_weigh_the_subclasses_by_lambda() {
    use weakseg::methods::Trainer;
    use weakseg::nn::ModuleExt;
    let g = gpu();
    let (_, batch) = classifier_and_batch(&g);
    let y = host(&batch.labels);
    let mean_bce = |z: &[f32], t: &[f64]| -> f64 {
        z.iter()
            .zip(t)
            .map(|(&z, &t)| bce(z as f64, t))
            .sum::<f64>()
            / z.len() as f64
    };
    let y64: Vec<f64> = y.iter().map(|&v| v as f64).collect();

    let net = common::tiny_method_net(&g, "subcat", 2);
    net.set_train(false);
    let sc = methods::Subcategories {
        k: 10,
        classes: 3,
        table: vec![vec![3, 27], vec![0], vec![14, 29], vec![22]],
    };
    let mut trainer = Trainer::new(1);
    trainer.set_subcategories(sc.clone());
    trainer.set_round(1);
    let got = pollster::block_on(trainer.loss(&net, &batch))
        .unwrap()
        .item()
        .unwrap();
    let f = net.base.backbone.features(&batch.images).unwrap();
    let parent = host(&net.base.head.logits(&f).unwrap());
    let sub = host(
        &net.extension::<methods::subcat::Subcat>()
            .unwrap()
            .sub()
            .logits(&f)
            .unwrap(),
    );
    let targets: Vec<f64> = host(&sc.targets(&g, &[0, 1, 2, 3]).unwrap())
        .iter()
        .map(|&v| v as f64)
        .collect();
    near(
        "exploration",
        got,
        mean_bce(&parent, &y64) + 5.0 * mean_bce(&sub, &targets),
    );

    let net = common::tiny_method_net(&g, "subcat-teach", 3);
    net.set_train(false);
    let mut trainer = Trainer::new(1);
    trainer.set_round(methods::SubcatTeachSettings::default().teacher_rounds + 1);
    let got = pollster::block_on(trainer.loss(&net, &batch))
        .unwrap()
        .item()
        .unwrap();
    let teach = net.extension::<methods::subcat_teach::Teach>().unwrap();
    let (teacher, teacher_sub) = teach.teacher();
    let tf = teacher.backbone.features(&batch.images).unwrap();
    let soft: Vec<f64> = host(&teacher_sub.logits(&tf).unwrap())
        .iter()
        .map(|&z| 1.0 / (1.0 + (-(z as f64)).exp()))
        .collect();
    let f = net.base.backbone.features(&batch.images).unwrap();
    let parent = host(&net.base.head.logits(&f).unwrap());
    let sub = host(&teach.sub().logits(&f).unwrap());
    near(
        "teaching",
        got,
        mean_bce(&parent, &y64) + 5.0 * mean_bce(&sub, &soft),
    );
}

/// λ ~ Beta(α, α), as Mixup and FMix draw it (`np.random.beta(alpha,
/// alpha)`): over 20 000 draws of Beta(2, 2) the mean is 1/2 and the
/// variance α²/((2α)²(2α + 1)) = 1/20. The bounds are five standard errors
/// (the mean's is √(0.05/20 000) = 0.0016; the variance's about 0.0003),
/// far below what a constant draw or a wrong α would give (Beta(1, 1)'s
/// variance is 1/12). A non-positive α is refused.
#[test]
fn beta_draws_have_the_beta_moments() {
    let mut rng = SmallRng::seed_from_u64(3);
    let draws: Vec<f64> = (0..20_000)
        .map(|_| mixing::beta(2.0, &mut rng).unwrap() as f64)
        .collect();
    assert!(draws.iter().all(|&v| v > 0.0 && v < 1.0));
    let n = draws.len() as f64;
    let mean = draws.iter().sum::<f64>() / n;
    let var = draws.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    assert!((mean - 0.5).abs() < 0.008, "mean {mean}");
    assert!((var - 0.05).abs() < 0.0015, "variance {var}");
    let err = mixing::beta(0.0, &mut rng).unwrap_err().to_string();
    assert!(err.contains("Beta(0, 0)"), "{err}");
}

/// Each method's inference normalisation is its released script's: SEAM's
/// `infer_SEAM.py` min-max normalises, psa's `infer_cls.py` (which the
/// other CAM methods' scripts follow) divides by the maximum.
#[test]
fn seam_alone_min_max_normalises_at_inference() {
    use weakseg::cam::{CamSource, Normalisation};
    let g = gpu();
    for (name, want) in [
        ("seam", Normalisation::MinMax),
        ("cam", Normalisation::Max),
        ("acol", Normalisation::Max),
        ("mixup", Normalisation::Max),
    ] {
        assert_eq!(
            common::tiny_method_net(&g, name, 1).normalisation(),
            want,
            "{name}"
        );
    }
}

/// CoSA's schedule and dynamic thresholds (`youshyee/CoSA`; the GMM is an
/// option, off by default). `scaled`: a run of 8 000 steps against the
/// reference 32 000 keeps the averaging horizon's share, momentum
/// 0.9994^(32000/8000) = 0.9994⁴, and the warm-up's, 6 000 · ¼ = 1 500. A
/// new state starts at the configured thresholds. `gmm_thresholds` on three
/// well-separated clusters (0.10–0.14, 0.48–0.52, 0.86–0.90, 20 values
/// each): the first component claims the low cluster, the third the high
/// one, so low is 0.14 (the largest value of the first) and high 0.86 (the
/// smallest of the third); fewer than three values give none.
#[test]
fn cosa_schedule_and_gmm_thresholds() {
    use weakseg::methods::cosa;
    let s = methods::CosaSettings::default();
    assert_eq!((s.reference_steps, s.warmup_steps), (32_000, 6_000));
    let (m, warmup) = s.scaled(8_000);
    near("momentum", m, 0.9994f64.powi(4));
    assert_eq!(warmup, 1_500);
    let (m, warmup) = s.scaled(64_000);
    near("momentum", m, 0.9994f64.sqrt());
    assert_eq!(warmup, 12_000);
    let tuned = methods::CosaSettings {
        low: 0.2,
        high: 0.7,
        ..s.clone()
    };
    assert_eq!(cosa::CosaState::new(&tuned, 100).thresholds(), (0.2, 0.7));
    let mut values = Vec::new();
    for centre in [0.12f32, 0.5, 0.88] {
        values.extend((0..20).map(|i| centre - 0.02 + 0.04 * i as f32 / 19.0));
    }
    let (low, high) = cosa::gmm_thresholds(&values, 100).unwrap();
    assert!(
        (low - 0.14).abs() < 1e-6 && (high - 0.86).abs() < 1e-6,
        "{low}, {high}"
    );
    assert_eq!(cosa::gmm_thresholds(&values[..2], 100), None);
    // Three values: one per component.
    let (low, high) = cosa::gmm_thresholds(&[0.1, 0.5, 0.9], 10).unwrap();
    assert!(
        (low - 0.1).abs() < 1e-6 && (high - 0.9).abs() < 1e-6,
        "{low}, {high}"
    );
}
