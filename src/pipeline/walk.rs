//! Stage `rw` (psa's `infer_aff.py`): each image's CAMs, with the
//! background (1 − max)^α, averaged onto AffinityNet's grid and propagated
//! by the random walk over the image's predicted affinities; the walked
//! scores are upsampled and their argmax saved as the pseudo-mask
//! `rw/ID.png`. Where ground truth exists, the pseudo-masks' mIoU. With
//! IRN's boundary network the grid CAMs are first multiplied by
//! 1 − boundary, as IRN's `make_sem_seg_labels` does; IRN's thresholded
//! background is a setting of the walk ([`RandomWalk::bg_threshold`]).

use std::path::Path;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use weakseg_kernels::{Gpu, Result};

use crate::data::Dataset;
use crate::data::voc::{MaskSource, VocDataset, VocOptions, list_path};
use crate::io::labels::LabelMap;
use crate::io::{image, npy};
use crate::metrics::MaskScore;
use crate::ops::affinity::PairOffsets;
use crate::pipeline::affinity::{self, RelationNet};
use crate::pipeline::fingerprint::Input;
use crate::pipeline::results::StageResults;
use crate::pipeline::scoring::{GroundTruth, Scoring};
use crate::pipeline::stage::{Manifest, Stage};
use crate::pipeline::validate;
use crate::refine::crf::{CrfParams, refine_scores};
use crate::refine::random_walk::{self, RandomWalk};
use crate::{Tensor, no_grad};

/// Settings of the random-walk stage.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WalkSettings {
    /// Images (split name or file).
    pub list: String,
    /// β, t, background α and the dense/iterative form.
    pub walk: RandomWalk,
    /// A dense CRF that refines the walked scores into the pseudo-masks,
    /// as psa's paper does for its RW + dCRF row and its author advises
    /// before training the segmenter (psa#10). Off by default: on the
    /// synthetic benchmark it raises the masks' mIoU by a point but the
    /// segmenter trained on them loses eight (docs/results.md, "The demo's
    /// results"). None: the walk's argmax.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crf: Option<CrfParams>,
    /// The images and masks its label maps are scored on (every image
    /// with a mask when left out; left out of the fingerprint then).
    #[serde(skip_serializing_if = "Scoring::is_default")]
    pub eval: Scoring,
}

impl WalkSettings {
    /// The list, the walk's and the dense CRF's parameters, checked before
    /// any work.
    pub fn validate(&self, data: &Path) -> Result<()> {
        self.walk.validate()?;
        self.crf.as_ref().map_or(Ok(()), CrfParams::validate)?;
        validate::list("rw", data, &self.list)
    }
}

impl Default for WalkSettings {
    fn default() -> Self {
        WalkSettings {
            list: "train".into(),
            walk: RandomWalk::default(),
            crf: None,
            eval: Scoring::default(),
        }
    }
}

