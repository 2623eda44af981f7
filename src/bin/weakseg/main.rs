//! The `weakseg` command line.

mod bench;
mod crf;
mod demo;
mod stages;

use std::process::ExitCode;

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use weakseg::data::classes::ClassList;
use weakseg::data::synth::SynthConfig;
use weakseg::data::voc::{VocDataset, VocOptions};
use weakseg::io::{checkpoint, image};
use weakseg::models::Precision;
use weakseg::models::resnet::{ResNet, ResNetConfig};
use weakseg::nn::{Builder, ModuleExt};
use weakseg::{Error, Gpu, Tensor, metrics, no_grad, pictures};

#[derive(Parser)]
#[command(
    name = "weakseg",
    version,
    about = "Weakly supervised semantic segmentation on a handwritten wgpu/WGSL engine"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Hash every output of finished stages against their stage.json and
    /// list the damaged ones (exit 1 if any). A skip checks sizes always and
    /// hashes only outputs whose time moved; this hashes all of them.
    Verify {
        /// Stage directories (each holding a stage.json).
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// Delete the damaged outputs, so the stage's next run redoes them.
        #[arg(long)]
        remove: bool,
    },
    /// Print the adapter, backend, driver, device type, limits and features.
    Info,
    /// Measure kernel, network and pipeline-stage throughput on this adapter.
    Bench(bench::BenchArgs),
    /// Run an ImageNet classifier on one image (to check imported weights).
    Classify {
        /// Architecture: resnet50 or resnet101.
        #[arg(long)]
        arch: String,
        /// torchvision state_dict saved as safetensors.
        #[arg(long)]
        weights: PathBuf,
        /// The image (PNG or JPEG), used as is unless --resize is given.
        #[arg(long)]
        image: PathBuf,
        /// Resize the shorter side to this many pixels first.
        #[arg(long)]
        resize: Option<usize>,
        /// How many classes to list.
        #[arg(long, default_value_t = 5)]
        topk: usize,
        /// Print {"logits": [...], "top": [[index, probability], ...]}.
        #[arg(long)]
        json: bool,
        /// Run the trunk with f16 weights and activations (needs shader-f16).
        #[arg(long)]
        f16: bool,
    },
    /// Write the synthetic WSSS benchmark in the PASCAL VOC layout.
    Synth {
        /// Output folder.
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        synth: demo::SynthArgs,
        /// Also measure the scenes' properties (needs a device: trains two
        /// classifiers, minutes): prints them and writes OUT/stats.json;
        /// the classifiers and the erased copy go to OUT/stats/.
        #[arg(long)]
        stats: bool,
    },
    /// Evaluate a folder of label PNGs against ground truth (mIoU).
    Eval {
        /// Predicted label PNGs.
        #[arg(long)]
        pred: PathBuf,
        /// Ground-truth label PNGs (palette or grey; 255 ignored).
        #[arg(long)]
        gt: PathBuf,
        /// classes.txt (foreground names); VOC's 20 classes by default.
        #[arg(long)]
        classes: Option<PathBuf>,
        /// Print {"miou": ..., "per_class_iou": [...], "pixel_accuracy": ...}.
        #[arg(long)]
        json: bool,
        /// The scenes benchmark the maps label: also split the errors by
        /// where they fall (object part, body, appendage missed; the class's
        /// typical surround or elsewhere taken).
        #[arg(long)]
        scenes: Option<PathBuf>,
    },
    /// Stage 1: train the CAM classifier on image-level labels.
    TrainCls(stages::TrainClsArgs),
    /// Stage 2: multi-scale CAMs, their label maps and CAM mIoU.
    Cam(stages::CamArgs),
    /// Stage 3: CRF-refined CAMs at low and high background powers, and the
    /// affinity labels they give.
    AffLabels(stages::AffLabelsArgs),
    /// Masks from points, scribbles or boxes (the segmenter's targets).
    WeakMasks(stages::WeakMasksArgs),
    /// Train and evaluate click-driven object segmenters (distance or
    /// Gaussian click maps, DEXTR's extreme points) with a simulated user.
    Interactive(stages::InteractiveArgs),
    /// SPML: train a pixel-embedding network with the pixel-to-segment
    /// contrastive loss on label maps, then label the evaluation list by
    /// nearest training prototypes and the dense CRF.
    Spml(stages::SpmlArgs),
    /// Stage 4: train AffinityNet on the affinity labels.
    TrainAff(stages::TrainAffArgs),
    /// Stage 5: random-walk propagation of the CAMs into pseudo-masks.
    Rw(stages::RwArgs),
    /// Stage 6: train the segmenter on pseudo-masks (or ground truth).
    TrainSeg(stages::TrainSegArgs),
    /// Stage 7: label maps of a list with a trained segmenter, and mIoU.
    Predict(stages::PredictArgs),
    /// Generate the synthetic benchmark and run every stage on it.
    Demo(demo::DemoArgs),
    /// Run every stage on a VOC-layout dataset as FILE.toml configures.
    Run(demo::RunArgs),
    /// Run the pipeline once per CAM-expansion method on one synthetic
    /// benchmark and write the comparison table.
    Compare(demo::CompareArgs),
    /// Dense-CRF refinement of a probability or label map on an RGB image.
    Crf(crf::CrfArgs),
    /// Render one sample with all its annotations to a PNG.
    Show {
        /// Dataset root (VOC layout).
        #[arg(long)]
        data: PathBuf,
        /// Image id.
        #[arg(long)]
        id: String,
        /// Output PNG.
        #[arg(long)]
        out: PathBuf,
        /// Split or list file holding the id.
        #[arg(long, default_value = "trainval")]
        list: String,
    },
}

