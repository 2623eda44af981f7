//! Geometry of the synthetic benchmark: star-convex blobs, discs, and
//! strokes that stay inside a region (the scribbles).

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
    /// `size`-pixel square (a margin of half the radius).
    pub fn random(rng: &mut SmallRng, size: f32, rmin: f32, rmax: f32) -> Blob {
        let r = rng.random_range(rmin..rmax);
        let margin = (0.5 * r).min(size / 2.0 - 1.0);
        Blob {
            cx: rng.random_range(margin..size - margin),
            cy: rng.random_range(margin..size - margin),
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

    /// The pixel mask of the blob on a `size`×`size` grid.
    pub fn mask(&self, size: usize) -> Vec<bool> {
        (0..size * size)
            .map(|i| self.contains(i % size, i / size))
            .collect()
    }
}

/// Pixels of `region` whose 8 neighbours are all in `region` too.
pub fn interior(region: &[bool], size: usize) -> Vec<bool> {
    (0..size * size)
        .map(|i| {
            let (x, y) = ((i % size) as isize, (i / size) as isize);
            (-1..=1).all(|dy| {
                (-1..=1).all(|dx| {
                    let (u, v) = (x + dx, y + dy);
                    u >= 0
                        && v >= 0
                        && (u as usize) < size
                        && (v as usize) < size
                        && region[v as usize * size + u as usize]
                })
            })
        })
        .collect()
}

/// A random member of `region`, if any.
pub fn random_pixel(rng: &mut SmallRng, region: &[bool], size: usize) -> Option<[u32; 2]> {
    let members: Vec<usize> = (0..region.len()).filter(|&i| region[i]).collect();
    if members.is_empty() {
        return None;
    }
    let i = members[rng.random_range(0..members.len())];
    Some([(i % size) as u32, (i / size) as u32])
}

/// Whether the straight segment a–b, sampled every quarter pixel, stays
/// inside `region`.
pub fn segment_inside(a: [u32; 2], b: [u32; 2], region: &[bool], size: usize) -> bool {
    let (dx, dy) = (b[0] as f32 - a[0] as f32, b[1] as f32 - a[1] as f32);
    let steps = ((dx.abs().max(dy.abs())) * 4.0).ceil().max(1.0) as usize;
    (0..=steps).all(|s| {
        let t = s as f32 / steps as f32;
        let x = (a[0] as f32 + t * dx).round() as usize;
        let y = (a[1] as f32 + t * dy).round() as usize;
        x < size && y < size && region[y * size + x]
    })
}

/// A scribble inside `region`: from a random interior pixel, the longest
/// chord in a random direction, bent at its middle when the bend stays
/// inside. One vertex when the region is too thin for a chord.
pub fn scribble(rng: &mut SmallRng, region: &[bool], size: usize) -> Option<Vec<[u32; 2]>> {
    let start = random_pixel(rng, region, size)?;
    let theta: f32 = rng.random_range(0.0..std::f32::consts::PI);
    let (c, s) = (theta.cos(), theta.sin());
    let inside = |t: f32| {
        let x = (start[0] as f32 + t * c).round();
        let y = (start[1] as f32 + t * s).round();
        x >= 0.0
            && y >= 0.0
            && (x as usize) < size
            && (y as usize) < size
            && region[y as usize * size + x as usize]
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
        .find(|&(a, b)| a != b && segment_inside(a, b, region, size));
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
    if m[0] < size as u32
        && m[1] < size as u32
        && segment_inside(a, m, region, size)
        && segment_inside(m, b, region, size)
    {
        Some(vec![a, m, b])
    } else {
        Some(vec![a, b])
    }
}
