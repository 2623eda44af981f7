// Spatial resizing of NCHW planes: bilinear (align_corners true or false, as
// torch defines them) and nearest (torch's legacy 'nearest'). Backward passes
// gather over the output pixels that read each input pixel, so no atomics.
//
// params: 0 elements of the output (forward) or of the input gradient
//   (backward), 1 H, 2 W, 3 Ho, 4 Wo, 5 align_corners.
// OP: 0 bilinear, 1 nearest.

override OP: u32 = 0u;

@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

// Source coordinate of output index o for an axis in → out.
fn src_coord(o: u32, inp: u32, outp: u32) -> f32 {
    if (pu(5u) == 1u) {
        if (outp <= 1u) { return 0.0; }
        return f32(o) * f32(inp - 1u) / f32(outp - 1u);
    }
    return max((f32(o) + 0.5) * f32(inp) / f32(outp) - 0.5, 0.0);
}

// Weight that output index o gives to input index i along one axis.
fn axis_weight(o: u32, i: u32, inp: u32, outp: u32) -> f32 {
    if (OP == 1u) {
        return select(0.0, 1.0, min((o * inp) / outp, inp - 1u) == i);
    }
    let s = src_coord(o, inp, outp);
    let i0 = min(u32(floor(s)), inp - 1u);
    let i1 = min(i0 + 1u, inp - 1u);
    let f = s - f32(i0);
    return select(0.0, 1.0 - f, i0 == i) + select(0.0, f, i1 == i);
}

@compute @workgroup_size(64)
fn resize(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
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
    let b = plane * h * w;
    if (OP == 1u) {
        y[i] = x[b + min((oy * h) / ho, h - 1u) * w + min((ox * w) / wo, w - 1u)];
        return;
    }
    let sy = src_coord(oy, h, ho);
    let sx = src_coord(ox, w, wo);
    let y0 = min(u32(floor(sy)), h - 1u);
    let x0 = min(u32(floor(sx)), w - 1u);
    let y1 = min(y0 + 1u, h - 1u);
    let x1 = min(x0 + 1u, w - 1u);
    let fy = sy - f32(y0);
    let fx = sx - f32(x0);
    let top = mix(x[b + y0 * w + x0], x[b + y0 * w + x1], fx);
    let bot = mix(x[b + y1 * w + x0], x[b + y1 * w + x1], fx);
    y[i] = mix(top, bot, fy);
}

// Range of output indices that may read input index i (one slack step each side).
fn out_range(i: u32, inp: u32, outp: u32) -> vec2<u32> {
    let r = f32(outp) / f32(inp);
    let lo = max(floor((f32(i) - 1.0) * r) - 2.0, 0.0);
    let hi = min(ceil((f32(i) + 2.0) * r) + 2.0, f32(outp));
    return vec2<u32>(u32(lo), u32(hi));
}

// x holds dy [planes, Ho, Wo]; y receives dx [planes, H, W].
@compute @workgroup_size(64)
fn resize_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
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
    let ry = out_range(iy, h, ho);
    let rx = out_range(ix, w, wo);
    var s = 0.0;
    for (var oy = ry.x; oy < ry.y; oy++) {
        let wy = axis_weight(oy, iy, h, ho);
        if (wy == 0.0) { continue; }
        for (var ox = rx.x; ox < rx.y; ox++) {
            let wx = axis_weight(ox, ix, w, wo);
            if (wx == 0.0) { continue; }
            s += wy * wx * x[(plane * ho + oy) * wo + ox];
        }
    }
    y[i] = s;
}
