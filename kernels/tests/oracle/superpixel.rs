//! SLIC superpixels: initial centres, assignment and update.

use super::*;
use weakseg_kernels::cpu;

/// SLIC's three passes against the reference: odd image sizes, grids that
/// do not divide them, a 1×1 image and grid, three channels and one.
/// Labels exact (random colours leave no ties). Each pass starts from the
/// reference's previous output, so a mismatch names its pass.
#[test]
fn slic_matches_reference() {
    use weakseg_kernels::launch::superpixel::{self, Slic};
    let g = gpu();
    let mut r = rng(67);
    for (batch, channels, height, width, grid_h, grid_w) in [
        (1usize, 1usize, 1usize, 1usize, 1usize, 1usize),
        (2, 3, 13, 9, 3, 2),
        (1, 3, 7, 17, 2, 5),
        (3, 1, 11, 11, 4, 4),
    ] {
        let s = Slic {
            batch,
            channels,
            height,
            width,
            grid_h,
            grid_w,
            spatial: 0.05,
        };
        let what = format!("slic {s:?}");
        let n = batch * height * width;
        let nc = s.centres() * s.centre_len();
        let img = rand_vec(&mut r, batch * channels * height * width, -2.0, 2.0);
        let ib = up(&g, &img);
        let cb = poisoned(&g, nc);
        superpixel::slic_init(&g, v(&ib, img.len()), s, v(&cb, nc)).unwrap();
        let want = cpu::superpixel::slic_init(&img, s);
        // Colours are copied; the grid coordinates (g + 0.5)·h/grid − 0.5
        // take a few roundings of values ≤ max(h, w).
        within(
            &format!("{what}: init"),
            &read(&g, &cb, nc),
            &want,
            Tol::EXACT.plus(4.0 * U * height.max(width) as f64),
        );
        let centres: Vec<f32> = want.iter().map(|&v| v as f32).collect();
        let cb = up(&g, &centres);
        let lb = up_u32(&g, &vec![u32::MAX; n]);
        superpixel::slic_assign(&g, v(&ib, img.len()), v(&cb, nc), s, v(&lb, n)).unwrap();
        let labels = cpu::superpixel::slic_assign(&img, &centres, s);
        assert_eq!(read_u32(&g, &lb, n), labels, "{what}: labels");
        superpixel::slic_update(&g, v(&ib, img.len()), v(&lb, n), s, v(&cb, nc)).unwrap();
        // Means of each superpixel's colours and coordinates: sums of at
        // most h·w terms over their count (2.5 ulp).
        summed(
            &format!("{what}: update"),
            &read(&g, &cb, nc),
            &cpu::superpixel::slic_update(&img, &labels, &centres, s),
            &cpu::superpixel::slic_update(&abs(&img), &labels, &abs(&centres), s),
            height * width,
            Tol::ulps(2.5),
        );
    }
    let b = up(&g, &[0.0; 8]);
    let too_fine = Slic {
        batch: 1,
        channels: 1,
        height: 2,
        width: 2,
        grid_h: 3,
        grid_w: 1,
        spatial: 1.0,
    };
    assert!(superpixel::slic_init(&g, v(&b, 4), too_fine, v(&b, 3)).is_err());
    let short = Slic {
        grid_h: 1,
        ..too_fine
    };
    assert!(superpixel::slic_init(&g, v(&b, 4), short, v(&b, 2)).is_err());
}
