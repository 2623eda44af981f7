//! Layout ops: reshape (no copy), expand, permute/transpose, narrow/split,
//! concat, constant pad, flip, index_select/gather and scatter_add.

use weakseg_kernels::launch::layout::{self as lk, Gather, Strided};
use weakseg_kernels::view::{broadcast_strides, contiguous_strides};
use weakseg_kernels::{Error, Result};

use crate::tensor::{DType, Tensor};

fn istrides(s: &[usize]) -> Vec<i64> {
    s.iter().map(|&v| v as i64).collect()
}

fn copy(src: &Tensor, dst: &Tensor, s: &Strided) -> Result<()> {
    src.check_words("strided copy")?;
    let (sh, dh) = (src.held(), dst.held());
    lk::strided_copy(src.gpu(), sh.v(), dh.v(), s)
}

/// A tensor of `shape` filled with `value`, with `src` copied into the box
/// starting at `start` (per axis).
fn embed(src: &Tensor, shape: &[usize], start: &[usize], value: f32) -> Result<Tensor> {
    let out = Tensor::full(src.gpu(), shape, value)?;
    let ds = contiguous_strides(shape);
    let off: usize = start.iter().zip(&ds).map(|(a, b)| a * b).sum();
    copy(
        src,
        &out,
        &Strided {
            shape: src.shape().to_vec(),
            src_offset: 0,
            src_strides: istrides(&contiguous_strides(src.shape())),
            dst_offset: off as i64,
            dst_strides: istrides(&ds),
        },
    )?;
    Ok(out)
}

/// The box of `size` starting at `start` cut out of `src`.
fn extract(src: &Tensor, start: &[usize], size: &[usize]) -> Result<Tensor> {
    let out = Tensor::empty(src.gpu(), size, src.dtype())?;
    let ss = contiguous_strides(src.shape());
    let off: usize = start.iter().zip(&ss).map(|(a, b)| a * b).sum();
    copy(
        src,
        &out,
        &Strided {
            shape: size.to_vec(),
            src_offset: off as i64,
            src_strides: istrides(&ss),
            dst_offset: 0,
            dst_strides: istrides(&contiguous_strides(size)),
        },
    )?;
    Ok(out)
}

impl Tensor {
    /// The same elements under another shape (no copy). One axis may be
    /// given as `usize::MAX` to be inferred.
    pub fn reshape(&self, shape: &[usize]) -> Result<Tensor> {
        let mut shape = shape.to_vec();
        let known: usize = shape.iter().filter(|&&d| d != usize::MAX).product();
        if let Some(p) = shape.iter().position(|&d| d == usize::MAX) {
            if known == 0 || !self.numel().is_multiple_of(known) {
                return Err(Error::invalid(
                    "reshape",
                    format!(
                        "cannot infer an axis reshaping {:?} to {shape:?}",
                        self.shape()
                    ),
                ));
            }
            shape[p] = self.numel() / known;
        }
        if shape.iter().product::<usize>() != self.numel() {
            return Err(Error::invalid(
                "reshape",
                format!(
                    "{:?} ({} elements) cannot become {shape:?}",
                    self.shape(),
                    self.numel()
                ),
            ));
        }
        let orig = self.shape().to_vec();
        Ok(Tensor::record(self.alias(shape), &[self], move |g| {
            Ok(vec![Some(g.reshape(&orig)?)])
        }))
    }

    /// Broadcasts to `shape` (materialised); the gradient sums back.
    pub fn expand(&self, shape: &[usize]) -> Result<Tensor> {
        if self.shape() == shape {
            return Ok(self.clone());
        }
        let st = broadcast_strides(self.shape(), shape).ok_or_else(|| {
            Error::invalid(
                "expand",
                format!("{:?} does not broadcast to {shape:?}", self.shape()),
            )
        })?;
        let out = Tensor::empty(self.gpu(), shape, self.dtype())?;
        copy(
            self,
            &out,
            &Strided {
                shape: shape.to_vec(),
                src_offset: 0,
                src_strides: istrides(&st),
                dst_offset: 0,
                dst_strides: istrides(&contiguous_strides(shape)),
            },
        )?;
        let orig = self.shape().to_vec();
        Ok(Tensor::record(out, &[self], move |g| {
            Ok(vec![Some(super::elementwise::sum_to(g, &orig)?)])
        }))
    }

    /// Reorders axes: output axis i is input axis dims[i].
    pub fn permute(&self, dims: &[usize]) -> Result<Tensor> {
        let r = self.rank();
        let mut seen = vec![false; r];
        if dims.len() != r
            || dims
                .iter()
                .any(|&d| d >= r || std::mem::replace(&mut seen[d], true))
        {
            return Err(Error::invalid(
                "permute",
                format!(
                    "{dims:?} is not a permutation of the axes of {:?}",
                    self.shape()
                ),
            ));
        }
        let cs = contiguous_strides(self.shape());
        let shape: Vec<usize> = dims.iter().map(|&d| self.shape()[d]).collect();
        let out = Tensor::empty(self.gpu(), &shape, self.dtype())?;
        let src_strides: Vec<i64> = dims.iter().map(|&d| cs[d] as i64).collect();
        copy(
            self,
            &out,
            &Strided {
                shape: shape.clone(),
                src_offset: 0,
                src_strides,
                dst_offset: 0,
                dst_strides: istrides(&contiguous_strides(&shape)),
            },
        )?;
        let mut inv = vec![0; r];
        for (i, &d) in dims.iter().enumerate() {
            inv[d] = i;
        }
        Ok(Tensor::record(out, &[self], move |g| {
            Ok(vec![Some(g.permute(&inv)?)])
        }))
    }

