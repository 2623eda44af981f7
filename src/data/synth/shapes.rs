//! Geometry of the synthetic benchmarks: star-convex blobs, and strokes
//! that stay inside a region (the scribbles). Regions are row-major masks
//! of a `width`×`height` image.

use rand::Rng;
use rand::rngs::SmallRng;

/// A star-convex blob: an anisotropic, rotated disc whose radius wobbles
/// with a few low harmonics of the angle.
#[derive(Clone, Debug)]
pub struct Blob {
    /// Centre x.
    pub cx: f32,
    /// Centre y.
    pub cy: f32,
    /// Base radius.
    pub r: f32,
    aspect: f32,
    angle: f32,
    harmonics: [(f32, f32); 3],
}

impl Blob {
    /// A random blob of base radius in [rmin, rmax] centred inside a
    /// `width`×`height` image (a margin of half the radius).
    pub fn random(rng: &mut SmallRng, (width, height): (f32, f32), rmin: f32, rmax: f32) -> Blob {
        let r = rng.random_range(rmin..rmax);
        let margin = |side: f32| (0.5 * r).min(side / 2.0 - 1.0);
        let (mx, my) = (margin(width), margin(height));
        Blob {
            cx: rng.random_range(mx..width - mx),
            cy: rng.random_range(my..height - my),
            r,
            aspect: rng.random_range(0.6..1.4),
            angle: rng.random_range(0.0..std::f32::consts::PI),
            harmonics: [
                (rng.random_range(0.0..0.15), rng.random_range(0.0..6.3)),
                (rng.random_range(0.0..0.12), rng.random_range(0.0..6.3)),
                (rng.random_range(0.0..0.08), rng.random_range(0.0..6.3)),
            ],
        }
    }

    /// A blob centred at (cx, cy) of base radius `r` (its area is about
    /// π r²), elongated to `elongation` ≥ 1 (major over minor axis), at
    /// `angle`, its outline wobbling by up to `wobble` of the radius.
    pub fn shaped(
        rng: &mut SmallRng,
        (cx, cy): (f32, f32),
        r: f32,
        elongation: f32,
        angle: f32,
        wobble: f32,
    ) -> Blob {
        Blob {
            cx,
            cy,
            r,
            aspect: elongation,
            angle,
            harmonics: [0.5, 0.3, 0.2]
                .map(|share| (share * wobble, rng.random_range(0.0..std::f32::consts::TAU))),
        }
    }

    /// Whether the centre of pixel (x, y) lies inside.
    pub fn contains(&self, x: usize, y: usize) -> bool {
        let (dx, dy) = (x as f32 + 0.5 - self.cx, y as f32 + 0.5 - self.cy);
        let (s, c) = self.angle.sin_cos();
        let u = (dx * c + dy * s) / self.aspect.sqrt();
        let v = (-dx * s + dy * c) * self.aspect.sqrt();
        let phi = v.atan2(u);
        let wobble: f32 = self
            .harmonics
            .iter()
            .enumerate()
            .map(|(j, (a, p))| a * ((j as f32 + 2.0) * phi + p).cos())
            .sum();
        (u * u + v * v).sqrt() < self.r * (1.0 + wobble)
    }

    /// The pixel mask of the blob on a `width`×`height` grid.
    pub fn mask(&self, (width, height): (usize, usize)) -> Vec<bool> {
        (0..width * height)
            .map(|i| self.contains(i % width, i / width))
            .collect()
    }
}

/// Chessboard distance of each mask pixel to the nearest pixel outside the
/// mask (the image border does not count): 1 on the outline.
pub fn edge_distance(mask: &[bool], (w, h): (usize, usize)) -> Vec<u32> {
    let mut d: Vec<u32> = mask.iter().map(|&m| if m { u32::MAX } else { 0 }).collect();
    let mut frontier: Vec<usize> = (0..w * h).filter(|&i| !mask[i]).collect();
    let mut level = 0;
    while !frontier.is_empty() {
        level += 1;
        let mut next = Vec::new();
        for i in frontier {
            let (x, y) = ((i % w) as isize, (i / w) as isize);
            for (dx, dy) in [
                (-1, -1),
                (0, -1),
                (1, -1),
                (-1, 0),
                (1, 0),
                (-1, 1),
                (0, 1),
                (1, 1),
            ] {
                let (u, v) = (x + dx, y + dy);
                if u >= 0 && v >= 0 && (u as usize) < w && (v as usize) < h {
                    let j = v as usize * w + u as usize;
                    if d[j] == u32::MAX {
                        d[j] = level;
                        next.push(j);
                    }
                }
            }
        }
        frontier = next;
    }
    d
}

