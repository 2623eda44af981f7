//! Reference of `shaders/layout.wgsl`.

use crate::launch::layout::{Gather, Strided};

/// The first `n` words of `src`.
pub fn copy(src: &[u32], n: usize) -> Vec<u32> {
    src[..n].to_vec()
}

/// Applies a strided copy to a destination buffer in place.
pub fn strided_copy(src: &[u32], dst: &mut [u32], s: &Strided) {
    let n: usize = s.shape.iter().product();
    for i in 0..n {
        let mut rem = i;
        let (mut os, mut od) = (s.src_offset, s.dst_offset);
        for ax in (0..s.shape.len()).rev() {
            let idx = (rem % s.shape[ax]) as i64;
            rem /= s.shape[ax];
            os += idx * s.src_strides[ax];
            od += idx * s.dst_strides[ax];
        }
        dst[od as usize] = src[os as usize];
    }
}

fn index_at(index: &[u32], g: &Gather, i: usize) -> usize {
    let j = (i / g.inner) % g.j;
    (if g.index_1d { index[j] } else { index[i] }) as usize
}

/// dst[o, j, i] = src[o, index, i]; out of range gives 0.
pub fn gather(src: &[u32], index: &[u32], g: &Gather) -> Vec<u32> {
    (0..g.outer * g.j * g.inner)
        .map(|i| {
            let k = index_at(index, g, i);
            let o = i / (g.inner * g.j);
            if k >= g.l {
                0
            } else {
                src[(o * g.l + k) * g.inner + i % g.inner]
            }
        })
        .collect()
}

/// acc[o, index, i] += val[o, j, i].
pub fn scatter_add(acc: &[f32], index: &[u32], val: &[f32], g: &Gather) -> Vec<f64> {
    let mut out: Vec<f64> = acc.iter().map(|&v| v as f64).collect();
    for (i, &v) in val.iter().enumerate().take(g.outer * g.j * g.inner) {
        let k = index_at(index, g, i);
        if k < g.l {
            let o = i / (g.inner * g.j);
            out[(o * g.l + k) * g.inner + i % g.inner] += v as f64;
        }
    }
    out
}
