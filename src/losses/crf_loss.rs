//! The dense-CRF loss (Tang et al., ECCV 2018; `meng-tang/rloss`): the
//! relaxed Potts energy Σ_k S_kᵀ W (1 − S_k) of a soft segmentation S under
//! a bilateral affinity W (σ_rgb 15, σ_xy 100 by default), filtered on the
//! permutohedral lattice so it costs O(N) per label. It is small when
//! pixels that look alike and lie close share labels, which is what pulls
//! a segmentation learnt from scribbles, points or CAMs to image edges.
//! CoSA uses it as its regulariser. The normalized-cut loss (Tang et al.,
//! CVPR 2018) divides each label's cut by its volume under the same W.

use weakseg_kernels::launch::lattice::Lattice;
use weakseg_kernels::{Error, Result};

use crate::ResizeMode;
use crate::io::image::{IMAGENET_MEAN, IMAGENET_STD};
use crate::tensor::{DType, Tensor};

/// The bilateral affinity of a batch of images, ready to score soft
/// segmentations of them. The images of a batch share one lattice, placed
/// far enough apart along x that no two interact.
pub struct DenseCrfLoss {
    lattice: Lattice,
    shape: [usize; 3],
    /// W·1 per pixel [1, n] and its total.
    row_mass: Tensor,
    mass: Tensor,
}

impl DenseCrfLoss {
    /// rloss's defaults: σ_rgb 15, σ_xy 100.
    pub const SIGMA_RGB: f32 = 15.0;
    /// See [`DenseCrfLoss::SIGMA_RGB`].
    pub const SIGMA_XY: f32 = 100.0;

    /// The affinity of `images` ([B, 3, h, w], RGB in 0..255, at the
    /// resolution of the segmentations to score), with each map pixel
    /// `pixel` image pixels wide (the network's stride when scoring maps
    /// below the input resolution). One readback sizes the lattice.
    pub async fn new(images: &Tensor, sigma_rgb: f32, sigma_xy: f32, pixel: f32) -> Result<Self> {
        let s = images.shape();
        if s.len() != 4 || s[1] != 3 || s[0] * s[2] * s[3] == 0 {
            return Err(Error::invalid(
                "crf_loss",
                format!("images {s:?}; want [B, 3, h, w] with pixels"),
            ));
        }
        if !(sigma_rgb > 0.0 && sigma_xy > 0.0 && pixel > 0.0) {
            return Err(Error::invalid(
                "crf_loss",
                format!("σ_rgb {sigma_rgb}, σ_xy {sigma_xy} and pixel {pixel} must be positive"),
            ));
        }
        let (b, h, w) = (s[0], s[2], s[3]);
        let n = b * h * w;
        let step = pixel / sigma_xy;
        // Images sit 1000 lattice units apart: far beyond the blur's reach.
        let gap = w as f32 * step + 1000.0;
        let xy: Vec<f32> = (0..n)
            .flat_map(|i| {
                let (img, y, x) = (i / (h * w), i / w % h, i % w);
                [x as f32 * step + img as f32 * gap, y as f32 * step]
            })
            .collect();
        let gpu = images.gpu();
        let xy = Tensor::from_slice(gpu, &xy, &[n, 2])?;
        let rgb = images
            .detach()
            .permute(&[0, 2, 3, 1])?
            .reshape(&[n, 3])?
            .mul_scalar(1.0 / sigma_rgb)?;
        let features = Tensor::concat(&[xy, rgb], 1)?;
        let lattice = {
            let fh = features.held();
            Lattice::build(gpu, fh.v(), n, 5).await?
        };
        let ones = Tensor::ones(gpu, &[1, n])?;
        let row_mass = Tensor::empty(gpu, &[1, n], DType::F32)?;
        {
            let (oh, rh) = (ones.held(), row_mass.held());
            lattice.filter(gpu, oh.v(), rh.v(), 1, None, false)?;
        }
        let mass = row_mass.sum_all()?;
        Ok(DenseCrfLoss {
            lattice,
            shape: [b, h, w],
            row_mass,
            mass,
        })
    }

    /// The affinity of a batch of network inputs `x` ([B, 3, H, W],
    /// ImageNet-normalised as the data loader gives them) for segmentations
    /// of `size` (h, w): the images are un-normalised to 0..255 and resized
    /// to `size`, and a map pixel spans H/h input pixels.
    pub async fn for_inputs(
        x: &Tensor,
        size: (usize, usize),
        sigma_rgb: f32,
        sigma_xy: f32,
    ) -> Result<Self> {
        let s = x.shape();
        if s.len() != 4 || s[1] != 3 || size.0 == 0 || size.1 == 0 {
            return Err(Error::invalid(
                "crf_loss",
                format!("inputs {s:?} at {size:?}; want [B, 3, H, W] and a non-empty size"),
            ));
        }
        let g = x.gpu();
        let std: Vec<f32> = IMAGENET_STD.iter().map(|v| v * 255.0).collect();
        let mean: Vec<f32> = IMAGENET_MEAN.iter().map(|v| v * 255.0).collect();
        let rgb = x
            .detach()
            .interpolate(size, ResizeMode::Bilinear(false))?
            .mul(&Tensor::from_slice(g, &std, &[1, 3, 1, 1])?)?
            .add(&Tensor::from_slice(g, &mean, &[1, 3, 1, 1])?)?;
        Self::new(&rgb, sigma_rgb, sigma_xy, s[2] as f32 / size.0 as f32).await
    }

