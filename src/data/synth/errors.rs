//! Where a label map's errors fall on the scenes. The generator knows each
//! pixel's surround (the context band painted there) and, on an object,
//! its region (discriminative part, body, appendage), so a CAM's label map
//! can be split into what it misses by region and where it spills: onto
//! the background within [`NEAR`] pixels of an object (one cell of a
//! stride-8 CAM: bleed at the map's resolution), and farther out onto the
//! surround typical of the class it predicts (context leakage, VOC's boat
//! on water) or elsewhere.
//! Comparing the split of an expansion method with the plain CAM's tells
//! whether the method recovers bodies or mostly spreads into context.

use serde::{Deserialize, Serialize};

use super::scenes::{ClassLook, Region, Scene};
use super::shapes::edge_distance;

/// Background within this chessboard distance of an object counts as
/// near it: one cell of a CAM at output stride 8.
pub const NEAR: u32 = 8;

/// Pixel counts of a label map's errors on the scenes (see the module
/// documentation); void pixels are left out.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorSplit {
    /// Object pixels on each region: part, body, appendage.
    pub object: [u64; 3],
    /// Of those, the pixels labelled anything but their class.
    pub missed: [u64; 3],
    /// Background pixels within [`NEAR`] pixels of an object.
    pub near: u64,
    /// Of those, the pixels labelled with any class.
    pub near_taken: u64,
    /// Farther background on the typical surround of a class in the image.
    pub own_context: u64,
    /// Of those, the pixels labelled with a class whose surround it is.
    pub own_context_taken: u64,
    /// Farther background elsewhere (another surround or plain).
    pub elsewhere: u64,
    /// Of those, the pixels labelled with any class.
    pub elsewhere_taken: u64,
}

impl ErrorSplit {
    /// Adds the label map `pred` (row-major, the scene's size) of `scene`
    /// with `classes` foreground classes.
    pub fn add(&mut self, scene: &Scene, pred: &[u8], classes: usize) {
        let gt = &scene.image.mask.data;
        let context_of = |label: u8| ClassLook::of(label as usize - 1, classes).context;
        let present: Vec<usize> = scene
            .objects
            .iter()
            .map(|o| ClassLook::of(o.class, classes).context)
            .collect();
        let dims = (scene.image.mask.width, scene.image.mask.height);
        let away = edge_distance(&gt.iter().map(|&g| g == 0).collect::<Vec<_>>(), dims);
        for (i, (&g, &p)) in gt.iter().zip(pred).enumerate() {
            match g {
                255 => {}
                0 if away[i] <= NEAR => {
                    self.near += 1;
                    self.near_taken += (p != 0 && p != 255) as u64;
                }
                0 => match scene.surround[i] {
                    Some(c) if present.contains(&c) => {
                        self.own_context += 1;
                        let class = p != 0 && p as usize <= classes;
                        self.own_context_taken += (class && context_of(p) == c) as u64;
                    }
                    _ => {
                        self.elsewhere += 1;
                        self.elsewhere_taken += (p != 0 && p != 255) as u64;
                    }
                },
                _ => {
                    let r = match scene.regions[i] {
                        Region::Part => 0,
                        Region::Appendage => 2,
                        Region::Body | Region::None => 1,
                    };
                    self.object[r] += 1;
                    self.missed[r] += (p != g) as u64;
                }
            }
        }
    }

    /// The share of each region's pixels labelled with their class: part,
    /// body, appendage (None where a region has no pixel).
    pub fn recall(&self) -> [Option<f64>; 3] {
        [0, 1, 2].map(|r| {
            (self.object[r] > 0).then(|| 1.0 - self.missed[r] as f64 / self.object[r] as f64)
        })
    }

    /// The share of background near an object labelled with a class.
    pub fn near_taken(&self) -> Option<f64> {
        (self.near > 0).then(|| self.near_taken as f64 / self.near as f64)
    }

    /// The share of far background on a present class's typical surround
    /// that is labelled with that class.
    pub fn context_taken(&self) -> Option<f64> {
        (self.own_context > 0).then(|| self.own_context_taken as f64 / self.own_context as f64)
    }

    /// The share of the other far background labelled with any class.
    pub fn elsewhere_taken(&self) -> Option<f64> {
        (self.elsewhere > 0).then(|| self.elsewhere_taken as f64 / self.elsewhere as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::ErrorSplit;
    use crate::data::synth::scenes::compose;
    use crate::data::synth::{SynthConfig, SynthKind};

    #[test]
    fn the_split_of_perfect_empty_and_flooded_maps() {
        let cfg = SynthConfig {
            kind: SynthKind::Scenes,
            ..SynthConfig::default()
        };
        // A scene of one class, so every own surround is that class's.
        let scene = (0..100)
            .map(|i| compose(&cfg, i))
            .find(|s| s.objects.iter().all(|o| o.class == s.objects[0].class))
            .expect("a scene of one class");
        let gt = &scene.image.mask.data;
        let label = scene.objects[0].class as u8 + 1;
        let split = |pred: &[u8]| {
            let mut e = ErrorSplit::default();
            e.add(&scene, pred, cfg.classes);
            e
        };
        // Every non-void pixel falls in exactly one bin.
        let right = split(gt);
        let counted =
            right.object.iter().sum::<u64>() + right.near + right.own_context + right.elsewhere;
        assert_eq!(counted, gt.iter().filter(|&&g| g != 255).count() as u64);
        assert!(right.object[1] > 0 && right.near > 0);
        assert_eq!(right.missed, [0; 3]);
        assert_eq!(
            (
                right.near_taken,
                right.own_context_taken,
                right.elsewhere_taken
            ),
            (0, 0, 0)
        );
        // All background: every object pixel missed, nothing taken.
        let none = split(&vec![0; gt.len()]);
        assert_eq!(none.missed, none.object);
        assert_eq!(none.recall()[1], Some(0.0));
        assert_eq!(none.near_taken(), Some(0.0));
        // All the class: every object pixel right, every background pixel
        // taken, the own surround included.
        let flood = split(&vec![label; gt.len()]);
        assert_eq!(flood.missed, [0; 3]);
        assert_eq!(flood.near_taken(), Some(1.0));
        assert_eq!(
            flood.elsewhere_taken(),
            (flood.elsewhere > 0).then_some(1.0)
        );
        assert_eq!(
            flood.context_taken(),
            (flood.own_context > 0).then_some(1.0)
        );
    }
}
