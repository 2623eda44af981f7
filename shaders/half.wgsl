// The f16 forward pass: activations and weights stored as f16, products
// accumulated in f32, results rounded once to f16. Needs the adapter's
// shader-f16 feature; the engine puts `enable f16;` ahead of the prelude.
//
// f16 tensors occupy ceil(n / 2) 32-bit words, so a binding of an odd-length
// tensor carries one unused half at its end. Conversions to f16 saturate at
// ±65504 (f16's largest finite value) instead of overflowing.
//
// Bindings: 1 xh (f16 in), 2 wh (f16 weights or second f16 operand),
// 3 fa (f32 in: cast source, bias, or per-channel scale then shift),
// 4 yh (f16 out), 5 yf (f32 out).
//
// conv2d_half params: as conv.wgsl's 0–16 (geometry, has bias), 17 channel
//   tiles, 18 position tiles, 19 ReLU after the bias.
// pool_half params: as pool.wgsl's 0–10, 11 average (1) or max (0).

@group(0) @binding(1) var<storage, read> xh: array<f16>;
@group(0) @binding(2) var<storage, read> wh: array<f16>;
@group(0) @binding(3) var<storage, read> fa: array<f32>;
@group(0) @binding(4) var<storage, read_write> yh: array<f16>;
@group(0) @binding(5) var<storage, read_write> yf: array<f32>;

const HALF_MAX: f32 = 65504.0;

fn to_h(v: f32) -> f16 { return f16(clamp(v, -HALF_MAX, HALF_MAX)); }

// params: 0 n.
@compute @workgroup_size(64)
fn cast_to_half(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
    let i = logical_id(wid, nwg, lid, 64u);
    if (i >= pu(0u)) { return; }
    yh[i] = to_h(fa[i]);
}

// params: 0 n.
@compute @workgroup_size(64)
fn cast_to_float(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) lid: u32) {
    let i = logical_id(wid, nwg, lid, 64u);
    if (i >= pu(0u)) { return; }
    yf[i] = f32(xh[i]);
}

// y = x · scale[c] + shift[c], then ReLU if asked; fa holds scale [C] then shift [C].
// params: 0 n, 1 C, 2 H·W, 3 ReLU.
@compute @workgroup_size(64)
fn affine_half(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
    let i = logical_id(wid, nwg, lid, 64u);
    if (i >= pu(0u)) { return; }
    let c = (i / pu(2u)) % pu(1u);
    var v = f32(xh[i]) * fa[c] + fa[pu(1u) + c];
    if (pu(3u) != 0u) { v = max(v, 0.0); }
    yh[i] = to_h(v);
}

// y = x + r (r bound at wh), then ReLU if asked. params: 0 n, 1 ReLU.
@compute @workgroup_size(64)
fn add_half(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
    let i = logical_id(wid, nwg, lid, 64u);
    if (i >= pu(0u)) { return; }
    var v = f32(xh[i]) + f32(wh[i]);
    if (pu(1u) != 0u) { v = max(v, 0.0); }
    yh[i] = to_h(v);
}

// y = max(x, 0). params: 0 n.
@compute @workgroup_size(64)
fn relu_half(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
    let i = logical_id(wid, nwg, lid, 64u);
    if (i >= pu(0u)) { return; }
    yh[i] = max(xh[i], f16(0.0));
}

// Max or average pooling of one output (average counts padding, as torch).
@compute @workgroup_size(64)
fn pool_half(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
    let i = logical_id(wid, nwg, lid, 64u);
    if (i >= pu(0u)) { return; }
    let h = i32(pu(1u));
    let w = i32(pu(2u));
    let ho = pu(3u);
    let wo = pu(4u);
    let plane = i / (ho * wo);
    let y0 = i32((i / wo) % ho) * i32(pu(7u)) - i32(pu(9u));
    let x0 = i32(i % wo) * i32(pu(8u)) - i32(pu(10u));
    let base = plane * u32(h * w);
    var sum = 0.0;
    var best = -HALF_MAX;
    for (var ky = 0; ky < i32(pu(5u)); ky++) {
        for (var kx = 0; kx < i32(pu(6u)); kx++) {
            let yy = y0 + ky;
            let xx = x0 + kx;
            if (yy < 0 || yy >= h || xx < 0 || xx >= w) { continue; }
            let v = f32(xh[base + u32(yy * w + xx)]);
            sum += v;
            best = max(best, v);
        }
    }
    if (pu(11u) != 0u) {
        yh[i] = to_h(sum / f32(pu(5u) * pu(6u)));
    } else {
        yh[i] = to_h(best);
    }
}

struct Geo { n: u32, cin: u32, h: u32, wd: u32, cout: u32, ho: u32, wo: u32, kh: u32, kw: u32,
             sh: i32, sw: i32, ph: i32, pw: i32, dh: i32, dw: i32, groups: u32 }

fn geo() -> Geo {
    return Geo(pu(0u), pu(1u), pu(2u), pu(3u), pu(4u), pu(5u), pu(6u), pu(7u), pu(8u),
               pi(9u), pi(10u), pi(11u), pi(12u), pi(13u), pi(14u), pu(15u));
}

// Top-left input corner of output position q (clamped into range).
fn corner(g: Geo, q: u32) -> vec2<i32> {
    let p = min(q, g.ho * g.wo - 1u);
    return vec2<i32>(i32(p / g.wo) * g.sh - g.ph, i32(p % g.wo) * g.sw - g.pw);
}

