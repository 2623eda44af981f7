// Reductions over one axis of a tensor viewed as [outer, L, inner]. One
// invocation owns one output and walks the axis; the launcher reduces axes
// longer than a chunk in chunks first (reduce_partial), so no invocation
// walks far (CPU adapters also stop any loop after 65 536 trips).
//
// params: 0 outputs (outer*inner), 1 L, 2 inner, 3 f32: the mean's factor
// (reduce) or the inverse temperature (softmax).
// reduce_partial params: 0 outputs (outer*chunks*inner), 1 L, 2 inner,
// 4 chunk length, 5 chunks.
// reduce OP: 0 sum, 1 mean, 2 max, 3 min, 4 logsumexp.
// arg_reduce OP: 0 argmax, 1 argmin (first index wins ties); longer axes
// run arg_reduce_partial (params as reduce_partial: each chunk's best value
// and its index along the whole axis), then arg_reduce_chunks over the
// chunks (params as arg_reduce), which carries the chunks' indices.
// softmax OP: 0 softmax, 1 log_softmax; softmax_backward likewise.

override OP: u32 = 0u;

@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<storage, read_write> idx: array<u32>;

fn row_base(r: u32) -> vec2<u32> {
    let inner = pu(2u);
    let o = r / inner;
    let i = r % inner;
    return vec2<u32>(o * pu(1u) * inner + i, inner);
}

@compute @workgroup_size(64)
fn reduce(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let r = logical_id(wid, nwg, lid, 64u);
    if (r >= pu(0u)) { return; }
    let bs = row_base(r);
    let l = pu(1u);
    if (OP == 4u) { // LogSumExp
        var m = F32_LOWEST;
        for (var k = 0u; k < l; k++) { m = max(m, x[bs.x + k * bs.y]); }
        var s = 0.0;
        for (var k = 0u; k < l; k++) { s += exp(x[bs.x + k * bs.y] - m); }
        out[r] = m + log(s);
        return;
    }
    var acc = x[bs.x];
    for (var k = 1u; k < l; k++) {
        let v = x[bs.x + k * bs.y];
        switch OP {
            case 2u: { acc = max(acc, v); } // Max
            case 3u: { acc = min(acc, v); } // Min
            default: { acc += v; }
        }
    }
    if (OP == 1u) { acc = acc * pf(3u); } // Mean
    out[r] = acc;
}

// Partial output r's chunk: (the row's base index, its first and one-past-
// last position on the axis, the row stride), from the reduce_partial
// params.
fn chunk_of(r: u32) -> vec4<u32> {
    let l = pu(1u);
    let inner = pu(2u);
    let len = pu(4u);
    let chunks = pu(5u);
    let i = r % inner;
    let j = (r / inner) % chunks;
    let o = r / (inner * chunks);
    return vec4<u32>(o * l * inner + i, j * len, min(l, j * len + len), inner);
}

// out[o, j, i] = reduce over the j-th chunk of x[o, ·, i] (OP 0 sum,
// 2 max, 3 min, 4 logsumexp; a mean reduces by sum, then over the chunks).
@compute @workgroup_size(64)
fn reduce_partial(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) lid: u32) {
    let r = logical_id(wid, nwg, lid, 64u);
    if (r >= pu(0u)) { return; }
    let c = chunk_of(r);
    let base = c.x;
    let k0 = c.y;
    let k1 = c.z;
    let inner = c.w;
    if (OP == 4u) { // LogSumExp
        var m = F32_LOWEST;
        for (var k = k0; k < k1; k++) { m = max(m, x[base + k * inner]); }
        var s = 0.0;
        for (var k = k0; k < k1; k++) { s += exp(x[base + k * inner] - m); }
        out[r] = m + log(s);
        return;
    }
    var acc = x[base + k0 * inner];
    for (var k = k0 + 1u; k < k1; k++) {
        let v = x[base + k * inner];
        switch OP {
            case 2u: { acc = max(acc, v); } // Max
            case 3u: { acc = min(acc, v); } // Min
            default: { acc += v; }
        }
    }
    out[r] = acc;
}

