// Elementwise kernels: unary maps, broadcasting binary maps, select, fill and
// in-place accumulation. The operation is an override constant `OP`, so each
// (entry point, OP) pair is one cached pipeline and no text is generated.
//
// unary  params: 0 n, 1 alpha (f32), 2 beta (f32)
// binary params: 0 n, 1 rank, 2..8 out shape, 8..14 a strides, 14..20 b strides,
//                20 alpha (f32); strides are 0 along broadcast axes
// select params: same as binary, with c (the condition) strides at 20..26

override OP: u32 = 0u;

@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

fn unary_op(x: f32, al: f32, be: f32) -> f32 {
    switch OP {
        case 0u: { return x; } // Copy
        case 1u: { return -x; } // Neg
        case 2u: { return abs(x); } // Abs
        case 3u: { return exp(x); } // Exp
        case 4u: { return log(x); } // Log
        case 5u: { return sqrt(x); } // Sqrt
        case 6u: { return pow_signed(x, al); } // Pow
        case 7u: { return max(x, 0.0); } // Relu
        case 8u: { return select(al * (exp(x) - 1.0), x, x > 0.0); } // Elu
        case 9u: { return select(al * x, x, x > 0.0); } // LeakyRelu
        case 10u: { return sigmoid(x); } // Sigmoid
        case 11u: { return tanh(x); } // Tanh
        case 12u: { return clamp(x, al, be); } // Clamp
        case 13u: { return x * al + be; } // Affine
        case 14u: { return sign(x); } // Sign
        case 15u: { return 1.0 / x; } // Recip
        case 16u: { return x * x; } // Square
        case 17u: { return select(0.0, 1.0, x > al); } // GtScalar
        case 18u: { return select(0.0, 1.0, x < al); } // LtScalar
        case 19u: { return select(0.0, 1.0, x == al); } // EqScalar
        default: { return x; }
    }
}

// A quiet NaN's bits, read at run time: WGSL forbids NaN in constant
// expressions (browsers' Tint rejects `bitcast<f32>(0x7fc00000u)`).
var<private> QUIET_NAN: u32 = 0x7fc00000u;

// pow with a scalar exponent, defined for negative bases when the exponent is an integer.
fn pow_signed(x: f32, e: f32) -> f32 {
    if (x >= 0.0) { return pow(x, e); }
    let r = pow(-x, e);
    if (fract(e) != 0.0) { return bitcast<f32>(QUIET_NAN); }
    if (fract(e * 0.5) != 0.0) { return -r; }
    return r;
}

fn sigmoid(x: f32) -> f32 {
    if (x >= 0.0) { return 1.0 / (1.0 + exp(-x)); }
    let e = exp(x);
    return e / (1.0 + e);
}

@compute @workgroup_size(64)
fn unary(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_index) lid: u32) {
    let i = logical_id(wid, nwg, lid, 64u);
    if (i >= pu(0u)) { return; }
    out[i] = unary_op(a[i], pf(1u), pf(2u));
}

@group(0) @binding(3) var<storage, read> b: array<f32>;

fn binary_op(x: f32, y: f32, al: f32) -> f32 {
    switch OP {
        case 0u: { return x + y; } // Add
        case 1u: { return x - y; } // Sub
        case 2u: { return x * y; } // Mul
        case 3u: { return x / y; } // Div
        case 4u: { return max(x, y); } // Max
        case 5u: { return min(x, y); } // Min
        case 6u: { return select(0.0, 1.0, x == y); } // Eq
        case 7u: { return select(0.0, 1.0, x != y); } // Ne
        case 8u: { return select(0.0, 1.0, x < y); } // Lt
        case 9u: { return select(0.0, 1.0, x <= y); } // Le
        case 10u: { return select(0.0, 1.0, x > y); } // Gt
        case 11u: { return select(0.0, 1.0, x >= y); } // Ge
        // Gradient helpers: x is the incoming gradient, y the saved input or output.
        case 12u: { return select(0.0, x, y > 0.0); } // ReluGrad
        case 13u: { return select(al * x, x, y > 0.0); } // LeakyReluGrad
        case 14u: { return select(al * exp(y) * x, x, y > 0.0); } // EluGrad
        case 15u: { return x * y * (1.0 - y); } // SigmoidGrad
        case 16u: { return x * (1.0 - y * y); } // TanhGrad
        case 17u: { return x * sign(y); } // AbsGrad
        // Binary cross-entropy with logits (x logits, y targets) and its gradient.
        case 18u: { return max(x, 0.0) - x * y + log(1.0 + exp(-abs(x))); } // BceWithLogits
        case 19u: { return sigmoid(x) - y; } // BceWithLogitsGrad
        default: { return x; }
    }
}

// Offsets of flat output index i into a and b (and c) under broadcasting strides.
fn bcast_offsets(i: u32, rank: u32, with_c: bool) -> vec3<u32> {
    var rem = i;
    var oa = 0u;
    var ob = 0u;
    var oc = 0u;
    // Innermost axis first; the outermost takes what is left, undivided (the
    // launcher merges axes, so a same-shape map divides not at all).
    for (var d = 0u; d + 1u < rank; d++) {
        let ax = rank - 1u - d;
        let dim = pu(2u + ax);
        let idx = rem % dim;
        rem = rem / dim;
        oa += idx * pu(8u + ax);
        ob += idx * pu(14u + ax);
        if (with_c) { oc += idx * pu(20u + ax); }
    }
    oa += rem * pu(8u);
    ob += rem * pu(14u);
    if (with_c) { oc += rem * pu(20u); }
    return vec3<u32>(oa, ob, oc);
}

@compute @workgroup_size(64)
fn binary(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let i = logical_id(wid, nwg, lid, 64u);
    if (i >= pu(0u)) { return; }
    let o = bcast_offsets(i, pu(1u), false);
    out[i] = binary_op(a[o.x], b[o.y], pf(20u));
}

@group(0) @binding(4) var<storage, read> c: array<f32>;

// out = c != 0 ? a : b, broadcasting all three.
@compute @workgroup_size(64)
fn select_where(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
    let i = logical_id(wid, nwg, lid, 64u);
    if (i >= pu(0u)) { return; }
    let o = bcast_offsets(i, pu(1u), true);
    out[i] = select(b[o.y], a[o.x], c[o.z] != 0.0);
}

@group(0) @binding(5) var<storage, read_write> acc: array<f32>;
@group(0) @binding(6) var<storage, read> src: array<f32>;

// acc[i] = alpha * acc[i] + beta * src[i]: in-place gradient accumulation.
@compute @workgroup_size(64)
fn axpby_inplace(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) lid: u32) {
    let i = logical_id(wid, nwg, lid, 64u);
    if (i >= pu(0u)) { return; }
    acc[i] = pf(1u) * acc[i] + pf(2u) * src[i];
}