// The input value at corner c shifted by (oy, ox) in plane base xb, 0 outside.
fn tap(g: Geo, c: vec2<i32>, oy: i32, ox: i32, xb: u32) -> f32 {
    let iy = c.x + oy;
    let ix = c.y + ox;
    let ok = (iy >= 0) & (iy < i32(g.h)) & (ix >= 0) & (ix < i32(g.wd));
    let v = f32(xh[xb + u32(select(0, iy * i32(g.wd) + ix, ok))]);
    return select(0.0, v, ok);
}

// Bias, ReLU and the rounding store of four positions of output channel co.
fn finish(g: Geo, img: u32, co: u32, p0: u32, acc: vec4<f32>) {
    if (co >= g.cout) { return; }
    var s = acc;
    if (pu(16u) != 0u) { s += vec4<f32>(fa[co]); }
    if (pu(19u) != 0u) { s = max(s, vec4<f32>(0.0)); }
    let hwo = g.ho * g.wo;
    let yb = (img * g.cout + co) * hwo;
    for (var j = 0u; j < 4u; j++) {
        if (p0 + j < hwo) { yh[yb + p0 + j] = to_h(s[j]); }
    }
}

// 4 output channels × 4 positions per invocation; the channels share a group
// (groups == 1 or channels-per-group % 4 == 0).
@compute @workgroup_size(64)
fn conv2d_half_t4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) lid: u32) {
    let t = logical_id(wid, nwg, lid, 64u);
    let g = geo();
    let tc = pu(17u);
    let tp = pu(18u);
    if (t >= g.n * tc * tp) { return; }
    let img = t / (tc * tp);
    let co0 = ((t / tp) % tc) * 4u;
    let p0 = (t % tp) * 4u;
    let cin_g = g.cin / g.groups;
    let ci0 = (co0 / (g.cout / g.groups)) * cin_g;
    let hw = g.h * g.wd;
    let kk = g.kh * g.kw;
    let c0 = corner(g, p0);
    let c1 = corner(g, p0 + 1u);
    let c2 = corner(g, p0 + 2u);
    let c3 = corner(g, p0 + 3u);
    let w0 = min(co0, g.cout - 1u) * cin_g * kk;
    let w1 = min(co0 + 1u, g.cout - 1u) * cin_g * kk;
    let w2 = min(co0 + 2u, g.cout - 1u) * cin_g * kk;
    let w3 = min(co0 + 3u, g.cout - 1u) * cin_g * kk;
    var a0 = vec4<f32>(0.0);
    var a1 = vec4<f32>(0.0);
    var a2 = vec4<f32>(0.0);
    var a3 = vec4<f32>(0.0);
    for (var ci = 0u; ci < cin_g; ci++) {
        let xb = (img * g.cin + ci0 + ci) * hw;
        for (var ky = 0u; ky < g.kh; ky++) {
            for (var kx = 0u; kx < g.kw; kx++) {
                let oy = i32(ky) * g.dh;
                let ox = i32(kx) * g.dw;
                let xv = vec4<f32>(tap(g, c0, oy, ox, xb), tap(g, c1, oy, ox, xb),
                                   tap(g, c2, oy, ox, xb), tap(g, c3, oy, ox, xb));
                let k = ci * kk + ky * g.kw + kx;
                a0 += f32(wh[w0 + k]) * xv;
                a1 += f32(wh[w1 + k]) * xv;
                a2 += f32(wh[w2 + k]) * xv;
                a3 += f32(wh[w3 + k]) * xv;
            }
        }
    }
    finish(g, img, co0, p0, a0);
    finish(g, img, co0 + 1u, p0, a1);
    finish(g, img, co0 + 2u, p0, a2);
    finish(g, img, co0 + 3u, p0, a3);
}

// 1 output channel × 4 positions per invocation: any grouping.
@compute @workgroup_size(64)
fn conv2d_half_t1(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) lid: u32) {
    let t = logical_id(wid, nwg, lid, 64u);
    let g = geo();
    let tc = pu(17u);
    let tp = pu(18u);
    if (t >= g.n * tc * tp) { return; }
    let img = t / (tc * tp);
    let co = (t / tp) % tc;
    let p0 = (t % tp) * 4u;
    let cin_g = g.cin / g.groups;
    let ci0 = (co / (g.cout / g.groups)) * cin_g;
    let hw = g.h * g.wd;
    let kk = g.kh * g.kw;
    let c0 = corner(g, p0);
    let c1 = corner(g, p0 + 1u);
    let c2 = corner(g, p0 + 2u);
    let c3 = corner(g, p0 + 3u);
    let wb = co * cin_g * kk;
    var a = vec4<f32>(0.0);
    for (var ci = 0u; ci < cin_g; ci++) {
        let xb = (img * g.cin + ci0 + ci) * hw;
        for (var ky = 0u; ky < g.kh; ky++) {
            for (var kx = 0u; kx < g.kw; kx++) {
                let oy = i32(ky) * g.dh;
                let ox = i32(kx) * g.dw;
                let xv = vec4<f32>(tap(g, c0, oy, ox, xb), tap(g, c1, oy, ox, xb),
                                   tap(g, c2, oy, ox, xb), tap(g, c3, oy, ox, xb));
                a += f32(wh[wb + ci * kk + ky * g.kw + kx]) * xv;
            }
        }
    }
    finish(g, img, co, p0, a);
}
