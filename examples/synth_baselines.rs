//! The two reference points of the parts benchmark (`--kind parts`; on
//! the scenes, `weakseg demo` reports both): the mIoU of a
//! trained classifier's CAMs (on the training images, as WSSS papers report
//! pseudo-label quality, at the best background threshold) and the mIoU of
//! a fully supervised segmenter (on the validation images). The benchmark is
//! hard in the intended way when the first stays far below the second.
//!
//! ```sh
//! cargo run --release --example synth_baselines -- [DATA_DIR] [CLS_EPOCHS] [SEG_EPOCHS]
//! ```
//! DATA_DIR is written with `weakseg synth --kind parts` settings if absent
//! (the parts images are square, so they batch without cropping).

use std::path::PathBuf;
use std::time::Instant;

use weakseg::cam;
use weakseg::data::Dataset;
use weakseg::data::augment::Augment;
use weakseg::data::synth::{self, SynthConfig, SynthKind};
use weakseg::data::voc::{VocDataset, VocOptions};
use weakseg::io::checkpoint::Sidecar;
use weakseg::metrics::Confusion;
use weakseg::models::{ArchSpec, CamNet, SegHeadKind, SegNet};
use weakseg::nn::{Builder, GroupRecipe, ModuleExt};
use weakseg::train::progress::Silent;
use weakseg::train::{TrainConfig, fit};
use weakseg::{Gpu, ResizeMode, Result, Tensor, no_grad};

const THRESHOLDS: [f32; 8] = [0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5];

fn open(dir: &std::path::Path, list: &str, flip: bool) -> Result<VocDataset> {
    let mut o = VocOptions::split(list);
    o.augment = Augment {
        hflip: flip,
        ..Augment::default()
    };
    VocDataset::open(dir, &o)
}

/// Confusion matrices of the CAM label maps at each threshold.
fn cam_scores(gpu: &Gpu, net: &CamNet, ds: &VocDataset) -> Result<Vec<Confusion>> {
    let k = ds.classes.len();
    let mut out: Vec<Confusion> = THRESHOLDS.iter().map(|_| Confusion::new(k + 1)).collect();
    for i in 0..ds.len() {
        let s = ds.sample(i, 0)?;
        let (h, w) = (s.height, s.width);
        let x = Tensor::from_slice(gpu, &s.image, &[1, 3, h, w])?;
        let cams = no_grad(|| -> Result<Tensor> {
            let (_, c) = net.logits_and_cams(&x)?;
            c.relu()?.interpolate((h, w), ResizeMode::Bilinear(false))
        })?
        .to_vec_blocking::<f32>()?;
        let gt: Vec<u8> = s
            .mask
            .as_ref()
            .map_or(Vec::new(), |m| m.iter().map(|&v| v as u8).collect());
        let present: Vec<bool> = s.labels.iter().map(|&v| v > 0.0).collect();
        for (t, conf) in THRESHOLDS.iter().zip(out.iter_mut()) {
            let pred = cam::label_map(&cams, &present, h, w, *t)?;
            conf.add(&pred, &gt)?;
        }
    }
    Ok(out)
}