/// Writes the random-walk pseudo-masks of `s.list` from the CAMs in
/// `cams_dir` (the `cam` stage) and the affinity network at `affinity_net`.
pub fn run(
    gpu: &Gpu,
    data: &Path,
    affinity_net: &Path,
    cams_dir: &Path,
    out: &Path,
    s: &WalkSettings,
    mut progress: impl FnMut(usize, usize),
) -> Result<Manifest> {
    s.validate(data)?;
    let list = list_path(data, &s.list);
    let inputs = [
        Input::data(data, &list),
        Input::file(affinity_net),
        Input::upstream(cams_dir, &list),
    ];
    let mut stage = Stage::new("rw", out, s, &inputs)?;
    if let Some(m) = stage.done()? {
        return Ok(m);
    }
    let t = Instant::now();
    let (net, offsets) = affinity::load(gpu, affinity_net)?;
    let stride = net.grid_stride();
    let mut opts = VocOptions::split(&s.list);
    opts.masks = MaskSource::None;
    let ds = VocDataset::open(data, &opts)?;
    let mut truth = GroundTruth::open(data, &s.list, &s.eval)?;
    let k = ds.classes.len();
    let mut score = MaskScore::new(k + 1);
    let mut walk_score = MaskScore::new(k + 1);
    validate::largest_image_fits("rw", &ds, |h, w| {
        let (gh, gw) = net.grid(h, w);
        let x = Tensor::zeros(gpu, &[1, 3, h, w])?;
        let grid = Tensor::zeros(gpu, &[k + 1, gh, gw])?;
        walk_image(&net, &offsets, &s.walk, &x, grid, (h, w)).map(drop)
    })?;
    let mut outputs = Vec::with_capacity(ds.len());
    for i in 0..ds.len() {
        let id = &ds.records[i].id;
        let smp = ds.sample(i, 0)?;
        let (h, w) = (smp.height, smp.width);
        let cam_path = cams_dir.join(format!("cams/{id}.npy"));
        let cams = npy::read_shaped(&cam_path, &[Some(k), Some(h), Some(w)])?;
        let present: Vec<bool> = smp.labels.iter().map(|&v| v > 0.0).collect();
        let x = Tensor::from_slice(gpu, &smp.image, &[1, 3, h, w])?;
        let (gh, gw) = net.grid(h, w);
        let scores = s.walk.input(&cams.data, &present, h * w)?;
        let grid = Tensor::from_slice(
            gpu,
            &random_walk::block_mean(&scores, k + 1, (h, w), stride),
            &[k + 1, gh, gw],
        )?;
        let walked = walk_image(&net, &offsets, &s.walk, &x, grid, (h, w))?;
        let argmax = walked.argmax(0)?.to_vec_blocking::<u32>()?;
        let gt = truth.mask(id, (w, h))?;
        walk_score.add_labels(&to_labels(&argmax), gt.as_deref())?;
        let labels = match &s.crf {
            Some(c) => {
                let img = image::read(&ds.records[i].image)?;
                let scores = walked.to_vec_blocking::<f32>()?;
                pollster::block_on(refine_scores(gpu, &img, &scores, k + 1, c))?
                    .to_vec_blocking::<u32>()?
            }
            None => argmax,
        };
        let map = LabelMap {
            width: w,
            height: h,
            data: to_labels(&labels),
        };
        outputs.push(stage.write_labels(format!("rw/{id}.png"), &map)?);
        score.add_labels(&map.data, gt.as_deref())?;
        progress(i + 1, ds.len());
    }
    let mut results = StageResults {
        miou: score.miou(),
        ..StageResults::default()
    };
    if let (Some(_), Some(miou)) = (results.miou, walk_score.miou()) {
        results.walk_miou = Some(miou);
        results.scored_on = Some(truth.describe());
    }
    stage.finish(t.elapsed().as_secs_f64(), outputs, results)
}

/// Class indices as the bytes of a label map.
fn to_labels(v: &[u32]) -> Vec<u8> {
    v.iter().map(|&c| c as u8).collect()
}

/// The walked scores [k + 1, h, w] of image `x` [1, 3, h, w] from its
/// block-averaged scores `grid` [k + 1, gh, gw]: the net's affinities (for
/// IRN's boundary net, the class planes also damped by the boundary map),
/// the random walk, upsampling and the background's finish.
fn walk_image(
    net: &RelationNet,
    offsets: &PairOffsets,
    walk: &RandomWalk,
    x: &Tensor,
    grid: Tensor,
    (h, w): (usize, usize),
) -> Result<Tensor> {
    let (gh, gw) = net.grid(h, w);
    let k = grid.shape()[0] - 1;
    let (aff, grid) = match net {
        RelationNet::Boundary(b) => no_grad(|| {
            let boundary = b.boundary_flip_averaged(x)?;
            let keep = boundary.affine(-1.0, 1.0)?.reshape(&[1, gh, gw])?;
            let classes = grid.narrow(0, 1, k)?.mul(&keep)?;
            Ok((
                boundary.path_affinity(offsets)?,
                Tensor::concat(&[grid.narrow(0, 0, 1)?, classes], 0)?,
            ))
        })?,
        RelationNet::Features(_) => (no_grad(|| net.affinities(x, offsets))?, grid),
    };
    let walked = walk.propagate(&aff, offsets, &grid)?;
    walk.finish_background(random_walk::upsample(&walked, net.grid_stride(), (h, w))?)
}