@compute @workgroup_size(64)
fn arg_reduce(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
    let r = logical_id(wid, nwg, lid, 64u);
    if (r >= pu(0u)) { return; }
    let bs = row_base(r);
    var best = x[bs.x];
    var bi = 0u;
    for (var k = 1u; k < pu(1u); k++) {
        let v = x[bs.x + k * bs.y];
        if ((OP == 0u && v > best) || (OP == 1u && v < best)) { best = v; bi = k; }
    }
    out[r] = best;
    idx[r] = bi;
}

fn better(v: f32, best: f32) -> bool {
    return select((v < best), (v > best), OP == 0u);
}

@compute @workgroup_size(64)
fn arg_reduce_partial(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                      @builtin(local_invocation_index) lid: u32) {
    let r = logical_id(wid, nwg, lid, 64u);
    if (r >= pu(0u)) { return; }
    let c = chunk_of(r);
    let base = c.x;
    let k0 = c.y;
    let k1 = c.z;
    let inner = c.w;
    var best = x[base + k0 * inner];
    var bi = k0;
    for (var k = k0 + 1u; k < k1; k++) {
        let v = x[base + k * inner];
        if (better(v, best)) { best = v; bi = k; }
    }
    out[r] = best;
    idx[r] = bi;
}

@group(0) @binding(5) var<storage, read> chunk_idx: array<u32>;

@compute @workgroup_size(64)
fn arg_reduce_chunks(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                     @builtin(local_invocation_index) lid: u32) {
    let r = logical_id(wid, nwg, lid, 64u);
    if (r >= pu(0u)) { return; }
    let bs = row_base(r);
    var best = x[bs.x];
    var bi = chunk_idx[bs.x];
    for (var k = 1u; k < pu(1u); k++) {
        let v = x[bs.x + k * bs.y];
        if (better(v, best)) { best = v; bi = chunk_idx[bs.x + k * bs.y]; }
    }
    out[r] = best;
    idx[r] = bi;
}

@compute @workgroup_size(64)
fn softmax(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
    let r = logical_id(wid, nwg, lid, 64u);
    if (r >= pu(0u)) { return; }
    let bs = row_base(r);
    let l = pu(1u);
    let t = pf(3u);
    var m = F32_LOWEST;
    for (var k = 0u; k < l; k++) { m = max(m, t * x[bs.x + k * bs.y]); }
    var s = 0.0;
    for (var k = 0u; k < l; k++) { s += exp(t * x[bs.x + k * bs.y] - m); }
    let ls = log(s);
    for (var k = 0u; k < l; k++) {
        let z = t * x[bs.x + k * bs.y] - m;
        out[bs.x + k * bs.y] = select(exp(z) / s, z - ls, OP == 1u);
    }
}

@group(0) @binding(4) var<storage, read> y: array<f32>;

// x holds the incoming gradient, y the forward output.
@compute @workgroup_size(64)
fn softmax_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                    @builtin(local_invocation_index) lid: u32) {
    let r = logical_id(wid, nwg, lid, 64u);
    if (r >= pu(0u)) { return; }
    let bs = row_base(r);
    let l = pu(1u);
    let t = pf(3u);
    var s = 0.0;
    for (var k = 0u; k < l; k++) {
        let j = bs.x + k * bs.y;
        s += select(x[j] * y[j], x[j], OP == 1u);
    }
    for (var k = 0u; k < l; k++) {
        let j = bs.x + k * bs.y;
        out[j] = t * select(y[j] * (x[j] - s), x[j] - exp(y[j]) * s, OP == 1u);
    }
}

@group(0) @binding(5) var<storage, read> arg: array<u32>;

// Gradient of max/min over an axis: route g[o, i] to the arg position.
@compute @workgroup_size(64)
fn arg_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
    let j = logical_id(wid, nwg, lid, 64u);
    let inner = pu(2u);
    let l = pu(1u);
    if (j >= pu(0u) * l) { return; }
    let i = j % inner;
    let k = (j / inner) % l;
    let o = j / (inner * l);
    let r = o * inner + i;
    out[j] = select(0.0, x[r], arg[r] == k);
}
