//! The random walk: the dense form (T^t by repeated squaring on the GEMM)
//! against the CPU transition matrix raised to t in f64, the iterative form
//! against the dense one, and the host helpers (background, block means,
//! label maps, IRN's background), and IRN's path affinities against a
//! brute-force maximum (exact up to 1e-6: a maximum and one subtraction).
//! Tolerance of the walk 1e-4 relative: t ≤ 16 products of f32 matrices.

mod common;
use common::{gpu, host};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use weakseg::ops::affinity::PairOffsets;
use weakseg::refine::random_walk::{RandomWalk, WalkForm, block_mean, labels, with_background};
use weakseg::{Gpu, Tensor};
use weakseg_kernels::cpu;
use weakseg_kernels::launch::affinity::PairShape;

const TOL: f32 = 1e-4;

/// Affinities of random features on a gh×gw grid, and random scores.
fn setup(g: &Gpu, gh: usize, gw: usize, k: usize) -> (PairOffsets, Tensor, Vec<f32>, Vec<f32>) {
    let mut r = SmallRng::seed_from_u64(3);
    let offsets = PairOffsets::half_disc(g, 3).unwrap();
    let feat: Vec<f32> = (0..4 * gh * gw)
        .map(|_| r.random_range(-0.5..0.5))
        .collect();
    let f = Tensor::from_slice(g, &feat, &[1, 4, gh, gw]).unwrap();
    let aff = f.pair_affinity(&offsets).unwrap();
    let scores: Vec<f32> = (0..k * gh * gw).map(|_| r.random_range(0.0..1.0)).collect();
    let a = aff.to_vec_blocking::<f32>().unwrap();
    (offsets, aff, a, scores)
}

#[test]
fn dense_walk_matches_cpu_matrix_power_and_iterative_form() {
    let g = gpu();
    let (gh, gw, k) = (5, 7, 3);
    let (offsets, aff, a, scores) = setup(&g, gh, gw, k);
    let rw = RandomWalk {
        beta: 2.0,
        log_t: 3,
        form: WalkForm::Dense,
        ..RandomWalk::default()
    };
    let st = Tensor::from_slice(&g, &scores, &[k, gh, gw]).unwrap();
    let dense: Vec<f32> = rw
        .propagate(&aff, &offsets, &st)
        .unwrap()
        .to_vec_blocking()
        .unwrap();

    let n = gh * gw;
    let flat: Vec<i32> = offsets.list.iter().flat_map(|&(y, x)| [y, x]).collect();
    let s = PairShape {
        batch: 1,
        channels: offsets.len(),
        h: gh,
        w: gw,
        pairs: offsets.len(),
    };
    let weights: Vec<f32> = a.iter().map(|v| v.powf(2.0)).collect();
    let t = cpu::affinity::rw_dense(s, &flat, &weights);
    let mut v: Vec<f64> = scores.iter().map(|&x| x as f64).collect();
    for _ in 0..8 {
        v = v
            .chunks(n)
            .flat_map(|row| {
                (0..n)
                    .map(|j| (0..n).map(|i| row[i] * t[i * n + j]).sum::<f64>())
                    .collect::<Vec<_>>()
            })
            .collect();
    }
    for (i, (&d, &c)) in dense.iter().zip(&v).enumerate() {
        assert!(
            (d as f64 - c).abs() <= TOL as f64 * c.abs().max(1.0),
            "dense {i}: {d} vs {c}"
        );
    }

    let iterative = RandomWalk {
        form: WalkForm::Iterative,
        ..rw
    };
    let it: Vec<f32> = iterative
        .propagate(&aff, &offsets, &st)
        .unwrap()
        .to_vec_blocking()
        .unwrap();
    for (i, (&a, &b)) in it.iter().zip(&dense).enumerate() {
        assert!(
            (a - b).abs() <= TOL * b.abs().max(1.0),
            "iterative {i}: {a} vs {b}"
        );
    }
    // Columns of T sum to 1, so a constant row stays constant.
    let ones = Tensor::ones(&g, &[1, gh, gw]).unwrap();
    let walked: Vec<f32> = iterative
        .propagate(&aff, &offsets, &ones)
        .unwrap()
        .to_vec_blocking()
        .unwrap();
    assert!(walked.iter().all(|v| (v - 1.0).abs() < 1e-4), "{walked:?}");
}

