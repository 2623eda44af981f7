// Spatial pooling over NCHW planes. Backward passes gather (each input pixel
// visits the windows that contain it), so they need no atomics and are
// deterministic.
//
// pool2d params: 0 outputs, 1 H, 2 W, 3 Ho, 4 Wo, 5 kh, 6 kw, 7 sh, 8 sw, 9 ph, 10 pw.
//   Average pooling counts padding in the divisor (torch's default); max keeps indices.
// adaptive params: 0 outputs (forward) or inputs (backward), 1 H, 2 W, 3 Ho, 4 Wo.

@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> arg: array<u32>;
@group(0) @binding(4) var<storage, read> argr: array<u32>;

struct Window { sum: f32, best: f32, best_at: u32 }

// Sum and maximum (with its within-plane index) of output i's window.
fn window(i: u32) -> Window {
    let h = i32(pu(1u));
    let w = i32(pu(2u));
    let ho = pu(3u);
    let wo = pu(4u);
    let plane = i / (ho * wo);
    let y0 = i32((i / wo) % ho) * i32(pu(7u)) - i32(pu(9u));
    let x0 = i32(i % wo) * i32(pu(8u)) - i32(pu(10u));
    let base = plane * u32(h * w);
    var r = Window(0.0, F32_LOWEST, 0u);
    var found = false;
    for (var ky = 0; ky < i32(pu(5u)); ky++) {
        for (var kx = 0; kx < i32(pu(6u)); kx++) {
            let yy = y0 + ky;
            let xx = x0 + kx;
            if (yy < 0 || yy >= h || xx < 0 || xx >= w) { continue; }
            let k = u32(yy * w + xx);
            let v = x[base + k];
            r.sum += v;
            if (!found || v > r.best) { r.best = v; r.best_at = k; found = true; }
        }
    }
    return r;
}

@compute @workgroup_size(64)
fn avg_pool2d(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
    let i = logical_id(wid, nwg, lid, 64u);
    if (i >= pu(0u)) { return; }
    y[i] = window(i).sum / f32(pu(5u) * pu(6u));
}

@compute @workgroup_size(64)
fn max_pool2d(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
    let i = logical_id(wid, nwg, lid, 64u);
    if (i >= pu(0u)) { return; }
    let r = window(i);
    y[i] = r.best;
    arg[i] = r.best_at;
}

// The windows that contain input pixel i: output rows/columns [lo, hi] per axis.
struct Cover { oy0: i32, oy1: i32, ox0: i32, ox1: i32, iy: i32, ix: i32, ob: u32, k: u32, ok: bool }

fn cover(i: u32) -> Cover {
    let h = pu(1u);
    let w = pu(2u);
    let ho = i32(pu(3u));
    let wo = i32(pu(4u));
    let sh = i32(pu(7u));
    let sw = i32(pu(8u));
    let plane = i / (h * w);
    let k = i % (h * w);
    let iy = i32(k / w) + i32(pu(9u));
    let ix = i32(k % w) + i32(pu(10u));
    let ok = plane < pu(0u) / u32(ho * wo);
    return Cover(max(0, (iy - i32(pu(5u)) + sh) / sh), min(ho - 1, iy / sh),
                 max(0, (ix - i32(pu(6u)) + sw) / sw), min(wo - 1, ix / sw),
                 iy, ix, plane * u32(ho * wo), k, ok);
}

fn in_window(c: Cover, oy: i32, ox: i32) -> bool {
    return (c.iy - oy * i32(pu(7u)) < i32(pu(5u))) & (c.ix - ox * i32(pu(8u)) < i32(pu(6u)));
}

// x holds dy [planes, Ho, Wo]; y receives dx [planes, H, W].
@compute @workgroup_size(64)
fn avg_pool2d_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                       @builtin(local_invocation_index) lid: u32) {
    let c = cover(logical_id(wid, nwg, lid, 64u));
    if (!c.ok) { return; }
    var s = 0.0;
    for (var oy = c.oy0; oy <= c.oy1; oy++) {
        for (var ox = c.ox0; ox <= c.ox1; ox++) {
            if (in_window(c, oy, ox)) { s += x[c.ob + u32(oy * i32(pu(4u)) + ox)]; }
        }
    }
    y[logical_id(wid, nwg, lid, 64u)] = s / f32(pu(5u) * pu(6u));
}

@compute @workgroup_size(64)
fn max_pool2d_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                       @builtin(local_invocation_index) lid: u32) {
    let c = cover(logical_id(wid, nwg, lid, 64u));
    if (!c.ok) { return; }
    var s = 0.0;
    for (var oy = c.oy0; oy <= c.oy1; oy++) {
        for (var ox = c.ox0; ox <= c.ox1; ox++) {
            let o = c.ob + u32(oy * i32(pu(4u)) + ox);
            if (in_window(c, oy, ox) && argr[o] == c.k) { s += x[o]; }
        }
    }
    y[logical_id(wid, nwg, lid, 64u)] = s;
}

fn bin_start(o: u32, inp: u32, outp: u32) -> u32 { return (o * inp) / outp; }
fn bin_end(o: u32, inp: u32, outp: u32) -> u32 { return ((o + 1u) * inp + outp - 1u) / outp; }

@compute @workgroup_size(64)
fn adaptive_avg(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
    let i = logical_id(wid, nwg, lid, 64u);
    if (i >= pu(0u)) { return; }
    let h = pu(1u);
    let w = pu(2u);
    let ho = pu(3u);
    let wo = pu(4u);
    let plane = i / (ho * wo);
    let oy = (i / wo) % ho;
    let ox = i % wo;
    let ys = bin_start(oy, h, ho);
    let ye = bin_end(oy, h, ho);
    let xs = bin_start(ox, w, wo);
    let xe = bin_end(ox, w, wo);
    var s = 0.0;
    for (var yy = ys; yy < ye; yy++) {
        for (var xx = xs; xx < xe; xx++) { s += x[(plane * h + yy) * w + xx]; }
    }
    y[i] = s / f32((ye - ys) * (xe - xs));
}

// x holds dy [planes, Ho, Wo]; y receives dx [planes, H, W].
@compute @workgroup_size(64)
fn adaptive_avg_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                         @builtin(local_invocation_index) lid: u32) {
    let i = logical_id(wid, nwg, lid, 64u);
    if (i >= pu(0u)) { return; }
    let h = pu(1u);
    let w = pu(2u);
    let ho = pu(3u);
    let wo = pu(4u);
    let plane = i / (h * w);
    let iy = (i / w) % h;
    let ix = i % w;
    var s = 0.0;
    for (var oy = (iy * ho) / h; oy < min(ho, ((iy + 1u) * ho + h - 1u) / h + 1u); oy++) {
        let ys = bin_start(oy, h, ho);
        let ye = bin_end(oy, h, ho);
        if (iy < ys || iy >= ye) { continue; }
        for (var ox = (ix * wo) / w; ox < min(wo, ((ix + 1u) * wo + w - 1u) / w + 1u); ox++) {
            let xs = bin_start(ox, w, wo);
            let xe = bin_end(ox, w, wo);
            if (ix < xs || ix >= xe) { continue; }
            s += x[(plane * ho + oy) * wo + ox] / f32((ye - ys) * (xe - xs));
        }
    }
    y[i] = s;
}
