// 2-D convolution for CPU adapters with 8-wide subgroups: the forward pass,
// backward-data and backward-weight as implicit GEMMs like conv.wgsl, each
// subgroup owning a 16×64 tile (subgroup_tile.wgsl) instead of each
// invocation an 8×8 one. The 16 rows are output channels (forward,
// backward-weight) or input channels (backward-data); the 64 columns are
// positions (forward, backward-data) or weight entries (ci, ky, kx) of
// backward-weight. Lane l owns columns c0 + l + 8j, j < 8, so its gathers of
// the input are scalar as in conv.wgsl; the row operand (a weight or an
// output gradient) is loaded once per lane for two rows and handed to the
// other lanes by `subgroupBroadcast`: 10 loads per 128 multiply-adds per lane,
// against 16 per 64 in conv.wgsl. The 16 rows must share one group.
//
// The engine prepends subgroup_tile.wgsl and conv_common.wgsl.
//
// Bindings and params as in conv.wgsl (17 row tiles of 16, 18 column tiles
// of 64), and for backward-data 21 hp = ⌈H/sh⌉, 22 wp = ⌈W/sw⌉.

@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

// Row r of the tile, this lane's columns c0 + 8j, into y[base + column].
fn store_row(base: u32, c0: u32, len: u32, lo: vec4<f32>, hi: vec4<f32>) {
    for (var j = 0u; j < 4u; j++) {
        if (c0 + 8u * j < len) { y[base + c0 + 8u * j] = lo[j]; }
        if (c0 + 8u * (j + 4u) < len) { y[base + c0 + 8u * (j + 4u)] = hi[j]; }
    }
}

// Row r of a backward-data tile: this lane's columns at input positions q,
// those outside the input left alone.
fn store_at(base: u32, q: array<u32, 8>, ok: array<bool, 8>, lo: vec4<f32>, hi: vec4<f32>) {
    for (var j = 0u; j < 4u; j++) {
        if (ok[j]) { y[base + q[j]] = lo[j]; }
        if (ok[j + 4u]) { y[base + q[j + 4u]] = hi[j]; }
    }
}

fn gather(o: array<u32, 8>, v: array<bool, 8>, off: u32) -> array<vec4<f32>, 2> {
    return array<vec4<f32>, 2>(
        vec4<f32>(ld(x[o[0] + off], v[0]), ld(x[o[1] + off], v[1]), ld(x[o[2] + off], v[2]), ld(x[o[3] + off], v[3])),
        vec4<f32>(ld(x[o[4] + off], v[4]), ld(x[o[5] + off], v[5]), ld(x[o[6] + off], v[6]), ld(x[o[7] + off], v[7])));
}

