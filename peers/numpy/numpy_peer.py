#!/usr/bin/env python3
"""What a CPU-only user would reach for: NumPy (OpenBLAS) against weakseg.

One run measures both sides. It runs `weakseg bench --suite kernels --json
--reference DIR`, which times weakseg's kernels on its adapter and writes the
inputs and results of matmul_512 and conv3x3_n8_c32_64 (forward output,
input and weight gradients for a given output gradient). NumPy then computes
the same cases from those inputs (the convolution as im2col + GEMM, its
backward as GEMMs + col2im), checks that its results agree (max |difference|
over max |value| <= 1e-3, else it stops), and only then times itself: one
cold run and the median of --reps warm runs.

    pip install numpy
    cargo build --release
    python3 peers/numpy/numpy_peer.py [--weakseg target/release/weakseg] [--reps 5] [--json OUT]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

CONV = "conv3x3_n8_c32_64"


def median_time(fn, reps):
    fn()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return sorted(times)[len(times) // 2]


def rel_diff(got, want):
    return float(np.abs(got - want).max() / max(np.abs(want).max(), 1e-30))


def im2col(x, k, pad):
    """[N, C, H, W] -> [N*H*W, C*k*k] for a stride-1 'same' convolution."""
    n, c, h, w = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    win = np.lib.stride_tricks.sliding_window_view(xp, (k, k), axis=(2, 3))
    return win.transpose(0, 2, 3, 1, 4, 5).reshape(n * h * w, c * k * k)


def col2im(cols, shape, k, pad):
    """The adjoint of im2col: sums each column back onto its input pixel."""
    n, c, h, w = shape
    cols = cols.reshape(n, h, w, c, k, k)
    out = np.zeros((n, c, h + 2 * pad, w + 2 * pad), dtype=cols.dtype)
    for i in range(k):
        for j in range(k):
            out[:, :, i:i + h, j:j + w] += cols[:, :, :, :, i, j].transpose(0, 3, 1, 2)
    return out[:, :, pad:pad + h, pad:pad + w]


def conv_forward(x, w):
    co, ci, k, _ = w.shape
    n, _, h, wd = x.shape
    cols = im2col(x, k, k // 2)
    y = cols @ w.reshape(co, -1).T
    return y.reshape(n, h, wd, co).transpose(0, 3, 1, 2), cols


def conv_backward(x, w, dy, cols):
    co, ci, k, _ = w.shape
    dy2 = dy.transpose(0, 2, 3, 1).reshape(-1, co)
    dw = (dy2.T @ cols).reshape(w.shape)
    dx = col2im(dy2 @ w.reshape(co, -1), x.shape, k, k // 2)
    return dx, dw


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--weakseg", default="target/release/weakseg")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--json", help="also write the figures to this file")
    a = ap.parse_args()

    with tempfile.TemporaryDirectory() as ref:
        env = dict(os.environ)
        env.setdefault("XDG_RUNTIME_DIR", "/tmp")
        out = subprocess.run(
            [a.weakseg, "bench", "--suite", "kernels", "--json", "--reps", str(a.reps),
             "--reference", ref],
            check=True, capture_output=True, text=True, env=env)
        ws = json.loads(out.stdout)
        load = lambda name: np.load(os.path.join(ref, name + ".npy"))
        ma, mb, mc = load("matmul_512_a"), load("matmul_512_b"), load("matmul_512_c")
        x, w, y, dy, dx, dw = (load(f"{CONV}_{s}") for s in ("x", "w", "y", "dy", "dx", "dw"))

    checks = {"matmul_512": rel_diff(ma @ mb, mc)}
    ny, cols = conv_forward(x, w)
    ndx, ndw = conv_backward(x, w, dy, cols)
    checks[f"{CONV} y"] = rel_diff(ny, y)
    checks[f"{CONV} dx"] = rel_diff(ndx, dx)
    checks[f"{CONV} dw"] = rel_diff(ndw, dw)
    for name, d in checks.items():
        if not d <= 1e-3:
            sys.exit(f"numpy and weakseg disagree on {name}: relative difference {d:.2e}")

    flops_mm = 2.0 * 512 ** 3
    flops_conv = 2.0 * y.size * x.shape[1] * w.shape[2] * w.shape[3]

    def fwd_bwd():
        yy, cc = conv_forward(x, w)
        conv_backward(x, w, dy, cc)

    numpy_s = {
        "matmul_512": median_time(lambda: ma @ mb, a.reps),
        f"{CONV}_fwd": median_time(lambda: conv_forward(x, w), a.reps),
        f"{CONV}_fwd_bwd": median_time(fwd_bwd, a.reps),
    }
    flops = {"matmul_512": flops_mm, f"{CONV}_fwd": flops_conv, f"{CONV}_fwd_bwd": 3 * flops_conv}
    cases = {c["name"]: c for c in ws["cases"]}
    rows = []
    for name, secs in numpy_s.items():
        wg = cases[name]["gflops"]
        ng = flops[name] / secs / 1e9
        rows.append({"case": name, "weakseg_gflops": wg, "numpy_gflops": ng,
                     "weakseg_over_numpy": wg / ng})
    print(f"weakseg adapter: {ws['adapter']} ({ws['backend']}, {ws['device_type']}); "
          f"numpy {np.__version__} on {os.cpu_count()} CPU cores")
    print("checks (max relative difference): " +
          ", ".join(f"{k} {v:.1e}" for k, v in checks.items()))
    print(f"{'case':<28} {'weakseg GFLOP/s':>16} {'numpy GFLOP/s':>14} {'weakseg/numpy':>14}")
    for r in rows:
        print(f"{r['case']:<28} {r['weakseg_gflops']:>16.2f} {r['numpy_gflops']:>14.2f} "
              f"{r['weakseg_over_numpy']:>13.3f}x")
    if a.json:
        with open(a.json + ".tmp", "w") as f:
            json.dump({"adapter": ws["adapter"], "numpy": np.__version__, "checks": checks,
                       "rows": rows}, f, indent=2)
        os.replace(a.json + ".tmp", a.json)


if __name__ == "__main__":
    main()
