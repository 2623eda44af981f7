// Layout kernels: they move 32-bit words without looking at them, so they
// serve f32, u32 and i32 tensors alike.
//
// strided_copy params: 0 n, 1 rank, 2 src offset, 3 dst offset, 4..10 shape,
//   10..16 src strides (i32), 16..22 dst strides (i32). Covers permute,
//   transpose, broadcast (stride 0), narrow, concat slices, pad interiors and flip.
// fill params: 0 n, 1 the 32-bit value.
// gather params: 0 n, 1 J (index length), 2 inner, 3 L (source axis length),
//   4 1 when the index is 1-D [J] (index_select) else [outer, J, inner] (gather).

@group(0) @binding(1) var<storage, read> src: array<u32>;
@group(0) @binding(2) var<storage, read_write> dst: array<u32>;

@compute @workgroup_size(64)
fn strided_copy(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
    let i = logical_id(wid, nwg, lid, 64u);
    if (i >= pu(0u)) { return; }
    let rank = pu(1u);
    var rem = i;
    var os = pi(2u);
    var od = pi(3u);
    // Innermost axis first; the outermost takes what is left, undivided (the
    // launcher merges axes, so a contiguous copy divides not at all).
    for (var d = 0u; d + 1u < rank; d++) {
        let ax = rank - 1u - d;
        let dim = pu(4u + ax);
        let idx = i32(rem % dim);
        rem = rem / dim;
        os += idx * pi(10u + ax);
        od += idx * pi(16u + ax);
    }
    os += i32(rem) * pi(10u);
    od += i32(rem) * pi(16u);
    dst[u32(od)] = src[u32(os)];
}

@group(0) @binding(6) var<storage, read> src4: array<vec4<u32>>;
@group(0) @binding(7) var<storage, read_write> dst4: array<vec4<u32>>;

// dst4[i] = src4[i] for i < n: the bulk of the plain copy the benchmarks
// measure an adapter's memory bandwidth with (16 bytes per invocation).
@compute @workgroup_size(64)
fn copy_vec4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
    let i = logical_id(wid, nwg, lid, 64u);
    if (i >= pu(0u)) { return; }
    dst4[i] = src4[i];
}

// dst[s + i] = src[s + i] for i < n, s = param 1: the copy's last words.
@compute @workgroup_size(64)
fn copy_words(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
    let i = logical_id(wid, nwg, lid, 64u);
    if (i >= pu(0u)) { return; }
    let k = pu(1u) + i;
    dst[k] = src[k];
}

@compute @workgroup_size(64)
fn fill(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = logical_id(wid, nwg, lid, 64u);
    if (i >= pu(0u)) { return; }
    dst[i] = pu(1u);
}

@group(0) @binding(3) var<storage, read> index: array<u32>;

// dst[o, j, i] = src[o, index[..], i]; an out-of-range index yields 0.
@compute @workgroup_size(64)
fn gather(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let i = logical_id(wid, nwg, lid, 64u);
    if (i >= pu(0u)) { return; }
    let jl = pu(1u);
    let inner = pu(2u);
    let l = pu(3u);
    let ii = i % inner;
    let j = (i / inner) % jl;
    let o = i / (inner * jl);
    let k = select(index[i], index[j], pu(4u) == 1u);
    if (k >= l) { dst[i] = 0u; return; }
    dst[i] = src[(o * l + k) * inner + ii];
}

@group(0) @binding(4) var<storage, read_write> acc: array<atomic<u32>>;
@group(0) @binding(5) var<storage, read> val: array<f32>;

// acc[o, index[..], i] += val[o, j, i]. WGSL has no float atomics, so the add
// is a compare-exchange loop on the bit pattern; out-of-range indices are dropped.
@compute @workgroup_size(64)
fn scatter_add(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
    let i = logical_id(wid, nwg, lid, 64u);
    if (i >= pu(0u)) { return; }
    let jl = pu(1u);
    let inner = pu(2u);
    let l = pu(3u);
    let ii = i % inner;
    let j = (i / inner) % jl;
    let o = i / (inner * jl);
    let k = select(index[i], index[j], pu(4u) == 1u);
    if (k >= l) { return; }
    let t = (o * l + k) * inner + ii;
    let v = val[i];
    var old = atomicLoad(&acc[t]);
    loop {
        let r = atomicCompareExchangeWeak(&acc[t], old, bitcast<u32>(bitcast<f32>(old) + v));
        if (r.exchanged) { break; }
        old = r.old_value;
    }
}