@compute @workgroup_size(64)
fn conv2d_fwd_sg(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(subgroup_id) sg: u32, @builtin(subgroup_invocation_id) l: u32) {
    // One tile per subgroup: the test below is uniform over the subgroup.
    let t = logical_id(wid, nwg, sg, 8u);
    let g = geo();
    let tc = pu(17u);
    let tp = pu(18u);
    if (t >= g.n * tc * tp) { return; }
    let img = t / (tc * tp);
    let co0 = ((t / tp) % tc) * 16u;
    let c0 = (t % tp) * 64u + l;
    let hwo = g.ho * g.wo;
    let hw = g.h * g.wd;
    let cin_g = g.cin / g.groups;
    let cout_g = g.cout / g.groups;
    let xb = (img * g.cin + (co0 / cout_g) * cin_g) * hw;
    let kk = g.kh * g.kw;
    var py: array<i32, 8>;
    var px: array<i32, 8>;
    for (var j = 0u; j < 8u; j++) {
        let q = min(c0 + 8u * j, hwo - 1u);
        py[j] = i32(q / g.wo) * g.sh - g.ph;
        px[j] = i32(q % g.wo) * g.sw - g.pw;
    }
    let w_lo = min(co0 + l, g.cout - 1u) * cin_g * kk;
    let w_hi = min(co0 + 8u + l, g.cout - 1u) * cin_g * kk;
    tile_zero();
    for (var ky = 0u; ky < g.kh; ky++) {
    for (var kx = 0u; kx < g.kw; kx++) {
        var o: array<u32, 8>;
        var v: array<bool, 8>;
        for (var j = 0u; j < 8u; j++) {
            let iy = py[j] + i32(ky) * g.dh;
            let ix = px[j] + i32(kx) * g.dw;
            v[j] = (iy >= 0) & (iy < i32(g.h)) & (ix >= 0) & (ix < i32(g.wd));
            o[j] = u32(select(0, iy * i32(g.wd) + ix, v[j])) + xb;
        }
        let wk = ky * g.kw + kx;
        for (var ci = 0u; ci < cin_g; ci++) {
            let b = gather(o, v, ci * hw);
            let wo = ci * kk + wk;
            k_step(w[w_lo + wo], w[w_hi + wo], b[0], b[1]);
        }
    }
    }
    let hb = pu(16u) == 1u;
    if (co0 + 0u < g.cout) { let bv = select(0.0, bias[co0 + 0u], hb); store_row((img * g.cout + co0 + 0u) * hwo, c0, hwo, x00a + bv, x00b + bv); }
    if (co0 + 1u < g.cout) { let bv = select(0.0, bias[co0 + 1u], hb); store_row((img * g.cout + co0 + 1u) * hwo, c0, hwo, x01a + bv, x01b + bv); }
    if (co0 + 2u < g.cout) { let bv = select(0.0, bias[co0 + 2u], hb); store_row((img * g.cout + co0 + 2u) * hwo, c0, hwo, x02a + bv, x02b + bv); }
    if (co0 + 3u < g.cout) { let bv = select(0.0, bias[co0 + 3u], hb); store_row((img * g.cout + co0 + 3u) * hwo, c0, hwo, x03a + bv, x03b + bv); }
    if (co0 + 4u < g.cout) { let bv = select(0.0, bias[co0 + 4u], hb); store_row((img * g.cout + co0 + 4u) * hwo, c0, hwo, x04a + bv, x04b + bv); }
    if (co0 + 5u < g.cout) { let bv = select(0.0, bias[co0 + 5u], hb); store_row((img * g.cout + co0 + 5u) * hwo, c0, hwo, x05a + bv, x05b + bv); }
    if (co0 + 6u < g.cout) { let bv = select(0.0, bias[co0 + 6u], hb); store_row((img * g.cout + co0 + 6u) * hwo, c0, hwo, x06a + bv, x06b + bv); }
    if (co0 + 7u < g.cout) { let bv = select(0.0, bias[co0 + 7u], hb); store_row((img * g.cout + co0 + 7u) * hwo, c0, hwo, x07a + bv, x07b + bv); }
    if (co0 + 8u < g.cout) { let bv = select(0.0, bias[co0 + 8u], hb); store_row((img * g.cout + co0 + 8u) * hwo, c0, hwo, x08a + bv, x08b + bv); }
    if (co0 + 9u < g.cout) { let bv = select(0.0, bias[co0 + 9u], hb); store_row((img * g.cout + co0 + 9u) * hwo, c0, hwo, x09a + bv, x09b + bv); }
    if (co0 + 10u < g.cout) { let bv = select(0.0, bias[co0 + 10u], hb); store_row((img * g.cout + co0 + 10u) * hwo, c0, hwo, x10a + bv, x10b + bv); }
    if (co0 + 11u < g.cout) { let bv = select(0.0, bias[co0 + 11u], hb); store_row((img * g.cout + co0 + 11u) * hwo, c0, hwo, x11a + bv, x11b + bv); }
    if (co0 + 12u < g.cout) { let bv = select(0.0, bias[co0 + 12u], hb); store_row((img * g.cout + co0 + 12u) * hwo, c0, hwo, x12a + bv, x12b + bv); }
    if (co0 + 13u < g.cout) { let bv = select(0.0, bias[co0 + 13u], hb); store_row((img * g.cout + co0 + 13u) * hwo, c0, hwo, x13a + bv, x13b + bv); }
    if (co0 + 14u < g.cout) { let bv = select(0.0, bias[co0 + 14u], hb); store_row((img * g.cout + co0 + 14u) * hwo, c0, hwo, x14a + bv, x14b + bv); }
    if (co0 + 15u < g.cout) { let bv = select(0.0, bias[co0 + 15u], hb); store_row((img * g.cout + co0 + 15u) * hwo, c0, hwo, x15a + bv, x15b + bv); }
}

