// The permutohedral lattice (Adams, Baek & Davis 2010) as densecrf builds and
// filters it. Features of dimension d (≤ 8) are lifted onto the lattice; the
// d+1 vertices of each pixel's enclosing simplex go into a hash table with
// integer compare-exchange; distinct vertices are numbered by a prefix sum;
// values are then splatted, blurred along the d+1 lattice axes and sliced.
// The splat gathers over each vertex's list of (pixel, weight) entries, so
// no float atomics are needed.
//
// Entry e = pixel·(d+1) + r is vertex r of pixel's simplex; its key is the
// vertex's first d lattice coordinates (the last one is implied).
//
// Params: 0 n pixels, 1 d, 2 hash table size (a power of two), 3 m lattice
// points, 4 value channels, 5 1 to scale values by `scale` (splat input,
// slice output), 6 blur axis, 7 slice weight α (f32), 8.. embed: 1/(d+1)
// then the d scale factors of the elevation (f32). features: 3 width,
// 4 σx, 5 σy, 6–8 σr, σg, σb (f32).

const EMPTY: u32 = 0xffffffffu;

@group(0) @binding(1) var<storage, read> feat: array<f32>;
@group(0) @binding(2) var<storage, read_write> keys: array<i32>;
@group(0) @binding(3) var<storage, read_write> bary: array<f32>;
@group(0) @binding(4) var<storage, read_write> table: array<atomic<u32>>;

// Lifts pixel p's feature onto the lattice: keys and barycentric weights of
// its d+1 simplex vertices, with densecrf's rounding and rank bookkeeping.
@compute @workgroup_size(64)
fn embed(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_index) lid: u32) {
    let p = logical_id(wid, nwg, lid, 64u);
    if (p >= pu(0u)) { return; }
    let d = pu(1u);
    let d1 = d + 1u;
    let fd1 = f32(d1);
    let inv_d1 = pf(8u);
    var el: array<f32, 9>;
    var rem0: array<f32, 9>;
    var rank: array<i32, 9>;
    var bc: array<f32, 10>;
    var sm = 0.0;
    for (var j = d; j > 0u; j--) {
        let cf = feat[p * d + j - 1u] * pf(8u + j);
        el[j] = sm - f32(j) * cf;
        sm += cf;
    }
    el[0] = sm;
    var sum = 0.0;
    for (var i = 0u; i <= d; i++) {
        let v = round(inv_d1 * el[i]);
        rem0[i] = v * fd1;
        sum += v;
        rank[i] = 0;
    }
    for (var i = 0u; i < d; i++) {
        let di = el[i] - rem0[i];
        for (var j = i + 1u; j <= d; j++) {
            if (di < el[j] - rem0[j]) { rank[i] += 1; } else { rank[j] += 1; }
        }
    }
    let s = i32(sum);
    for (var i = 0u; i <= d; i++) {
        rank[i] += s;
        if (rank[i] < 0) {
            rank[i] += i32(d1);
            rem0[i] += fd1;
        } else if (rank[i] >= i32(d1)) {
            rank[i] -= i32(d1);
            rem0[i] -= fd1;
        }
    }
    for (var i = 0u; i <= d + 1u; i++) { bc[i] = 0.0; }
    for (var i = 0u; i <= d; i++) {
        let v = (el[i] - rem0[i]) * inv_d1;
        let q = d - u32(rank[i]);
        bc[q] += v;
        bc[q + 1u] -= v;
    }
    bc[0] += 1.0 + bc[d + 1u];
    for (var r = 0u; r <= d; r++) {
        let e = p * d1 + r;
        for (var i = 0u; i < d; i++) {
            // The canonical simplex: coordinate of rank k in vertex r.
            let k = u32(rank[i]);
            let c = select(i32(r) - i32(d1), i32(r), k <= d - r);
            keys[e * d + i] = i32(rem0[i]) + c;
        }
        bary[e] = bc[r];
    }
}

fn entry_hash(e: u32) -> u32 {
    let d = pu(1u);
    var h = 0u;
    for (var i = 0u; i < d; i++) { h = (h + bitcast<u32>(keys[e * d + i])) * 1664525u; }
    return h & (pu(2u) - 1u);
}

fn same_key(a: u32, b: u32) -> bool {
    let d = pu(1u);
    for (var i = 0u; i < d; i++) {
        if (keys[a * d + i] != keys[b * d + i]) { return false; }
    }
    return true;
}

