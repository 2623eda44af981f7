//! Launchers for `shaders/affinity.wgsl`: AffinityNet's pair affinities
//! (forward and backward) and the random walk's column sums, sparse step and
//! dense transition matrix.

use crate::batch::Params;
use crate::device::Gpu;
use crate::error::{Error, Result};
use crate::pipeline::Kernel;
use crate::shaders::Shader;
use crate::view::{View, u32_of};

/// A grid of `h` × `w` pixels with `batch` images, `channels` feature
/// channels and `pairs` offsets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PairShape {
    /// Images.
    pub batch: usize,
    /// Feature channels.
    pub channels: usize,
    /// Grid rows.
    pub h: usize,
    /// Grid columns.
    pub w: usize,
    /// Offsets (the length of the offset list / 2).
    pub pairs: usize,
}

impl PairShape {
    /// Pixels per grid.
    pub fn hw(&self) -> usize {
        self.h * self.w
    }

    fn params(&self, op: &'static str, total: usize) -> Result<Params> {
        if self.pairs == 0 {
            return Err(Error::invalid(op, "the offset list is empty"));
        }
        Ok(Params::new(&[
            u32_of(op, total)?,
            u32_of(op, self.pairs)?,
            u32_of(op, self.channels.max(1))?,
            u32_of(op, self.h)?,
            u32_of(op, self.w)?,
        ]))
    }

    /// Parameters of the random-walk kernels (one image, no channels).
    fn rw_params(&self, op: &'static str, total: usize) -> Result<Params> {
        if self.pairs == 0 {
            return Err(Error::invalid(op, "the offset list is empty"));
        }
        Ok(Params::new(&[
            u32_of(op, total)?,
            u32_of(op, self.pairs)?,
            u32_of(op, self.h)?,
            u32_of(op, self.w)?,
        ]))
    }
}

/// aff[b, d, p] = exp(−mean_c |feat[b, c, p] − feat[b, c, p + o_d]|), 0 where
/// p + o_d leaves the grid. `offsets` holds (row, col) pairs as i32.
pub fn pair_affinity(gpu: &Gpu, s: PairShape, offsets: View, feat: View, aff: View) -> Result<()> {
    let op = "pair_affinity";
    let total = s.batch * s.pairs * s.hw();
    offsets.need(op, "offsets", 2 * s.pairs)?;
    feat.need(op, "features", s.batch * s.channels * s.hw())?;
    aff.need(op, "affinities", total)?;
    gpu.launch(
        op,
        Kernel::new(Shader::Affinity, "pair_affinity"),
        &s.params(op, total)?,
        &[offsets.read(1), feat.read(2), aff.write(3)],
        total as u64,
    )
}

/// The gradient of [`pair_affinity`] with respect to the features, given the
/// forward's output `aff` and its gradient `grad_aff`.
pub fn pair_affinity_backward(
    gpu: &Gpu,
    s: PairShape,
    offsets: View,
    feat: View,
    aff: View,
    grad_aff: View,
    grad_feat: View,
) -> Result<()> {
    let op = "pair_affinity_backward";
    let total = s.batch * s.channels * s.hw();
    let pairs = s.batch * s.pairs * s.hw();
    offsets.need(op, "offsets", 2 * s.pairs)?;
    feat.need(op, "features", total)?;
    aff.need(op, "affinities", pairs)?;
    grad_aff.need(op, "affinity gradient", pairs)?;
    grad_feat.need(op, "feature gradient", total)?;
    gpu.launch(
        op,
        Kernel::new(Shader::Affinity, "pair_affinity_backward"),
        &s.params(op, total)?,
        &[
            offsets.read(1),
            feat.read(2),
            aff.read(3),
            grad_aff.read(4),
            grad_feat.write(5),
        ],
        total as u64,
    )
}

/// colsum[j] = 1 + Σ of the pair weights [D, N] touching pixel j: the column
/// sums of the walk's affinity matrix (one image; `s.batch` and
/// `s.channels` are ignored).
pub fn rw_colsum(
    gpu: &Gpu,
    s: PairShape,
    offsets: View,
    weights: View,
    colsum: View,
) -> Result<()> {
    let op = "rw_colsum";
    let n = s.hw();
    offsets.need(op, "offsets", 2 * s.pairs)?;
    weights.need(op, "weights", s.pairs * n)?;
    colsum.need(op, "column sums", n)?;
    gpu.launch(
        op,
        Kernel::new(Shader::Affinity, "rw_colsum"),
        &s.rw_params(op, n)?,
        &[offsets.read(1), weights.read(2), colsum.write(3)],
        n as u64,
    )
}

/// One random-walk step of `rows` vectors [rows, N]: out = v T with the
/// column-normalised transition T of `weights` and `colsum`.
#[allow(clippy::too_many_arguments)] // shape, row count and five operands
pub fn rw_step(
    gpu: &Gpu,
    s: PairShape,
    rows: usize,
    offsets: View,
    weights: View,
    colsum: View,
    v: View,
    out: View,
) -> Result<()> {
    let op = "rw_step";
    let n = s.hw();
    let total = rows * n;
    offsets.need(op, "offsets", 2 * s.pairs)?;
    weights.need(op, "weights", s.pairs * n)?;
    colsum.need(op, "column sums", n)?;
    v.need(op, "input", total)?;
    out.need(op, "output", total)?;
    gpu.launch(
        op,
        Kernel::new(Shader::Affinity, "rw_step"),
        &s.rw_params(op, total)?,
        &[
            offsets.read(1),
            weights.read(2),
            colsum.read(3),
            v.read(4),
            out.write(5),
        ],
        total as u64,
    )
}

/// The dense N×N transition matrix T[i, j] = w_ij / colsum[j].
pub fn rw_dense(
    gpu: &Gpu,
    s: PairShape,
    offsets: View,
    weights: View,
    colsum: View,
    trans: View,
) -> Result<()> {
    let op = "rw_dense";
    let n = s.hw();
    let total = n * n;
    offsets.need(op, "offsets", 2 * s.pairs)?;
    weights.need(op, "weights", s.pairs * n)?;
    colsum.need(op, "column sums", n)?;
    trans.need(op, "transition matrix", total)?;
    gpu.launch(
        op,
        Kernel::new(Shader::Affinity, "rw_dense"),
        &s.rw_params(op, total)?,
        &[
            offsets.read(1),
            weights.read(2),
            colsum.read(3),
            trans.write(4),
        ],
        total as u64,
    )
}
