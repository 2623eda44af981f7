// Batch normalisation over NCHW, per channel. Statistics and gradient sums are
// computed per channel by one invocation walking N×H×W in two passes (mean,
// then centred variance), which keeps f32 error small.
//
// params: 0 C, 1 N, 2 HW, 3 eps (f32), 4 elements (apply passes).
// stats layout: [mean(C), inv_std(C)]; sums layout: [Σg (C), Σg·x̂ (C)].

@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> stats: array<f32>;
@group(0) @binding(3) var<storage, read> st: array<f32>;
@group(0) @binding(4) var<storage, read> gamma: array<f32>;
@group(0) @binding(5) var<storage, read> beta: array<f32>;
@group(0) @binding(6) var<storage, read> g: array<f32>;
@group(0) @binding(7) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(64)
fn bn_stats(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
    let c = logical_id(wid, nwg, lid, 64u);
    let cc = pu(0u);
    if (c >= cc) { return; }
    let n = pu(1u);
    let hw = pu(2u);
    var s = 0.0;
    for (var i = 0u; i < n; i++) {
        let b = (i * cc + c) * hw;
        for (var k = 0u; k < hw; k++) { s += x[b + k]; }
    }
    let m = s / f32(n * hw);
    var v = 0.0;
    for (var i = 0u; i < n; i++) {
        let b = (i * cc + c) * hw;
        for (var k = 0u; k < hw; k++) { let d = x[b + k] - m; v += d * d; }
    }
    stats[c] = m;
    stats[cc + c] = inverseSqrt(v / f32(n * hw) + pf(3u));
}

// y = (x - mean) * inv_std * gamma + beta.
@compute @workgroup_size(64)
fn bn_apply(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
    let i = logical_id(wid, nwg, lid, 64u);
    if (i >= pu(4u)) { return; }
    let cc = pu(0u);
    let c = (i / pu(2u)) % cc;
    y[i] = (x[i] - st[c]) * st[cc + c] * gamma[c] + beta[c];
}

@group(0) @binding(8) var<storage, read> x4: array<vec4<f32>>;
@group(0) @binding(9) var<storage, read_write> y4: array<vec4<f32>>;

// bn_apply four elements at a time where H·W is a multiple of 4: each vec4
// lies in one channel, so a quarter of the index divisions (which CPU
// adapters make lane by lane) and of the loads.
@compute @workgroup_size(64)
fn bn_apply4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
    let i = logical_id(wid, nwg, lid, 64u);
    if (i >= pu(4u) / 4u) { return; }
    let cc = pu(0u);
    let c = (i / (pu(2u) / 4u)) % cc;
    y4[i] = (x4[i] - st[c]) * st[cc + c] * gamma[c] + beta[c];
}

// Per channel Σg and Σg·x̂ (the gradients of beta and gamma).
@compute @workgroup_size(64)
fn bn_grad_sums(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
    let c = logical_id(wid, nwg, lid, 64u);
    let cc = pu(0u);
    if (c >= cc) { return; }
    let n = pu(1u);
    let hw = pu(2u);
    let m = st[c];
    let r = st[cc + c];
    var sg = 0.0;
    var sgx = 0.0;
    for (var i = 0u; i < n; i++) {
        let b = (i * cc + c) * hw;
        for (var k = 0u; k < hw; k++) {
            let gv = g[b + k];
            sg += gv;
            sgx += gv * (x[b + k] - m) * r;
        }
    }
    stats[c] = sg;
    stats[cc + c] = sgx;
}

// dx for batch statistics: gamma·inv_std·(g − Σg/M − x̂·Σg·x̂/M); the sums come in `beta`.
@compute @workgroup_size(64)
fn bn_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
    let i = logical_id(wid, nwg, lid, 64u);
    if (i >= pu(4u)) { return; }
    let cc = pu(0u);
    let c = (i / pu(2u)) % cc;
    let mm = f32(pu(1u) * pu(2u));
    let xh = (x[i] - st[c]) * st[cc + c];
    y[i] = gamma[c] * st[cc + c] * (g[i] - beta[c] / mm - xh * beta[cc + c] / mm);
}
