// Shared by every kernel family: the engine prepends this file to each shader.
//
// Binding 0 of group 0 is always a 32-word uniform block of launch parameters
// (shapes, strides, scalars bit-cast to u32). Dispatches larger than the
// per-dimension limit are folded into 2-D/3-D grids, so kernels must derive
// their position from `logical_id`, never from `workgroup_id.x` alone.
//
// Browsers compile WGSL with Tint and, without a GPU, run it on SwiftShader;
// three rules keep every kernel valid and fast there too:
// - no NaN, infinity or out-of-range literal in a constant expression;
// - combine comparisons inside loops with `&` on parenthesised terms, not
//   the short-circuit `&&` (each `&&` is a branch, and SwiftShader's
//   compiler took minutes and gigabytes on conv's unrolled tiles);
// - no integer division or remainder inside loops (same compiler).

struct Params { v: array<vec4<u32>, 8> }

@group(0) @binding(0) var<uniform> P: Params;

// The lowest finite f32, written exactly: a decimal literal such as
// -3.4028235e38 lies just past the range and browsers' Tint rejects it.
const F32_LOWEST: f32 = -0x1.fffffep+127f;

fn pu(i: u32) -> u32 { return P.v[i / 4u][i % 4u]; }
fn pi(i: u32) -> i32 { return bitcast<i32>(P.v[i / 4u][i % 4u]); }
fn pf(i: u32) -> f32 { return bitcast<f32>(P.v[i / 4u][i % 4u]); }

// Flat invocation index across a folded grid of workgroups of `wg` invocations.
fn logical_id(wid: vec3<u32>, nwg: vec3<u32>, lid: u32, wg: u32) -> u32 {
    return (wid.x + wid.y * nwg.x + wid.z * nwg.x * nwg.y) * wg + lid;
}
