//! Reference of `launch::select`.

/// The `k` largest (or smallest) entries of each row of `x` [rows, n] and
/// their indices, in index order; ties at the k-th value lowest index first
/// (IEEE total order, so −0 < +0).
pub fn topk(x: &[f32], rows: usize, n: usize, k: usize, smallest: bool) -> (Vec<f32>, Vec<u32>) {
    let mut values = Vec::with_capacity(rows * k);
    let mut indices = Vec::with_capacity(rows * k);
    for row in x.chunks(n).take(rows) {
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| {
            let by_value = if smallest {
                row[a].total_cmp(&row[b])
            } else {
                row[b].total_cmp(&row[a])
            };
            by_value.then(a.cmp(&b))
        });
        let mut kept = order[..k].to_vec();
        kept.sort_unstable();
        values.extend(kept.iter().map(|&i| row[i]));
        indices.extend(kept.iter().map(|&i| i as u32));
    }
    (values, indices)
}

/// The gradient of top-k's input: `grad` [rows, k] placed at `indices`.
pub fn topk_backward(grad: &[f32], indices: &[u32], rows: usize, n: usize, k: usize) -> Vec<f32> {
    let mut out = vec![0.0; rows * n];
    for r in 0..rows {
        for j in 0..k {
            out[r * n + indices[r * k + j] as usize] += grad[r * k + j];
        }
    }
    out
}
