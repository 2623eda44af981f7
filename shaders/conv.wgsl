// 2-D convolution, NCHW activations and OIHW weights [Cout, Cin/groups, kh, kw],
// with stride, padding, dilation and groups. Forward, backward-data and
// backward-weight are each an implicit GEMM of their own: the im2col element
// is computed on the fly, nothing is materialised, and no pass reruns the
// forward convolution on swapped operands.
//
// Tiles: the `*_t8` entries give each invocation 8 channels × 8 positions in
// registers; they need the 8 channels to share one group (groups == 1 or
// channels-per-group % 8 == 0). The `*_t1` entries own 1 channel × 8
// positions and take any grouping, depthwise included.
//
// Bindings: the forward pass reads x, w and bias and writes y. Backward-data
// binds dy at `x` and the weights at `w`, writing dx to `y`. Backward-weight
// binds the input at `x` and dy at `w`, writing split-K partial sums
// [splits, Cout, Cin/groups·kh·kw] to `y`; the launcher sums the splits.
//
// The engine prepends conv_common.wgsl (geometry, masked loads, the
// position walk, the stride inversion), shared with conv_subgroup.wgsl.
//
// params: 0 N, 1 Cin, 2 H, 3 W, 4 Cout, 5 Ho, 6 Wo, 7 kh, 8 kw, 9 sh, 10 sw,
//   11 ph, 12 pw, 13 dh, 14 dw, 15 groups, 16 has bias, 17 channel tiles,
//   18 position tiles, 19 split count (backward-weight), 20 split length.

