// Pixel affinities and the random walk over them (AffinityNet, Ahn & Kwak
// 2018). Pairs link each grid pixel p to p + o for every offset o of a
// half-disc list (row, col), so each unordered pair is stored once, at its
// source: aff[b, d, p] = exp(−mean_c |f[b, c, p] − f[b, c, p + o_d]|), and 0
// where p + o_d leaves the grid.
//
// The walk's transition matrix is column-normalised: with weights w (the
// affinities raised to β, symmetric, 1 on the diagonal) and column sums
// s_j = 1 + Σ_i w_ij, T_ij = w_ij / s_j, and one step maps v[k, ·] to
// v[k, ·] T. Nothing here needs atomics: every output gathers.
//
// pair_affinity params: 0 total (B·D·HW), 1 D, 2 C, 3 H, 4 W.
// pair_affinity_backward params: 0 total (B·C·HW), 1 D, 2 C, 3 H, 4 W.
// rw_colsum params: 0 N (= HW), 1 D, 2 H, 3 W.
// rw_step params: 0 total (K·N), 1 D, 2 H, 3 W.
// rw_dense params: 0 total (N·N), 1 D, 2 H, 3 W.

@group(0) @binding(1) var<storage, read> offsets: array<i32>;

// The index of q = p + (dy, dx) on an H×W grid, or −1 off the grid.
fn shifted(p: u32, dy: i32, dx: i32, h: u32, w: u32) -> i32 {
    let y = i32(p / w) + dy;
    let x = i32(p % w) + dx;
    if (y < 0 || x < 0 || y >= i32(h) || x >= i32(w)) { return -1; }
    return y * i32(w) + x;
}

@group(0) @binding(2) var<storage, read> feat: array<f32>;
@group(0) @binding(3) var<storage, read_write> aff: array<f32>;

@compute @workgroup_size(64)
fn pair_affinity(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) lid: u32) {
    let t = logical_id(wid, nwg, lid, 64u);
    if (t >= pu(0u)) { return; }
    let d_count = pu(1u);
    let c_count = pu(2u);
    let h = pu(3u);
    let w = pu(4u);
    let hw = h * w;
    let p = t % hw;
    let d = (t / hw) % d_count;
    let b = t / (hw * d_count);
    let q = shifted(p, offsets[2u * d], offsets[2u * d + 1u], h, w);
    if (q < 0) {
        aff[t] = 0.0;
        return;
    }
    let base = b * c_count * hw;
    var s = 0.0;
    for (var c = 0u; c < c_count; c++) {
        s += abs(feat[base + c * hw + p] - feat[base + c * hw + u32(q)]);
    }
    aff[t] = exp(-s / f32(c_count));
}

@group(0) @binding(2) var<storage, read> bfeat: array<f32>;
@group(0) @binding(3) var<storage, read> baff: array<f32>;
@group(0) @binding(4) var<storage, read> gaff: array<f32>;
@group(0) @binding(5) var<storage, read_write> gfeat: array<f32>;

// d aff / d f[c, p] = −aff · sign(f[c, p] − f[c, q]) / C for the source p,
// and the opposite for the target q; each pixel gathers both roles.
@compute @workgroup_size(64)
fn pair_affinity_backward(@builtin(workgroup_id) wid: vec3<u32>,
                          @builtin(num_workgroups) nwg: vec3<u32>,
                          @builtin(local_invocation_index) lid: u32) {
    let t = logical_id(wid, nwg, lid, 64u);
    if (t >= pu(0u)) { return; }
    let d_count = pu(1u);
    let c_count = pu(2u);
    let h = pu(3u);
    let w = pu(4u);
    let hw = h * w;
    let p = t % hw;
    let c = (t / hw) % c_count;
    let b = t / (hw * c_count);
    let plane = (b * c_count + c) * hw;
    let fp = bfeat[plane + p];
    var g = 0.0;
    for (var d = 0u; d < d_count; d++) {
        let dy = offsets[2u * d];
        let dx = offsets[2u * d + 1u];
        let q = shifted(p, dy, dx, h, w);
        if (q >= 0) {
            let i = (b * d_count + d) * hw + p;
            g -= gaff[i] * baff[i] * sign(fp - bfeat[plane + u32(q)]);
        }
        let s = shifted(p, -dy, -dx, h, w);
        if (s >= 0) {
            let i = (b * d_count + d) * hw + u32(s);
            g += gaff[i] * baff[i] * sign(bfeat[plane + u32(s)] - fp);
        }
    }
    gfeat[t] = g / f32(c_count);
}

