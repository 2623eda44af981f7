// Shared by the convolution families (conv.wgsl, conv_subgroup.wgsl): the
// launch geometry, masked loads, the output-position walk of the weight
// gradient and the stride inversion of backward-data.
//
// params: 0 N, 1 Cin, 2 H, 3 W, 4 Cout, 5 Ho, 6 Wo, 7 kh, 8 kw, 9 sh, 10 sw,
//   11 ph, 12 pw, 13 dh, 14 dw, 15 groups.

struct Geo { n: u32, cin: u32, h: u32, wd: u32, cout: u32, ho: u32, wo: u32, kh: u32, kw: u32,
             sh: i32, sw: i32, ph: i32, pw: i32, dh: i32, dw: i32, groups: u32 }

fn geo() -> Geo {
    return Geo(pu(0u), pu(1u), pu(2u), pu(3u), pu(4u), pu(5u), pu(6u), pu(7u), pu(8u),
               pi(9u), pi(10u), pi(11u), pi(12u), pi(13u), pi(14u), pu(15u));
}

fn ld(v: f32, ok: bool) -> f32 { return select(0.0, v, ok); }

// An output position walked in order without dividing: image, row, column.
// Integer division has no SIMD instruction on CPU adapters (each lane divides
// on its own), and inside loops it also stalls SwiftShader's compiler.
struct Walk { img: u32, oy: u32, ox: u32 }

fn walk_at(p: u32, g: Geo) -> Walk {
    let hwo = g.ho * g.wo;
    let q = p % hwo;
    return Walk(p / hwo, q / g.wo, q % g.wo);
}

fn walk_next(s: Walk, g: Geo) -> Walk {
    let ox = s.ox + 1u;
    let row = ox == g.wo;
    let oy = s.oy + select(0u, 1u, row);
    let img = oy == g.ho;
    return Walk(s.img + select(0u, 1u, img), select(oy, 0u, img), select(ox, 0u, row));
}

// Backward-data: the flat output position that padded input position
// (ty, tx), kernel offset removed, feeds at the stride, or -1 if none. The
// quotient comes from the stride's float reciprocal `rs` (exact while
// |t| < 2^16) because integer division inside a loop makes SwiftShader,
// the software WebGPU adapter of Chromium, exhaust memory compiling it.
fn src_pos(ty: i32, tx: i32, g: Geo, rs: vec2<f32>) -> i32 {
    let qy = i32(floor((f32(ty) + 0.5) * rs.x));
    let qx = i32(floor((f32(tx) + 0.5) * rs.y));
    let ok = (ty >= 0) & (tx >= 0) & (qy * g.sh == ty) & (qx * g.sw == tx)
        & (qy < i32(g.ho)) & (qx < i32(g.wo));
    return select(-1, qy * i32(g.wo) + qx, ok);
}
