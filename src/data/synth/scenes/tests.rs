//! Unit tests of the scene generator's private geometry (kept apart so the
//! generator file stays readable).

use super::*;

#[test]
fn detached_pieces_keep_a_gap_and_thin_appendages_stay_thin() {
    let dims = (60, 60);
    for seed in 0..30 {
        let mut rng = SmallRng::seed_from_u64(seed);
        let blob = Blob::shaped(&mut rng, (30.0, 30.0), 10.0, 1.3, 0.4, 0.1);
        let body = blob.mask(dims);
        let piece = appendage(&mut rng, Appendage::Detached, &blob, &body, dims);
        assert!(
            area(&piece) >= 4,
            "seed {seed}: piece of {} px",
            area(&piece)
        );
        let near = shapes::dilate(&body, dims);
        assert!(
            piece.iter().zip(&near).all(|(&p, &n)| !(p && n)),
            "seed {seed}: the piece touches the body"
        );
        let thin = appendage(&mut rng, Appendage::Thin, &blob, &body, dims);
        assert!(area(&thin) > 0);
        assert!(thin.iter().zip(&body).all(|(&t, &b)| !(t && b)));
        // At most 3 px wide: no 4×4 block lies inside an appendage.
        for y in 0..dims.1 - 3 {
            for x in 0..dims.0 - 3 {
                let full = (0..4).all(|dy| (0..4).all(|dx| thin[(y + dy) * dims.0 + x + dx]));
                assert!(!full, "seed {seed}: a 4×4 block at ({x}, {y})");
            }
        }
        assert!(
            appendage(&mut rng, Appendage::None, &blob, &body, dims)
                .iter()
                .all(|&v| !v)
        );
    }
}

#[test]
fn camouflaged_objects_blend_into_their_surround() {
    let cfg = SynthConfig::default();
    let (mut low, mut high) = (Vec::new(), Vec::new());
    for i in 0..60 {
        let s = compose(&cfg, i);
        let (w, h) = (s.image.rgb.width, s.image.rgb.height);
        let owner = &s.image.mask.data;
        // Mean step across the outline of each class region, split by
        // whether the scene's objects of that class are camouflaged.
        for o in &s.objects {
            let label = o.class as u8 + 1;
            let (mut sum, mut n) = (0.0f32, 0usize);
            for y in 0..h {
                for x in 0..w - 1 {
                    let (a, b) = (y * w + x, y * w + x + 1);
                    if (owner[a] == label) != (owner[b] == label)
                        && (owner[a] == 0 || owner[b] == 0)
                    {
                        sum += (0..3)
                            .map(|c| (s.clean[a][c] - s.clean[b][c]).powi(2))
                            .sum::<f32>()
                            .sqrt();
                        n += 1;
                    }
                }
            }
            let same_kind = s
                .objects
                .iter()
                .filter(|p| p.class == o.class)
                .all(|p| p.low_contrast == o.low_contrast);
            if n > 0 && same_kind {
                if o.low_contrast {
                    low.push(sum / n as f32)
                } else {
                    high.push(sum / n as f32)
                }
            }
        }
    }
    let mean = |v: &[f32]| v.iter().sum::<f32>() / v.len().max(1) as f32;
    assert!(
        low.len() > 10 && high.len() > 10,
        "{} low, {} high",
        low.len(),
        high.len()
    );
    assert!(
        mean(&low) * 2.0 < mean(&high),
        "steps: camouflaged {}, others {}",
        mean(&low),
        mean(&high)
    );
}
