//! Reference of `shaders/loss.wgsl`.

use crate::launch::loss::CeShape;

fn lse(logits: &[f32], sh: CeShape, n: usize, p: usize) -> f64 {
    let v: Vec<f64> = (0..sh.c)
        .map(|k| logits[(n * sh.c + k) * sh.s + p] as f64)
        .collect();
    let m = v.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    m + v.iter().map(|x| (x - m).exp()).sum::<f64>().ln()
}

fn weight(t: u32, sh: CeShape, w: Option<&[f32]>) -> Option<f64> {
    if t == sh.ignore || t as usize >= sh.c {
        return None;
    }
    Some(w.map_or(1.0, |w| w[t as usize] as f64))
}

/// (per-pixel weighted loss, per-pixel weight).
pub fn ce_forward(
    sh: CeShape,
    logits: &[f32],
    target: &[u32],
    w: Option<&[f32]>,
) -> (Vec<f64>, Vec<f64>) {
    (0..sh.n * sh.s)
        .map(|i| {
            let (n, p) = (i / sh.s, i % sh.s);
            match weight(target[i], sh, w) {
                None => (0.0, 0.0),
                Some(wt) => (
                    wt * (lse(logits, sh, n, p)
                        - logits[(n * sh.c + target[i] as usize) * sh.s + p] as f64),
                    wt,
                ),
            }
        })
        .unzip()
}

/// dlogits = scale·w_t·(softmax − onehot).
pub fn ce_backward(
    sh: CeShape,
    logits: &[f32],
    target: &[u32],
    w: Option<&[f32]>,
    scale: f32,
) -> Vec<f64> {
    (0..sh.n * sh.c * sh.s)
        .map(|j| {
            let (n, k, p) = (j / (sh.c * sh.s), (j / sh.s) % sh.c, j % sh.s);
            let t = target[n * sh.s + p];
            match weight(t, sh, w) {
                None => 0.0,
                Some(wt) => {
                    let sm = (logits[j] as f64 - lse(logits, sh, n, p)).exp();
                    scale as f64 * wt * (sm - (k == t as usize) as u8 as f64)
                }
            }
        })
        .collect()
}