/// The 3×3 neighbourhood of pixel `i` (itself included): whether each
/// neighbour lies inside the image and in `region`.
fn neighbourhood(
    region: &[bool],
    (width, height): (usize, usize),
    i: usize,
) -> impl Iterator<Item = bool> + '_ {
    let (x, y) = ((i % width) as isize, (i / width) as isize);
    (-1..=1).flat_map(move |dy| {
        (-1..=1).map(move |dx| {
            let (u, v) = (x + dx, y + dy);
            u >= 0
                && v >= 0
                && (u as usize) < width
                && (v as usize) < height
                && region[v as usize * width + u as usize]
        })
    })
}

/// Pixels of `region` whose 8 neighbours are all in `region` too.
pub fn interior(region: &[bool], dims: (usize, usize)) -> Vec<bool> {
    (0..dims.0 * dims.1)
        .map(|i| neighbourhood(region, dims, i).all(|v| v))
        .collect()
}

/// Pixels within chessboard distance 1 of `region`, the region included.
pub fn dilate(region: &[bool], dims: (usize, usize)) -> Vec<bool> {
    (0..dims.0 * dims.1)
        .map(|i| neighbourhood(region, dims, i).any(|v| v))
        .collect()
}

/// The pixels of `mask` whose centres lie within `radius` of `centre`.
pub fn disc_within(mask: &[bool], width: usize, (cx, cy): (f32, f32), radius: f32) -> Vec<bool> {
    (0..mask.len())
        .map(|i| {
            let (x, y) = ((i % width) as f32 + 0.5, (i / width) as f32 + 0.5);
            mask[i] && (x - cx).powi(2) + (y - cy).powi(2) < radius * radius
        })
        .collect()
}

/// A random member of `region` (of an image `width` wide), if any.
pub fn random_pixel(rng: &mut SmallRng, region: &[bool], width: usize) -> Option<[u32; 2]> {
    let members: Vec<usize> = (0..region.len()).filter(|&i| region[i]).collect();
    if members.is_empty() {
        return None;
    }
    let i = members[rng.random_range(0..members.len())];
    Some([(i % width) as u32, (i / width) as u32])
}

/// Whether the straight segment a–b, sampled every quarter pixel, stays
/// inside `region`.
pub fn segment_inside(
    a: [u32; 2],
    b: [u32; 2],
    region: &[bool],
    (width, height): (usize, usize),
) -> bool {
    let (dx, dy) = (b[0] as f32 - a[0] as f32, b[1] as f32 - a[1] as f32);
    let steps = ((dx.abs().max(dy.abs())) * 4.0).ceil().max(1.0) as usize;
    (0..=steps).all(|s| {
        let t = s as f32 / steps as f32;
        let x = (a[0] as f32 + t * dx).round() as usize;
        let y = (a[1] as f32 + t * dy).round() as usize;
        x < width && y < height && region[y * width + x]
    })
}

/// A scribble inside `region`: from a random interior pixel, the longest
/// chord in a random direction, bent at its middle when the bend stays
/// inside. One vertex when the region is too thin for a chord.
pub fn scribble(
    rng: &mut SmallRng,
    region: &[bool],
    (width, height): (usize, usize),
) -> Option<Vec<[u32; 2]>> {
    let dims = (width, height);
    let start = random_pixel(rng, region, width)?;
    let theta: f32 = rng.random_range(0.0..std::f32::consts::PI);
    let (c, s) = (theta.cos(), theta.sin());
    let inside = |t: f32| {
        let x = (start[0] as f32 + t * c).round();
        let y = (start[1] as f32 + t * s).round();
        x >= 0.0
            && y >= 0.0
            && (x as usize) < width
            && (y as usize) < height
            && region[y as usize * width + x as usize]
    };
    let reach = |sign: f32| {
        let mut t = 0.0;
        while inside(sign * (t + 1.0)) {
            t += 1.0;
        }
        sign * t
    };
    let (t0, t1) = (reach(-1.0), reach(1.0));
    let at = |t: f32| {
        [
            (start[0] as f32 + t * c).round() as u32,
            (start[1] as f32 + t * s).round() as u32,
        ]
    };
    let chord = [1.0f32, 0.8, 0.6, 0.4]
        .iter()
        .map(|f| (at(t0 * f), at(t1 * f)))
        .find(|&(a, b)| a != b && segment_inside(a, b, region, dims));
    let Some((a, b)) = chord else {
        return Some(vec![start]);
    };
    let mid = [(a[0] + b[0]) as f32 / 2.0, (a[1] + b[1]) as f32 / 2.0];
    let len = ((b[0] as f32 - a[0] as f32).powi(2) + (b[1] as f32 - a[1] as f32).powi(2)).sqrt();
    let bend = rng.random_range(-0.25f32..0.25) * len;
    let m = [
        (mid[0] - bend * s).round().max(0.0) as u32,
        (mid[1] + bend * c).round().max(0.0) as u32,
    ];
    if m[0] < width as u32
        && m[1] < height as u32
        && segment_inside(a, m, region, dims)
        && segment_inside(m, b, region, dims)
    {
        Some(vec![a, m, b])
    } else {
        Some(vec![a, b])
    }
}
