//! Seeded region growing, as DSRG (Huang et al., CVPR 2018;
//! `speedinghzl/DSRG:pylayers/pylayers/pylayers.py:237–273`,
//! `generate_seed_step`) grows its seeds during training. The seeds are
//! laid on a label map, then every pixel whose most probable label among
//! the image's present ones has probability above θ (θ_fg 0.85 for
//! objects, θ_bg 0.99 for background) is relabelled with it, seeded or not.
//! Each class then keeps the 8-connected components of its label that hold
//! one of its own seeds, and those pixels join its seeds, except pixels
//! seeded with another class. A seed confidently predicted as another class
//! thus grows nothing of its own. The grown map replaces the seeds for that
//! step's seeding loss, so the supervision spreads from the few confident
//! CAM pixels over the object as the network learns it.

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
        // The seeds, then each confident prediction laid over them.
        let mut label_map = seeds.to_vec();
        for (i, slot) in label_map.iter_mut().enumerate() {
            let best = (0..l)
                .filter(|&c| present[c])
                .max_by(|&a, &b| probs[a * n + i].total_cmp(&probs[b * n + i]));
            if let Some(c) = best {
                let theta = if c == 0 { self.theta_bg } else { self.theta_fg };
                if probs[c * n + i] > theta {
                    *slot = c as u32;
                }
            }
        }
        // Per class, the 8-connected components of its label holding one of
        // its seeds.
        let mut out = seeds.to_vec();
        let mut seen = vec![false; n];
        let mut component = Vec::new();
        for start in 0..n {
            let c = label_map[start];
            if seen[start] || c == IGNORE as u32 {
                continue;
            }
            component.clear();
            let mut anchored = false;
            let mut queue = VecDeque::from([start]);
            seen[start] = true;
            while let Some(i) = queue.pop_front() {
                component.push(i);
                anchored |= seeds[i] == c;
                let (y, x) = ((i / width) as isize, (i % width) as isize);
                for dy in -1..=1isize {
                    for dx in -1..=1isize {
                        let (ny, nx) = (y + dy, x + dx);
                        if ny < 0 || nx < 0 || ny >= height as isize || nx >= width as isize {
                            continue;
                        }
                        let j = ny as usize * width + nx as usize;
                        if !seen[j] && label_map[j] == c {
                            seen[j] = true;
                            queue.push_back(j);
                        }
                    }
                }
            }
            if anchored {
                for &i in &component {
                    if out[i] == IGNORE as u32 {
                        out[i] = c;
                    }
                }
            }
        }
        Ok(out)
    }
}