@compute @workgroup_size(64)
fn conv2d_bwd_data_sg(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(subgroup_id) sg: u32, @builtin(subgroup_invocation_id) l: u32) {
    // One tile per subgroup: the test below is uniform over the subgroup.
    let t = logical_id(wid, nwg, sg, 8u);
    let g = geo();
    let tc = pu(17u);
    let tp = pu(18u);
    if (t >= g.n * tc * tp) { return; }
    let img = t / (tc * tp);
    let ch0 = ((t / tp) % tc) * 16u;
    let c0 = (t % tp) * 64u + l;
    let hw = g.h * g.wd;
    let hwo = g.ho * g.wo;
    let cin_g = g.cin / g.groups;
    let cout_g = g.cout / g.groups;
    let grp = ch0 / cin_g;
    let dyb = (img * g.cout + grp * cout_g) * hwo;
    let kk = g.kh * g.kw;
    // Columns walk the input phase by phase (y mod sh, x mod sw), each phase
    // a hp × wp grid, so a tile's positions share one phase and a tap that
    // feeds no output from that phase is skipped by the whole subgroup. At
    // stride 1 this is the plain row-major order.
    let sh = u32(g.sh);
    let sw = u32(g.sw);
    let hp = pu(21u);
    let wp = pu(22u);
    var py: array<i32, 8>;
    var px: array<i32, 8>;
    var q: array<u32, 8>;
    var inside: array<bool, 8>;
    for (var j = 0u; j < 8u; j++) {
        let c = c0 + 8u * j;
        let phase = c / (hp * wp);
        let r = c % (hp * wp);
        let yy = (r / wp) * sh + phase / sw;
        let xx = (r % wp) * sw + phase % sw;
        inside[j] = (phase < sh * sw) & (yy < g.h) & (xx < g.wd);
        let yi = select(0u, yy, inside[j]);
        let xi = select(0u, xx, inside[j]);
        q[j] = yi * g.wd + xi;
        py[j] = i32(yi) + g.ph;
        px[j] = i32(xi) + g.pw;
    }
    let w_lo = (min(ch0 + l, g.cin - 1u) - grp * cin_g) * kk;
    let w_hi = (min(ch0 + 8u + l, g.cin - 1u) - grp * cin_g) * kk;
    tile_zero();
    let rs = 1.0 / vec2<f32>(f32(g.sh), f32(g.sw));
    for (var ky = 0u; ky < g.kh; ky++) {
    for (var kx = 0u; kx < g.kw; kx++) {
        var o: array<u32, 8>;
        var v: array<bool, 8>;
        for (var j = 0u; j < 8u; j++) {
            let s = src_pos(py[j] - i32(ky) * g.dh, px[j] - i32(kx) * g.dw, g, rs);
            v[j] = s >= 0;
            o[j] = u32(max(s, 0)) + dyb;
        }
        let wk = ky * g.kw + kx;
        var hit = false;
        for (var j = 0u; j < 8u; j++) { hit = hit | (v[j] & inside[j]); }
        if (subgroupAny(hit)) {
            for (var co = 0u; co < cout_g; co++) {
                let b = gather(o, v, co * hwo);
                let wo = (grp * cout_g + co) * cin_g * kk + wk;
                k_step(w[w_lo + wo], w[w_hi + wo], b[0], b[1]);
            }
        }
    }
    }
    if (ch0 + 0u < g.cin) { store_at((img * g.cin + ch0 + 0u) * hw, q, inside, x00a, x00b); }
    if (ch0 + 1u < g.cin) { store_at((img * g.cin + ch0 + 1u) * hw, q, inside, x01a, x01b); }
    if (ch0 + 2u < g.cin) { store_at((img * g.cin + ch0 + 2u) * hw, q, inside, x02a, x02b); }
    if (ch0 + 3u < g.cin) { store_at((img * g.cin + ch0 + 3u) * hw, q, inside, x03a, x03b); }
    if (ch0 + 4u < g.cin) { store_at((img * g.cin + ch0 + 4u) * hw, q, inside, x04a, x04b); }
    if (ch0 + 5u < g.cin) { store_at((img * g.cin + ch0 + 5u) * hw, q, inside, x05a, x05b); }
    if (ch0 + 6u < g.cin) { store_at((img * g.cin + ch0 + 6u) * hw, q, inside, x06a, x06b); }
    if (ch0 + 7u < g.cin) { store_at((img * g.cin + ch0 + 7u) * hw, q, inside, x07a, x07b); }
    if (ch0 + 8u < g.cin) { store_at((img * g.cin + ch0 + 8u) * hw, q, inside, x08a, x08b); }
    if (ch0 + 9u < g.cin) { store_at((img * g.cin + ch0 + 9u) * hw, q, inside, x09a, x09b); }
    if (ch0 + 10u < g.cin) { store_at((img * g.cin + ch0 + 10u) * hw, q, inside, x10a, x10b); }
    if (ch0 + 11u < g.cin) { store_at((img * g.cin + ch0 + 11u) * hw, q, inside, x11a, x11b); }
    if (ch0 + 12u < g.cin) { store_at((img * g.cin + ch0 + 12u) * hw, q, inside, x12a, x12b); }
    if (ch0 + 13u < g.cin) { store_at((img * g.cin + ch0 + 13u) * hw, q, inside, x13a, x13b); }
    if (ch0 + 14u < g.cin) { store_at((img * g.cin + ch0 + 14u) * hw, q, inside, x14a, x14b); }
    if (ch0 + 15u < g.cin) { store_at((img * g.cin + ch0 + 15u) * hw, q, inside, x15a, x15b); }
}