fn seg_scores(gpu: &Gpu, net: &SegNet, ds: &VocDataset) -> Result<Confusion> {
    let mut conf = Confusion::new(ds.classes.len() + 1);
    for i in 0..ds.len() {
        let s = ds.sample(i, 0)?;
        let x = Tensor::from_slice(gpu, &s.image, &[1, 3, s.height, s.width])?;
        let pred: Vec<u8> = no_grad(|| net.forward(&x)?.argmax(1))?
            .to_vec_blocking::<u32>()?
            .into_iter()
            .map(|v| v as u8)
            .collect();
        let gt: Vec<u8> = s
            .mask
            .as_ref()
            .map_or(Vec::new(), |m| m.iter().map(|&v| v as u8).collect());
        conf.add(&pred, &gt)?;
    }
    Ok(conf)
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = PathBuf::from(args.first().cloned().unwrap_or("synth-data".into()));
    let cls_epochs: usize = args.get(1).and_then(|v| v.parse().ok()).unwrap_or(15);
    let seg_epochs: usize = args.get(2).and_then(|v| v.parse().ok()).unwrap_or(15);
    let cfg = SynthConfig {
        kind: SynthKind::Parts,
        ..SynthConfig::default()
    };
    if !dir.join("classes.txt").exists() {
        synth::write(&cfg, &dir, |_| {})?;
    }
    let gpu = Gpu::new_blocking()?;
    let train = open(&dir, "train", true)?;
    let (train_eval, val) = (open(&dir, "train", false)?, open(&dir, "val", false)?);
    let k = train.classes.len();
    let arch = ArchSpec::new("resnet-tiny", 8);

    let t = Instant::now();
    let cam_net = CamNet::new(&mut Builder::new(&gpu, 1), &arch, k)?;
    let mut opt = GroupRecipe::UNIFORM.sgd(&cam_net, CamNet::is_new, 0.05, 1e-4)?;
    let tc = TrainConfig {
        epochs: cls_epochs,
        batch_size: 16,
        lr: 0.05,
        seed: 1,
        ..TrainConfig::default()
    };
    fit(
        &gpu,
        &tc,
        &cam_net,
        &mut opt,
        &train,
        &Sidecar::default(),
        &mut Silent,
        |b| cam_net.logits(&b.images)?.bce_with_logits(&b.labels),
    )?;
    cam_net.set_train(false);
    let cams = cam_scores(&gpu, &cam_net, &train_eval)?;
    let (best_t, best) = THRESHOLDS
        .iter()
        .zip(&cams)
        .map(|(t, c)| (*t, c.scores().miou))
        .fold((0.0, -1.0), |a, b| if b.1 > a.1 { b } else { a });
    println!(
        "classifier: {cls_epochs} epochs in {:.0} s",
        t.elapsed().as_secs_f64()
    );
    for (t, c) in THRESHOLDS.iter().zip(&cams) {
        println!(
            "  CAM mIoU (train) at background threshold {t:.2}: {:.1}%",
            100.0 * c.scores().miou
        );
    }

    let t = Instant::now();
    let seg = SegNet::new(&mut Builder::new(&gpu, 2), &arch, SegHeadKind::Aspp, k + 1)?;
    let mut opt = GroupRecipe::UNIFORM.sgd(&seg, SegNet::is_new, 0.05, 1e-4)?;
    let tc = TrainConfig {
        epochs: seg_epochs,
        batch_size: 16,
        lr: 0.05,
        seed: 2,
        ..TrainConfig::default()
    };
    fit(
        &gpu,
        &tc,
        &seg,
        &mut opt,
        &train,
        &Sidecar::default(),
        &mut Silent,
        |b| {
            let masks = b
                .masks
                .as_ref()
                .ok_or_else(|| weakseg::Error::invalid("seg", "no masks"))?;
            seg.forward(&b.images)?.cross_entropy(masks, None, 255)
        },
    )?;
    seg.set_train(false);
    let full_val = seg_scores(&gpu, &seg, &val)?.scores().miou;
    let full_train = seg_scores(&gpu, &seg, &train_eval)?.scores().miou;
    println!(
        "segmenter: {seg_epochs} epochs in {:.0} s",
        t.elapsed().as_secs_f64()
    );
    println!("| measure | mIoU |");
    println!("|---|---|");
    println!(
        "| CAM pseudo-masks (train, best threshold {best_t:.2}) | {:.1}% |",
        100.0 * best
    );
    println!(
        "| fully supervised resnet-tiny + ASPP (train) | {:.1}% |",
        100.0 * full_train
    );
    println!(
        "| fully supervised resnet-tiny + ASPP (val) | {:.1}% |",
        100.0 * full_val
    );
    Ok(())
}