/// Measures the scenes written at `out`, prints the headline figures and
/// writes `out/stats.json`.
fn synth_stats(gpu: &Gpu, cfg: &SynthConfig, out: &std::path::Path) -> weakseg::Result<()> {
    let s = weakseg::pipeline::synth_stats::measure(
        gpu,
        cfg,
        out,
        &out.join("stats"),
        stages::reporter().as_mut(),
    )?;
    let json = serde_json::to_string_pretty(&s)
        .map_err(|e| weakseg::Error::format("stats.json", e.to_string()))?;
    weakseg::io::write_atomic(&out.join("stats.json"), json.as_bytes())?;
    let sc = &s.scenes;
    let pct = |v: f64| format!("{:.1}%", 100.0 * v);
    println!("scenes measured: {}", sc.images);
    println!(
        "  image width {}–{} px, height {}–{} px; landscape {}, 4:3 or 3:4 {}",
        sc.width.min,
        sc.width.max,
        sc.height.min,
        sc.height.max,
        pct(sc.landscape),
        pct(sc.four_to_three)
    );
    println!(
        "  objects per image {:?}; classes per image {:.2}; repeated instances {}",
        sc.objects_per_image,
        sc.classes_per_image,
        pct(sc.repeated_instances)
    );
    println!(
        "  object area {}–{} of the image (median {}); occluded {}, truncated {}",
        pct(sc.object_share.min),
        pct(sc.object_share.max),
        pct(sc.object_share.median),
        pct(sc.occluded),
        pct(sc.truncated)
    );
    println!(
        "  per image: largest object median {} (p90 {}), foreground median {} (p90 {})",
        pct(sc.largest_object_share.median),
        pct(sc.largest_object_share.p90),
        pct(sc.foreground_share.median),
        pct(sc.foreground_share.p90)
    );
    for c in &sc.context {
        println!(
            "  class {} in {}: {} of its images, {} of the others",
            c.class,
            c.context,
            pct(c.with_class),
            pct(c.without_class)
        );
    }
    println!(
        "  camouflaged objects {}; boundary steps below the noise ({:.3}) {}",
        pct(sc.low_contrast_objects),
        sc.noise_step,
        pct(sc.boundary_below_noise)
    );
    println!(
        "  thin appendages {} of objects, detached pieces {}; {} of object pixels",
        pct(sc.thin_objects),
        pct(sc.detached_objects),
        pct(sc.appendage_pixels)
    );
    let c = &s.crf_from_eroded;
    println!(
        "dense CRF from the ground truth eroded to its inner half ({} labelled): {} mIoU (the eroded labels alone {})",
        pct(c.labelled),
        pct(c.crf_miou),
        pct(c.eroded_miou)
    );
    let e = &s.part_evidence;
    println!(
        "val mean AP: classifier {}, parts erased {}, chance {}",
        pct(e.full_map),
        pct(e.body_only_map),
        pct(e.chance_map)
    );
    println!("stats: {}", out.join("stats.json").display());
    Ok(())
}

