//! Points and scribbles as sparse label maps: every mark drawn as a disc
//! (a point) or a thick polyline (a scribble) of its class, every other
//! pixel 255 (unlabelled). Partial cross-entropy trains on exactly these
//! pixels. SPML dilates VOC's scribbles by 3 px and its points by 6 px;
//! the radius here is in pixels of the image the marks belong to.

use serde::{Deserialize, Serialize};
use weakseg_kernels::{Error, Result};

use crate::data::annotations::Marks;
use crate::data::classes::ClassList;
use crate::io::labels::{IGNORE, LabelMap};

/// Which marks of an image to draw.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MarkKind {
    /// Clicked points.
    Points,
    /// Scribble polylines.
    Scribbles,
}

impl MarkKind {
    /// The name used in settings and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            MarkKind::Points => "points",
            MarkKind::Scribbles => "scribbles",
        }
    }
}

/// Draws one image's `marks` of `kind` into a `width`×`height` map, each
/// pixel within `radius` of a mark taking the mark's class. Background
/// marks are drawn first, so an object's mark wins where the two overlap.
/// A mark naming a class not in `classes` is an error.
pub fn rasterise(
    marks: &[Marks],
    classes: &ClassList,
    kind: MarkKind,
    (width, height): (usize, usize),
    radius: f32,
) -> Result<LabelMap> {
    if !(radius.is_finite() && radius >= 0.0) {
        return Err(Error::invalid(
            "sparse labels",
            format!("radius must be ≥ 0, got {radius}"),
        ));
    }
    let mut map = LabelMap::filled(width, height, IGNORE);
    let mut ordered: Vec<(u8, &Marks)> = marks
        .iter()
        .map(|m| {
            classes.label(&m.class).map(|l| (l, m)).ok_or_else(|| {
                Error::invalid("sparse labels", format!("unknown class `{}`", m.class))
            })
        })
        .collect::<Result<_>>()?;
    ordered.sort_by_key(|(l, _)| *l != 0);
    for (label, m) in ordered {
        match kind {
            MarkKind::Points => {
                for &p in &m.points {
                    disc(&mut map, p, radius, label);
                }
            }
            MarkKind::Scribbles => {
                for line in &m.scribbles {
                    polyline(&mut map, line, radius, label);
                }
            }
        }
    }
    Ok(map)
}

/// The pixels within `radius` pixels of the one that holds `c` (so that
/// pixel itself is always drawn).
fn disc(map: &mut LabelMap, c: [f32; 2], radius: f32, label: u8) {
    let (cx, cy) = (c[0].floor() as isize, c[1].floor() as isize);
    let r = radius.ceil() as isize;
    // Only the part of the disc inside the image is walked, so a radius
    // far larger than the image costs no more than the image.
    let (w, h) = (map.width as isize, map.height as isize);
    for y in cy.saturating_sub(r).max(0)..=cy.saturating_add(r).min(h - 1) {
        for x in cx.saturating_sub(r).max(0)..=cx.saturating_add(r).min(w - 1) {
            let (dx, dy) = (x - cx, y - cy);
            if (dx * dx + dy * dy) as f32 <= radius * radius {
                map.data[(y * w + x) as usize] = label;
            }
        }
    }
}

/// A polyline drawn as discs every half pixel along each segment.
fn polyline(map: &mut LabelMap, line: &[[f32; 2]], radius: f32, label: u8) {
    if let [only] = line {
        disc(map, *only, radius, label);
    }
    for seg in line.windows(2) {
        let (a, b) = (seg[0], seg[1]);
        let len = ((b[0] - a[0]).powi(2) + (b[1] - a[1]).powi(2)).sqrt();
        let steps = (2.0 * len).ceil().max(1.0) as usize;
        for s in 0..=steps {
            let t = s as f32 / steps as f32;
            let p = [a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])];
            disc(map, p, radius, label);
        }
    }
}