@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(64)
fn conv2d_fwd_t8(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
    let t = logical_id(wid, nwg, lid, 64u);
    let g = geo();
    let tc = pu(17u);
    let tp = pu(18u);
    if (t >= g.n * tc * tp) { return; }
    let img = t / (tc * tp);
    let co0 = ((t / tp) % tc) * 8u;
    let p0 = (t % tp) * 8u;
    let hwo = g.ho * g.wo;
    let cin_g = g.cin / g.groups;
    let cout_g = g.cout / g.groups;
    let ci0 = (co0 / cout_g) * cin_g;
    let xb = (img * g.cin + ci0) * g.h * g.wd;
    let hw = g.h * g.wd;
    let kk = g.kh * g.kw;
    let q0 = min(p0 + 0u, hwo - 1u);
    let y0 = i32(q0 / g.wo) * g.sh - g.ph;
    let x0 = i32(q0 % g.wo) * g.sw - g.pw;
    let q1 = min(p0 + 1u, hwo - 1u);
    let y1 = i32(q1 / g.wo) * g.sh - g.ph;
    let x1 = i32(q1 % g.wo) * g.sw - g.pw;
    let q2 = min(p0 + 2u, hwo - 1u);
    let y2 = i32(q2 / g.wo) * g.sh - g.ph;
    let x2 = i32(q2 % g.wo) * g.sw - g.pw;
    let q3 = min(p0 + 3u, hwo - 1u);
    let y3 = i32(q3 / g.wo) * g.sh - g.ph;
    let x3 = i32(q3 % g.wo) * g.sw - g.pw;
    let q4 = min(p0 + 4u, hwo - 1u);
    let y4 = i32(q4 / g.wo) * g.sh - g.ph;
    let x4 = i32(q4 % g.wo) * g.sw - g.pw;
    let q5 = min(p0 + 5u, hwo - 1u);
    let y5 = i32(q5 / g.wo) * g.sh - g.ph;
    let x5 = i32(q5 % g.wo) * g.sw - g.pw;
    let q6 = min(p0 + 6u, hwo - 1u);
    let y6 = i32(q6 / g.wo) * g.sh - g.ph;
    let x6 = i32(q6 % g.wo) * g.sw - g.pw;
    let q7 = min(p0 + 7u, hwo - 1u);
    let y7 = i32(q7 / g.wo) * g.sh - g.ph;
    let x7 = i32(q7 % g.wo) * g.sw - g.pw;
    let wr0 = min(co0 + 0u, g.cout - 1u) * cin_g * kk;
    let wr1 = min(co0 + 1u, g.cout - 1u) * cin_g * kk;
    let wr2 = min(co0 + 2u, g.cout - 1u) * cin_g * kk;
    let wr3 = min(co0 + 3u, g.cout - 1u) * cin_g * kk;
    let wr4 = min(co0 + 4u, g.cout - 1u) * cin_g * kk;
    let wr5 = min(co0 + 5u, g.cout - 1u) * cin_g * kk;
    let wr6 = min(co0 + 6u, g.cout - 1u) * cin_g * kk;
    let wr7 = min(co0 + 7u, g.cout - 1u) * cin_g * kk;
    var s0a = vec4<f32>(0.0);
    var s0b = vec4<f32>(0.0);
    var s1a = vec4<f32>(0.0);
    var s1b = vec4<f32>(0.0);
    var s2a = vec4<f32>(0.0);
    var s2b = vec4<f32>(0.0);
    var s3a = vec4<f32>(0.0);
    var s3b = vec4<f32>(0.0);
    var s4a = vec4<f32>(0.0);
    var s4b = vec4<f32>(0.0);
    var s5a = vec4<f32>(0.0);
    var s5b = vec4<f32>(0.0);
    var s6a = vec4<f32>(0.0);
    var s6b = vec4<f32>(0.0);
    var s7a = vec4<f32>(0.0);
    var s7b = vec4<f32>(0.0);
    for (var ky = 0u; ky < g.kh; ky++) {
    for (var kx = 0u; kx < g.kw; kx++) {
        let oy = i32(ky) * g.dh;
        let ox = i32(kx) * g.dw;
        let iy0 = y0 + oy;
        let ix0 = x0 + ox;
        let v0 = (iy0 >= 0) & (iy0 < i32(g.h)) & (ix0 >= 0) & (ix0 < i32(g.wd));
        let o0 = u32(select(0, iy0 * i32(g.wd) + ix0, v0)) + xb;
        let iy1 = y1 + oy;
        let ix1 = x1 + ox;
        let v1 = (iy1 >= 0) & (iy1 < i32(g.h)) & (ix1 >= 0) & (ix1 < i32(g.wd));
        let o1 = u32(select(0, iy1 * i32(g.wd) + ix1, v1)) + xb;
        let iy2 = y2 + oy;
        let ix2 = x2 + ox;
        let v2 = (iy2 >= 0) & (iy2 < i32(g.h)) & (ix2 >= 0) & (ix2 < i32(g.wd));
        let o2 = u32(select(0, iy2 * i32(g.wd) + ix2, v2)) + xb;
        let iy3 = y3 + oy;
        let ix3 = x3 + ox;
        let v3 = (iy3 >= 0) & (iy3 < i32(g.h)) & (ix3 >= 0) & (ix3 < i32(g.wd));
        let o3 = u32(select(0, iy3 * i32(g.wd) + ix3, v3)) + xb;
        let iy4 = y4 + oy;
        let ix4 = x4 + ox;
        let v4 = (iy4 >= 0) & (iy4 < i32(g.h)) & (ix4 >= 0) & (ix4 < i32(g.wd));
        let o4 = u32(select(0, iy4 * i32(g.wd) + ix4, v4)) + xb;
        let iy5 = y5 + oy;
        let ix5 = x5 + ox;
        let v5 = (iy5 >= 0) & (iy5 < i32(g.h)) & (ix5 >= 0) & (ix5 < i32(g.wd));
        let o5 = u32(select(0, iy5 * i32(g.wd) + ix5, v5)) + xb;
        let iy6 = y6 + oy;
        let ix6 = x6 + ox;
        let v6 = (iy6 >= 0) & (iy6 < i32(g.h)) & (ix6 >= 0) & (ix6 < i32(g.wd));
        let o6 = u32(select(0, iy6 * i32(g.wd) + ix6, v6)) + xb;
        let iy7 = y7 + oy;
        let ix7 = x7 + ox;
        let v7 = (iy7 >= 0) & (iy7 < i32(g.h)) & (ix7 >= 0) & (ix7 < i32(g.wd));
        let o7 = u32(select(0, iy7 * i32(g.wd) + ix7, v7)) + xb;
        let wk = ky * g.kw + kx;
        for (var ci = 0u; ci < cin_g; ci++) {
            let cb = ci * hw;
            let x0 = vec4<f32>(ld(x[o0 + cb], v0), ld(x[o1 + cb], v1), ld(x[o2 + cb], v2), ld(x[o3 + cb], v3));
            let x1 = vec4<f32>(ld(x[o4 + cb], v4), ld(x[o5 + cb], v5), ld(x[o6 + cb], v6), ld(x[o7 + cb], v7));
            let wo = ci * kk + wk;
            let r0 = vec4<f32>(w[wr0 + wo]);
            s0a = fma(r0, x0, s0a);
            s0b = fma(r0, x1, s0b);
            let r1 = vec4<f32>(w[wr1 + wo]);
            s1a = fma(r1, x0, s1a);
            s1b = fma(r1, x1, s1b);
            let r2 = vec4<f32>(w[wr2 + wo]);
            s2a = fma(r2, x0, s2a);
            s2b = fma(r2, x1, s2b);
            let r3 = vec4<f32>(w[wr3 + wo]);
            s3a = fma(r3, x0, s3a);
            s3b = fma(r3, x1, s3b);
            let r4 = vec4<f32>(w[wr4 + wo]);
            s4a = fma(r4, x0, s4a);
            s4b = fma(r4, x1, s4b);
            let r5 = vec4<f32>(w[wr5 + wo]);
            s5a = fma(r5, x0, s5a);
            s5b = fma(r5, x1, s5b);
            let r6 = vec4<f32>(w[wr6 + wo]);
            s6a = fma(r6, x0, s6a);
            s6b = fma(r6, x1, s6b);
            let r7 = vec4<f32>(w[wr7 + wo]);
            s7a = fma(r7, x0, s7a);
            s7b = fma(r7, x1, s7b);
        }
    }
    }
    if (co0 + 0u < g.cout) {
        let bv = select(0.0, bias[co0 + 0u], pu(16u) == 1u);
        store8(((img * g.cout) + co0 + 0u) * hwo, p0, hwo, s0a + bv, s0b + bv);
    }
    if (co0 + 1u < g.cout) {
        let bv = select(0.0, bias[co0 + 1u], pu(16u) == 1u);
        store8(((img * g.cout) + co0 + 1u) * hwo, p0, hwo, s1a + bv, s1b + bv);
    }
    if (co0 + 2u < g.cout) {
        let bv = select(0.0, bias[co0 + 2u], pu(16u) == 1u);
        store8(((img * g.cout) + co0 + 2u) * hwo, p0, hwo, s2a + bv, s2b + bv);
    }
    if (co0 + 3u < g.cout) {
        let bv = select(0.0, bias[co0 + 3u], pu(16u) == 1u);
        store8(((img * g.cout) + co0 + 3u) * hwo, p0, hwo, s3a + bv, s3b + bv);
    }
    if (co0 + 4u < g.cout) {
        let bv = select(0.0, bias[co0 + 4u], pu(16u) == 1u);
        store8(((img * g.cout) + co0 + 4u) * hwo, p0, hwo, s4a + bv, s4b + bv);
    }
    if (co0 + 5u < g.cout) {
        let bv = select(0.0, bias[co0 + 5u], pu(16u) == 1u);
        store8(((img * g.cout) + co0 + 5u) * hwo, p0, hwo, s5a + bv, s5b + bv);
    }
    if (co0 + 6u < g.cout) {
        let bv = select(0.0, bias[co0 + 6u], pu(16u) == 1u);
        store8(((img * g.cout) + co0 + 6u) * hwo, p0, hwo, s6a + bv, s6b + bv);
    }
    if (co0 + 7u < g.cout) {
        let bv = select(0.0, bias[co0 + 7u], pu(16u) == 1u);
        store8(((img * g.cout) + co0 + 7u) * hwo, p0, hwo, s7a + bv, s7b + bv);
    }
}