fn eval(
    pred: &std::path::Path,
    gt: &std::path::Path,
    classes: Option<&std::path::Path>,
    json: bool,
    scenes: Option<&std::path::Path>,
) -> weakseg::Result<()> {
    let names = match classes {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| Error::io(p.display(), e))?;
            ClassList::parse(&text, &p.display().to_string())?
        }
        None => ClassList::voc(),
    };
    let s = metrics::evaluate_dirs(pred, gt, names.with_background())?;
    let split = scenes
        .map(|d| weakseg::pipeline::synth_stats::error_split(d, pred))
        .transpose()?;
    if json {
        let doc = serde_json::json!({
            "miou": s.miou,
            "per_class_iou": s.per_class_iou,
            "pixel_accuracy": s.pixel_accuracy,
            "precision": s.precision,
            "recall": s.recall,
            "pixels": s.pixels,
            "error_split": split.as_ref().map(|(e, _)| serde_json::json!({
                "counts": e,
                "recall_part_body_appendage": e.recall(),
                "near_taken": e.near_taken(),
                "own_context_taken": e.context_taken(),
                "elsewhere_taken": e.elsewhere_taken(),
            })),
        });
        println!("{doc}");
        return Ok(());
    }
    let pct = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{:.2}", 100.0 * v));
    println!(
        "{:<16} {:>8} {:>10} {:>8}",
        "class", "IoU %", "precision", "recall"
    );
    for (k, iou) in s.per_class_iou.iter().enumerate() {
        println!(
            "{:<16} {:>8} {:>10} {:>8}",
            names.name(k as u8),
            pct(*iou),
            pct(s.precision[k]),
            pct(s.recall[k])
        );
    }
    println!(
        "mIoU {:.2}%  pixel accuracy {:.2}%  ({} pixels)",
        100.0 * s.miou,
        100.0 * s.pixel_accuracy,
        s.pixels
    );
    if let Some((e, n)) = split {
        let pct = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{:.1}%", 100.0 * v));
        let [part, body, app] = e.recall();
        println!(
            "scenes ({n} maps): object pixels labelled right: part {}, body {}, appendage {}; \
             background taken: within {} px of an object {}, farther on the class's own \
             surround {}, elsewhere {}",
            pct(part),
            pct(body),
            pct(app),
            weakseg::data::synth::errors::NEAR,
            pct(e.near_taken()),
            pct(e.context_taken()),
            pct(e.elsewhere_taken())
        );
    }
    Ok(())
}

fn show(
    data: &std::path::Path,
    id: &str,
    out: &std::path::Path,
    list: &str,
) -> weakseg::Result<()> {
    let ds = VocDataset::open(data, &VocOptions::split(list))?;
    let i = ds
        .find(id)
        .ok_or_else(|| Error::invalid("show", format!("no image {id:?} in list {list:?}")))?;
    let it = ds.item(i)?;
    let rec = &ds.records[i];
    let marks: Vec<pictures::LabelMarks> = rec
        .marks
        .iter()
        .map(|m| {
            (
                ds.classes.label(&m.class).unwrap_or(0),
                m.points.clone(),
                m.scribbles.clone(),
            )
        })
        .collect();
    let annotated = pictures::draw_annotations(&it.rgb, &it.boxes, &marks);
    let panels = [
        Some(it.rgb.clone()),
        Some(annotated),
        it.mask.as_ref().map(pictures::colourise),
        it.mask
            .as_ref()
            .map(|m| pictures::label_overlay(&it.rgb, m, 0.5)),
    ];
    weakseg::io::write_atomic(out, &pictures::encode_png(&pictures::grid(&panels)?)?)?;
    let names: Vec<&str> = rec.labels.iter().map(|&l| ds.classes.name(l)).collect();
    println!(
        "{id}: {}×{}, labels [{}], {} boxes; panels: image | boxes, points, scribbles | mask | overlay -> {}",
        rec.width,
        rec.height,
        names.join(", "),
        rec.boxes.len(),
        out.display()
    );
    Ok(())
}

fn info(gpu: &Gpu) {
    let r = gpu.report();
    println!("adapter      {}", r.name);
    println!("backend      {}", r.backend);
    println!("driver       {}", r.driver);
    println!("device type  {}", r.device_type);
    println!(
        "features     {}",
        if r.features.is_empty() {
            "(none)".to_string()
        } else {
            r.features.join(", ")
        }
    );
    println!("limits");
    for (k, v) in r.limits {
        println!("  {k:<40} {v}");
    }
}

struct ClassifyArgs {
    arch: String,
    weights: PathBuf,
    image: PathBuf,
    resize: Option<usize>,
    topk: usize,
    json: bool,
    f16: bool,
}

