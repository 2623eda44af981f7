// Batched matrix multiply C[b] = A[b] · B[b] for CPU adapters with 8-wide
// subgroups (lavapipe and llvmpipe on AVX2: one SIMD register is one subgroup).
// Row-major A [M, K], B [K, N]; K, N and both batch strides multiples of 4.
//
// On such an adapter every storage load of a non-uniform address costs a
// scalar loop over the 8 lanes with a bounds check per lane and component, so
// the kernel is shaped to load as little as possible per multiply-add. Each
// subgroup owns a 16×64 tile of C (subgroup_tile.wgsl): lane l holds rows
// m0..m0+16 of the columns n0+4l..+4 and n0+32+4l..+4. Per four
// steps of K a lane makes two vec4 loads of A (rows m0+l and m0+8+l, four
// values of K each) and eight vec4 loads of B; `subgroupBroadcast` hands each
// row's A value to all lanes in a register shuffle, with no shared memory and
// no barrier. That is 2 + 8 loads for 512 multiply-adds per lane, against 16
// loads for 64 in the 8×8 register tile of matmul.wgsl: 3× its speed on
// lavapipe (BENCHMARKS.md).
//
// The engine picks this kernel only where the adapter reports subgroups of
// exactly 8 and the shapes meet the multiples of 4 above. Rows past M are
// clamped on load and masked on store; column groups past N likewise.
//
// params: 0 M, 1 N/4, 2 K/4, 3 batch, 4 A batch stride/4, 5 B batch stride/4,
//         6 row tiles, 7 column tiles.

@group(0) @binding(1) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> c: array<vec4<f32>>;

fn store_row(base: u32, q: u32, n4: u32, lo: vec4<f32>, hi: vec4<f32>) {
    if (q < n4) { c[base + q] = lo; }
    if (q + 8u < n4) { c[base + q + 8u] = hi; }
}

@compute @workgroup_size(64)
fn matmul_sg(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(subgroup_id) sg: u32, @builtin(subgroup_invocation_id) l: u32) {
    // One tile per subgroup; the test is uniform over the subgroup, so every
    // lane that reaches a broadcast has all 8 lanes beside it.
    let t = logical_id(wid, nwg, sg, 8u);
    let tiles = pu(6u) * pu(7u);
    if (t >= tiles * pu(3u)) { return; }
    let m = pu(0u);
    let n4 = pu(1u);
    let k4 = pu(2u);
    let bi = t / tiles;
    let r = t % tiles;
    let m0 = (r / pu(7u)) * 16u;
    let q = (r % pu(7u)) * 16u + l;
    let a_lo = bi * pu(4u) + min(m0 + l, m - 1u) * k4;
    let a_hi = bi * pu(4u) + min(m0 + 8u + l, m - 1u) * k4;
    let b0 = bi * pu(5u) + min(q, n4 - 1u);
    let b1 = bi * pu(5u) + min(q + 8u, n4 - 1u);
    tile_zero();
    for (var kq = 0u; kq < k4; kq++) {
        let lo = a[a_lo + kq];
        let hi = a[a_hi + kq];
        let row = kq * 4u * n4;
        k_step(lo.x, hi.x, b[b0 + row], b[b1 + row]);
        k_step(lo.y, hi.y, b[b0 + row + n4], b[b1 + row + n4]);
        k_step(lo.z, hi.z, b[b0 + row + 2u * n4], b[b1 + row + 2u * n4]);
        k_step(lo.w, hi.w, b[b0 + row + 3u * n4], b[b1 + row + 3u * n4]);
    }
    let cb = bi * m * n4;
    if (m0 + 0u < m) { store_row(cb + (m0 + 0u) * n4, q, n4, x00a, x00b); }
    if (m0 + 1u < m) { store_row(cb + (m0 + 1u) * n4, q, n4, x01a, x01b); }
    if (m0 + 2u < m) { store_row(cb + (m0 + 2u) * n4, q, n4, x02a, x02b); }
    if (m0 + 3u < m) { store_row(cb + (m0 + 3u) * n4, q, n4, x03a, x03b); }
    if (m0 + 4u < m) { store_row(cb + (m0 + 4u) * n4, q, n4, x04a, x04b); }
    if (m0 + 5u < m) { store_row(cb + (m0 + 5u) * n4, q, n4, x05a, x05b); }
    if (m0 + 6u < m) { store_row(cb + (m0 + 6u) * n4, q, n4, x06a, x06b); }
    if (m0 + 7u < m) { store_row(cb + (m0 + 7u) * n4, q, n4, x07a, x07b); }
    if (m0 + 8u < m) { store_row(cb + (m0 + 8u) * n4, q, n4, x08a, x08b); }
    if (m0 + 9u < m) { store_row(cb + (m0 + 9u) * n4, q, n4, x09a, x09b); }
    if (m0 + 10u < m) { store_row(cb + (m0 + 10u) * n4, q, n4, x10a, x10b); }
    if (m0 + 11u < m) { store_row(cb + (m0 + 11u) * n4, q, n4, x11a, x11b); }
    if (m0 + 12u < m) { store_row(cb + (m0 + 12u) * n4, q, n4, x12a, x12b); }
    if (m0 + 13u < m) { store_row(cb + (m0 + 13u) * n4, q, n4, x13a, x13b); }
    if (m0 + 14u < m) { store_row(cb + (m0 + 14u) * n4, q, n4, x14a, x14b); }
    if (m0 + 15u < m) { store_row(cb + (m0 + 15u) * n4, q, n4, x15a, x15b); }
}
