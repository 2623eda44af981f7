//! Convolution forward, backward-data and backward-weight (split-k
//! included): the 8×8 tile kernels and, on CPU adapters with 8-lane
//! subgroups, the subgroup kernels.

use super::*;
use weakseg_kernels::cpu;
use weakseg_kernels::launch::conv::{self, Conv2d};

fn conv_cases() -> Vec<Conv2d> {
    let c = |n, cin, h, w, cout, k: (usize, usize), s, p, d, groups| Conv2d {
        n,
        cin,
        h,
        w,
        cout,
        kh: k.0,
        kw: k.1,
        stride: (s, s),
        pad: (p, p),
        dilation: (d, d),
        groups,
    };
    vec![
        c(1, 1, 1, 1, 1, (1, 1), 1, 0, 1, 1),
        c(2, 3, 7, 5, 9, (3, 3), 1, 1, 1, 1),
        c(1, 16, 9, 11, 16, (3, 3), 2, 1, 1, 1),
        c(2, 8, 10, 9, 8, (3, 3), 1, 2, 2, 1),
        c(1, 6, 7, 7, 6, (3, 3), 1, 1, 1, 6),
        c(1, 16, 6, 5, 24, (1, 1), 1, 0, 1, 2),
        c(1, 4, 8, 8, 12, (3, 2), 2, 0, 1, 2),
        c(2, 5, 5, 6, 3, (1, 1), 2, 0, 1, 1),
        c(1, 5, 13, 11, 20, (3, 3), 1, 1, 1, 1),
        c(2, 32, 9, 10, 32, (3, 3), 1, 1, 1, 2),
        c(1, 32, 9, 9, 16, (3, 3), 1, 1, 1, 2),
    ]
}

/// On an adapter with 8-lane subgroups and CPU type (lavapipe) every pass of
/// an ungrouped convolution, and of a grouped one with 16 channels per
/// group, runs the subgroup kernels, so `conv2d_forward_and_backward` checks
/// them there (16×64 tiles: the cases above reach 20 and 32 channels and
/// 143 positions); a pass whose 16 channels would straddle groups never does.
#[test]
fn conv2d_subgroup_kernel_choice() {
    let g = gpu();
    let able =
        g.class() == weakseg_kernels::AdapterClass::Cpu && g.fixed_subgroup_size() == Some(8);
    let all = |b| conv::SubgroupPasses {
        forward: b,
        backward_data: b,
        backward_weight: b,
    };
    let cases = conv_cases();
    assert_eq!(cases[1].subgroup_passes(&g), all(able));
    assert_eq!(cases[9].subgroup_passes(&g), all(able));
    assert_eq!(cases[4].subgroup_passes(&g), all(false));
    assert_eq!(cases[6].subgroup_passes(&g), all(false));
    assert_eq!(
        cases[10].subgroup_passes(&g),
        conv::SubgroupPasses {
            forward: false,
            backward_data: able,
            backward_weight: false,
        }
    );
}

#[test]
fn conv2d_forward_and_backward() {
    let g = gpu();
    let mut r = rng(7);
    for cg in conv_cases() {
        let (ho, wo) = (cg.ho(), cg.wo());
        let nx = cg.n * cg.cin * cg.h * cg.w;
        let nw = cg.cout * (cg.cin / cg.groups) * cg.kh * cg.kw;
        let ny = cg.n * cg.cout * ho * wo;
        let (x, w, bias, dy) = (
            rand_vec(&mut r, nx, -1.0, 1.0),
            rand_vec(&mut r, nw, -1.0, 1.0),
            rand_vec(&mut r, cg.cout, -1.0, 1.0),
            rand_vec(&mut r, ny, -1.0, 1.0),
        );
        check_conv(&g, &cg, &x, &w, &bias, &dy, "random");
        let (x, w, bias, dy) = (
            dyadic(&mut r, nx, 8, 3),
            dyadic(&mut r, nw, 8, 3),
            dyadic(&mut r, cg.cout, 8, 3),
            dyadic(&mut r, ny, 8, 3),
        );
        check_conv(&g, &cg, &x, &w, &bias, &dy, "dyadic");
    }
}

