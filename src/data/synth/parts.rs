//! The parts benchmark (`--kind parts`, the first generator): square
//! images whose classes are told apart only by a small part (a
//! class-specific pattern on 15–25% of the object) while the object bodies
//! look alike across classes and like background distractors, so a CAM
//! lights up the part and nothing can find the body.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::paint::{Part, Surface};
use super::shapes::{self, Blob};
use super::{SynthConfig, SynthImage, annotate, area};
use crate::data::annotations::VocXml;
use crate::data::mix_seed;
use crate::io::image::Rgb;
use crate::io::labels::LabelMap;

/// An object being placed: its class, full mask, and part.
struct Object {
    class: usize,
    full: Vec<bool>,
    part: Vec<bool>,
    body: Surface,
    style: Part,
}

fn new_object(rng: &mut SmallRng, cfg: &SynthConfig, class: usize) -> Object {
    let s = cfg.size;
    let sf = s as f32;
    // The part-area window is met within a few draws; after many misses the
    // last draw is taken as it is, so generation always ends.
    let mut attempt = 0;
    loop {
        attempt += 1;
        let relax = attempt > 200;
        let blob = Blob::random(rng, (sf, sf), 0.14 * sf, 0.30 * sf);
        let full = blob.mask((s, s));
        let a = area(&full);
        if a == 0 || (a < 40 && !relax) {
            continue;
        }
        let frac: f32 = rng.random_range(0.15..0.25);
        let pr = (frac * a as f32 / std::f32::consts::PI).sqrt();
        let ang: f32 = rng.random_range(0.0..std::f32::consts::TAU);
        let d = rng.random_range(0.30..0.55) * blob.r;
        let (px, py) = (blob.cx + d * ang.cos(), blob.cy + d * ang.sin());
        let part = shapes::disc_within(&full, s, (px, py), pr);
        let pa = area(&part) as f32 / a as f32;
        if !(0.12..=0.28).contains(&pa) && !relax {
            continue;
        }
        return Object {
            class,
            full,
            part,
            body: Surface::body(rng, class, cfg.classes),
            style: Part::of_class(class, cfg.classes, px, py),
        };
    }
}

/// Renders image `index` of the parts benchmark `cfg`.
pub fn render(cfg: &SynthConfig, index: usize) -> SynthImage {
    let s = cfg.size;
    let sf = s as f32;
    let mut rng = SmallRng::seed_from_u64(mix_seed(
        cfg.seed,
        (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
    ));
    let background = Surface::background(&mut rng);
    let distractors: Vec<(Vec<bool>, Surface)> = (0..rng.random_range(1..=3))
        .map(|_| {
            let b = Blob::random(&mut rng, (sf, sf), 0.10 * sf, 0.22 * sf);
            let look = rng.random_range(0..cfg.classes);
            (b.mask((s, s)), Surface::body(&mut rng, look, cfg.classes))
        })
        .collect();
    let count = match rng.random_range(0..20) {
        0..10 => 1,
        10..17 => 2,
        _ => 3,
    };
    // owner[i]: index + 1 of the visible object at pixel i, 0 for none.
    let mut owner = vec![0usize; s * s];
    let mut objects: Vec<Object> = Vec::new();
    for _ in 0..count {
        let class = rng.random_range(0..cfg.classes);
        for _try in 0..20 {
            let o = new_object(&mut rng, cfg, class);
            let mut trial = owner.clone();
            for (i, &f) in o.full.iter().enumerate() {
                if f {
                    trial[i] = objects.len() + 1;
                }
            }
            let keeps = objects.iter().enumerate().all(|(j, p)| {
                let vis = (0..s * s).filter(|&i| trial[i] == j + 1).count();
                let vis_part = (0..s * s)
                    .filter(|&i| trial[i] == j + 1 && p.part[i])
                    .count();
                vis * 2 >= area(&p.full) && vis_part * 10 >= area(&p.part) * 3
            });
            if keeps {
                owner = trial;
                objects.push(o);
                break;
            }
        }
    }
    let mut data = Vec::with_capacity(s * s * 3);
    let mut mask = LabelMap::filled(s, s, 0);
    for i in 0..s * s {
        let (x, y) = ((i % s) as f32, (i / s) as f32);
        let c = match owner[i] {
            0 => distractors
                .iter()
                .rev()
                .find(|(m, _)| m[i])
                .map_or_else(|| background.at(x, y), |(_, d)| d.at(x, y)),
            o => {
                let ob = &objects[o - 1];
                mask.data[i] = ob.class as u8 + 1;
                if ob.part[i] {
                    ob.style.at(x, y)
                } else {
                    ob.body.at(x, y)
                }
            }
        };
        for v in c {
            let n: f32 = rng.random_range(-0.03..0.03);
            data.push(((v + n).clamp(0.0, 1.0) * 255.0).round() as u8);
        }
    }
    let classes: Vec<usize> = objects.iter().map(|o| o.class).collect();
    let (boxes, marks) = annotate(&mut rng, &owner, &classes, (s, s), &cfg.class_list());
    SynthImage {
        id: cfg.id(index),
        rgb: Rgb {
            width: s,
            height: s,
            data,
        },
        mask,
        xml: VocXml {
            width: s as u32,
            height: s as u32,
            boxes,
        },
        marks,
    }
}
