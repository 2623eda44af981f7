//! Constrained CNN (Pathak, Krähenbühl & Darrell, ICCV 2015;
//! `pathak22/ccnn`): trains a segmenter from image tags alone. For each
//! image the network's softmax Q is projected onto the closest P (in KL)
//! whose per-class pixel shares meet linear constraints: absent classes
//! get none, each present class at least 5 %, background at least 30 %
//! and, when a class is present, at most 70 %. The loss is the
//! cross-entropy of Q against that P, whose gradient on the logits is
//! (Q − P)/N, as the released layer's.
//!
//! The projection P_i(l) ∝ Q_i(l)·exp(λ_l) is found by projected gradient
//! ascent on the dual (one multiplier per bound). The released solver
//! allows slack on the foreground bounds (weight 2); ours keeps every bound
//! hard, which the dual reaches whenever the bounds are feasible.

use serde::{Deserialize, Serialize};
use weakseg_kernels::{Error, Result};

use crate::Tensor;

/// The constraints and the dual solver's budget.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Constraints {
    /// Least share of each present foreground class (0.05).
    pub fg_min: f32,
    /// Least share of background (0.3).
    pub bg_min: f32,
    /// Largest share of background when a class is present (0.7).
    pub bg_max: f32,
    /// Dual ascent steps per image.
    pub iterations: usize,
    /// Dual ascent step size.
    pub step: f32,
}

impl Default for Constraints {
    fn default() -> Self {
        Constraints {
            fg_min: 0.05,
            bg_min: 0.3,
            bg_max: 0.7,
            iterations: 200,
            step: 4.0,
        }
    }
}

impl Constraints {
    /// The projection of one image's softmax `q` ([L, n], label 0
    /// background) under its multi-hot foreground labels `present` [L − 1].
    pub fn project(&self, q: &[f32], present: &[f32], n: usize) -> Vec<f32> {
        let l = present.len() + 1;
        let allowed: Vec<bool> = (0..l).map(|c| c == 0 || present[c - 1] > 0.5).collect();
        let any_fg = allowed[1..].iter().any(|&a| a);
        let lower: Vec<f32> = (0..l)
            .map(|c| match (c, allowed[c]) {
                (0, _) => self.bg_min,
                (_, true) => self.fg_min,
                _ => 0.0,
            })
            .collect();
        let upper = if any_fg { self.bg_max } else { 1.0 };
        // λ_l ≥ 0 for the lower bounds, μ ≥ 0 for background's upper bound.
        let (mut lambda, mut mu) = (vec![0f32; l], 0f32);
        let mut p = vec![0f32; l * n];
        for _ in 0..=self.iterations {
            let shift: Vec<f32> = (0..l)
                .map(|c| lambda[c] - if c == 0 { mu } else { 0.0 })
                .collect();
            let mut share = vec![0f32; l];
            for i in 0..n {
                let mut z = 0f32;
                for c in 0..l {
                    let v = if allowed[c] {
                        q[c * n + i].max(1e-12) * shift[c].exp()
                    } else {
                        0.0
                    };
                    p[c * n + i] = v;
                    z += v;
                }
                for c in 0..l {
                    p[c * n + i] /= z.max(1e-30);
                    share[c] += p[c * n + i] / n as f32;
                }
            }
            for c in 0..l {
                lambda[c] = (lambda[c] + self.step * (lower[c] - share[c])).max(0.0);
            }
            mu = (mu + self.step * (share[0] - upper)).max(0.0);
        }
        p
    }

    /// The constrained loss of segmentation `logits` [B, L, h, w] (at the
    /// network's own resolution, as the released layer sees them) under
    /// image labels `labels` [B, L − 1]. Reads the softmax back once.
    pub async fn loss(&self, logits: &Tensor, labels: &Tensor) -> Result<Tensor> {
        let s = logits.shape();
        if s.len() != 4 || s[1] < 2 || labels.shape() != [s[0], s[1] - 1] {
            return Err(Error::invalid(
                "constrained_kl",
                format!(
                    "logits {s:?} with labels {:?}; want [B, 1 + K, h, w] and [B, K]",
                    labels.shape()
                ),
            ));
        }
        let (b, l, n) = (s[0], s[1], s[2] * s[3]);
        let logp = logits.log_softmax(1)?;
        let q: Vec<f32> = logp.detach().exp()?.to_vec().await?;
        let y: Vec<f32> = labels.to_vec().await?;
        let mut p = Vec::with_capacity(q.len());
        for img in 0..b {
            let qi = &q[img * l * n..(img + 1) * l * n];
            p.extend(self.project(qi, &y[img * (l - 1)..(img + 1) * (l - 1)], n));
        }
        let target = Tensor::from_slice(logits.gpu(), &p, s)?;
        logp.mul(&target)?
            .sum_all()?
            .mul_scalar(-1.0 / (b * n) as f32)
    }
}
