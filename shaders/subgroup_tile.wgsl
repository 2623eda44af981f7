// Shared by the subgroup kernel families (matmul_subgroup.wgsl,
// conv_subgroup.wgsl), which the engine runs only on adapters with subgroups
// of exactly 8 lanes: a 16-row × 8-column register tile per lane, rows shared
// across the subgroup, and its multiply-add step.
//
// Lane l holds rows 0..16 of its own 8 columns, columns 0..4 in `xRRa` and
// 4..8 in `xRRb`. Each step of the reduction takes the row operand of rows l
// (`lo`) and 8 + l (`hi`) from every lane and broadcasts each to all lanes, so
// a lane loads 2 row values instead of 16. Private variables, not an array:
// the compiler keeps them in registers, with no indexing into memory.

var<private> x00a: vec4<f32>;
var<private> x00b: vec4<f32>;
var<private> x01a: vec4<f32>;
var<private> x01b: vec4<f32>;
var<private> x02a: vec4<f32>;
var<private> x02b: vec4<f32>;
var<private> x03a: vec4<f32>;
var<private> x03b: vec4<f32>;
var<private> x04a: vec4<f32>;
var<private> x04b: vec4<f32>;
var<private> x05a: vec4<f32>;
var<private> x05b: vec4<f32>;
var<private> x06a: vec4<f32>;
var<private> x06b: vec4<f32>;
var<private> x07a: vec4<f32>;
var<private> x07b: vec4<f32>;
var<private> x08a: vec4<f32>;
var<private> x08b: vec4<f32>;
var<private> x09a: vec4<f32>;
var<private> x09b: vec4<f32>;
var<private> x10a: vec4<f32>;
var<private> x10b: vec4<f32>;
var<private> x11a: vec4<f32>;
var<private> x11b: vec4<f32>;
var<private> x12a: vec4<f32>;
var<private> x12b: vec4<f32>;
var<private> x13a: vec4<f32>;
var<private> x13b: vec4<f32>;
var<private> x14a: vec4<f32>;
var<private> x14b: vec4<f32>;
var<private> x15a: vec4<f32>;
var<private> x15b: vec4<f32>;

fn tile_zero() {
    x00a = vec4<f32>(0.0); x00b = vec4<f32>(0.0);
    x01a = vec4<f32>(0.0); x01b = vec4<f32>(0.0);
    x02a = vec4<f32>(0.0); x02b = vec4<f32>(0.0);
    x03a = vec4<f32>(0.0); x03b = vec4<f32>(0.0);
    x04a = vec4<f32>(0.0); x04b = vec4<f32>(0.0);
    x05a = vec4<f32>(0.0); x05b = vec4<f32>(0.0);
    x06a = vec4<f32>(0.0); x06b = vec4<f32>(0.0);
    x07a = vec4<f32>(0.0); x07b = vec4<f32>(0.0);
    x08a = vec4<f32>(0.0); x08b = vec4<f32>(0.0);
    x09a = vec4<f32>(0.0); x09b = vec4<f32>(0.0);
    x10a = vec4<f32>(0.0); x10b = vec4<f32>(0.0);
    x11a = vec4<f32>(0.0); x11b = vec4<f32>(0.0);
    x12a = vec4<f32>(0.0); x12b = vec4<f32>(0.0);
    x13a = vec4<f32>(0.0); x13b = vec4<f32>(0.0);
    x14a = vec4<f32>(0.0); x14b = vec4<f32>(0.0);
    x15a = vec4<f32>(0.0); x15b = vec4<f32>(0.0);
}

// One step of the reduction: the row values `lo` (row l) and `hi` (row
// 8 + l) of every lane, and this lane's two groups of four column values.
fn k_step(lo: f32, hi: f32, b0: vec4<f32>, b1: vec4<f32>) {
    let s00 = vec4<f32>(subgroupBroadcast(lo, 0u)); x00a = fma(s00, b0, x00a); x00b = fma(s00, b1, x00b);
    let s01 = vec4<f32>(subgroupBroadcast(lo, 1u)); x01a = fma(s01, b0, x01a); x01b = fma(s01, b1, x01b);
    let s02 = vec4<f32>(subgroupBroadcast(lo, 2u)); x02a = fma(s02, b0, x02a); x02b = fma(s02, b1, x02b);
    let s03 = vec4<f32>(subgroupBroadcast(lo, 3u)); x03a = fma(s03, b0, x03a); x03b = fma(s03, b1, x03b);
    let s04 = vec4<f32>(subgroupBroadcast(lo, 4u)); x04a = fma(s04, b0, x04a); x04b = fma(s04, b1, x04b);
    let s05 = vec4<f32>(subgroupBroadcast(lo, 5u)); x05a = fma(s05, b0, x05a); x05b = fma(s05, b1, x05b);
    let s06 = vec4<f32>(subgroupBroadcast(lo, 6u)); x06a = fma(s06, b0, x06a); x06b = fma(s06, b1, x06b);
    let s07 = vec4<f32>(subgroupBroadcast(lo, 7u)); x07a = fma(s07, b0, x07a); x07b = fma(s07, b1, x07b);
    let s08 = vec4<f32>(subgroupBroadcast(hi, 0u)); x08a = fma(s08, b0, x08a); x08b = fma(s08, b1, x08b);
    let s09 = vec4<f32>(subgroupBroadcast(hi, 1u)); x09a = fma(s09, b0, x09a); x09b = fma(s09, b1, x09b);
    let s10 = vec4<f32>(subgroupBroadcast(hi, 2u)); x10a = fma(s10, b0, x10a); x10b = fma(s10, b1, x10b);
    let s11 = vec4<f32>(subgroupBroadcast(hi, 3u)); x11a = fma(s11, b0, x11a); x11b = fma(s11, b1, x11b);
    let s12 = vec4<f32>(subgroupBroadcast(hi, 4u)); x12a = fma(s12, b0, x12a); x12b = fma(s12, b1, x12b);
    let s13 = vec4<f32>(subgroupBroadcast(hi, 5u)); x13a = fma(s13, b0, x13a); x13b = fma(s13, b1, x13b);
    let s14 = vec4<f32>(subgroupBroadcast(hi, 6u)); x14a = fma(s14, b0, x14a); x14b = fma(s14, b1, x14b);
    let s15 = vec4<f32>(subgroupBroadcast(hi, 7u)); x15a = fma(s15, b0, x15a); x15b = fma(s15, b1, x15b);
}