#[test]
fn walk_rejects_mismatched_shapes() {
    let g = gpu();
    let (offsets, aff, _, scores) = setup(&g, 4, 4, 2);
    let wrong = Tensor::from_slice(&g, &scores[..2 * 12], &[2, 3, 4]).unwrap();
    let e = RandomWalk::default()
        .propagate(&aff, &offsets, &wrong)
        .unwrap_err();
    assert!(e.to_string().contains("do not match"), "{e}");
    let bad = RandomWalk {
        beta: -1.0,
        ..RandomWalk::default()
    };
    let st = Tensor::from_slice(&g, &scores, &[2, 4, 4]).unwrap();
    assert!(
        bad.propagate(&aff, &offsets, &st)
            .unwrap_err()
            .to_string()
            .contains("beta")
    );
}

#[test]
fn host_helpers() {
    // Background (1 − max present)^α; absent classes zero.
    let cams = [0.5, 1.0, 0.9, 0.0];
    let v = with_background(&cams, &[true, false], 2, 2.0).unwrap();
    assert_eq!(v, vec![0.25, 0.0, 0.5, 1.0, 0.0, 0.0]);
    assert!(with_background(&cams, &[true], 2, 2.0).is_err());
    // Zero-padded 2×2 means of a 3×3 map.
    let m = block_mean(&[1., 2., 3., 4., 5., 6., 7., 8., 9.], 1, (3, 3), 2);
    assert_eq!(m, vec![3.0, 2.25, 3.75, 2.25]);
    // 3×3 blocks of a 4×2 map, two planes: (1 + … + 6)/9 and 7·8/… padded.
    let m = block_mean(
        &[
            1., 2., 3., 4., 5., 6., 7., 8., 1., 1., 1., 1., 1., 1., 1., 1.,
        ],
        2,
        (4, 2),
        3,
    );
    assert_eq!(m, vec![21.0 / 9.0, 15.0 / 9.0, 6.0 / 9.0, 2.0 / 9.0]);
    // Upsampled argmax, cropped.
    let g = gpu();
    let s =
        Tensor::from_slice(&g, &[1.0f32, 0.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0], &[2, 2, 2]).unwrap();
    let l: Vec<u32> = labels(&s, 2, (3, 4)).unwrap().to_vec_blocking().unwrap();
    assert_eq!(l.len(), 12);
    assert_eq!((l[0], l[3], l[8], l[11]), (0, 1, 1, 0));
    // Refused up front, naming the cover (a later crop would fail too).
    for (hw, what) in [
        ((5, 4), "columns covered, rows not"),
        ((3, 5), "rows covered, columns not"),
    ] {
        let e = labels(&s, 2, hw).err().unwrap().to_string();
        assert!(e.contains("does not cover"), "{what}: {e}");
    }
    // Settings at their bounds: log_t 16 and a positive background
    // threshold pass, 17 and 0 do not; the forms choose as they say.
    let ok = RandomWalk {
        log_t: 16,
        ..RandomWalk::default()
    };
    assert!(ok.validate().is_ok());
    assert!(
        RandomWalk {
            log_t: 17,
            ..ok.clone()
        }
        .validate()
        .is_err()
    );
    assert!(
        RandomWalk {
            bg_threshold: Some(0.0),
            ..ok.clone()
        }
        .validate()
        .is_err()
    );
    assert!(
        RandomWalk {
            bg_threshold: Some(0.25),
            ..ok.clone()
        }
        .validate()
        .is_ok()
    );
    let form = |form| RandomWalk { form, ..ok.clone() };
    assert!(form(WalkForm::Dense).dense_for(1 << 30));
    assert!(!form(WalkForm::Iterative).dense_for(1));
    let auto = form(WalkForm::Auto);
    assert!(auto.dense_for(auto.dense_max_pixels) && !auto.dense_for(auto.dense_max_pixels + 1));
}