@compute @workgroup_size(64)
fn conv2d_bwd_weight_sg(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(subgroup_id) sg: u32, @builtin(subgroup_invocation_id) l: u32) {
    // One tile per subgroup: the test below is uniform over the subgroup.
    let t = logical_id(wid, nwg, sg, 8u);
    let g = geo();
    let tc = pu(17u);
    let tp = pu(18u);
    let splits = pu(19u);
    if (t >= splits * tc * tp) { return; }
    let sp = t / (tc * tp);
    let co0 = ((t / tp) % tc) * 16u;
    let c0 = (t % tp) * 64u + l;
    let hw = g.h * g.wd;
    let hwo = g.ho * g.wo;
    let cin_g = g.cin / g.groups;
    let cout_g = g.cout / g.groups;
    let kk = g.kh * g.kw;
    let rn = cin_g * kk;
    let ci0 = (co0 / cout_g) * cin_g;
    let pbeg = sp * pu(20u);
    let pend = min(pbeg + pu(20u), g.n * hwo);
    var cx: array<u32, 8>;
    var ky: array<i32, 8>;
    var kx: array<i32, 8>;
    for (var j = 0u; j < 8u; j++) {
        let rr = min(c0 + 8u * j, rn - 1u);
        cx[j] = (ci0 + rr / kk) * hw;
        ky[j] = i32((rr % kk) / g.kw) * g.dh - g.ph;
        kx[j] = i32(rr % g.kw) * g.dw - g.pw;
    }
    let d_lo = min(co0 + l, g.cout - 1u) * hwo;
    let d_hi = min(co0 + 8u + l, g.cout - 1u) * hwo;
    tile_zero();
    var at = walk_at(pbeg, g);
    for (var p = pbeg; p < pend; p++) {
        let iy = i32(at.oy) * g.sh;
        let ix = i32(at.ox) * g.sw;
        let xb = at.img * g.cin * hw;
        let db = at.img * g.cout * hwo + at.oy * g.wo + at.ox;
        var o: array<u32, 8>;
        var v: array<bool, 8>;
        for (var j = 0u; j < 8u; j++) {
            let yy = iy + ky[j];
            let xx = ix + kx[j];
            v[j] = (yy >= 0) & (yy < i32(g.h)) & (xx >= 0) & (xx < i32(g.wd));
            o[j] = xb + cx[j] + u32(select(0, yy * i32(g.wd) + xx, v[j]));
        }
        let b = gather(o, v, 0u);
        k_step(w[db + d_lo], w[db + d_hi], b[0], b[1]);
        at = walk_next(at, g);
    }
    let ob = sp * g.cout * rn;
    if (co0 + 0u < g.cout) { store_row(ob + (co0 + 0u) * rn, c0, rn, x00a, x00b); }
    if (co0 + 1u < g.cout) { store_row(ob + (co0 + 1u) * rn, c0, rn, x01a, x01b); }
    if (co0 + 2u < g.cout) { store_row(ob + (co0 + 2u) * rn, c0, rn, x02a, x02b); }
    if (co0 + 3u < g.cout) { store_row(ob + (co0 + 3u) * rn, c0, rn, x03a, x03b); }
    if (co0 + 4u < g.cout) { store_row(ob + (co0 + 4u) * rn, c0, rn, x04a, x04b); }
    if (co0 + 5u < g.cout) { store_row(ob + (co0 + 5u) * rn, c0, rn, x05a, x05b); }
    if (co0 + 6u < g.cout) { store_row(ob + (co0 + 6u) * rn, c0, rn, x06a, x06b); }
    if (co0 + 7u < g.cout) { store_row(ob + (co0 + 7u) * rn, c0, rn, x07a, x07b); }
    if (co0 + 8u < g.cout) { store_row(ob + (co0 + 8u) * rn, c0, rn, x08a, x08b); }
    if (co0 + 9u < g.cout) { store_row(ob + (co0 + 9u) * rn, c0, rn, x09a, x09b); }
    if (co0 + 10u < g.cout) { store_row(ob + (co0 + 10u) * rn, c0, rn, x10a, x10b); }
    if (co0 + 11u < g.cout) { store_row(ob + (co0 + 11u) * rn, c0, rn, x11a, x11b); }
    if (co0 + 12u < g.cout) { store_row(ob + (co0 + 12u) * rn, c0, rn, x12a, x12b); }
    if (co0 + 13u < g.cout) { store_row(ob + (co0 + 13u) * rn, c0, rn, x13a, x13b); }
    if (co0 + 14u < g.cout) { store_row(ob + (co0 + 14u) * rn, c0, rn, x14a, x14b); }
    if (co0 + 15u < g.cout) { store_row(ob + (co0 + 15u) * rn, c0, rn, x15a, x15b); }
}