// Inserts every entry's key; a slot ends up holding the smallest entry with
// that key, so the numbering below does not depend on thread timing.
@compute @workgroup_size(64)
fn insert(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let e = logical_id(wid, nwg, lid, 64u);
    if (e >= pu(0u) * (pu(1u) + 1u)) { return; }
    let mask = pu(2u) - 1u;
    var s = entry_hash(e);
    loop {
        let r = atomicCompareExchangeWeak(&table[s], EMPTY, e);
        if (r.exchanged) { return; }
        if (r.old_value == EMPTY) { continue; }
        if (same_key(r.old_value, e)) {
            atomicMin(&table[s], e);
            return;
        }
        s = (s + 1u) & mask;
    }
}

@group(0) @binding(5) var<storage, read_write> owner: array<u32>;
@group(0) @binding(6) var<storage, read_write> flags: array<u32>;

// owner[e]: the smallest entry sharing e's key; flags[e] = 1 if e is it.
@compute @workgroup_size(64)
fn mark(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let e = logical_id(wid, nwg, lid, 64u);
    if (e >= pu(0u) * (pu(1u) + 1u)) { return; }
    let mask = pu(2u) - 1u;
    var s = entry_hash(e);
    for (var t = 0u; t <= mask; t++) {
        let o = atomicLoad(&table[s]);
        if (o != EMPTY && same_key(o, e)) {
            owner[e] = o;
            flags[e] = select(0u, 1u, o == e);
            return;
        }
        s = (s + 1u) & mask;
    }
}

@group(0) @binding(1) var<storage, read> owner_in: array<u32>;
@group(0) @binding(2) var<storage, read> ids: array<u32>;
@group(0) @binding(3) var<storage, read_write> lat: array<u32>;
@group(0) @binding(4) var<storage, read_write> rep: array<u32>;

// lat[e]: the lattice point of entry e; rep[l]: the entry that names point l.
@compute @workgroup_size(64)
fn assign(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let e = logical_id(wid, nwg, lid, 64u);
    if (e >= pu(0u) * (pu(1u) + 1u)) { return; }
    let o = owner_in[e];
    let l = ids[o];
    lat[e] = l;
    if (o == e) { rep[l] = e; }
}

@group(0) @binding(1) var<storage, read> lat_in: array<u32>;
@group(0) @binding(2) var<storage, read_write> counts: array<atomic<u32>>;

// counts[l] = number of entries on lattice point l.
@compute @workgroup_size(64)
fn count(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_index) lid: u32) {
    let e = logical_id(wid, nwg, lid, 64u);
    if (e >= pu(0u) * (pu(1u) + 1u)) { return; }
    atomicAdd(&counts[lat_in[e]], 1u);
}

@group(0) @binding(3) var<storage, read> start: array<u32>;
@group(0) @binding(4) var<storage, read_write> entries: array<u32>;

// Writes each entry into its lattice point's list (counts reused as cursors).
@compute @workgroup_size(64)
fn fill_lists(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
    let e = logical_id(wid, nwg, lid, 64u);
    if (e >= pu(0u) * (pu(1u) + 1u)) { return; }
    let l = lat_in[e];
    let at = atomicAdd(&counts[l], 1u);
    entries[start[l] + at] = e;
}

@group(0) @binding(1) var<storage, read> keys_in: array<i32>;
@group(0) @binding(2) var<storage, read> rep_in: array<u32>;
@group(0) @binding(3) var<storage, read> lat_of: array<u32>;
@group(0) @binding(5) var<storage, read_write> nbr: array<u32>;

fn find(k: ptr<function, array<i32, 8>>) -> u32 {
    let d = pu(1u);
    let mask = pu(2u) - 1u;
    var h = 0u;
    for (var i = 0u; i < d; i++) { h = (h + bitcast<u32>((*k)[i])) * 1664525u; }
    var s = h & mask;
    for (var t = 0u; t <= mask; t++) {
        let o = atomicLoad(&table[s]);
        if (o == EMPTY) { return EMPTY; }
        var same = true;
        for (var i = 0u; i < d; i++) {
            if (keys_in[o * d + i] != (*k)[i]) { same = false; }
        }
        if (same) { return lat_of[o]; }
        s = (s + 1u) & mask;
    }
    return EMPTY;
}

// nbr[(axis·m + l)·2 + {0, 1}]: lattice point l's two neighbours along an
// axis (EMPTY where the lattice has no such point).
@compute @workgroup_size(64)
fn neighbours(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
    let t = logical_id(wid, nwg, lid, 64u);
    let d = pu(1u);
    let m = pu(3u);
    if (t >= m * (d + 1u)) { return; }
    let l = t % m;
    let j = t / m;
    let e = rep_in[l];
    var k1: array<i32, 8>;
    var k2: array<i32, 8>;
    for (var i = 0u; i < d; i++) {
        let v = keys_in[e * d + i];
        k1[i] = v - 1;
        k2[i] = v + 1;
        if (i == j) {
            k1[i] = v + i32(d);
            k2[i] = v - i32(d);
        }
    }
    nbr[t * 2u] = find(&k1);
    nbr[t * 2u + 1u] = find(&k2);
}

