//! Typed views of pooled buffers and the shape helpers launchers share.

use crate::batch::Bind;
use crate::error::{Error, Result};
use crate::pool::GpuBuffer;

/// Highest tensor rank the strided kernels accept.
pub const MAX_RANK: usize = 6;

/// `len` 32-bit elements of a pooled buffer starting at byte `offset`.
#[derive(Clone, Copy, Debug)]
pub struct View<'a> {
    /// The buffer.
    pub buf: &'a GpuBuffer,
    /// Byte offset of element 0.
    pub offset: u64,
    /// Number of 32-bit elements.
    pub len: usize,
}

impl<'a> View<'a> {
    /// The whole of `len` elements from the start of `buf`.
    pub fn new(buf: &'a GpuBuffer, len: usize) -> Self {
        View {
            buf,
            offset: 0,
            len,
        }
    }

    /// The view of `n` f16 elements (⌈n/2⌉ words) from the start of `buf`.
    pub fn halves(buf: &'a GpuBuffer, n: usize) -> Self {
        View::new(buf, n.div_ceil(2))
    }

    /// Read-only binding of this view.
    pub fn read(&self, binding: u32) -> Bind<'a> {
        Bind::read(binding, self.buf, self.offset, self.len as u64 * 4)
    }

    /// Writable binding of this view.
    pub fn write(&self, binding: u32) -> Bind<'a> {
        Bind::write(binding, self.buf, self.offset, self.len as u64 * 4)
    }

    /// Checks that the view holds at least `n` elements.
    pub fn need(&self, op: &'static str, what: &str, n: usize) -> Result<()> {
        if self.len < n {
            return Err(Error::invalid(
                op,
                format!("{what} holds {} elements, {n} needed", self.len),
            ));
        }
        Ok(())
    }
}

impl View<'_> {
    /// Checks that the view holds at least `n` f16 elements.
    pub fn need_halves(&self, op: &'static str, what: &str, n: usize) -> Result<()> {
        if self.len * 2 < n {
            return Err(Error::invalid(
                op,
                format!("{what} holds {} f16 elements, {n} needed", self.len * 2),
            ));
        }
        Ok(())
    }
}

/// Row-major contiguous strides of a shape.
pub fn contiguous_strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// Strides that read a contiguous tensor of shape `from` as if broadcast to
/// `to` (numpy rules, aligned on the right); None if not broadcastable.
pub fn broadcast_strides(from: &[usize], to: &[usize]) -> Option<Vec<usize>> {
    if from.len() > to.len() {
        return None;
    }
    let cs = contiguous_strides(from);
    let lead = to.len() - from.len();
    let mut out = vec![0; to.len()];
    for i in 0..from.len() {
        let (f, t) = (from[i], to[lead + i]);
        if f == t {
            out[lead + i] = if f == 1 { 0 } else { cs[i] };
        } else if f == 1 {
            out[lead + i] = 0;
        } else {
            return None;
        }
    }
    Some(out)
}

/// Merges the axes of an iteration `shape` that every operand walks as one:
/// drops axes of size 1 and joins an axis with the next one where each
/// operand's stride of the outer equals its stride of the inner times the
/// inner's size. Returns the shorter shape (at least one axis) and each
/// operand's strides over it. Kernels split a flat index into coordinates
/// with a division per axis, and CPU adapters divide lane by lane (there is
/// no SIMD integer division), so a same-shape map collapses to one axis and
/// needs none.
pub fn collapse_axes(shape: &[usize], strides: &[&[i64]]) -> (Vec<usize>, Vec<Vec<i64>>) {
    let mut dims: Vec<usize> = Vec::with_capacity(shape.len());
    let mut out: Vec<Vec<i64>> = vec![Vec::with_capacity(shape.len()); strides.len()];
    for (ax, &d) in shape.iter().enumerate() {
        if d == 1 {
            continue;
        }
        let joins = dims.last().is_some_and(|_| {
            strides
                .iter()
                .zip(&out)
                .all(|(st, o)| o.last().is_some_and(|&outer| outer == st[ax] * d as i64))
        });
        if joins {
            if let Some(last) = dims.last_mut() {
                *last *= d;
            }
            for (st, o) in strides.iter().zip(out.iter_mut()) {
                if let Some(v) = o.last_mut() {
                    *v = st[ax];
                }
            }
        } else {
            dims.push(d);
            for (st, o) in strides.iter().zip(out.iter_mut()) {
                o.push(st[ax]);
            }
        }
    }
    if dims.is_empty() {
        dims.push(1);
        for o in &mut out {
            o.push(0);
        }
    }
    (dims, out)
}

/// The broadcast shape of two shapes, or None.
pub fn broadcast_shape(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let r = a.len().max(b.len());
    let mut out = vec![0; r];
    for i in 0..r {
        let da = if i + a.len() >= r {
            a[i + a.len() - r]
        } else {
            1
        };
        let db = if i + b.len() >= r {
            b[i + b.len() - r]
        } else {
            1
        };
        out[i] = if da == db || db == 1 {
            da
        } else if da == 1 {
            db
        } else {
            return None;
        };
    }
    Some(out)
}

/// Refuses a shader loop of `trips` iterations beyond [`crate::MAX_LOOP_TRIPS`]
/// (CPU adapters would silently stop it early); `what` names the walk.
pub fn loop_bound(op: &'static str, what: &str, trips: usize) -> Result<()> {
    if trips > crate::MAX_LOOP_TRIPS {
        return Err(Error::Limit {
            op,
            msg: format!(
                "{what} of {trips} exceeds the {}-trip loop bound of CPU adapters",
                crate::MAX_LOOP_TRIPS
            ),
        });
    }
    Ok(())
}

/// Converts an element count to the u32 the kernels index with.
pub fn u32_of(op: &'static str, n: usize) -> Result<u32> {
    u32::try_from(n).map_err(|_| Error::Limit {
        op,
        msg: format!("{n} elements exceed 32-bit indexing"),
    })
}

#[cfg(test)]
mod tests {
    use super::collapse_axes;

    #[test]
    fn same_shape_collapses_to_one_axis() {
        let st: [&[i64]; 2] = [&[60, 20, 5, 1], &[60, 20, 5, 1]];
        assert_eq!(
            collapse_axes(&[2, 3, 4, 5], &st),
            (vec![120], vec![vec![1], vec![1]])
        );
    }

    #[test]
    fn channel_broadcast_keeps_three_axes() {
        // [N, C, H, W] + [1, C, 1, 1]: the batch and the plane stay apart from C.
        let st: [&[i64]; 2] = [&[48, 16, 4, 1], &[0, 1, 0, 0]];
        assert_eq!(
            collapse_axes(&[2, 3, 4, 4], &st),
            (vec![2, 3, 16], vec![vec![48, 16, 1], vec![0, 1, 0]])
        );
    }

    #[test]
    fn size_one_axes_and_transposes() {
        // A transpose of the last two axes cannot merge them; the size-1 axis goes.
        let st: [&[i64]; 2] = [&[12, 12, 1, 3], &[12, 12, 4, 1]];
        assert_eq!(
            collapse_axes(&[2, 1, 3, 4], &st),
            (vec![2, 3, 4], vec![vec![12, 1, 3], vec![12, 4, 1]])
        );
    }

    #[test]
    fn a_single_element_keeps_one_axis() {
        assert_eq!(collapse_axes(&[1, 1], &[&[5, 1]]), (vec![1], vec![vec![0]]));
    }
}
