//! Pixel-pair affinities on a feature grid (AffinityNet): for each pixel p
//! and each offset o of a half-disc, a = exp(−mean_c |f_p − f_{p+o}|).
//! Each unordered pair within the radius appears once.

use weakseg_kernels::launch::affinity::{self as ak, PairShape};
use weakseg_kernels::{Error, Gpu, Result};

use crate::tensor::{DType, Tensor};

/// The offsets of the pairs: (row, col) steps from a source pixel to its
/// partner, held on the device for the kernels.
#[derive(Clone)]
pub struct PairOffsets {
    /// The (row, col) offsets in kernel order.
    pub list: Vec<(i32, i32)>,
    tensor: Tensor,
}

impl PairOffsets {
    /// psa's half-disc of `radius`: (0, x) for 1 ≤ x < r, then (y, x) for
    /// 1 ≤ y < r, |x| < r, x² + y² < r². Radius 5 gives 34 offsets.
    pub fn half_disc(gpu: &Gpu, radius: usize) -> Result<PairOffsets> {
        let r = i32::try_from(radius)
            .ok()
            .filter(|r| (2..=64).contains(r))
            .ok_or_else(|| {
                Error::invalid("pair offsets", format!("radius {radius} outside 2..=64"))
            })?;
        let mut list: Vec<(i32, i32)> = (1..r).map(|x| (0, x)).collect();
        for y in 1..r {
            for x in (1 - r)..r {
                if x * x + y * y < r * r {
                    list.push((y, x));
                }
            }
        }
        let flat: Vec<i32> = list.iter().flat_map(|&(y, x)| [y, x]).collect();
        let tensor = Tensor::from_slice(gpu, &flat, &[flat.len()])?;
        Ok(PairOffsets { list, tensor })
    }

    /// Number of offsets.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// Whether there are none (never, for a built list).
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The device copy (i32 pairs).
    pub(crate) fn tensor(&self) -> &Tensor {
        &self.tensor
    }

    /// The shape the kernels take for a [B, C, H, W] feature grid.
    pub(crate) fn shape(&self, op: &'static str, shape: &[usize]) -> Result<PairShape> {
        match *shape {
            [batch, channels, h, w] => Ok(PairShape {
                batch,
                channels,
                h,
                w,
                pairs: self.len(),
            }),
            ref s => Err(Error::invalid(
                op,
                format!("expects [B, C, H, W], got {s:?}"),
            )),
        }
    }
}

impl Tensor {
    /// Affinities [B, D, H, W] of a feature grid [B, C, H, W] for the D
    /// `offsets`: exp(−mean_c |f_p − f_{p+o}|), 0 where p + o leaves the grid.
    pub fn pair_affinity(&self, offsets: &PairOffsets) -> Result<Tensor> {
        let op = "pair_affinity";
        self.check_dtype(op, DType::F32)?;
        self.same_device(op, offsets.tensor())?;
        let s = offsets.shape(op, self.shape())?;
        if s.channels == 0 {
            return Err(Error::invalid(op, "features have no channels"));
        }
        let aff = Tensor::empty(self.gpu(), &[s.batch, s.pairs, s.h, s.w], DType::F32)?;
        {
            let (oh, fh, ah) = (offsets.tensor().held(), self.held(), aff.held());
            ak::pair_affinity(self.gpu(), s, oh.v(), fh.v(), ah.v())?;
        }
        let (feat, off, out) = (self.detach(), offsets.tensor().clone(), aff.detach());
        Ok(Tensor::record(aff, &[self], move |g| {
            let dx = Tensor::empty(g.gpu(), feat.shape(), DType::F32)?;
            let (oh, fh, ah, gh, dh) = (off.held(), feat.held(), out.held(), g.held(), dx.held());
            ak::pair_affinity_backward(g.gpu(), s, oh.v(), fh.v(), ah.v(), gh.v(), dh.v())?;
            drop((oh, fh, ah, gh, dh));
            Ok(vec![Some(dx)])
        }))
    }
}