fn classify(gpu: &Gpu, a: ClassifyArgs) -> weakseg::Result<()> {
    let depth = match a.arch.as_str() {
        "resnet50" => 50,
        "resnet101" => 101,
        other => {
            return Err(Error::invalid(
                "classify",
                format!(
                    "--arch {other:?} is not an ImageNet classifier here (resnet50, resnet101)"
                ),
            ));
        }
    };
    let mut img = image::read(&a.image)?;
    if let Some(s) = a.resize {
        img = image::resize_shorter(&img, s)?;
    }
    let tensors = checkpoint::read(&a.weights)?;
    let classes = tensors
        .iter()
        .find(|t| t.name == "fc.weight")
        .map(|t| t.shape[0])
        .ok_or_else(|| {
            Error::format(
                a.weights.display().to_string(),
                "no fc.weight: not a classifier state_dict",
            )
        })?;
    let net = ResNet::new(
        &mut Builder::new(gpu, 0),
        &ResNetConfig::new(depth, 32)?.with_classes(classes),
    )?;
    checkpoint::apply(&net, &tensors, "", checkpoint::Match::Strict)
        .map_err(|e| Error::format(a.weights.display().to_string(), e.to_string()))?;
    net.set_train(false);
    let x = Tensor::from_slice(
        gpu,
        &image::normalize_imagenet(&img),
        &[1, 3, img.height, img.width],
    )?;
    let precision = if a.f16 {
        Precision::F16
    } else {
        Precision::F32
    };
    let logits = no_grad(|| net.classify_at(&x, precision))?.to_vec_blocking::<f32>()?;
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let z: f64 = logits.iter().map(|v| ((v - max) as f64).exp()).sum();
    let mut top: Vec<(usize, f64)> = logits
        .iter()
        .enumerate()
        .map(|(i, v)| (i, ((v - max) as f64).exp() / z))
        .collect();
    top.sort_by(|a, b| b.1.total_cmp(&a.1));
    top.truncate(a.topk);
    if a.json {
        let doc = serde_json::json!({ "logits": logits, "top": top });
        println!("{doc}");
    } else {
        println!("{}×{} image, {} classes", img.width, img.height, classes);
        for (i, p) in top {
            println!("{i:>6}  {p:.4}");
        }
    }
    Ok(())
}

/// `weakseg verify`: every output of each stage directory hashed against
/// its manifest; an error when any is damaged.
fn verify(dirs: &[PathBuf], remove: bool) -> weakseg::Result<()> {
    let mut damaged = 0;
    for dir in dirs {
        let bad = weakseg::pipeline::stage::verify(dir, remove)?;
        for (file, why) in &bad {
            println!(
                "{}: {why}{}",
                dir.join(file).display(),
                if remove { " (removed)" } else { "" }
            );
        }
        if bad.is_empty() {
            println!("{}: every output verified", dir.display());
        }
        damaged += bad.len();
    }
    if damaged > 0 {
        return Err(weakseg::Error::invalid(
            "verify",
            format!("{damaged} damaged outputs; run their stages again to redo them"),
        ));
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let offline = match &cli.cmd {
        Cmd::Synth {
            out,
            synth: a,
            stats: false,
        } => Some(demo::ensure_synth(&a.config(), out)),
        Cmd::Eval {
            pred,
            gt,
            classes,
            json,
            scenes,
        } => Some(eval(pred, gt, classes.as_deref(), *json, scenes.as_deref())),
        Cmd::Show {
            data,
            id,
            out,
            list,
        } => Some(show(data, id, out, list)),
        Cmd::Verify { dirs, remove } => Some(verify(dirs, *remove)),
        _ => None,
    };
    if let Some(r) = offline {
        return finish(r);
    }
    let gpu = match Gpu::new_blocking() {
        Ok(g) => g,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let r = match cli.cmd {
        Cmd::Info => {
            info(&gpu);
            Ok(())
        }
        Cmd::Bench(a) => bench::run(&gpu, &a),
        Cmd::Classify {
            arch,
            weights,
            image,
            resize,
            topk,
            json,
            f16,
        } => classify(
            &gpu,
            ClassifyArgs {
                arch,
                weights,
                image,
                resize,
                topk,
                json,
                f16,
            },
        ),
        Cmd::Crf(a) => crf::run(&gpu, &a),
        Cmd::TrainCls(a) => stages::train_cls(&gpu, &a),
        Cmd::Cam(a) => stages::cam(&gpu, &a),
        Cmd::AffLabels(a) => stages::aff_labels(&gpu, &a),
        Cmd::WeakMasks(a) => stages::weak_masks(&gpu, &a),
        Cmd::Interactive(a) => stages::interactive(&gpu, &a),
        Cmd::Spml(a) => stages::spml(&gpu, &a),
        Cmd::TrainAff(a) => stages::train_aff(&gpu, &a),
        Cmd::Rw(a) => stages::rw(&gpu, &a),
        Cmd::TrainSeg(a) => stages::train_seg(&gpu, &a),
        Cmd::Predict(a) => stages::predict(&gpu, &a),
        Cmd::Demo(a) => demo::demo(&gpu, &a),
        Cmd::Run(a) => demo::run(&gpu, &a),
        Cmd::Compare(a) => demo::compare(&gpu, &a),
        Cmd::Synth {
            out,
            synth: a,
            stats: true,
        } => demo::ensure_synth(&a.config(), &out)
            .and_then(|()| synth_stats(&gpu, &a.config(), &out)),
        Cmd::Synth { .. } | Cmd::Eval { .. } | Cmd::Show { .. } | Cmd::Verify { .. } => Ok(()),
    };
    if Gpu::profiling_requested() {
        eprintln!("{}", gpu.profile_report());
    }
    finish(r)
}

fn finish(r: weakseg::Result<()>) -> ExitCode {
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
