//! Embedding weakseg as a crate: load a trained CAM classifier, compute the
//! multi-scale CAMs of one image, and refine them with the dense CRF into a
//! label mask — the library calls a user would copy.
//!
//! ```sh
//! cargo run --release --example cam_to_mask -- CLASSIFIER.safetensors IMAGE.jpg MASK.png
//! ```
//! The image's classes are the classifier's confident predictions
//! (sigmoid > 0.5, at least the best one).

use std::path::Path;

use weakseg::cam::{self, MultiScale};
use weakseg::io::{image, labels};
use weakseg::methods::MethodNet;
use weakseg::refine::cam_crf::crf_labels;
use weakseg::refine::crf::{CrfParams, DenseCrf};
use weakseg::{Error, Gpu, Tensor, no_grad};

fn main() -> weakseg::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [ckpt, img_path, out] = args.as_slice() else {
        return Err(Error::invalid(
            "cam_to_mask",
            "usage: CLASSIFIER IMAGE MASK.png",
        ));
    };
    let gpu = Gpu::new_blocking()?;
    let net = MethodNet::load(&gpu, Path::new(ckpt))?;
    let rgb = image::read(Path::new(img_path))?;
    let (h, w) = (rgb.height, rgb.width);
    let x = Tensor::from_slice(&gpu, &image::normalize_imagenet(&rgb), &[1, 3, h, w])?;

    // Which classes the image shows, from the classifier itself.
    let logits: Vec<f32> = no_grad(|| net.logits(&x))?.to_vec_blocking()?;
    let best = (0..logits.len()).max_by(|&a, &b| logits[a].total_cmp(&logits[b]));
    let present: Vec<bool> = (0..logits.len())
        .map(|k| logits[k] > 0.0 || Some(k) == best)
        .collect();

    // CAMs [K, H, W] at scales 1, 0.5, 1.5, 2 with flips, normalised to [0, 1].
    let cams: Vec<f32> =
        cam::multiscale(&net, &x, &present, &MultiScale::default())?.to_vec_blocking()?;

    // Background (1 − max CAM)^4, then psa's dense CRF on the image.
    let crf = DenseCrf::new_blocking(&gpu, &rgb, &CrfParams::default())?;
    let mask = pollster::block_on(crf_labels(&crf, &gpu, &cams, &present, (h, w), 4.0))?;
    labels::write(
        Path::new(out),
        &labels::LabelMap {
            width: w,
            height: h,
            data: mask,
        },
    )?;
    println!(
        "{out}: classes {:?}",
        (0..present.len())
            .filter(|&k| present[k])
            .map(|k| k + 1)
            .collect::<Vec<_>>()
    );
    Ok(())
}
