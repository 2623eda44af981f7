// Click maps of interactive segmentation: each image's clicks drawn as
// per-channel guidance maps for the network's input (Xu et al. CVPR16's
// truncated distance maps; DEXTR's Gaussian maps).
//
// clicks [B, m, 3]: (y, x, channel) per click as f32; a negative channel
// marks an unused slot.
// maps [B, C, H, W].
// params: 0 batch, 1 channels C, 2 height, 3 width, 4 slots per image m,
//   5 mode (0: distance to the channel's nearest click over the truncation,
//   clamped to 1, and 1 with no click; 1: the largest exp(−d²/2σ²) over the
//   channel's clicks, 0 with none), 6 truncation or σ (f32, pixels).

@group(0) @binding(1) var<storage, read> clicks: array<f32>;
@group(0) @binding(2) var<storage, read_write> maps: array<f32>;

@compute @workgroup_size(64)
fn click_maps(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
    let i = logical_id(wid, nwg, lid, 64u);
    let c = pu(1u);
    let h = pu(2u);
    let w = pu(3u);
    if (i >= pu(0u) * c * h * w) { return; }
    let x = f32(i % w);
    let y = f32((i / w) % h);
    let ch = f32((i / (w * h)) % c);
    let img = i / (w * h * c);
    let m = pu(4u);
    let gaussian = pu(5u) == 1u;
    let s = pf(6u);
    // Distance: the least squared distance, starting at the truncation².
    // Gaussian: the largest response, starting at 0.
    var best = select(s * s, 0.0, gaussian);
    for (var k = 0u; k < m; k = k + 1u) {
        let base = (img * m + k) * 3u;
        let dy = y - clicks[base];
        let dx = x - clicks[base + 1u];
        let d2 = dy * dy + dx * dx;
        let hit = clicks[base + 2u] == ch;
        let g = exp(-d2 / (2.0 * s * s));
        best = select(best, select(min(best, d2), max(best, g), gaussian), hit);
    }
    maps[i] = select(sqrt(best) / s, best, gaussian);
}
