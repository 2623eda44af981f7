//! Reference of `shaders/matmul.wgsl`.

use crate::launch::matmul::MatmulShape;

/// C[b] = A[b] · B[b].
pub fn matmul(a: &[f32], b: &[f32], s: MatmulShape) -> Vec<f64> {
    let mut c = vec![0.0; s.batch * s.m * s.n];
    for bi in 0..s.batch {
        let (ab, bb) = (bi * s.a_batch_stride, bi * s.b_batch_stride);
        for i in 0..s.m {
            for kk in 0..s.k {
                let av = a[ab + i * s.k + kk] as f64;
                for j in 0..s.n {
                    c[(bi * s.m + i) * s.n + j] += av * b[bb + kk * s.n + j] as f64;
                }
            }
        }
    }
    c
}