    /// Swaps two axes.
    pub fn transpose(&self, a: usize, b: usize) -> Result<Tensor> {
        let mut dims: Vec<usize> = (0..self.rank()).collect();
        if a >= dims.len() || b >= dims.len() {
            return Err(Error::invalid(
                "transpose",
                format!("axes {a}, {b} out of range for {:?}", self.shape()),
            ));
        }
        dims.swap(a, b);
        self.permute(&dims)
    }

    /// `len` entries of `axis` starting at `start` (copied).
    pub fn narrow(&self, axis: usize, start: usize, len: usize) -> Result<Tensor> {
        if axis >= self.rank() || start + len > self.shape()[axis] {
            return Err(Error::invalid(
                "narrow",
                format!(
                    "axis {axis} range {start}..{} outside {:?}",
                    start + len,
                    self.shape()
                ),
            ));
        }
        let mut begin = vec![0; self.rank()];
        begin[axis] = start;
        let mut size = self.shape().to_vec();
        size[axis] = len;
        let out = extract(self, &begin, &size)?;
        let full = self.shape().to_vec();
        Ok(Tensor::record(out, &[self], move |g| {
            Ok(vec![Some(embed(g, &full, &begin, 0.0)?)])
        }))
    }

    /// Splits `axis` into pieces of the given sizes.
    pub fn split(&self, axis: usize, sizes: &[usize]) -> Result<Vec<Tensor>> {
        if axis >= self.rank() || sizes.iter().sum::<usize>() != self.shape()[axis] {
            return Err(Error::invalid(
                "split",
                format!(
                    "sizes {sizes:?} do not cover axis {axis} of {:?}",
                    self.shape()
                ),
            ));
        }
        let mut start = 0;
        sizes
            .iter()
            .map(|&s| {
                let t = self.narrow(axis, start, s);
                start += s;
                t
            })
            .collect()
    }

    /// Joins tensors along an axis; all other axes must agree.
    pub fn concat(parts: &[Tensor], axis: usize) -> Result<Tensor> {
        let first = parts
            .first()
            .ok_or_else(|| Error::invalid("concat", "no tensors given"))?;
        if axis >= first.rank() {
            return Err(Error::invalid(
                "concat",
                format!("axis {axis} out of range for {:?}", first.shape()),
            ));
        }
        let mut shape = first.shape().to_vec();
        shape[axis] = 0;
        for p in parts {
            p.same_device("concat", first)?;
            let ok = p.rank() == first.rank()
                && p.dtype() == first.dtype()
                && (0..p.rank()).all(|i| i == axis || p.shape()[i] == first.shape()[i]);
            if !ok {
                return Err(Error::invalid(
                    "concat",
                    format!(
                        "{:?} does not match {:?} off axis {axis}",
                        p.shape(),
                        first.shape()
                    ),
                ));
            }
            shape[axis] += p.shape()[axis];
        }
        let out = Tensor::empty(first.gpu(), &shape, first.dtype())?;
        let ds = contiguous_strides(&shape);
        let mut at = 0;
        let mut sizes = Vec::new();
        for p in parts {
            copy(
                p,
                &out,
                &Strided {
                    shape: p.shape().to_vec(),
                    src_offset: 0,
                    src_strides: istrides(&contiguous_strides(p.shape())),
                    dst_offset: (at * ds[axis]) as i64,
                    dst_strides: istrides(&ds),
                },
            )?;
            at += p.shape()[axis];
            sizes.push(p.shape()[axis]);
        }
        let refs: Vec<&Tensor> = parts.iter().collect();
        Ok(Tensor::record(out, &refs, move |g| {
            Ok(g.split(axis, &sizes)?.into_iter().map(Some).collect())
        }))
    }

    /// Pads every axis by (before, after) entries of `value`.
    pub fn pad(&self, pads: &[(usize, usize)], value: f32) -> Result<Tensor> {
        if pads.len() != self.rank() {
            return Err(Error::invalid(
                "pad",
                format!(
                    "{} (before, after) pairs for shape {:?}",
                    pads.len(),
                    self.shape()
                ),
            ));
        }
        let shape: Vec<usize> = self
            .shape()
            .iter()
            .zip(pads)
            .map(|(d, (a, b))| d + a + b)
            .collect();
        let begin: Vec<usize> = pads.iter().map(|p| p.0).collect();
        let out = embed(self, &shape, &begin, value)?;
        let size = self.shape().to_vec();
        Ok(Tensor::record(out, &[self], move |g| {
            Ok(vec![Some(extract(g, &begin, &size)?)])
        }))
    }

