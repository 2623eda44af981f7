// Top-k selection along the rows of a [rows, n] matrix, without sorting and
// without workgroup barriers: a four-round radix select on order-preserving
// u32 keys finds each row's k-th key (8 bits a round, histograms counted with
// integer atomics), then a chunked count, an exclusive scan (scan.wgsl) and a
// write pass emit the selected entries in index order. Ties at the k-th value
// are taken lowest index first. The backward scatters gradients back to the
// selected indices.
//
// Params: 0 rows, 1 n, 2 k, 3 smallest (0 largest-k, 1 smallest-k),
//         4 shift (radix round), 5 first round (1: no prefix to match),
//         6 chunk length, 7 chunks per row.

@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> state: array<u32>;
@group(0) @binding(3) var<storage, read_write> hist: array<atomic<u32>>;
@group(0) @binding(4) var<storage, read_write> gt_count: array<u32>;
@group(0) @binding(5) var<storage, read_write> eq_count: array<u32>;
@group(0) @binding(6) var<storage, read_write> values: array<f32>;
@group(0) @binding(7) var<storage, read_write> indices: array<u32>;

// A u32 whose unsigned order is the order in which entries are selected:
// larger floats first (IEEE total order), or smaller ones when asked.
fn key_of(v: f32) -> u32 {
    let b = bitcast<u32>(v);
    let k = select(b | 0x80000000u, ~b, (b & 0x80000000u) != 0u);
    return select(k, ~k, pu(3u) == 1u);
}

// state[row] ← (prefix 0, need k).
@compute @workgroup_size(64)
fn topk_init(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
    let row = logical_id(wid, nwg, lid, 64u);
    if (row >= pu(0u)) { return; }
    state[2u * row] = 0u;
    state[2u * row + 1u] = pu(2u);
}

// One invocation per entry: counts the entry's digit at this round's shift
// when its higher digits match the row's prefix so far.
@compute @workgroup_size(64)
fn topk_hist(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
    let i = logical_id(wid, nwg, lid, 64u);
    let n = pu(1u);
    if (i >= pu(0u) * n) { return; }
    let row = i / n;
    let key = key_of(x[i]);
    let shift = pu(4u);
    let high = shift + 8u;
    let prefix = state[2u * row];
    let matches = pu(5u) == 1u || (key >> high) == (prefix >> high);
    if (matches) {
        atomicAdd(&hist[row * 256u + ((key >> shift) & 255u)], 1u);
    }
}

// One invocation per row: walks the digits from the largest key down, fixes
// the digit holding the k-th key and clears the histogram for the next round.
@compute @workgroup_size(64)
fn topk_pick(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
    let row = logical_id(wid, nwg, lid, 64u);
    if (row >= pu(0u)) { return; }
    let shift = pu(4u);
    var prefix = state[2u * row];
    var need = state[2u * row + 1u];
    var found = false;
    for (var j = 0u; j < 256u; j++) {
        let d = 255u - j;
        let c = atomicExchange(&hist[row * 256u + d], 0u);
        let here = (!found) & (need <= c);
        if (here) {
            prefix = prefix | (d << shift);
            found = true;
        } else if (!found) {
            need = need - c;
        }
    }
    state[2u * row] = prefix;
    state[2u * row + 1u] = need;
}

// The row of (row, chunk) cell t and the chunk's first and past-last column.
fn chunk_of(t: u32) -> vec3<u32> {
    let chunks = pu(7u);
    let row = t / chunks;
    let start = (t - row * chunks) * pu(6u);
    return vec3<u32>(row, start, min(start + pu(6u), pu(1u)));
}

// One invocation per (row, chunk): entries above the k-th key, and equal to it.
@compute @workgroup_size(64)
fn topk_count(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
    let t = logical_id(wid, nwg, lid, 64u);
    if (t >= pu(0u) * pu(7u)) { return; }
    let ch = chunk_of(t);
    let n = pu(1u);
    let kth = state[2u * ch.x];
    var gt = 0u;
    var eq = 0u;
    for (var j = ch.y; j < ch.z; j++) {
        let key = key_of(x[ch.x * n + j]);
        gt += select(0u, 1u, key > kth);
        eq += select(0u, 1u, key == kth);
    }
    gt_count[t] = gt;
    eq_count[t] = eq;
}

// One invocation per (row, chunk), after both counts were scanned: writes
// the chunk's selected entries at their place in index order.
@compute @workgroup_size(64)
fn topk_write(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
    let t = logical_id(wid, nwg, lid, 64u);
    let chunks = pu(7u);
    if (t >= pu(0u) * chunks) { return; }
    let ch = chunk_of(t);
    let row = ch.x;
    let n = pu(1u);
    let k = pu(2u);
    let kth = state[2u * row];
    let need = state[2u * row + 1u];
    var gt = gt_count[t] - gt_count[row * chunks];
    var eq = eq_count[t] - eq_count[row * chunks];
    for (var j = ch.y; j < ch.z; j++) {
        let v = x[row * n + j];
        let key = key_of(v);
        let take = (key > kth) | ((key == kth) & (eq < need));
        if (take) {
            let pos = row * k + gt + min(eq, need);
            values[pos] = v;
            indices[pos] = j;
        }
        gt += select(0u, 1u, key > kth);
        eq += select(0u, 1u, key == kth);
    }
}

// Backward: one invocation per selected entry; x holds the incoming gradient
// [rows, k], grad_in the input's gradient [rows, n], zeroed beforehand.
@group(0) @binding(8) var<storage, read_write> grad_in: array<f32>;

@compute @workgroup_size(64)
fn topk_scatter(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
    let t = logical_id(wid, nwg, lid, 64u);
    let k = pu(2u);
    if (t >= pu(0u) * k) { return; }
    let row = t / k;
    grad_in[row * pu(1u) + indices[t]] = x[t];
}
