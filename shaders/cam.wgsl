// Class activation maps (Zhou et al. 2016) as WSSS computes them: the
// classifier's weights applied to the feature map (a class-weighted sum over
// channels), ReLU, absent classes zeroed; and the per-class normalisation
// by the spatial maximum (psa, IRN).
//
// cam params: 0 total (n·K·hw), 1 K classes, 2 C channels, 3 hw.
// normalise params: 0 total, 1 hw, 2 ε (f32).

@group(0) @binding(1) var<storage, read> feat: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;
@group(0) @binding(3) var<storage, read> present: array<f32>;
@group(0) @binding(4) var<storage, read_write> cams: array<f32>;

// cams[b, k, p] = present[k] · max(0, Σ_c weight[k, c] · feat[b, c, p]).
@compute @workgroup_size(64)
fn cam(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
       @builtin(local_invocation_index) lid: u32) {
    let t = logical_id(wid, nwg, lid, 64u);
    if (t >= pu(0u)) { return; }
    let k_count = pu(1u);
    let c_count = pu(2u);
    let hw = pu(3u);
    let p = t % hw;
    let k = (t / hw) % k_count;
    let b = t / (hw * k_count);
    if (present[k] == 0.0) {
        cams[t] = 0.0;
        return;
    }
    var s = 0.0;
    for (var c = 0u; c < c_count; c++) {
        s += weight[k * c_count + c] * feat[(b * c_count + c) * hw + p];
    }
    cams[t] = max(s, 0.0);
}

@group(0) @binding(1) var<storage, read> raw: array<f32>;
@group(0) @binding(2) var<storage, read> peaks: array<f32>;
@group(0) @binding(3) var<storage, read_write> normed: array<f32>;

// normed[m, p] = raw[m, p] / (peaks[m] + ε), m indexing (image, class) maps.
@compute @workgroup_size(64)
fn normalise(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
    let t = logical_id(wid, nwg, lid, 64u);
    if (t >= pu(0u)) { return; }
    normed[t] = raw[t] / (peaks[t / pu(1u)] + pf(2u));
}