    /// Reverses one axis (horizontal flip of NCHW images is `flip(3)`).
    pub fn flip(&self, axis: usize) -> Result<Tensor> {
        if axis >= self.rank() {
            return Err(Error::invalid(
                "flip",
                format!("axis {axis} out of range for {:?}", self.shape()),
            ));
        }
        let cs = contiguous_strides(self.shape());
        let mut src = istrides(&cs);
        src[axis] = -src[axis];
        let off = ((self.shape()[axis].max(1) - 1) * cs[axis]) as i64;
        let out = Tensor::empty(self.gpu(), self.shape(), self.dtype())?;
        copy(
            self,
            &out,
            &Strided {
                shape: self.shape().to_vec(),
                src_offset: off,
                src_strides: src,
                dst_offset: 0,
                dst_strides: istrides(&cs),
            },
        )?;
        Ok(Tensor::record(out, &[self], move |g| {
            Ok(vec![Some(g.flip(axis)?)])
        }))
    }

    fn gather_geom(
        &self,
        op: &'static str,
        axis: usize,
        index: &Tensor,
        index_1d: bool,
    ) -> Result<(Gather, Vec<usize>)> {
        index.check_dtype(op, DType::U32)?;
        if axis >= self.rank() {
            return Err(Error::invalid(
                op,
                format!("axis {axis} out of range for {:?}", self.shape()),
            ));
        }
        let outer = self.shape()[..axis].iter().product();
        let inner = self.shape()[axis + 1..].iter().product();
        let j = if index_1d {
            if index.rank() != 1 {
                return Err(Error::invalid(
                    op,
                    format!("index must be 1-D, got {:?}", index.shape()),
                ));
            }
            index.numel()
        } else {
            let ok = index.rank() == self.rank()
                && (0..self.rank()).all(|i| i == axis || index.shape()[i] == self.shape()[i]);
            if !ok {
                return Err(Error::invalid(
                    op,
                    format!(
                        "index {:?} must match {:?} off axis {axis}",
                        index.shape(),
                        self.shape()
                    ),
                ));
            }
            index.shape()[axis]
        };
        let mut shape = self.shape().to_vec();
        shape[axis] = j;
        Ok((
            Gather {
                outer,
                j,
                inner,
                l: self.shape()[axis],
                index_1d,
            },
            shape,
        ))
    }

    fn gather_impl(
        &self,
        op: &'static str,
        axis: usize,
        index: &Tensor,
        index_1d: bool,
    ) -> Result<Tensor> {
        self.same_device(op, index)?;
        self.check_words(op)?;
        let (geom, shape) = self.gather_geom(op, axis, index, index_1d)?;
        let out = Tensor::empty(self.gpu(), &shape, self.dtype())?;
        {
            let (sh, ih, oh) = (self.held(), index.held(), out.held());
            lk::gather(self.gpu(), sh.v(), ih.v(), oh.v(), &geom)?;
        }
        let (idx, full) = (index.clone(), self.shape().to_vec());
        Ok(Tensor::record(out, &[self], move |g| {
            let acc = Tensor::zeros(g.gpu(), &full)?;
            let (ah, ih, gh) = (acc.held(), idx.held(), g.held());
            lk::scatter_add(g.gpu(), ah.v(), ih.v(), gh.v(), &geom)?;
            drop((ah, ih, gh));
            Ok(vec![Some(acc)])
        }))
    }

    /// Entries of `axis` picked by a 1-D u32 index (out of range gives 0).
    pub fn index_select(&self, axis: usize, index: &Tensor) -> Result<Tensor> {
        self.gather_impl("index_select", axis, index, true)
    }

    /// torch.gather: out[.., j, ..] = self[.., index[.., j, ..], ..].
    pub fn gather(&self, axis: usize, index: &Tensor) -> Result<Tensor> {
        self.gather_impl("gather", axis, index, false)
    }

    /// self with src added at positions index along `axis` (torch.scatter_add).
    pub fn scatter_add(&self, axis: usize, index: &Tensor, src: &Tensor) -> Result<Tensor> {
        self.same_device("scatter_add", src)?;
        src.check_dtype("scatter_add", DType::F32)?;
        let (geom, shape) = self.gather_geom("scatter_add", axis, index, false)?;
        if src.shape() != shape.as_slice() {
            return Err(Error::invalid(
                "scatter_add",
                format!(
                    "src {:?} must have the index's shape {shape:?}",
                    src.shape()
                ),
            ));
        }
        let out = self.detach().affine(1.0, 0.0)?;
        {
            let (oh, ih, sh) = (out.held(), index.held(), src.held());
            lk::scatter_add(self.gpu(), oh.v(), ih.v(), sh.v(), &geom)?;
        }
        let idx = index.clone();
        Ok(Tensor::record(out, &[self, src], move |g| {
            Ok(vec![Some(g.clone()), Some(g.gather(axis, &idx)?)])
        }))
    }
}
