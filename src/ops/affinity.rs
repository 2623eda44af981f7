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

/// IRN's path from a source pixel to its partner at `(dy, dx)` (irn
/// `misc/indexing.py`, `PathIndex.get_search_paths_dst`): every grid point
/// (y, x) of the pair's bounding box whose distance to the segment's line,
/// |dy·x − dx·y| / √(dy² + dx²), is below 1, both ends included, nearest
/// first. A one-pixel boundary cannot slip between two of its points.
pub fn path_steps((dy, dx): (i32, i32)) -> Vec<(i32, i32)> {
    let length_sq = (dy * dy + dx * dx) as i64;
    if length_sq == 0 {
        return vec![(0, 0)];
    }
    let mut path: Vec<(i32, i32)> = (dy.min(0)..=dy.max(0))
        .flat_map(|y| (dx.min(0)..=dx.max(0)).map(move |x| (y, x)))
        .filter(|&(y, x)| {
            let cross = (dy * x - dx * y) as i64;
            cross * cross < length_sq
        })
        .collect();
    path.sort_by_key(|&(y, x)| (y.abs() + x.abs(), y, x));
    path
}

impl Tensor {
    /// IRN's affinities [B, D, H, W] of a boundary map [B, 1, H, W] for the
    /// D `offsets`: 1 − the largest boundary probability on the straight
    /// path between the two pixels (both included), 0 where the partner
    /// leaves the grid. Built from index_select and max, so its gradient
    /// reaches the path's maximum.
    pub fn path_affinity(&self, offsets: &PairOffsets) -> Result<Tensor> {
        let op = "path_affinity";
        self.check_dtype(op, DType::F32)?;
        let (b, h, w) = match *self.shape() {
            [b, 1, h, w] => (b, h, w),
            ref s => {
                return Err(Error::invalid(
                    op,
                    format!("expects a boundary map [B, 1, H, W], got {s:?}"),
                ));
            }
        };
        let paths: Vec<Vec<(i32, i32)>> = offsets.list.iter().map(|&o| path_steps(o)).collect();
        let k = paths.iter().map(Vec::len).max().unwrap_or(1);
        let hw = h * w;
        let outside = u32::try_from(hw).map_err(|_| Error::invalid(op, "grid too large"))?;
        let mut index = Vec::with_capacity(paths.len() * k * hw);
        for (path, &(dy, dx)) in paths.iter().zip(&offsets.list) {
            for step in 0..k {
                let (sy, sx) = path[step.min(path.len() - 1)];
                for y in 0..h {
                    for x in 0..w {
                        let inside = |v: usize, d: i32, n: usize| {
                            v.checked_add_signed(d as isize).filter(|&q| q < n)
                        };
                        index.push(match (inside(y, dy, h), inside(x, dx, w)) {
                            (Some(_), Some(_)) => {
                                let py = (y as isize + sy as isize) as usize;
                                let px = (x as isize + sx as isize) as usize;
                                (py * w + px) as u32
                            }
                            _ => outside,
                        });
                    }
                }
            }
        }
        let index = Tensor::from_slice(self.gpu(), &index, &[index.len()])?;
        let flat = self.reshape(&[b, hw])?;
        let padded = Tensor::concat(&[flat, Tensor::ones(self.gpu(), &[b, 1])?], 1)?;
        let (peak, _) = padded
            .index_select(1, &index)?
            .reshape(&[b, offsets.len(), k, hw])?
            .max_axis(2, false)?;
        peak.affine(-1.0, 1.0)?.reshape(&[b, offsets.len(), h, w])
    }
}
