// k-means on the GPU: each point finds its nearest centroid (squared
// Euclidean distance, or the largest dot product for spherical k-means on
// unit vectors), then each centroid coordinate becomes the mean of its
// points. Every output gathers, so no atomics are needed; a centroid with no
// point keeps its place.
//
// Grouped runs solve `groups` independent problems in one launch (SPML's
// per-image segmentations): points and clusters split into equal
// consecutive groups, and a point only meets its own group's clusters.
//
// Params: 0 points n, 1 dims d, 2 clusters k, 3 spherical (0/1), 4 groups.

@group(0) @binding(1) var<storage, read> points: array<f32>;
@group(0) @binding(2) var<storage, read_write> centroids: array<f32>;
@group(0) @binding(3) var<storage, read_write> labels: array<u32>;
@group(0) @binding(4) var<storage, read_write> dist: array<f32>;
@group(0) @binding(5) var<storage, read_write> counts: array<u32>;

// One invocation per point: labels[i] ← nearest centroid of its group
// (first on ties), dist[i] ← its squared distance (spherical: 1 − cosine).
@compute @workgroup_size(64)
fn assign(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let i = logical_id(wid, nwg, lid, 64u);
    let n = pu(0u);
    let d = pu(1u);
    let k = pu(2u);
    let spherical = pu(3u) == 1u;
    if (i >= n) { return; }
    let kg = k / pu(4u);
    let c0 = (i / (n / pu(4u))) * kg;
    var best = c0;
    var best_d = 0.0;
    for (var c = c0; c < c0 + kg; c++) {
        var acc = 0.0;
        for (var j = 0u; j < d; j++) {
            let p = points[i * d + j];
            let q = centroids[c * d + j];
            acc += select((p - q) * (p - q), -p * q, spherical);
        }
        let score = select(acc, 1.0 + acc, spherical);
        let better = (c == c0) | (score < best_d);
        if (better) {
            best = c;
            best_d = score;
        }
    }
    labels[i] = best;
    dist[i] = best_d;
}

// One invocation per (cluster, coordinate): the mean of the cluster's points,
// all in its group (renormalised to unit length by `renormalise` when
// spherical).
@compute @workgroup_size(64)
fn update(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let t = logical_id(wid, nwg, lid, 64u);
    let n = pu(0u);
    let d = pu(1u);
    if (t >= pu(2u) * d) { return; }
    let c = t / d;
    let j = t - c * d;
    let ng = n / pu(4u);
    let i0 = (c / (pu(2u) / pu(4u))) * ng;
    var sum = 0.0;
    var cnt = 0u;
    for (var i = i0; i < i0 + ng; i++) {
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