@compute @workgroup_size(64)
fn conv2d_bwd_data_t8(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                    @builtin(local_invocation_index) lid: u32) {
    let t = logical_id(wid, nwg, lid, 64u);
    let g = geo();
    let tc = pu(17u);
    let tp = pu(18u);
    if (t >= g.n * tc * tp) { return; }
    let img = t / (tc * tp);
    let c0 = ((t / tp) % tc) * 8u;
    let p0 = (t % tp) * 8u;
    let hw = g.h * g.wd;
    let hwo = g.ho * g.wo;
    let cin_g = g.cin / g.groups;
    let cout_g = g.cout / g.groups;
    let grp = c0 / cin_g;
    let dyb = (img * g.cout + grp * cout_g) * hwo;
    let kk = g.kh * g.kw;
    let q0 = min(p0 + 0u, hw - 1u);
    let y0 = i32(q0 / g.wd) + g.ph;
    let x0 = i32(q0 % g.wd) + g.pw;
    let q1 = min(p0 + 1u, hw - 1u);
    let y1 = i32(q1 / g.wd) + g.ph;
    let x1 = i32(q1 % g.wd) + g.pw;
    let q2 = min(p0 + 2u, hw - 1u);
    let y2 = i32(q2 / g.wd) + g.ph;
    let x2 = i32(q2 % g.wd) + g.pw;
    let q3 = min(p0 + 3u, hw - 1u);
    let y3 = i32(q3 / g.wd) + g.ph;
    let x3 = i32(q3 % g.wd) + g.pw;
    let q4 = min(p0 + 4u, hw - 1u);
    let y4 = i32(q4 / g.wd) + g.ph;
    let x4 = i32(q4 % g.wd) + g.pw;
    let q5 = min(p0 + 5u, hw - 1u);
    let y5 = i32(q5 / g.wd) + g.ph;
    let x5 = i32(q5 % g.wd) + g.pw;
    let q6 = min(p0 + 6u, hw - 1u);
    let y6 = i32(q6 / g.wd) + g.ph;
    let x6 = i32(q6 % g.wd) + g.pw;
    let q7 = min(p0 + 7u, hw - 1u);
    let y7 = i32(q7 / g.wd) + g.ph;
    let x7 = i32(q7 % g.wd) + g.pw;
    let wc0 = (min(c0 + 0u, g.cin - 1u) - grp * cin_g) * kk;
    let wc1 = (min(c0 + 1u, g.cin - 1u) - grp * cin_g) * kk;
    let wc2 = (min(c0 + 2u, g.cin - 1u) - grp * cin_g) * kk;
    let wc3 = (min(c0 + 3u, g.cin - 1u) - grp * cin_g) * kk;
    let wc4 = (min(c0 + 4u, g.cin - 1u) - grp * cin_g) * kk;
    let wc5 = (min(c0 + 5u, g.cin - 1u) - grp * cin_g) * kk;
    let wc6 = (min(c0 + 6u, g.cin - 1u) - grp * cin_g) * kk;
    let wc7 = (min(c0 + 7u, g.cin - 1u) - grp * cin_g) * kk;
    var s0a = vec4<f32>(0.0);
    var s0b = vec4<f32>(0.0);
    var s1a = vec4<f32>(0.0);
    var s1b = vec4<f32>(0.0);
    var s2a = vec4<f32>(0.0);
    var s2b = vec4<f32>(0.0);
    var s3a = vec4<f32>(0.0);
    var s3b = vec4<f32>(0.0);
    var s4a = vec4<f32>(0.0);
    var s4b = vec4<f32>(0.0);
    var s5a = vec4<f32>(0.0);
    var s5b = vec4<f32>(0.0);
    var s6a = vec4<f32>(0.0);
    var s6b = vec4<f32>(0.0);
    var s7a = vec4<f32>(0.0);
    var s7b = vec4<f32>(0.0);
    let rs = 1.0 / vec2<f32>(f32(g.sh), f32(g.sw));
    for (var ky = 0u; ky < g.kh; ky++) {
    for (var kx = 0u; kx < g.kw; kx++) {
        let oy = i32(ky) * g.dh;
        let ox = i32(kx) * g.dw;
        let s0 = src_pos(y0 - oy, x0 - ox, g, rs);
        let v0 = s0 >= 0;
        let o0 = u32(max(s0, 0)) + dyb;
        let s1 = src_pos(y1 - oy, x1 - ox, g, rs);
        let v1 = s1 >= 0;
        let o1 = u32(max(s1, 0)) + dyb;
        let s2 = src_pos(y2 - oy, x2 - ox, g, rs);
        let v2 = s2 >= 0;
        let o2 = u32(max(s2, 0)) + dyb;
        let s3 = src_pos(y3 - oy, x3 - ox, g, rs);
        let v3 = s3 >= 0;
        let o3 = u32(max(s3, 0)) + dyb;
        let s4 = src_pos(y4 - oy, x4 - ox, g, rs);
        let v4 = s4 >= 0;
        let o4 = u32(max(s4, 0)) + dyb;
        let s5 = src_pos(y5 - oy, x5 - ox, g, rs);
        let v5 = s5 >= 0;
        let o5 = u32(max(s5, 0)) + dyb;
        let s6 = src_pos(y6 - oy, x6 - ox, g, rs);
        let v6 = s6 >= 0;
        let o6 = u32(max(s6, 0)) + dyb;
        let s7 = src_pos(y7 - oy, x7 - ox, g, rs);
        let v7 = s7 >= 0;
        let o7 = u32(max(s7, 0)) + dyb;
        let wk = ky * g.kw + kx;
        for (var co = 0u; co < cout_g; co++) {
            let cb = co * hwo;
            let x0 = vec4<f32>(ld(x[o0 + cb], v0), ld(x[o1 + cb], v1), ld(x[o2 + cb], v2), ld(x[o3 + cb], v3));
            let x1 = vec4<f32>(ld(x[o4 + cb], v4), ld(x[o5 + cb], v5), ld(x[o6 + cb], v6), ld(x[o7 + cb], v7));
            let wo = (grp * cout_g + co) * cin_g * kk + wk;
            let r0 = vec4<f32>(w[wc0 + wo]);
            s0a = fma(r0, x0, s0a);
            s0b = fma(r0, x1, s0b);
            let r1 = vec4<f32>(w[wc1 + wo]);
            s1a = fma(r1, x0, s1a);
            s1b = fma(r1, x1, s1b);
            let r2 = vec4<f32>(w[wc2 + wo]);
            s2a = fma(r2, x0, s2a);
            s2b = fma(r2, x1, s2b);
            let r3 = vec4<f32>(w[wc3 + wo]);
            s3a = fma(r3, x0, s3a);
            s3b = fma(r3, x1, s3b);
            let r4 = vec4<f32>(w[wc4 + wo]);
            s4a = fma(r4, x0, s4a);
            s4b = fma(r4, x1, s4b);
            let r5 = vec4<f32>(w[wc5 + wo]);
            s5a = fma(r5, x0, s5a);
            s5b = fma(r5, x1, s5b);
            let r6 = vec4<f32>(w[wc6 + wo]);
            s6a = fma(r6, x0, s6a);
            s6b = fma(r6, x1, s6b);
            let r7 = vec4<f32>(w[wc7 + wo]);
            s7a = fma(r7, x0, s7a);
            s7b = fma(r7, x1, s7b);
        }
    }
    }
    if (c0 + 0u < g.cin) { store8((img * g.cin + c0 + 0u) * hw, p0, hw, s0a, s0b); }
    if (c0 + 1u < g.cin) { store8((img * g.cin + c0 + 1u) * hw, p0, hw, s1a, s1b); }
    if (c0 + 2u < g.cin) { store8((img * g.cin + c0 + 2u) * hw, p0, hw, s2a, s2b); }
    if (c0 + 3u < g.cin) { store8((img * g.cin + c0 + 3u) * hw, p0, hw, s3a, s3b); }
    if (c0 + 4u < g.cin) { store8((img * g.cin + c0 + 4u) * hw, p0, hw, s4a, s4b); }
    if (c0 + 5u < g.cin) { store8((img * g.cin + c0 + 5u) * hw, p0, hw, s5a, s5b); }
    if (c0 + 6u < g.cin) { store8((img * g.cin + c0 + 6u) * hw, p0, hw, s6a, s6b); }
    if (c0 + 7u < g.cin) { store8((img * g.cin + c0 + 7u) * hw, p0, hw, s7a, s7b); }
}

