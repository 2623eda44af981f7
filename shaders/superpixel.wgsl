// SLIC superpixels (Achanta et al., TPAMI 2012): an over-segmentation by
// k-means on (colour, position) where each pixel only meets the centres of
// the 3×3 grid cells around its own, so every pass is local. SPML's
// low-level image-similarity relation needs such regions.
//
// image [B, C, H, W]; centres [B, gh·gw, C + 2] (colour…, y, x), centre c
// belonging to grid cell (c / gw, c % gw); labels [B, H, W] (u32), each
// pixel's centre index within its image.
// A pixel (y, x) lies in cell (y·gh / H, x·gw / W). The distance is
// |colour − centre colour|² + spatial · ((y − cy)² + (x − cx)²), spatial
// being (m / S)² for compactness m and grid step S.
//
// Params: 0 batch, 1 channels C, 2 height H, 3 width W, 4 grid rows gh,
//   5 grid columns gw, 6 spatial weight (f32).

@group(0) @binding(1) var<storage, read> image: array<f32>;
@group(0) @binding(2) var<storage, read_write> centres: array<f32>;
@group(0) @binding(3) var<storage, read_write> labels: array<u32>;

// One invocation per centre: the middle of its grid cell and the colour of
// the pixel there.
@compute @workgroup_size(64)
fn slic_init(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
    let t = logical_id(wid, nwg, lid, 64u);
    let ch = pu(1u);
    let h = pu(2u);
    let w = pu(3u);
    let gh = pu(4u);
    let gw = pu(5u);
    let cells = gh * gw;
    if (t >= pu(0u) * cells) { return; }
    let b = t / cells;
    let c = t - b * cells;
    let gy = c / gw;
    let gx = c - gy * gw;
    let cy = (f32(gy) + 0.5) * f32(h) / f32(gh) - 0.5;
    let cx = (f32(gx) + 0.5) * f32(w) / f32(gw) - 0.5;
    let py = min(u32(max(round(cy), 0.0)), h - 1u);
    let px = min(u32(max(round(cx), 0.0)), w - 1u);
    let stride = ch + 2u;
    for (var k = 0u; k < ch; k++) {
        centres[t * stride + k] = image[((b * ch + k) * h + py) * w + px];
    }
    centres[t * stride + ch] = cy;
    centres[t * stride + ch + 1u] = cx;
}

// One invocation per pixel: the nearest of the centres of the 3×3 cells
// around its own (first in row-major cell order on ties).
@compute @workgroup_size(64)
fn slic_assign(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
    let i = logical_id(wid, nwg, lid, 64u);
    let ch = pu(1u);
    let h = pu(2u);
    let w = pu(3u);
    let gh = pu(4u);
    let gw = pu(5u);
    let spatial = pf(6u);
    if (i >= pu(0u) * h * w) { return; }
    let x = i % w;
    let y = (i / w) % h;
    let b = i / (w * h);
    let gy = y * gh / h;
    let gx = x * gw / w;
    let y0 = select(gy - 1u, 0u, gy == 0u);
    let x0 = select(gx - 1u, 0u, gx == 0u);
    let y1 = min(gy + 1u, gh - 1u);
    let x1 = min(gx + 1u, gw - 1u);
    let stride = ch + 2u;
    let plane = h * w;
    let pix = b * ch * plane + y * w + x;
    var best = y0 * gw + x0;
    var best_d = 0.0;
    var first = true;
    for (var cy = y0; cy <= y1; cy++) {
        for (var cx = x0; cx <= x1; cx++) {
            let c = cy * gw + cx;
            let base = (b * gh * gw + c) * stride;
            var d = 0.0;
            for (var k = 0u; k < ch; k++) {
                let diff = image[pix + k * plane] - centres[base + k];
                d += diff * diff;
            }
            let dy = f32(y) - centres[base + ch];
            let dx = f32(x) - centres[base + ch + 1u];
            d += spatial * (dy * dy + dx * dx);
            let better = first | (d < best_d);
            best = select(best, c, better);
            best_d = select(best_d, d, better);
            first = false;
        }
    }
    labels[i] = best;
}

// One invocation per centre: the mean colour and position of its pixels,
// which all lie in the 3×3 cells around its own (unchanged with none).
@compute @workgroup_size(64)
fn slic_update(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
    let t = logical_id(wid, nwg, lid, 64u);
    let ch = pu(1u);
    let h = pu(2u);
    let w = pu(3u);
    let gh = pu(4u);
    let gw = pu(5u);
    let cells = gh * gw;
    if (t >= pu(0u) * cells) { return; }
    let b = t / cells;
    let c = t - b * cells;
    let gy = c / gw;
    let gx = c - gy * gw;
    let ylo = select((gy - 1u) * h / gh, 0u, gy == 0u);
    let xlo = select((gx - 1u) * w / gw, 0u, gx == 0u);
    let yhi = min(((gy + 2u) * h + gh - 1u) / gh, h);
    let xhi = min(((gx + 2u) * w + gw - 1u) / gw, w);
    let stride = ch + 2u;
    let plane = h * w;
    var cnt = 0u;
    var sy = 0.0;
    var sx = 0.0;
    for (var y = ylo; y < yhi; y++) {
        for (var x = xlo; x < xhi; x++) {
            let mine = labels[b * plane + y * w + x] == c;
            cnt += select(0u, 1u, mine);
            sy += select(0.0, f32(y), mine);
            sx += select(0.0, f32(x), mine);
        }
    }
    if (cnt == 0u) { return; }
    let inv = 1.0 / f32(cnt);
    for (var k = 0u; k < ch; k++) {
        var s = 0.0;
        let base = (b * ch + k) * plane;
        for (var y = ylo; y < yhi; y++) {
            for (var x = xlo; x < xhi; x++) {
                s += select(0.0, image[base + y * w + x], labels[b * plane + y * w + x] == c);
            }
        }
        centres[t * stride + k] = s * inv;
    }
    centres[t * stride + ch] = sy * inv;
    centres[t * stride + ch + 1u] = sx * inv;
}