#[test]
fn irn_background() {
    // IRN's form walks the classes alone (row 0 zero), then divides by the
    // largest class score and puts the threshold in row 0.
    let irn = RandomWalk {
        bg_threshold: Some(0.25),
        ..RandomWalk::default()
    };
    let cams = [0.5, 1.0, 0.9, 0.0];
    let v = irn.input(&cams, &[true, false], 2).unwrap();
    assert_eq!(v, vec![0.0, 0.0, 0.5, 1.0, 0.0, 0.0]);
    let g = gpu();
    let walked = Tensor::from_slice(&g, &[9.0f32, 9.0, 0.2, 0.8, 0.4, 0.0], &[3, 1, 2]).unwrap();
    let done: Vec<f32> = irn
        .finish_background(walked)
        .unwrap()
        .to_vec_blocking()
        .unwrap();
    let want = [0.25, 0.25, 0.25, 1.0, 0.5, 0.0];
    assert!(
        done.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-6),
        "{done:?}"
    );
    let lone = Tensor::from_slice(&g, &[1.0f32, 2.0], &[1, 1, 2]).unwrap();
    assert!(irn.finish_background(lone).is_err());
    let bad = RandomWalk {
        bg_threshold: Some(-1.0),
        ..RandomWalk::default()
    };
    assert!(
        bad.validate()
            .unwrap_err()
            .to_string()
            .contains("threshold")
    );
}

#[test]
fn path_affinity_is_one_minus_the_path_maximum() {
    use weakseg::ops::affinity::path_steps;
    // IRN's paths (irn misc/indexing.py:37–46): the points (y, x) of the
    // pair's bounding box with (dy·x − dx·y)²/(dy² + dx²) < 1, by hand.
    // (0, 1): both ends. (1, 1): the whole 2×2 box (the corners' distance²
    // is ½). (3, 3): |x − y| ≤ 1 in the 4×4 box, 4 + 3 + 3 = 10 points.
    // (3, −1): |3x + y| < √10 in the box y ∈ 0..=3, x ∈ −1..=0: all 8.
    let sorted = |mut v: Vec<(i32, i32)>| {
        v.sort();
        v
    };
    assert_eq!(sorted(path_steps((0, 1))), vec![(0, 0), (0, 1)]);
    assert_eq!(
        sorted(path_steps((1, 1))),
        vec![(0, 0), (0, 1), (1, 0), (1, 1)]
    );
    let diagonal = sorted(path_steps((3, 3)));
    assert_eq!(diagonal.len(), 10);
    assert!(
        diagonal
            .iter()
            .all(|&(y, x)| (x - y).abs() <= 1 && (0..=3).contains(&y))
    );
    assert_eq!(
        sorted(path_steps((3, -1))),
        (0..=3).flat_map(|y| [(y, -1), (y, 0)]).collect::<Vec<_>>()
    );
    // (2, 1): dist² = (2x − y)²/5 < 1: (0,0) (1,0) (1,1) (2,1), and (0,1)
    // and (2,0) at 4/5.
    assert_eq!(
        sorted(path_steps((2, 1))),
        vec![(0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (2, 1)]
    );
    // Odd grid sizes, two images, radius 4 (paths of up to 4 pixels).
    let g = gpu();
    let (b, h, w) = (2, 5, 7);
    let mut r = SmallRng::seed_from_u64(9);
    let bd: Vec<f32> = (0..b * h * w).map(|_| r.random_range(0.0..1.0)).collect();
    let offsets = PairOffsets::half_disc(&g, 4).unwrap();
    let t = Tensor::from_slice(&g, &bd, &[b, 1, h, w]).unwrap();
    let got: Vec<f32> = t
        .path_affinity(&offsets)
        .unwrap()
        .to_vec_blocking()
        .unwrap();
    assert_eq!(got.len(), b * offsets.len() * h * w);
    for n in 0..b {
        for (d, &(dy, dx)) in offsets.list.iter().enumerate() {
            for y in 0..h as i32 {
                for x in 0..w as i32 {
                    let inside =
                        (0..h as i32).contains(&(y + dy)) && (0..w as i32).contains(&(x + dx));
                    let want = if inside {
                        1.0 - path_steps((dy, dx))
                            .iter()
                            .map(|&(sy, sx)| {
                                bd[n * h * w + ((y + sy) * w as i32 + x + sx) as usize]
                            })
                            .fold(0f32, f32::max)
                    } else {
                        0.0
                    };
                    let i = ((n * offsets.len() + d) * h + y as usize) * w + x as usize;
                    assert!(
                        (got[i] - want).abs() < 1e-6,
                        "image {n} offset {d} at ({y}, {x}): {} vs {want}",
                        got[i]
                    );
                }
            }
        }
    }
    let e = Tensor::from_slice(&g, &bd, &[b, 1, h * w])
        .unwrap()
        .path_affinity(&offsets)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("path_affinity") && e.contains("[B, 1, H, W]"),
        "{e}"
    );
}

