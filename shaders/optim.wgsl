// Optimiser steps over a flat parameter arena: one dispatch updates every
// tensor of a parameter group, with optimiser state living on the device.
//
// sgd params: 0 n, 1 lr, 2 momentum, 3 dampening, 4 weight decay, 5 nesterov,
//   6 1 on the first step (the momentum buffer starts as the gradient).
// adamw params: 0 n, 1 lr, 2 beta1, 3 beta2, 4 eps, 5 weight decay,
//   6 1 − beta1^t, 7 1 − beta2^t.
// ema params: 0 n, 1 momentum (the mean teacher's p ← m·p + (1 − m)·g, with
//   g bound to the student's parameters).

@group(0) @binding(1) var<storage, read_write> p: array<f32>;
@group(0) @binding(2) var<storage, read> g: array<f32>;
@group(0) @binding(3) var<storage, read_write> m: array<f32>;
@group(0) @binding(4) var<storage, read_write> v: array<f32>;

@compute @workgroup_size(64)
fn sgd(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
       @builtin(local_invocation_index) lid: u32) {
    let i = logical_id(wid, nwg, lid, 64u);
    if (i >= pu(0u)) { return; }
    let mu = pf(2u);
    var d = g[i] + pf(4u) * p[i];
    if (mu != 0.0) {
        let buf = select(mu * m[i] + (1.0 - pf(3u)) * d, d, pu(6u) == 1u);
        m[i] = buf;
        d = select(buf, d + mu * buf, pu(5u) == 1u);
    }
    p[i] = p[i] - pf(1u) * d;
}

@compute @workgroup_size(64)
fn adamw(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_index) lid: u32) {
    let i = logical_id(wid, nwg, lid, 64u);
    if (i >= pu(0u)) { return; }
    let lr = pf(1u);
    let b1 = pf(2u);
    let b2 = pf(3u);
    let gi = g[i];
    let pn = p[i] * (1.0 - lr * pf(5u));
    let mi = b1 * m[i] + (1.0 - b1) * gi;
    let vi = b2 * v[i] + (1.0 - b2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] = pn - lr * (mi / pf(6u)) / (sqrt(vi / pf(7u)) + pf(4u));
}

// Exponential moving average of parameters (mean teacher, CoSA's assignment
// network): p ← m·p + (1 − m)·g, g being the online network's values.
@compute @workgroup_size(64)
fn ema(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
       @builtin(local_invocation_index) lid: u32) {
    let i = logical_id(wid, nwg, lid, 64u);
    if (i >= pu(0u)) { return; }
    let mu = pf(1u);
    p[i] = mu * p[i] + (1.0 - mu) * g[i];
}