/// Forward, backward-data and backward-weight of `cg` against the
/// reference: exactly on dyadic inputs (every product and partial sum
/// exact in f32), else within the bound of sums of their terms: the
/// forward sums cin/groups·kh·kw products and the bias, backward-data at
/// most cout/groups·kh·kw, backward-weight n·ho·wo.
fn check_conv(g: &Gpu, cg: &Conv2d, x: &[f32], w: &[f32], bias: &[f32], dy: &[f32], kind: &str) {
    let (nx, nw, ny) = (x.len(), w.len(), dy.len());
    let (xb, wb, bb, dyb) = (up(g, x), up(g, w), up(g, bias), up(g, dy));
    let compare = |what: &str, got: &[f32], want: Vec<f64>, mag: Vec<f64>, terms: usize| {
        let what = format!("{what} {kind} {cg:?}");
        if kind == "dyadic" {
            exact(&what, got, &want);
        } else {
            summed(&what, got, &want, &mag, terms, Tol::EXACT);
        }
    };
    let yb = poisoned(g, ny);
    conv::conv2d_forward(
        g,
        cg,
        v(&xb, nx),
        v(&wb, nw),
        Some(v(&bb, cg.cout)),
        v(&yb, ny),
    )
    .unwrap();
    compare(
        "conv fwd",
        &read(g, &yb, ny),
        cpu::conv::forward(cg, x, w, Some(bias)),
        cpu::conv::forward(cg, &abs(x), &abs(w), Some(&abs(bias))),
        cg.cin / cg.groups * cg.kh * cg.kw + 1,
    );
    let dxb = poisoned(g, nx);
    conv::conv2d_backward_data(g, cg, v(&dyb, ny), v(&wb, nw), v(&dxb, nx)).unwrap();
    compare(
        "conv bwd data",
        &read(g, &dxb, nx),
        cpu::conv::backward_data(cg, dy, w),
        cpu::conv::backward_data(cg, &abs(dy), &abs(w)),
        cg.cout / cg.groups * cg.kh * cg.kw,
    );
    let dwb = poisoned(g, nw);
    conv::conv2d_backward_weight(g, cg, v(&xb, nx), v(&dyb, ny), v(&dwb, nw)).unwrap();
    compare(
        "conv bwd weight",
        &read(g, &dwb, nw),
        cpu::conv::backward_weight(cg, x, dy),
        cpu::conv::backward_weight(cg, &abs(x), &abs(dy)),
        cg.n * cg.ho() * cg.wo(),
    );
}

#[test]
fn conv2d_split_k_weight_gradient() {
    // Enough positions that the weight gradient is split and the partials reduced.
    let g = gpu();
    let mut r = rng(8);
    let cg = Conv2d {
        n: 2,
        cin: 3,
        h: 33,
        w: 31,
        cout: 5,
        kh: 3,
        kw: 3,
        stride: (1, 1),
        pad: (1, 1),
        dilation: (1, 1),
        groups: 1,
    };
    let (nx, ny, nw) = (2 * 3 * 33 * 31, 2 * 5 * 33 * 31, 5 * 3 * 9);
    let (x, dy) = (
        rand_vec(&mut r, nx, -1.0, 1.0),
        rand_vec(&mut r, ny, -1.0, 1.0),
    );
    let (xb, dyb, dwb) = (up(&g, &x), up(&g, &dy), poisoned(&g, nw));
    conv::conv2d_backward_weight(&g, &cg, v(&xb, nx), v(&dyb, ny), v(&dwb, nw)).unwrap();
    summed(
        "conv bwd weight split",
        &read(&g, &dwb, nw),
        &cpu::conv::backward_weight(&cg, &x, &dy),
        &cpu::conv::backward_weight(&cg, &abs(&x), &abs(&dy)),
        2 * 33 * 31,
        Tol::EXACT,
    );
    // Dyadic: the split partials and their reduction exact.
    let (x, dy) = (dyadic(&mut r, nx, 8, 3), dyadic(&mut r, ny, 8, 3));
    let (xb, dyb, dwb) = (up(&g, &x), up(&g, &dy), poisoned(&g, nw));
    conv::conv2d_backward_weight(&g, &cg, v(&xb, nx), v(&dyb, ny), v(&dwb, nw)).unwrap();
    exact(
        "conv bwd weight split dyadic",
        &read(&g, &dwb, nw),
        &cpu::conv::backward_weight(&cg, &x, &dy),
    );
}
