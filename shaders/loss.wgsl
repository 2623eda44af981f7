// Pixel-wise softmax cross-entropy with an ignore index and optional class
// weights, as torch's cross_entropy: logits [N, C, S], targets u32 [N, S].
// The forward writes per-pixel weighted losses and weights; the launcher sums
// both and divides, so the mean is over the weights of non-ignored pixels.
//
// params: 0 pixels N·S (forward) or elements N·C·S (backward), 1 C, 2 S,
//   3 ignore index, 4 has class weights.

@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> labels: array<u32>;
@group(0) @binding(3) var<storage, read> cw: array<f32>;
@group(0) @binding(4) var<storage, read_write> loss: array<f32>;
@group(0) @binding(5) var<storage, read_write> wsum: array<f32>;
@group(0) @binding(6) var<storage, read> scale: array<f32>;

fn class_weight(t: u32) -> f32 { return select(1.0, cw[t], pu(4u) == 1u); }

@compute @workgroup_size(64)
fn ce_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
    let i = logical_id(wid, nwg, lid, 64u);
    if (i >= pu(0u)) { return; }
    let c = pu(1u);
    let s = pu(2u);
    let t = labels[i];
    if (t == pu(3u) || t >= c) { loss[i] = 0.0; wsum[i] = 0.0; return; }
    let b = (i / s) * c * s + i % s;
    var m = F32_LOWEST;
    for (var k = 0u; k < c; k++) { m = max(m, logits[b + k * s]); }
    var z = 0.0;
    for (var k = 0u; k < c; k++) { z += exp(logits[b + k * s] - m); }
    let wt = class_weight(t);
    loss[i] = wt * (m + log(z) - logits[b + t * s]);
    wsum[i] = wt;
}

// dlogits = scale[0] · w_t · (softmax − onehot(t)); scale[0] = dL / Σw.
@compute @workgroup_size(64)
fn ce_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
    let j = logical_id(wid, nwg, lid, 64u);
    if (j >= pu(0u)) { return; }
    let c = pu(1u);
    let s = pu(2u);
    let n = j / (c * s);
    let k = (j / s) % c;
    let p = j % s;
    let t = labels[n * s + p];
    if (t == pu(3u) || t >= c) { loss[j] = 0.0; return; }
    let b = n * c * s + p;
    var m = F32_LOWEST;
    for (var q = 0u; q < c; q++) { m = max(m, logits[b + q * s]); }
    var z = 0.0;
    for (var q = 0u; q < c; q++) { z += exp(logits[b + q * s] - m); }
    let sm = exp(logits[j] - m) / z;
    loss[j] = scale[0] * class_weight(t) * (sm - select(0.0, 1.0, k == t));
}