@compute @workgroup_size(64)
fn conv2d_bwd_weight_t8(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                      @builtin(local_invocation_index) lid: u32) {
    let t = logical_id(wid, nwg, lid, 64u);
    let g = geo();
    let tc = pu(17u);
    let tr = pu(18u);
    let splits = pu(19u);
    if (t >= splits * tc * tr) { return; }
    let sp = t / (tc * tr);
    let co0 = ((t / tr) % tc) * 8u;
    let r0 = (t % tr) * 8u;
    let hw = g.h * g.wd;
    let hwo = g.ho * g.wo;
    let cin_g = g.cin / g.groups;
    let cout_g = g.cout / g.groups;
    let kk = g.kh * g.kw;
    let rn = cin_g * kk;
    let ci0 = (co0 / cout_g) * cin_g;
    let pbeg = sp * pu(20u);
    let pend = min(pbeg + pu(20u), g.n * hwo);
    let rr0 = min(r0 + 0u, rn - 1u);
    let cx0 = (ci0 + rr0 / kk) * hw;
    let ky0 = i32((rr0 % kk) / g.kw) * g.dh - g.ph;
    let kx0 = i32(rr0 % g.kw) * g.dw - g.pw;
    let rr1 = min(r0 + 1u, rn - 1u);
    let cx1 = (ci0 + rr1 / kk) * hw;
    let ky1 = i32((rr1 % kk) / g.kw) * g.dh - g.ph;
    let kx1 = i32(rr1 % g.kw) * g.dw - g.pw;
    let rr2 = min(r0 + 2u, rn - 1u);
    let cx2 = (ci0 + rr2 / kk) * hw;
    let ky2 = i32((rr2 % kk) / g.kw) * g.dh - g.ph;
    let kx2 = i32(rr2 % g.kw) * g.dw - g.pw;
    let rr3 = min(r0 + 3u, rn - 1u);
    let cx3 = (ci0 + rr3 / kk) * hw;
    let ky3 = i32((rr3 % kk) / g.kw) * g.dh - g.ph;
    let kx3 = i32(rr3 % g.kw) * g.dw - g.pw;
    let rr4 = min(r0 + 4u, rn - 1u);
    let cx4 = (ci0 + rr4 / kk) * hw;
    let ky4 = i32((rr4 % kk) / g.kw) * g.dh - g.ph;
    let kx4 = i32(rr4 % g.kw) * g.dw - g.pw;
    let rr5 = min(r0 + 5u, rn - 1u);
    let cx5 = (ci0 + rr5 / kk) * hw;
    let ky5 = i32((rr5 % kk) / g.kw) * g.dh - g.ph;
    let kx5 = i32(rr5 % g.kw) * g.dw - g.pw;
    let rr6 = min(r0 + 6u, rn - 1u);
    let cx6 = (ci0 + rr6 / kk) * hw;
    let ky6 = i32((rr6 % kk) / g.kw) * g.dh - g.ph;
    let kx6 = i32(rr6 % g.kw) * g.dw - g.pw;
    let rr7 = min(r0 + 7u, rn - 1u);
    let cx7 = (ci0 + rr7 / kk) * hw;
    let ky7 = i32((rr7 % kk) / g.kw) * g.dh - g.ph;
    let kx7 = i32(rr7 % g.kw) * g.dw - g.pw;
    let dc0 = min(co0 + 0u, g.cout - 1u) * hwo;
    let dc1 = min(co0 + 1u, g.cout - 1u) * hwo;
    let dc2 = min(co0 + 2u, g.cout - 1u) * hwo;
    let dc3 = min(co0 + 3u, g.cout - 1u) * hwo;
    let dc4 = min(co0 + 4u, g.cout - 1u) * hwo;
    let dc5 = min(co0 + 5u, g.cout - 1u) * hwo;
    let dc6 = min(co0 + 6u, g.cout - 1u) * hwo;
    let dc7 = min(co0 + 7u, g.cout - 1u) * hwo;
    var s0a = vec4<f32>(0.0);
    var s0b = vec4<f32>(0.0);
    var s1a = vec4<f32>(0.0);
    var s1b = vec4<f32>(0.0);
    var s2a = vec4<f32>(0.0);
    var s2b = vec4<f32>(0.0);
    var s3a = vec4<f32>(0.0);
    var s3b = vec4<f32>(0.0);
    var s4a = vec4<f32>(0.0);
    var s4b = vec4<f32>(0.0);
    var s5a = vec4<f32>(0.0);
    var s5b = vec4<f32>(0.0);
    var s6a = vec4<f32>(0.0);
    var s6b = vec4<f32>(0.0);
    var s7a = vec4<f32>(0.0);
    var s7b = vec4<f32>(0.0);
    var at = walk_at(pbeg, g);
    for (var p = pbeg; p < pend; p++) {
        let iy = i32(at.oy) * g.sh;
        let ix = i32(at.ox) * g.sw;
        let xb = at.img * g.cin * hw;
        let db = at.img * g.cout * hwo + at.oy * g.wo + at.ox;
        let yy0 = iy + ky0;
        let xx0 = ix + kx0;
        let v0 = (yy0 >= 0) & (yy0 < i32(g.h)) & (xx0 >= 0) & (xx0 < i32(g.wd));
        let o0 = xb + cx0 + u32(select(0, yy0 * i32(g.wd) + xx0, v0));
        let yy1 = iy + ky1;
        let xx1 = ix + kx1;
        let v1 = (yy1 >= 0) & (yy1 < i32(g.h)) & (xx1 >= 0) & (xx1 < i32(g.wd));
        let o1 = xb + cx1 + u32(select(0, yy1 * i32(g.wd) + xx1, v1));
        let yy2 = iy + ky2;
        let xx2 = ix + kx2;
        let v2 = (yy2 >= 0) & (yy2 < i32(g.h)) & (xx2 >= 0) & (xx2 < i32(g.wd));
        let o2 = xb + cx2 + u32(select(0, yy2 * i32(g.wd) + xx2, v2));
        let yy3 = iy + ky3;
        let xx3 = ix + kx3;
        let v3 = (yy3 >= 0) & (yy3 < i32(g.h)) & (xx3 >= 0) & (xx3 < i32(g.wd));
        let o3 = xb + cx3 + u32(select(0, yy3 * i32(g.wd) + xx3, v3));
        let yy4 = iy + ky4;
        let xx4 = ix + kx4;
        let v4 = (yy4 >= 0) & (yy4 < i32(g.h)) & (xx4 >= 0) & (xx4 < i32(g.wd));
        let o4 = xb + cx4 + u32(select(0, yy4 * i32(g.wd) + xx4, v4));
        let yy5 = iy + ky5;
        let xx5 = ix + kx5;
        let v5 = (yy5 >= 0) & (yy5 < i32(g.h)) & (xx5 >= 0) & (xx5 < i32(g.wd));
        let o5 = xb + cx5 + u32(select(0, yy5 * i32(g.wd) + xx5, v5));
        let yy6 = iy + ky6;
        let xx6 = ix + kx6;
        let v6 = (yy6 >= 0) & (yy6 < i32(g.h)) & (xx6 >= 0) & (xx6 < i32(g.wd));
        let o6 = xb + cx6 + u32(select(0, yy6 * i32(g.wd) + xx6, v6));
        let yy7 = iy + ky7;
        let xx7 = ix + kx7;
        let v7 = (yy7 >= 0) & (yy7 < i32(g.h)) & (xx7 >= 0) & (xx7 < i32(g.wd));
        let o7 = xb + cx7 + u32(select(0, yy7 * i32(g.wd) + xx7, v7));
        let x0 = vec4<f32>(ld(x[o0], v0), ld(x[o1], v1), ld(x[o2], v2), ld(x[o3], v3));
        let x1 = vec4<f32>(ld(x[o4], v4), ld(x[o5], v5), ld(x[o6], v6), ld(x[o7], v7));
        let r0 = vec4<f32>(w[db + dc0]);
        s0a = fma(r0, x0, s0a);
        s0b = fma(r0, x1, s0b);
        let r1 = vec4<f32>(w[db + dc1]);
        s1a = fma(r1, x0, s1a);
        s1b = fma(r1, x1, s1b);
        let r2 = vec4<f32>(w[db + dc2]);
        s2a = fma(r2, x0, s2a);
        s2b = fma(r2, x1, s2b);
        let r3 = vec4<f32>(w[db + dc3]);
        s3a = fma(r3, x0, s3a);
        s3b = fma(r3, x1, s3b);
        let r4 = vec4<f32>(w[db + dc4]);
        s4a = fma(r4, x0, s4a);
        s4b = fma(r4, x1, s4b);
        let r5 = vec4<f32>(w[db + dc5]);
        s5a = fma(r5, x0, s5a);
        s5b = fma(r5, x1, s5b);
        let r6 = vec4<f32>(w[db + dc6]);
        s6a = fma(r6, x0, s6a);
        s6b = fma(r6, x1, s6b);
        let r7 = vec4<f32>(w[db + dc7]);
        s7a = fma(r7, x0, s7a);
        s7b = fma(r7, x1, s7b);
        at = walk_next(at, g);
    }
    let ob = sp * g.cout * rn;
    if (co0 + 0u < g.cout) { store8(ob + (co0 + 0u) * rn, r0, rn, s0a, s0b); }
    if (co0 + 1u < g.cout) { store8(ob + (co0 + 1u) * rn, r0, rn, s1a, s1b); }
    if (co0 + 2u < g.cout) { store8(ob + (co0 + 2u) * rn, r0, rn, s2a, s2b); }
    if (co0 + 3u < g.cout) { store8(ob + (co0 + 3u) * rn, r0, rn, s3a, s3b); }
    if (co0 + 4u < g.cout) { store8(ob + (co0 + 4u) * rn, r0, rn, s4a, s4b); }
    if (co0 + 5u < g.cout) { store8(ob + (co0 + 5u) * rn, r0, rn, s5a, s5b); }
    if (co0 + 6u < g.cout) { store8(ob + (co0 + 6u) * rn, r0, rn, s6a, s6b); }
    if (co0 + 7u < g.cout) { store8(ob + (co0 + 7u) * rn, r0, rn, s7a, s7b); }
}