/// AffinityNet's targets and loss, by hand from psa's released code
/// (`voc12/data.py:123–171`, `ExtractAffinityLabelInRadius`;
/// `train_aff.py:105–113`) and IRN's (`voc12/dataloader.py:80–104`,
/// `misc/indexing.py:62–85`, `step/train_irn.py:58–69`): pairs start only
/// where every offset stays on the grid (rows [0, h − r + 1), columns
/// [r − 1, w − r + 1)); a pair is background-positive when both labels are
/// 0, foreground-positive when both are the same class, negative when they
/// differ, ignored when either is 255; the loss is
/// bg⁺/4 + fg⁺/4 + neg/2, each −log(a + 1e-5) or −log(1 + 1e-5 − a)
/// summed over its pairs and divided by their count + 1e-5.
#[test]
fn affinity_targets_and_loss_follow_psa() {
    use weakseg::refine::affinity::{PairLabels, affinity_loss, grid_labels};
    // IRN's nearest downscale ×¼ (PIL NEAREST: source 4·g + 2).
    let full: Vec<u8> = (0..8 * 8).map(|i| (i / 8 * 10 + i % 8) as u8).collect();
    assert_eq!(
        grid_labels(&full, (8, 8), 4),
        vec![22, 26, 62, 66],
        "rows and columns 2 and 6"
    );
    // 9×9 at stride 4: ⌈9/4⌉ = 3 grid rows and columns, the last sampling
    // row and column 10 clamped to 8 (ours: IRN's crops are multiples of 4).
    let odd: Vec<u8> = (0..9 * 9).map(|i| (i / 9 * 10 + i % 9) as u8).collect();
    assert_eq!(
        grid_labels(&odd, (9, 9), 4),
        vec![22, 26, 28, 62, 66, 68, 82, 86, 88]
    );
    // Radius 2: offsets (0, 1), (1, −1), (1, 0), (1, 1); sources rows 0..2
    // and columns 1..3 of a 3×4 grid.
    let g = gpu();
    let offsets = PairOffsets::half_disc(&g, 2).unwrap();
    assert_eq!(offsets.list, vec![(0, 1), (1, -1), (1, 0), (1, 1)]);
    let grid: Vec<u8> = vec![
        0, 0, 1, 1, //
        0, 255, 1, 2, //
        0, 0, 0, 2,
    ];
    let p = PairLabels::new(&grid, (3, 4), &offsets.list);
    let kinds = |d: usize, y: usize, x: usize| {
        let i = d * 12 + y * 4 + x;
        (p.bg_pos[i], p.fg_pos[i], p.neg[i])
    };
    // Source (0, 1) = 0: → (0, 2) = 1 neg; → (1, 0) = 0 bg; → (1, 1) = 255
    // ignored; → (1, 2) = 1 neg.
    assert_eq!(kinds(0, 0, 1), (0.0, 0.0, 1.0));
    assert_eq!(kinds(1, 0, 1), (1.0, 0.0, 0.0));
    assert_eq!(kinds(2, 0, 1), (0.0, 0.0, 0.0));
    assert_eq!(kinds(3, 0, 1), (0.0, 0.0, 1.0));
    // Source (0, 2) = 1: → (0, 3) = 1 fg; → (1, 1) ignored; → (1, 2) = 1
    // fg; → (1, 3) = 2 neg.
    assert_eq!(kinds(0, 0, 2), (0.0, 1.0, 0.0));
    assert_eq!(kinds(1, 0, 2), (0.0, 0.0, 0.0));
    assert_eq!(kinds(2, 0, 2), (0.0, 1.0, 0.0));
    assert_eq!(kinds(3, 0, 2), (0.0, 0.0, 1.0));
    // Source (1, 1) = 255: nothing. Source (1, 2) = 1: → (1, 3) = 2 neg;
    // → (2, 1) = 0 neg; → (2, 2) = 0 neg; → (2, 3) = 2 neg.
    for d in 0..4 {
        assert_eq!(kinds(d, 1, 1), (0.0, 0.0, 0.0));
        assert_eq!(kinds(d, 1, 2), (0.0, 0.0, 1.0), "offset {d}");
    }
    // Nothing starts outside rows 0..2, columns 1..3 (psa's crop of the
    // sources), though (0, 0) → (0, 1) would be on the grid.
    for d in 0..4 {
        for (y, x) in [(0, 0), (1, 0), (2, 0), (2, 1), (0, 3), (1, 3), (2, 3)] {
            assert_eq!(
                kinds(d, y, x),
                (0.0, 0.0, 0.0),
                "offset {d} from ({y}, {x})"
            );
        }
    }
    // The loss on affinities 0.9 everywhere except 0.3 for offset 0:
    // bg⁺ = {(1, 0,1)}: −ln(0.90001); fg⁺ = {(0, 0,2), (2, 0,2)}:
    // −(ln 0.30001 + ln 0.90001)/2; neg = {(0,0,1), (3,0,1), (3,0,2),
    // (0..4, 1,2)} = 7 pairs: offsets 0 at a = 0.3 twice (−ln 0.70001),
    // five at 0.9 (−ln 0.10001).
    let mut aff = vec![0.9f32; 4 * 12];
    aff[..12].iter_mut().for_each(|a| *a = 0.3);
    let labels: Vec<u32> = grid.iter().map(|&v| v as u32).collect();
    let a = Tensor::from_slice(&g, &aff, &[1, 4, 3, 4]).unwrap();
    let got = affinity_loss(&g, &a, &offsets, &labels, (3, 4), 1)
        .unwrap()
        .item()
        .unwrap() as f64;
    let ln = |v: f64| v.ln();
    let bg = -ln(0.90001) / (1.0 + 1e-5);
    let fg = -(ln(0.30001) + ln(0.90001)) / (2.0 + 1e-5);
    let neg = -(2.0 * ln(0.70001) + 5.0 * ln(0.10001)) / (7.0 + 1e-5);
    let want = bg / 4.0 + fg / 4.0 + neg / 2.0;
    // f32 logs and sums of seven terms: 1e-6 relative.
    assert!((got - want).abs() < 1e-6 * want, "{got} vs {want}");
    // Refused: offsets that differ from the affinities', labels of another
    // count, a grid that is not the labels' at the stride.
    let three = Tensor::from_slice(&g, &aff[..36], &[1, 3, 3, 4]).unwrap();
    assert!(affinity_loss(&g, &three, &offsets, &labels, (3, 4), 1).is_err());
    assert!(affinity_loss(&g, &a, &offsets, &labels[..11], (3, 4), 1).is_err());
    assert!(affinity_loss(&g, &a, &offsets, &labels, (3, 4), 2).is_err());
}