    fn filter(&self, p: &Tensor, labels: usize, reverse: bool) -> Result<Tensor> {
        let out = Tensor::empty(p.gpu(), p.shape(), DType::F32)?;
        let (ph, oh) = (p.held(), out.held());
        self.lattice
            .filter(p.gpu(), ph.v(), oh.v(), labels, None, reverse)?;
        Ok(out)
    }

    /// The loss of soft segmentations `probs` ([B, L, h, w], each pixel's
    /// labels summing to 1): Σ_k S_kᵀ W (1 − S_k) divided by 1ᵀW1, the
    /// affinity-weighted share of pixel pairs whose labels disagree (the
    /// normalisation is ours; rloss scales the raw energy by a weight).
    /// Differentiable in `probs`; the images are constants.
    pub fn loss(&self, probs: &Tensor) -> Result<Tensor> {
        let [b, h, w] = self.shape;
        let s = probs.shape();
        if s.len() != 4 || s[0] != b || s[2] != h || s[3] != w || s[1] == 0 {
            return Err(Error::invalid(
                "crf_loss",
                format!("segmentation {s:?} for images of [{b}, _, {h}, {w}]"),
            ));
        }
        let labels = s[1];
        let n = b * h * w;
        let rows = |t: &Tensor| t.permute(&[1, 0, 2, 3])?.reshape(&[labels, n]);
        let p = rows(&probs.detach())?;
        let wp = self.filter(&p, labels, false)?;
        let energy = p
            .mul(&self.row_mass.sub(&wp)?)?
            .sum_all()?
            .div(&self.mass)?;
        let wtp = self.filter(&p, labels, true)?;
        // ∂/∂S_k = W·1 − (W + Wᵀ) S_k, over the mass.
        let grad = self.row_mass.sub(&wp.add(&wtp)?)?.div(&self.mass)?;
        let shape = s.to_vec();
        let back = Tensor::record(energy, &[probs], move |g| {
            let gp = grad
                .mul(g)?
                .reshape(&[labels, shape[0], shape[2], shape[3]])?
                .permute(&[1, 0, 2, 3])?;
            Ok(vec![Some(gp)])
        });
        Ok(back)
    }

    /// The normalized-cut loss of `probs` ([B, L, h, w]): per image,
    /// Σ_k S_kᵀ W (1 − S_k) / (dᵀ S_k) with d = W·1, averaged over the
    /// batch's images. Each label's cut is measured against its own volume,
    /// so small segments are not favoured as they are by the plain cut. The
    /// volume has one pixel's mass (1) added, so a label absent from an
    /// image contributes nothing instead of 0/0. Differentiable in `probs`.
    pub fn normalized_cut(&self, probs: &Tensor) -> Result<Tensor> {
        let [b, h, w] = self.shape;
        let s = probs.shape();
        if s.len() != 4 || s[0] != b || s[2] != h || s[3] != w || s[1] == 0 {
            return Err(Error::invalid(
                "normalized_cut",
                format!("segmentation {s:?} for images of [{b}, _, {h}, {w}]"),
            ));
        }
        let labels = s[1];
        let n = b * h * w;
        let p = probs
            .detach()
            .permute(&[1, 0, 2, 3])?
            .reshape(&[labels, n])?;
        let wp = self.filter(&p, labels, false)?;
        let wtp = self.filter(&p, labels, true)?;
        let per_image = |t: &Tensor, rows: usize| t.reshape(&[rows, b, h * w]);
        let d = per_image(&self.row_mass, 1)?;
        let (p3, wp3) = (per_image(&p, labels)?, per_image(&wp, labels)?);
        // Cut a = S_kᵀ(d − W S_k) and volume v = dᵀS_k + 1, per label and image.
        let cut = p3.mul(&d.sub(&wp3)?)?.sum(&[2], true)?;
        let volume = p3.mul(&d)?.sum(&[2], true)?.add_scalar(1.0)?;
        let ratio = cut.div(&volume)?;
        let value = ratio.sum_all()?.mul_scalar(1.0 / b as f32)?;
        // ∂/∂S_k = (d − (W + Wᵀ) S_k) / v − a d / v², over the images.
        let grad = d
            .sub(&per_image(&wp.add(&wtp)?, labels)?)?
            .div(&volume)?
            .sub(&d.mul(&ratio.div(&volume)?)?)?
            .mul_scalar(1.0 / b as f32)?;
        let shape = s.to_vec();
        Ok(Tensor::record(value, &[probs], move |g| {
            let gp = grad
                .mul(g)?
                .reshape(&[labels, shape[0], shape[2], shape[3]])?
                .permute(&[1, 0, 2, 3])?;
            Ok(vec![Some(gp)])
        }))
    }
}
