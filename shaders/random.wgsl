// Seeded, reproducible random masks from a counter-based hash (PCG), so the
// same seed gives the same mask on every adapter and in the CPU reference.
//
// bernoulli params: 0 n, 1 group (elements sharing one draw: 1 for dropout,
//   H·W for dropout2d), 2 seed, 3 drop probability p (f32), 4 keep scale (f32).

@group(0) @binding(1) var<storage, read_write> mask: array<f32>;

fn pcg(v: u32) -> u32 {
    let s = v * 747796405u + 2891336453u;
    let w = ((s >> ((s >> 28u) + 4u)) ^ s) * 277803737u;
    return (w >> 22u) ^ w;
}

// Uniform draw in [0, 1) for counter i under a seed.
fn uniform01(seed: u32, i: u32) -> f32 {
    return f32(pcg(pcg(i) ^ seed) >> 8u) * (1.0 / 16777216.0);
}

@compute @workgroup_size(64)
fn bernoulli(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
    let i = logical_id(wid, nwg, lid, 64u);
    if (i >= pu(0u)) { return; }
    let u = uniform01(pu(2u), i / pu(1u));
    mask[i] = select(0.0, pf(4u), u >= pf(3u));
}
