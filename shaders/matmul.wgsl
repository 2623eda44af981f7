// Batched matrix multiply C[b] = A[b] · B[b], row-major, A [M, K], B [K, N].
// A batch stride of 0 broadcasts an operand over the batch.
//
// Each invocation owns an 8×8 register tile of C and walks K with no shared
// memory and no barriers: the shape that is fast on CPU adapters (lavapipe,
// llvmpipe) and still reasonable on GPUs. Rows and columns past the edge are
// clamped on load and masked on store, so any M, N, K works.
//
// params: 0 M, 1 N, 2 K, 3 batch, 4 A batch stride, 5 B batch stride,
//         6 row tiles, 7 column tiles.

@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;

@compute @workgroup_size(64)
fn matmul(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let t = logical_id(wid, nwg, lid, 64u);
    let tiles = pu(6u) * pu(7u);
    if (t >= tiles * pu(3u)) { return; }
    let m = pu(0u);
    let n = pu(1u);
    let k = pu(2u);
    let bi = t / tiles;
    let r = t % tiles;
    let m0 = (r / pu(7u)) * 8u;
    let n0 = (r % pu(7u)) * 8u;
    let ab = bi * pu(4u);
    let bb = bi * pu(5u);
    let ar0 = ab + min(m0 + 0u, m - 1u) * k;
    let ar1 = ab + min(m0 + 1u, m - 1u) * k;
    let ar2 = ab + min(m0 + 2u, m - 1u) * k;
    let ar3 = ab + min(m0 + 3u, m - 1u) * k;
    let ar4 = ab + min(m0 + 4u, m - 1u) * k;
    let ar5 = ab + min(m0 + 5u, m - 1u) * k;
    let ar6 = ab + min(m0 + 6u, m - 1u) * k;
    let ar7 = ab + min(m0 + 7u, m - 1u) * k;
    let cn0 = bb + min(n0 + 0u, n - 1u);
    let cn1 = bb + min(n0 + 1u, n - 1u);
    let cn2 = bb + min(n0 + 2u, n - 1u);
    let cn3 = bb + min(n0 + 3u, n - 1u);
    let cn4 = bb + min(n0 + 4u, n - 1u);
    let cn5 = bb + min(n0 + 5u, n - 1u);
    let cn6 = bb + min(n0 + 6u, n - 1u);
    let cn7 = bb + min(n0 + 7u, n - 1u);
    var c0a = vec4<f32>(0.0);
    var c0b = vec4<f32>(0.0);
    var c1a = vec4<f32>(0.0);
    var c1b = vec4<f32>(0.0);
    var c2a = vec4<f32>(0.0);
    var c2b = vec4<f32>(0.0);
    var c3a = vec4<f32>(0.0);
    var c3b = vec4<f32>(0.0);
    var c4a = vec4<f32>(0.0);
    var c4b = vec4<f32>(0.0);
    var c5a = vec4<f32>(0.0);
    var c5b = vec4<f32>(0.0);
    var c6a = vec4<f32>(0.0);
    var c6b = vec4<f32>(0.0);
    var c7a = vec4<f32>(0.0);
    var c7b = vec4<f32>(0.0);
    for (var kk = 0u; kk < k; kk++) {
        let br = kk * n;
        let b0 = vec4<f32>(b[cn0 + br], b[cn1 + br], b[cn2 + br], b[cn3 + br]);
        let b1 = vec4<f32>(b[cn4 + br], b[cn5 + br], b[cn6 + br], b[cn7 + br]);
        let a0 = a[ar0 + kk];
        c0a = fma(vec4<f32>(a0), b0, c0a);
        c0b = fma(vec4<f32>(a0), b1, c0b);
        let a1 = a[ar1 + kk];
        c1a = fma(vec4<f32>(a1), b0, c1a);
        c1b = fma(vec4<f32>(a1), b1, c1b);
        let a2 = a[ar2 + kk];
        c2a = fma(vec4<f32>(a2), b0, c2a);
        c2b = fma(vec4<f32>(a2), b1, c2b);
        let a3 = a[ar3 + kk];
        c3a = fma(vec4<f32>(a3), b0, c3a);
        c3b = fma(vec4<f32>(a3), b1, c3b);
        let a4 = a[ar4 + kk];
        c4a = fma(vec4<f32>(a4), b0, c4a);
        c4b = fma(vec4<f32>(a4), b1, c4b);
        let a5 = a[ar5 + kk];
        c5a = fma(vec4<f32>(a5), b0, c5a);
        c5b = fma(vec4<f32>(a5), b1, c5b);
        let a6 = a[ar6 + kk];
        c6a = fma(vec4<f32>(a6), b0, c6a);
        c6b = fma(vec4<f32>(a6), b1, c6b);
        let a7 = a[ar7 + kk];
        c7a = fma(vec4<f32>(a7), b0, c7a);
        c7b = fma(vec4<f32>(a7), b1, c7b);
    }
    let cb = bi * m * n;
    if (m0 + 0u < m) { store_row(cb + (m0 + 0u) * n, n0, n, c0a, c0b); }
    if (m0 + 1u < m) { store_row(cb + (m0 + 1u) * n, n0, n, c1a, c1b); }
    if (m0 + 2u < m) { store_row(cb + (m0 + 2u) * n, n0, n, c2a, c2b); }
    if (m0 + 3u < m) { store_row(cb + (m0 + 3u) * n, n0, n, c3a, c3b); }
    if (m0 + 4u < m) { store_row(cb + (m0 + 4u) * n, n0, n, c4a, c4b); }
    if (m0 + 5u < m) { store_row(cb + (m0 + 5u) * n, n0, n, c5a, c5b); }
    if (m0 + 6u < m) { store_row(cb + (m0 + 6u) * n, n0, n, c6a, c6b); }
    if (m0 + 7u < m) { store_row(cb + (m0 + 7u) * n, n0, n, c7a, c7b); }
}

fn store_row(base: u32, n0: u32, n: u32, lo: vec4<f32>, hi: vec4<f32>) {
    for (var j = 0u; j < 4u; j++) {
        if (n0 + j < n) { c[base + n0 + j] = lo[j]; }
        if (n0 + 4u + j < n) { c[base + n0 + 4u + j] = hi[j]; }
    }
}