@group(0) @binding(1) var<storage, read> list: array<u32>;
@group(0) @binding(2) var<storage, read> list_start: array<u32>;
@group(0) @binding(3) var<storage, read> weight: array<f32>;
@group(0) @binding(4) var<storage, read> values: array<f32>;
@group(0) @binding(5) var<storage, read> scale: array<f32>;
@group(0) @binding(6) var<storage, read_write> acc: array<f32>;

// acc[k, l] = Σ over l's entries of weight · values[k, pixel] (· scale[pixel]).
@compute @workgroup_size(64)
fn splat(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_index) lid: u32) {
    let t = logical_id(wid, nwg, lid, 64u);
    let m = pu(3u);
    if (t >= m * pu(4u)) { return; }
    let n = pu(0u);
    let d1 = pu(1u) + 1u;
    // Channel-fastest order: invocations that run together share a list
    // length, which keeps the gather loop from diverging.
    let channels = pu(4u);
    let l = t / channels;
    let k = t % channels;
    let scaled = pu(5u) == 1u;
    var s = 0.0;
    for (var q = list_start[l]; q < list_start[l + 1u]; q++) {
        let e = list[q];
        let p = e / d1;
        var v = values[k * n + p];
        if (scaled) { v *= scale[p]; }
        s += weight[e] * v;
    }
    acc[k * m + l] = s;
}

@group(0) @binding(1) var<storage, read> links: array<u32>;
@group(0) @binding(2) var<storage, read> src: array<f32>;
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;

// One blur step along an axis: dst = src + (src[left] + src[right]) / 2.
@compute @workgroup_size(64)
fn blur(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let t = logical_id(wid, nwg, lid, 64u);
    let m = pu(3u);
    if (t >= m * pu(4u)) { return; }
    let l = t % m;
    let base = t - l;
    let at = (pu(6u) * m + l) * 2u;
    let a = links[at];
    let b = links[at + 1u];
    var side = 0.0;
    if (a != EMPTY) { side += src[base + a]; }
    if (b != EMPTY) { side += src[base + b]; }
    dst[t] = src[t] + 0.5 * side;
}

@group(0) @binding(1) var<storage, read> point_of: array<u32>;
@group(0) @binding(2) var<storage, read> bary_in: array<f32>;
@group(0) @binding(3) var<storage, read> blurred: array<f32>;
@group(0) @binding(4) var<storage, read> out_scale: array<f32>;
@group(0) @binding(5) var<storage, read_write> sliced: array<f32>;

// sliced[k, p] = Σ_r α·bary[p, r] · blurred[k, point of (p, r)] (· scale[p]).
@compute @workgroup_size(64)
fn slice(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_index) lid: u32) {
    let t = logical_id(wid, nwg, lid, 64u);
    let n = pu(0u);
    if (t >= n * pu(4u)) { return; }
    let d1 = pu(1u) + 1u;
    let m = pu(3u);
    let p = t % n;
    let k = t / n;
    let alpha = pf(7u);
    var s = 0.0;
    for (var r = 0u; r < d1; r++) {
        let e = p * d1 + r;
        s += (bary_in[e] * alpha) * blurred[k * m + point_of[e]];
    }
    if (pu(5u) == 1u) { s *= out_scale[p]; }
    sliced[t] = s;
}

@group(0) @binding(1) var<storage, read> image: array<f32>;
@group(0) @binding(2) var<storage, read_write> features: array<f32>;

// densecrf's pairwise features of pixel p = y·width + x: (x/σx, y/σy) and,
// for the bilateral kernel, (R/σr, G/σg, B/σb) from a [3, n] image in 0..255.
@compute @workgroup_size(64)
fn features_xy(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
    let p = logical_id(wid, nwg, lid, 64u);
    if (p >= pu(0u)) { return; }
    let w = pu(3u);
    let d = pu(1u);
    features[p * d] = f32(p % w) / pf(4u);
    features[p * d + 1u] = f32(p / w) / pf(5u);
}

@compute @workgroup_size(64)
fn features_rgb(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
    let p = logical_id(wid, nwg, lid, 64u);
    let n = pu(0u);
    if (p >= n) { return; }
    let w = pu(3u);
    features[p * 5u] = f32(p % w) / pf(4u);
    features[p * 5u + 1u] = f32(p / w) / pf(5u);
    for (var c = 0u; c < 3u; c++) {
        features[p * 5u + 2u + c] = image[c * n + p] / pf(6u + c);
    }
}
