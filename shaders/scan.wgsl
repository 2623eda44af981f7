// Exclusive prefix sums of u32 arrays without workgroup barriers (software
// adapters punish them): each invocation scans one serial chunk in place and
// writes the chunk's total; the launcher scans the totals the same way and
// adds them back.
//
// Params: 0 n (elements), 1 chunk length.

@group(0) @binding(1) var<storage, read_write> data: array<u32>;
@group(0) @binding(2) var<storage, read_write> totals: array<u32>;
@group(0) @binding(3) var<storage, read> offsets: array<u32>;

// data[chunk] ← exclusive scan of data[chunk]; totals[c] ← its sum.
@compute @workgroup_size(64)
fn chunk_scan(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
    let c = logical_id(wid, nwg, lid, 64u);
    let n = pu(0u);
    let len = pu(1u);
    let start = c * len;
    if (start >= n) { return; }
    let end = min(start + len, n);
    var acc = 0u;
    for (var i = start; i < end; i++) {
        let v = data[i];
        data[i] = acc;
        acc += v;
    }
    totals[c] = acc;
}

// data[i] += offsets[i / chunk].
@compute @workgroup_size(64)
fn chunk_add(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
    let i = logical_id(wid, nwg, lid, 64u);
    if (i >= pu(0u)) { return; }
    data[i] += offsets[i / pu(1u)];
}