/// IRN's boundary branch (`jiwoon-ahn/irn:net/resnet50_irn.py:22–51,
/// 113–127`) on resnet-tiny at output stride 8, a 35×29 image, grid stride
/// 4 (9×8; the stride-8 maps are 5×4): five reducers — the stem (conv1 → bn → ReLU) first, then the
/// four stages — each conv → GN(4) → bilinear upsampling by a power of two
/// → crop to the grid at the top left → ReLU, concatenated and fused by a
/// 1×1 convolution with bias. Built here from the network's own weights
/// and the tensor ops; ReLU before upsampling, and resizing straight to
/// the grid instead of upsampling and cropping, are shown to give other
/// logits, so the comparison tells them apart. At inference the
/// logits of the image and of its mirror image are averaged before the
/// sigmoid (`EdgeDisplacement.forward`).
#[test]
fn irn_boundary_branch_reads_the_stem_and_upsamples_before_the_relu() {
    use std::collections::HashMap;
    use weakseg::ResizeMode;
    use weakseg::models::ArchSpec;
    use weakseg::models::boundary::BoundaryNet;
    use weakseg::nn::{Builder, ModuleExt};
    use weakseg::ops::conv::ConvOpts;
    let g = gpu();
    let net = BoundaryNet::new(
        &mut Builder::new(&g, 4),
        &ArchSpec::new("resnet-tiny", 8),
        4,
    )
    .unwrap();
    net.set_train(false);
    let p: HashMap<String, Tensor> = net
        .named_params()
        .into_iter()
        .map(|(k, v)| (k, v.get()))
        .collect();
    let stem = net.backbone.stem_channels().unwrap();
    assert_eq!(p["head.reduce.0.conv.weight"].shape(), [32, stem, 1, 1]);
    let reducers = 1 + net.backbone.tap_channels().len();
    assert!(p.contains_key(&format!("head.reduce.{}.conv.weight", reducers - 1)));
    assert!(!p.contains_key(&format!("head.reduce.{reducers}.conv.weight")));
    let mut r = SmallRng::seed_from_u64(8);
    let xs: Vec<f32> = (0..3 * 35 * 29)
        .map(|_| r.random_range(-1.0..1.0))
        .collect();
    let x = Tensor::from_slice(&g, &xs, &[1, 3, 35, 29]).unwrap();
    let (gh, gw) = (9, 8);
    let taps = weakseg::no_grad(|| net.backbone.stem_and_taps(&x)).unwrap();
    assert_eq!(taps.len(), reducers);
    let build = |relu_first: bool, crop: bool| -> Vec<f32> {
        let parts: Vec<Tensor> = taps
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let w = |n: &str| p[&format!("head.reduce.{i}.{n}")].clone();
                let y = t
                    .conv2d(&w("conv.weight"), None, ConvOpts::default())
                    .unwrap()
                    .group_norm(4, &w("norm.weight"), &w("norm.bias"), 1e-5)
                    .unwrap();
                let y = if relu_first { y.relu().unwrap() } else { y };
                let (h, ww) = (y.shape()[2], y.shape()[3]);
                let up = if h > gh {
                    // resnet-tiny's stem and first stage are at stride 2,
                    // finer than the grid (ResNet-50's are at 4, on it):
                    // resized down to the grid.
                    y.interpolate((gh, gw), ResizeMode::Bilinear(false))
                        .unwrap()
                } else {
                    // The power of two that covers the grid: 2 for the
                    // stride-8 maps (5×4 → 10×8, cropped to 9×8).
                    let f = [1, 2, 4, 8]
                        .into_iter()
                        .find(|f| h * f >= gh && ww * f >= gw)
                        .unwrap();
                    if crop {
                        y.interpolate((h * f, ww * f), ResizeMode::Bilinear(false))
                            .unwrap()
                            .narrow(2, 0, gh)
                            .unwrap()
                            .narrow(3, 0, gw)
                            .unwrap()
                    } else {
                        y.interpolate((gh, gw), ResizeMode::Bilinear(false))
                            .unwrap()
                    }
                };
                up.relu().unwrap()
            })
            .collect();
        let cat = Tensor::concat(&parts, 1).unwrap();
        host(
            &cat.conv2d(
                &p["head.fuse.weight"],
                Some(&p["head.fuse.bias"]),
                ConvOpts::default(),
            )
            .unwrap(),
        )
    };
    let got = host(&weakseg::no_grad(|| net.logits(&x)).unwrap());
    let (want, wrong, resized) = (build(false, true), build(true, true), build(false, false));
    assert_eq!(got.len(), gh * gw);
    // The same ops in the same order: equal but for the GPU's summation
    // order in the convolutions (a few ulps of values of order 1).
    for (i, (a, b)) in got.iter().zip(&want).enumerate() {
        assert!((a - b).abs() < 1e-5, "logit {i}: {a} vs {b}");
    }
    for (other, what) in [
        (&wrong, "ReLU before upsampling"),
        (&resized, "resizing to the grid"),
    ] {
        let apart = got
            .iter()
            .zip(other)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(apart > 1e-3, "{what} gives the same logits ({apart})");
    }
    // Flip-averaged inference.
    let both = weakseg::no_grad(|| {
        net.logits(&Tensor::concat(&[x.clone(), x.flip(3).unwrap()], 0).unwrap())
    })
    .unwrap();
    let l = host(&both);
    let n = gh * gw;
    let tta = host(&weakseg::no_grad(|| net.boundary_flip_averaged(&x)).unwrap());
    for y in 0..gh {
        for xx in 0..gw {
            let i = y * gw + xx;
            let m = (l[i] as f64 + l[n + y * gw + (gw - 1 - xx)] as f64) / 2.0;
            let want = 1.0 / (1.0 + (-m).exp());
            assert!(
                (tta[i] as f64 - want).abs() < 1e-6,
                "[{y}, {xx}]: {} vs {want}",
                tta[i]
            );
        }
    }
}