@compute @workgroup_size(64)
fn conv2d_fwd_t1(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
    let t = logical_id(wid, nwg, lid, 64u);
    let g = geo();
    let tc = pu(17u);
    let tp = pu(18u);
    if (t >= g.n * tc * tp) { return; }
    let img = t / (tc * tp);
    let co0 = ((t / tp) % tc) * 1u;
    let p0 = (t % tp) * 8u;
    let hwo = g.ho * g.wo;
    let cin_g = g.cin / g.groups;
    let cout_g = g.cout / g.groups;
    let ci0 = (co0 / cout_g) * cin_g;
    let xb = (img * g.cin + ci0) * g.h * g.wd;
    let hw = g.h * g.wd;
    let kk = g.kh * g.kw;
    let q0 = min(p0 + 0u, hwo - 1u);
    let y0 = i32(q0 / g.wo) * g.sh - g.ph;
    let x0 = i32(q0 % g.wo) * g.sw - g.pw;
    let q1 = min(p0 + 1u, hwo - 1u);
    let y1 = i32(q1 / g.wo) * g.sh - g.ph;
    let x1 = i32(q1 % g.wo) * g.sw - g.pw;
    let q2 = min(p0 + 2u, hwo - 1u);
    let y2 = i32(q2 / g.wo) * g.sh - g.ph;
    let x2 = i32(q2 % g.wo) * g.sw - g.pw;
    let q3 = min(p0 + 3u, hwo - 1u);
    let y3 = i32(q3 / g.wo) * g.sh - g.ph;
    let x3 = i32(q3 % g.wo) * g.sw - g.pw;
    let q4 = min(p0 + 4u, hwo - 1u);
    let y4 = i32(q4 / g.wo) * g.sh - g.ph;
    let x4 = i32(q4 % g.wo) * g.sw - g.pw;
    let q5 = min(p0 + 5u, hwo - 1u);
    let y5 = i32(q5 / g.wo) * g.sh - g.ph;
    let x5 = i32(q5 % g.wo) * g.sw - g.pw;
    let q6 = min(p0 + 6u, hwo - 1u);
    let y6 = i32(q6 / g.wo) * g.sh - g.ph;
    let x6 = i32(q6 % g.wo) * g.sw - g.pw;
    let q7 = min(p0 + 7u, hwo - 1u);
    let y7 = i32(q7 / g.wo) * g.sh - g.ph;
    let x7 = i32(q7 % g.wo) * g.sw - g.pw;
    let wr0 = min(co0 + 0u, g.cout - 1u) * cin_g * kk;
    var s0a = vec4<f32>(0.0);
    var s0b = vec4<f32>(0.0);
    for (var ky = 0u; ky < g.kh; ky++) {
    for (var kx = 0u; kx < g.kw; kx++) {
        let oy = i32(ky) * g.dh;
        let ox = i32(kx) * g.dw;
        let iy0 = y0 + oy;
        let ix0 = x0 + ox;
        let v0 = (iy0 >= 0) & (iy0 < i32(g.h)) & (ix0 >= 0) & (ix0 < i32(g.wd));
        let o0 = u32(select(0, iy0 * i32(g.wd) + ix0, v0)) + xb;
        let iy1 = y1 + oy;
        let ix1 = x1 + ox;
        let v1 = (iy1 >= 0) & (iy1 < i32(g.h)) & (ix1 >= 0) & (ix1 < i32(g.wd));
        let o1 = u32(select(0, iy1 * i32(g.wd) + ix1, v1)) + xb;
        let iy2 = y2 + oy;
        let ix2 = x2 + ox;
        let v2 = (iy2 >= 0) & (iy2 < i32(g.h)) & (ix2 >= 0) & (ix2 < i32(g.wd));
        let o2 = u32(select(0, iy2 * i32(g.wd) + ix2, v2)) + xb;
        let iy3 = y3 + oy;
        let ix3 = x3 + ox;
        let v3 = (iy3 >= 0) & (iy3 < i32(g.h)) & (ix3 >= 0) & (ix3 < i32(g.wd));
        let o3 = u32(select(0, iy3 * i32(g.wd) + ix3, v3)) + xb;
        let iy4 = y4 + oy;
        let ix4 = x4 + ox;
        let v4 = (iy4 >= 0) & (iy4 < i32(g.h)) & (ix4 >= 0) & (ix4 < i32(g.wd));
        let o4 = u32(select(0, iy4 * i32(g.wd) + ix4, v4)) + xb;
        let iy5 = y5 + oy;
        let ix5 = x5 + ox;
        let v5 = (iy5 >= 0) & (iy5 < i32(g.h)) & (ix5 >= 0) & (ix5 < i32(g.wd));
        let o5 = u32(select(0, iy5 * i32(g.wd) + ix5, v5)) + xb;
        let iy6 = y6 + oy;
        let ix6 = x6 + ox;
        let v6 = (iy6 >= 0) & (iy6 < i32(g.h)) & (ix6 >= 0) & (ix6 < i32(g.wd));
        let o6 = u32(select(0, iy6 * i32(g.wd) + ix6, v6)) + xb;
        let iy7 = y7 + oy;
        let ix7 = x7 + ox;
        let v7 = (iy7 >= 0) & (iy7 < i32(g.h)) & (ix7 >= 0) & (ix7 < i32(g.wd));
        let o7 = u32(select(0, iy7 * i32(g.wd) + ix7, v7)) + xb;
        let wk = ky * g.kw + kx;
        for (var ci = 0u; ci < cin_g; ci++) {
            let cb = ci * hw;
            let x0 = vec4<f32>(ld(x[o0 + cb], v0), ld(x[o1 + cb], v1), ld(x[o2 + cb], v2), ld(x[o3 + cb], v3));
            let x1 = vec4<f32>(ld(x[o4 + cb], v4), ld(x[o5 + cb], v5), ld(x[o6 + cb], v6), ld(x[o7 + cb], v7));
            let wo = ci * kk + wk;
            let r0 = vec4<f32>(w[wr0 + wo]);
            s0a = fma(r0, x0, s0a);
            s0b = fma(r0, x1, s0b);
        }
    }
    }
    if (co0 + 0u < g.cout) {
        let bv = select(0.0, bias[co0 + 0u], pu(16u) == 1u);
        store8(((img * g.cout) + co0 + 0u) * hwo, p0, hwo, s0a + bv, s0b + bv);
    }
}

