// k-means on the GPU: each point finds its nearest centroid (squared
// Euclidean distance, or the largest dot product for spherical k-means on
// unit vectors), then each centroid coordinate becomes the mean of its
// points. Every output gathers, so no atomics are needed; a centroid with no
// point keeps its place.
//
// Params: 0 points n, 1 dims d, 2 clusters k, 3 spherical (0/1).

@group(0) @binding(1) var<storage, read> points: array<f32>;
@group(0) @binding(2) var<storage, read_write> centroids: array<f32>;
@group(0) @binding(3) var<storage, read_write> labels: array<u32>;
@group(0) @binding(4) var<storage, read_write> dist: array<f32>;
@group(0) @binding(5) var<storage, read_write> counts: array<u32>;

// One invocation per point: labels[i] ← nearest centroid (first on ties),
// dist[i] ← its squared distance (spherical: 1 − cosine).
@compute @workgroup_size(64)
fn assign(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let i = logical_id(wid, nwg, lid, 64u);
    let n = pu(0u);
    let d = pu(1u);
    let k = pu(2u);
    let spherical = pu(3u) == 1u;
    if (i >= n) { return; }
    var best = 0u;
    var best_d = 0.0;
    for (var c = 0u; c < k; c++) {
        var acc = 0.0;
        for (var j = 0u; j < d; j++) {
            let p = points[i * d + j];
            let q = centroids[c * d + j];
            acc += select((p - q) * (p - q), -p * q, spherical);
        }
        let score = select(acc, 1.0 + acc, spherical);
        let better = (c == 0u) | (score < best_d);
        if (better) {
            best = c;
            best_d = score;
        }
    }
    labels[i] = best;
    dist[i] = best_d;
}

// One invocation per (cluster, coordinate): the mean of the cluster's points
// (renormalised to unit length by `renormalise` when spherical).
@compute @workgroup_size(64)
fn update(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let t = logical_id(wid, nwg, lid, 64u);
    let n = pu(0u);
    let d = pu(1u);
    if (t >= pu(2u) * d) { return; }
    let c = t / d;
    let j = t - c * d;
    var sum = 0.0;
    var cnt = 0u;
    for (var i = 0u; i < n; i++) {
        let mine = labels[i] == c;
        sum += select(0.0, points[i * d + j], mine);
        cnt += select(0u, 1u, mine);
    }
    if (cnt > 0u) {
        centroids[t] = sum / f32(cnt);
    }
    if (j == 0u) {
        counts[c] = cnt;
    }
}

// One invocation per cluster: its centroid scaled to unit length.
@compute @workgroup_size(64)
fn renormalise(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
    let c = logical_id(wid, nwg, lid, 64u);
    let d = pu(1u);
    if (c >= pu(2u)) { return; }
    var ss = 0.0;
    for (var j = 0u; j < d; j++) {
        let v = centroids[c * d + j];
        ss += v * v;
    }
    let inv = 1.0 / max(sqrt(ss), 1e-12);
    for (var j = 0u; j < d; j++) {
        centroids[c * d + j] *= inv;
    }
}