@group(0) @binding(2) var<storage, read> weights: array<f32>;
@group(0) @binding(3) var<storage, read_write> colsum: array<f32>;

// s_j = 1 + Σ_d w[d, j] + Σ_d w[d, j − o_d].
@compute @workgroup_size(64)
fn rw_colsum(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
    let j = logical_id(wid, nwg, lid, 64u);
    let n = pu(0u);
    if (j >= n) { return; }
    let d_count = pu(1u);
    let h = pu(2u);
    let w = pu(3u);
    var s = 1.0;
    for (var d = 0u; d < d_count; d++) {
        s += weights[d * n + j];
        let src = shifted(j, -offsets[2u * d], -offsets[2u * d + 1u], h, w);
        if (src >= 0) { s += weights[d * n + u32(src)]; }
    }
    colsum[j] = s;
}

@group(0) @binding(2) var<storage, read> sweights: array<f32>;
@group(0) @binding(3) var<storage, read> scolsum: array<f32>;
@group(0) @binding(4) var<storage, read> v: array<f32>;
@group(0) @binding(5) var<storage, read_write> vout: array<f32>;

// vout[k, j] = (v[k, j] + Σ_i w_ij v[k, i]) / s_j over j's neighbours i.
@compute @workgroup_size(64)
fn rw_step(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
    let t = logical_id(wid, nwg, lid, 64u);
    if (t >= pu(0u)) { return; }
    let d_count = pu(1u);
    let h = pu(2u);
    let w = pu(3u);
    let n = h * w;
    let j = t % n;
    let row = t - j;
    var s = v[t];
    for (var d = 0u; d < d_count; d++) {
        let dy = offsets[2u * d];
        let dx = offsets[2u * d + 1u];
        let q = shifted(j, dy, dx, h, w);
        if (q >= 0) { s += sweights[d * n + j] * v[row + u32(q)]; }
        let src = shifted(j, -dy, -dx, h, w);
        if (src >= 0) { s += sweights[d * n + u32(src)] * v[row + u32(src)]; }
    }
    vout[t] = s / scolsum[j];
}

@group(0) @binding(2) var<storage, read> dweights: array<f32>;
@group(0) @binding(3) var<storage, read> dcolsum: array<f32>;
@group(0) @binding(4) var<storage, read_write> trans: array<f32>;

// trans[i, j] = w_ij / s_j, the dense N×N transition matrix.
@compute @workgroup_size(64)
fn rw_dense(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
    let t = logical_id(wid, nwg, lid, 64u);
    if (t >= pu(0u)) { return; }
    let d_count = pu(1u);
    let h = pu(2u);
    let w = pu(3u);
    let n = h * w;
    let i = t / n;
    let j = t % n;
    var a = 0.0;
    if (i == j) {
        a = 1.0;
    } else {
        let dy = i32(i / w) - i32(j / w);
        let dx = i32(i % w) - i32(j % w);
        for (var d = 0u; d < d_count; d++) {
            let oy = offsets[2u * d];
            let ox = offsets[2u * d + 1u];
            if ((oy == dy) & (ox == dx)) { a = dweights[d * n + j]; }
            if ((oy == -dy) & (ox == -dx)) { a = dweights[d * n + i]; }
        }
    }
    trans[t] = a / dcolsum[j];
}