@compute @workgroup_size(64)
fn conv2d_bwd_data_t1(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                    @builtin(local_invocation_index) lid: u32) {
    let t = logical_id(wid, nwg, lid, 64u);
    let g = geo();
    let tc = pu(17u);
    let tp = pu(18u);
    if (t >= g.n * tc * tp) { return; }
    let img = t / (tc * tp);
    let c0 = ((t / tp) % tc) * 1u;
    let p0 = (t % tp) * 8u;
    let hw = g.h * g.wd;
    let hwo = g.ho * g.wo;
    let cin_g = g.cin / g.groups;
    let cout_g = g.cout / g.groups;
    let grp = c0 / cin_g;
    let dyb = (img * g.cout + grp * cout_g) * hwo;
    let kk = g.kh * g.kw;
    let q0 = min(p0 + 0u, hw - 1u);
    let y0 = i32(q0 / g.wd) + g.ph;
    let x0 = i32(q0 % g.wd) + g.pw;
    let q1 = min(p0 + 1u, hw - 1u);
    let y1 = i32(q1 / g.wd) + g.ph;
    let x1 = i32(q1 % g.wd) + g.pw;
    let q2 = min(p0 + 2u, hw - 1u);
    let y2 = i32(q2 / g.wd) + g.ph;
    let x2 = i32(q2 % g.wd) + g.pw;
    let q3 = min(p0 + 3u, hw - 1u);
    let y3 = i32(q3 / g.wd) + g.ph;
    let x3 = i32(q3 % g.wd) + g.pw;
    let q4 = min(p0 + 4u, hw - 1u);
    let y4 = i32(q4 / g.wd) + g.ph;
    let x4 = i32(q4 % g.wd) + g.pw;
    let q5 = min(p0 + 5u, hw - 1u);
    let y5 = i32(q5 / g.wd) + g.ph;
    let x5 = i32(q5 % g.wd) + g.pw;
    let q6 = min(p0 + 6u, hw - 1u);
    let y6 = i32(q6 / g.wd) + g.ph;
    let x6 = i32(q6 % g.wd) + g.pw;
    let q7 = min(p0 + 7u, hw - 1u);
    let y7 = i32(q7 / g.wd) + g.ph;
    let x7 = i32(q7 % g.wd) + g.pw;
    let wc0 = (min(c0 + 0u, g.cin - 1u) - grp * cin_g) * kk;
    var s0a = vec4<f32>(0.0);
    var s0b = vec4<f32>(0.0);
    let rs = 1.0 / vec2<f32>(f32(g.sh), f32(g.sw));
    for (var ky = 0u; ky < g.kh; ky++) {
    for (var kx = 0u; kx < g.kw; kx++) {
        let oy = i32(ky) * g.dh;
        let ox = i32(kx) * g.dw;
        let s0 = src_pos(y0 - oy, x0 - ox, g, rs);
        let v0 = s0 >= 0;
        let o0 = u32(max(s0, 0)) + dyb;
        let s1 = src_pos(y1 - oy, x1 - ox, g, rs);
        let v1 = s1 >= 0;
        let o1 = u32(max(s1, 0)) + dyb;
        let s2 = src_pos(y2 - oy, x2 - ox, g, rs);
        let v2 = s2 >= 0;
        let o2 = u32(max(s2, 0)) + dyb;
        let s3 = src_pos(y3 - oy, x3 - ox, g, rs);
        let v3 = s3 >= 0;
        let o3 = u32(max(s3, 0)) + dyb;
        let s4 = src_pos(y4 - oy, x4 - ox, g, rs);
        let v4 = s4 >= 0;
        let o4 = u32(max(s4, 0)) + dyb;
        let s5 = src_pos(y5 - oy, x5 - ox, g, rs);
        let v5 = s5 >= 0;
        let o5 = u32(max(s5, 0)) + dyb;
        let s6 = src_pos(y6 - oy, x6 - ox, g, rs);
        let v6 = s6 >= 0;
        let o6 = u32(max(s6, 0)) + dyb;
        let s7 = src_pos(y7 - oy, x7 - ox, g, rs);
        let v7 = s7 >= 0;
        let o7 = u32(max(s7, 0)) + dyb;
        let wk = ky * g.kw + kx;
        for (var co = 0u; co < cout_g; co++) {
            let cb = co * hwo;
            let x0 = vec4<f32>(ld(x[o0 + cb], v0), ld(x[o1 + cb], v1), ld(x[o2 + cb], v2), ld(x[o3 + cb], v3));
            let x1 = vec4<f32>(ld(x[o4 + cb], v4), ld(x[o5 + cb], v5), ld(x[o6 + cb], v6), ld(x[o7 + cb], v7));
            let wo = (grp * cout_g + co) * cin_g * kk + wk;
            let r0 = vec4<f32>(w[wc0 + wo]);
            s0a = fma(r0, x0, s0a);
            s0b = fma(r0, x1, s0b);
        }
    }
    }
    if (c0 + 0u < g.cin) { store8((img * g.cin + c0 + 0u) * hw, p0, hw, s0a, s0b); }
}