/// psa's affinity labels (`jiwoon-ahn/psa:voc12/data.py:195–232`,
/// `tool/imutils.py:123–131`): the α-low and α-high CRF probability maps,
/// averaged over each 2×2 block here (8×8 in psa; a block cut by the
/// border divides by the full area, as `block_reduce` pads with 0), then
/// the α-low argmax, 255 where it is background, 0 where the α-high argmax
/// is background, 255 where nothing scores. On a 4×5 image with
/// background and one class: block (0, 0) class in both → 1; (0, 1)
/// α-low background, α-high class → 255; (0, 2) (one column) α-low class,
/// α-high background → 0; (1, 0) all zero (outside the crop) → 255; (1, 1)
/// α-low class on average (0.45 against 0.25) though not at the pixel
/// psa's nearest sampling would read → 1; (1, 2) background in both → 0.
#[test]
fn psa_labels_average_the_probability_maps_per_block() {
    use weakseg::refine::affinity::{block_labels, grid_labels};
    let (h, w) = (4usize, 5usize);
    let n = h * w;
    // (low bg, low class, high bg, high class) at each pixel.
    let at = |y: usize, x: usize| -> [f32; 4] {
        match (y / 2, x / 2) {
            (0, 0) => [0.2, 0.8, 0.3, 0.7],
            (0, 1) => [0.9, 0.1, 0.4, 0.6],
            (0, 2) => [0.1, 0.9, 0.8, 0.2],
            (1, 0) => [0.0; 4],
            (1, 1) if (y, x) == (3, 3) => [1.0, 0.0, 0.0, 1.0],
            (1, 1) => [0.0, 0.6, 0.0, 1.0],
            _ => [0.3, 0.1, 0.3, 0.1],
        }
    };
    let probs: Vec<f32> = (0..4 * n).map(|i| at((i % n) / w, i % w)[i / n]).collect();
    let got = block_labels(&probs, (h, w), 2).unwrap();
    let want: Vec<u8> = (0..n)
        .map(|i| match ((i / w) / 2, (i % w) / 2) {
            (0, 0) | (1, 1) => 1,
            (0, 1) | (1, 0) => 255,
            _ => 0,
        })
        .collect();
    assert_eq!(got, want);
    // grid_labels reads each block's label back; its pixel (3, 3) alone
    // would have said background at α low.
    assert_eq!(grid_labels(&got, (h, w), 2), [1, 255, 0, 255, 1, 0]);
    // Stride 3 on a 5×4 image (blocks of 3×3, 3×1, 2×3, 2×1): block (0, 0)
    // ties background and class at α low, and np.argmax takes the first
    // (background) → 255; block (0, 1) scores 2e-5 on its 3 pixels, which
    // over the full 3×3 area is 6.7e-6 < 1e-5: no score → 255 (over its 3
    // pixels it would score); block (1, 0) class → 1; block (1, 1)
    // background → 0.
    let (h, w) = (5usize, 4usize);
    let n = h * w;
    let at = |y: usize, x: usize| -> [f32; 4] {
        match (y / 3, x / 3) {
            (0, 0) => [0.5, 0.5, 0.1, 0.9],
            (0, 1) => [2e-5; 4],
            (1, 0) => [0.2, 0.8, 0.3, 0.7],
            _ => [0.6, 0.4, 0.7, 0.3],
        }
    };
    let wide: Vec<f32> = (0..4 * n).map(|i| at((i % n) / w, i % w)[i / n]).collect();
    let want: Vec<u8> = (0..n)
        .map(|i| match ((i / w) / 3, (i % w) / 3) {
            (1, 0) => 1,
            (1, 1) => 0,
            _ => 255,
        })
        .collect();
    assert_eq!(block_labels(&wide, (h, w), 3).unwrap(), want);
    // One map, or a length that is not two maps of L ≥ 2 planes, is refused;
    // so is an empty image.
    assert!(block_labels(&[], (0, 4), 2).is_err());
    assert!(block_labels(&probs[..2 * n], (h, w), 2).is_err());
    assert!(block_labels(&probs[..4 * n - 1], (h, w), 2).is_err());
    assert!(block_labels(&probs, (h, w), 0).is_err());
}
