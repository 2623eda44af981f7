//! Seeded region growing, as DSRG (Huang et al., CVPR 2018;
//! `speedinghzl/DSRG`) grows its seeds during training: a pixel joins
//! class c when c is its most probable label among the image's present
//! ones with probability above θ (θ_bg 0.99 for background, θ_fg 0.85 for
//! objects) and it is 8-connected, through such pixels, to a seed of c.
//! The grown map replaces the seeds for that step's seeding loss, so the
//! supervision spreads from the few confident CAM pixels over the object
//! as the network learns it.

use std::collections::VecDeque;

use weakseg_kernels::{Error, Result};

use crate::io::labels::IGNORE;

/// The growing thresholds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Growth {
    /// Least probability for an object pixel to join (DSRG: 0.85).
    pub theta_fg: f32,
    /// Least probability for a background pixel to join (DSRG: 0.99).
    pub theta_bg: f32,
}

impl Default for Growth {
    fn default() -> Self {
        Growth {
            theta_fg: 0.85,
            theta_bg: 0.99,
        }
    }
}

impl Growth {
    /// The seeds of one image grown over `probs` ([L, height, width],
    /// label 0 background) restricted to the labels `present` (length L).
    /// `seeds` and the result are [height, width] label maps, 255
    /// unlabelled; every seed keeps its label.
    pub fn grow(
        &self,
        probs: &[f32],
        present: &[bool],
        seeds: &[u32],
        (width, height): (usize, usize),
    ) -> Result<Vec<u32>> {
        let n = width * height;
        let l = present.len();
        if probs.len() != l * n || seeds.len() != n || l == 0 {
            return Err(Error::invalid(
                "region_growing",
                format!(
                    "{} probabilities and {} seeds for {l} labels of {width}×{height}",
                    probs.len(),
                    seeds.len()
                ),
            ));
        }
        // The label each pixel may join: its best present label when that
        // is confident enough, else none.
        let candidate: Vec<u32> = (0..n)
            .map(|i| {
                let best = (0..l)
                    .filter(|&c| present[c])
                    .max_by(|&a, &b| probs[a * n + i].total_cmp(&probs[b * n + i]));
                match best {
                    Some(c) => {
                        let theta = if c == 0 { self.theta_bg } else { self.theta_fg };
                        if probs[c * n + i] > theta {
                            c as u32
                        } else {
                            IGNORE as u32
                        }
                    }
                    None => IGNORE as u32,
                }
            })
            .collect();
        let mut out = seeds.to_vec();
        let mut queue: VecDeque<usize> = (0..n).filter(|&i| seeds[i] != IGNORE as u32).collect();
        while let Some(i) = queue.pop_front() {
            let (y, x) = ((i / width) as isize, (i % width) as isize);
            for dy in -1..=1isize {
                for dx in -1..=1isize {
                    let (ny, nx) = (y + dy, x + dx);
                    if ny < 0 || nx < 0 || ny >= height as isize || nx >= width as isize {
                        continue;
                    }
                    let j = ny as usize * width + nx as usize;
                    if out[j] == IGNORE as u32 && candidate[j] == out[i] {
                        out[j] = out[i];
                        queue.push_back(j);
                    }
                }
            }
        }
        Ok(out)
    }
}