@compute @workgroup_size(64)
fn conv2d_bwd_weight_t1(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                      @builtin(local_invocation_index) lid: u32) {
    let t = logical_id(wid, nwg, lid, 64u);
    let g = geo();
    let tc = pu(17u);
    let tr = pu(18u);
    let splits = pu(19u);
    if (t >= splits * tc * tr) { return; }
    let sp = t / (tc * tr);
    let co0 = ((t / tr) % tc) * 1u;
    let r0 = (t % tr) * 8u;
    let hw = g.h * g.wd;
    let hwo = g.ho * g.wo;
    let cin_g = g.cin / g.groups;
    let cout_g = g.cout / g.groups;
    let kk = g.kh * g.kw;
    let rn = cin_g * kk;
    let ci0 = (co0 / cout_g) * cin_g;
    let pbeg = sp * pu(20u);
    let pend = min(pbeg + pu(20u), g.n * hwo);
    let rr0 = min(r0 + 0u, rn - 1u);
    let cx0 = (ci0 + rr0 / kk) * hw;
    let ky0 = i32((rr0 % kk) / g.kw) * g.dh - g.ph;
    let kx0 = i32(rr0 % g.kw) * g.dw - g.pw;
    let rr1 = min(r0 + 1u, rn - 1u);
    let cx1 = (ci0 + rr1 / kk) * hw;
    let ky1 = i32((rr1 % kk) / g.kw) * g.dh - g.ph;
    let kx1 = i32(rr1 % g.kw) * g.dw - g.pw;
    let rr2 = min(r0 + 2u, rn - 1u);
    let cx2 = (ci0 + rr2 / kk) * hw;
    let ky2 = i32((rr2 % kk) / g.kw) * g.dh - g.ph;
    let kx2 = i32(rr2 % g.kw) * g.dw - g.pw;
    let rr3 = min(r0 + 3u, rn - 1u);
    let cx3 = (ci0 + rr3 / kk) * hw;
    let ky3 = i32((rr3 % kk) / g.kw) * g.dh - g.ph;
    let kx3 = i32(rr3 % g.kw) * g.dw - g.pw;
    let rr4 = min(r0 + 4u, rn - 1u);
    let cx4 = (ci0 + rr4 / kk) * hw;
    let ky4 = i32((rr4 % kk) / g.kw) * g.dh - g.ph;
    let kx4 = i32(rr4 % g.kw) * g.dw - g.pw;
    let rr5 = min(r0 + 5u, rn - 1u);
    let cx5 = (ci0 + rr5 / kk) * hw;
    let ky5 = i32((rr5 % kk) / g.kw) * g.dh - g.ph;
    let kx5 = i32(rr5 % g.kw) * g.dw - g.pw;
    let rr6 = min(r0 + 6u, rn - 1u);
    let cx6 = (ci0 + rr6 / kk) * hw;
    let ky6 = i32((rr6 % kk) / g.kw) * g.dh - g.ph;
    let kx6 = i32(rr6 % g.kw) * g.dw - g.pw;
    let rr7 = min(r0 + 7u, rn - 1u);
    let cx7 = (ci0 + rr7 / kk) * hw;
    let ky7 = i32((rr7 % kk) / g.kw) * g.dh - g.ph;
    let kx7 = i32(rr7 % g.kw) * g.dw - g.pw;
    let dc0 = min(co0 + 0u, g.cout - 1u) * hwo;
    var s0a = vec4<f32>(0.0);
    var s0b = vec4<f32>(0.0);
    var at = walk_at(pbeg, g);
    for (var p = pbeg; p < pend; p++) {
        let iy = i32(at.oy) * g.sh;
        let ix = i32(at.ox) * g.sw;
        let xb = at.img * g.cin * hw;
        let db = at.img * g.cout * hwo + at.oy * g.wo + at.ox;
        let yy0 = iy + ky0;
        let xx0 = ix + kx0;
        let v0 = (yy0 >= 0) & (yy0 < i32(g.h)) & (xx0 >= 0) & (xx0 < i32(g.wd));
        let o0 = xb + cx0 + u32(select(0, yy0 * i32(g.wd) + xx0, v0));
        let yy1 = iy + ky1;
        let xx1 = ix + kx1;
        let v1 = (yy1 >= 0) & (yy1 < i32(g.h)) & (xx1 >= 0) & (xx1 < i32(g.wd));
        let o1 = xb + cx1 + u32(select(0, yy1 * i32(g.wd) + xx1, v1));
        let yy2 = iy + ky2;
        let xx2 = ix + kx2;
        let v2 = (yy2 >= 0) & (yy2 < i32(g.h)) & (xx2 >= 0) & (xx2 < i32(g.wd));
        let o2 = xb + cx2 + u32(select(0, yy2 * i32(g.wd) + xx2, v2));
        let yy3 = iy + ky3;
        let xx3 = ix + kx3;
        let v3 = (yy3 >= 0) & (yy3 < i32(g.h)) & (xx3 >= 0) & (xx3 < i32(g.wd));
        let o3 = xb + cx3 + u32(select(0, yy3 * i32(g.wd) + xx3, v3));
        let yy4 = iy + ky4;
        let xx4 = ix + kx4;
        let v4 = (yy4 >= 0) & (yy4 < i32(g.h)) & (xx4 >= 0) & (xx4 < i32(g.wd));
        let o4 = xb + cx4 + u32(select(0, yy4 * i32(g.wd) + xx4, v4));
        let yy5 = iy + ky5;
        let xx5 = ix + kx5;
        let v5 = (yy5 >= 0) & (yy5 < i32(g.h)) & (xx5 >= 0) & (xx5 < i32(g.wd));
        let o5 = xb + cx5 + u32(select(0, yy5 * i32(g.wd) + xx5, v5));
        let yy6 = iy + ky6;
        let xx6 = ix + kx6;
        let v6 = (yy6 >= 0) & (yy6 < i32(g.h)) & (xx6 >= 0) & (xx6 < i32(g.wd));
        let o6 = xb + cx6 + u32(select(0, yy6 * i32(g.wd) + xx6, v6));
        let yy7 = iy + ky7;
        let xx7 = ix + kx7;
        let v7 = (yy7 >= 0) & (yy7 < i32(g.h)) & (xx7 >= 0) & (xx7 < i32(g.wd));
        let o7 = xb + cx7 + u32(select(0, yy7 * i32(g.wd) + xx7, v7));
        let x0 = vec4<f32>(ld(x[o0], v0), ld(x[o1], v1), ld(x[o2], v2), ld(x[o3], v3));
        let x1 = vec4<f32>(ld(x[o4], v4), ld(x[o5], v5), ld(x[o6], v6), ld(x[o7], v7));
        let r0 = vec4<f32>(w[db + dc0]);
        s0a = fma(r0, x0, s0a);
        s0b = fma(r0, x1, s0b);
        at = walk_next(at, g);
    }
    let ob = sp * g.cout * rn;
    if (co0 + 0u < g.cout) { store8(ob + (co0 + 0u) * rn, r0, rn, s0a, s0b); }
}

fn store8(base: u32, p0: u32, len: u32, lo: vec4<f32>, hi: vec4<f32>) {
    for (var j = 0u; j < 4u; j++) {
        if (p0 + j < len) { y[base + p0 + j] = lo[j]; }
        if (p0 + 4u + j < len) { y[base + p0 + 4u + j] = hi[j]; }
    }
}
