//! Average, max and adaptive-average pooling and their backward.

use super::*;
use weakseg_kernels::cpu;
use weakseg_kernels::launch::pool::{self, Pool2d};

#[test]
fn pooling() {
    let g = gpu();
    let mut r = rng(9);
    for pg in [
        Pool2d {
            planes: 1,
            h: 1,
            w: 1,
            kernel: (1, 1),
            stride: (1, 1),
            pad: (0, 0),
        },
        Pool2d {
            planes: 3,
            h: 7,
            w: 9,
            kernel: (3, 3),
            stride: (2, 2),
            pad: (1, 1),
        },
        Pool2d {
            planes: 2,
            h: 8,
            w: 5,
            kernel: (2, 2),
            stride: (2, 2),
            pad: (0, 0),
        },
        Pool2d {
            planes: 2,
            h: 6,
            w: 6,
            kernel: (3, 2),
            stride: (1, 2),
            pad: (1, 0),
        },
    ] {
        let (nx, ny) = (pg.planes * pg.h * pg.w, pg.planes * pg.ho() * pg.wo());
        let (x, dy) = (
            rand_vec(&mut r, nx, -1.0, 1.0),
            rand_vec(&mut r, ny, -1.0, 1.0),
        );
        let (xb, dyb) = (up(&g, &x), up(&g, &dy));
        // Windows overlapping one input: at most ⌈k/s⌉ per axis.
        let overlap = pg.kernel.0.div_ceil(pg.stride.0) * pg.kernel.1.div_ceil(pg.stride.1);
        let area = pg.kernel.0 * pg.kernel.1;
        let yb = poisoned(&g, ny);
        pool::avg_pool2d(&g, &pg, v(&xb, nx), v(&yb, ny)).unwrap();
        // A sum of the window's terms, divided by its area (2.5 ulp).
        summed(
            "avg pool",
            &read(&g, &yb, ny),
            &cpu::pool::avg_pool2d(&pg, &x),
            &cpu::pool::avg_pool2d(&pg, &abs(&x)),
            area,
            Tol::ulps(2.5),
        );
        let dxb = poisoned(&g, nx);
        pool::avg_pool2d_backward(&g, &pg, v(&dyb, ny), v(&dxb, nx)).unwrap();
        summed(
            "avg pool backward",
            &read(&g, &dxb, nx),
            &cpu::pool::avg_pool2d_backward(&pg, &dy),
            &cpu::pool::avg_pool2d_backward(&pg, &abs(&dy)),
            overlap,
            Tol::ulps(2.5),
        );
        let (mb, ab) = (poisoned(&g, ny), poisoned(&g, ny));
        pool::max_pool2d(&g, &pg, v(&xb, nx), v(&mb, ny), v(&ab, ny)).unwrap();
        let (wy, wa) = cpu::pool::max_pool2d(&pg, &x);
        exact("max pool", &read(&g, &mb, ny), &wy);
        assert_eq!(read_u32(&g, &ab, ny), wa, "max pool indices");
        pool::max_pool2d_backward(&g, &pg, v(&dyb, ny), v(&ab, ny), v(&dxb, nx)).unwrap();
        // Gradients routed to an input from every window it wins.
        summed(
            "max pool backward",
            &read(&g, &dxb, nx),
            &cpu::pool::max_pool2d_backward(&pg, &dy, &wa),
            &cpu::pool::max_pool2d_backward(&pg, &abs(&dy), &wa),
            overlap,
            Tol::EXACT,
        );
    }
    for (hw, out) in [
        ((7, 5), (3, 2)),
        ((4, 4), (1, 1)),
        ((5, 3), (5, 3)),
        ((3, 5), (6, 7)),
    ] {
        let planes = 2;
        let (nx, ny) = (planes * hw.0 * hw.1, planes * out.0 * out.1);
        let (x, dy) = (
            rand_vec(&mut r, nx, -1.0, 1.0),
            rand_vec(&mut r, ny, -1.0, 1.0),
        );
        let (xb, dyb, yb, dxb) = (up(&g, &x), up(&g, &dy), poisoned(&g, ny), poisoned(&g, nx));
        // torch's bins: at most ⌈in/out⌉ + 1 inputs per output and axis,
        // and at most ⌈out/in⌉ + 1 outputs per input and axis.
        let window = (hw.0.div_ceil(out.0) + 1) * (hw.1.div_ceil(out.1) + 1);
        let overlap = (out.0.div_ceil(hw.0) + 1) * (out.1.div_ceil(hw.1) + 1);
        pool::adaptive_avg_pool2d(&g, planes, hw, out, v(&xb, nx), v(&yb, ny)).unwrap();
        summed(
            "adaptive avg",
            &read(&g, &yb, ny),
            &cpu::pool::adaptive_avg_pool2d(planes, hw, out, &x),
            &cpu::pool::adaptive_avg_pool2d(planes, hw, out, &abs(&x)),
            window,
            Tol::ulps(2.5),
        );
        pool::adaptive_avg_pool2d_backward(&g, planes, hw, out, v(&dyb, ny), v(&dxb, nx)).unwrap();
        summed(
            "adaptive avg backward",
            &read(&g, &dxb, nx),
            &cpu::pool::adaptive_avg_pool2d_backward(planes, hw, out, &dy),
            &cpu::pool::adaptive_avg_pool2d_backward(planes, hw, out, &abs(&dy)),
            overlap,
            Tol::ulps(2.5),
        );
    }
}

/// Every pooling launcher refuses a view shorter than its geometry needs
/// (naming which), instead of letting the device clamp the access.
#[test]
fn pooling_refuses_short_views() {
    let g = gpu();
    let pg = Pool2d {
        planes: 3,
        h: 4,
        w: 4,
        kernel: (2, 2),
        stride: (2, 2),
        pad: (0, 0),
    };
    let (nx, ny) = (48, 12);
    let (xb, yb, ab) = (poisoned(&g, nx), poisoned(&g, ny), poisoned(&g, ny));
    let refused = |r: weakseg_kernels::Result<()>, what: &str| {
        let e = r.unwrap_err().to_string();
        assert!(e.contains(what), "{e}");
    };
    refused(
        pool::avg_pool2d(&g, &pg, v(&xb, nx - 1), v(&yb, ny)),
        "the input",
    );
    refused(
        pool::avg_pool2d(&g, &pg, v(&xb, nx), v(&yb, ny - 1)),
        "the output",
    );
    refused(
        pool::max_pool2d(&g, &pg, v(&xb, nx), v(&yb, ny), v(&ab, ny - 1)),
        "the indices",
    );
    refused(
        pool::avg_pool2d_backward(&g, &pg, v(&yb, ny), v(&xb, nx - 1)),
        "the input gradient",
    );
    refused(
        pool::max_pool2d_backward(&g, &pg, v(&yb, ny - 1), v(&ab, ny), v(&xb, nx)),
        "the output gradient",
    );
    refused(
        pool::adaptive_avg_pool2d(&g, 3, (4, 4), (1, 2), v(&xb, nx - 1), v(&yb, 6)),
        "the input",
    );
    refused(
        pool::adaptive_avg_pool2d_backward(&g, 3, (4, 4), (1, 2), v(&yb, 6), v(&xb, nx - 1)),
        "the input gradient",
    );
}
