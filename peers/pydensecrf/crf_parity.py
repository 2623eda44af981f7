#!/usr/bin/env python3
"""Dense-CRF parity and speed: weakseg's `crf` against pydensecrf.

For each size, builds one synthetic scene (smooth coloured regions with
noise) and a noisy 21-label probability map that follows the regions, runs
pydensecrf (PyPI `pydensecrf2`) and `weakseg crf` with the same image,
probabilities and parameters (psa's: 10 iterations, Gaussian 3/3, bilateral
80/13/10), and reports the share of pixels whose labels agree, the largest
marginal difference, and both times.

    pip install pydensecrf2 numpy
    cargo build --release
    python3 peers/pydensecrf/crf_parity.py [--weakseg target/release/weakseg]

The weakseg time is the one it prints for lattice build plus inference
(process start and adapter creation excluded); pydensecrf's covers the same
work (DenseCRF2D set-up, both pairwise terms, inference).
"""

import argparse
import os
import re
import struct
import subprocess
import sys
import tempfile
import time
import zlib

import numpy as np
import pydensecrf.densecrf as dcrf
from pydensecrf.utils import unary_from_softmax

LABELS = 21


def write_png(path, rgb):
    """Minimal RGB8 PNG writer (no imaging library needed)."""
    h, w, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[y].tobytes() for y in range(h))

    def chunk(tag, data):
        body = tag + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    png = b"\x89PNG\r\n\x1a\n"
    png += chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(raw, 6))
    png += chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(png)


def read_npy(path):
    return np.load(path)


def scene(w, h, seed):
    """An image of ellipses over a gradient, and the region label of each pixel."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack(
        [60 + 80 * xx / w, 90 + 60 * yy / h, 120 + 40 * (xx + yy) / (w + h)], axis=-1
    )
    region = np.zeros((h, w), np.int64)
    for _ in range(12):
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        rx, ry = rng.uniform(0.05, 0.25) * w, rng.uniform(0.05, 0.25) * h
        inside = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 < 1
        img[inside] = rng.uniform(0, 255, 3)
        region[inside] = rng.integers(1, LABELS)
    img += rng.normal(0, 8, img.shape)
    img = np.clip(img, 0, 255).astype(np.uint8)
    logits = rng.normal(0, 1.5, (LABELS, h, w)).astype(np.float32)
    logits[region, yy.astype(int), xx.astype(int)] += 2.0
    probs = np.exp(logits - logits.max(0))
    probs /= probs.sum(0)
    return img, probs.astype(np.float32)


def pydensecrf_run(img, probs, iters):
    h, w = img.shape[:2]
    t = time.perf_counter()
    d = dcrf.DenseCRF2D(w, h, LABELS)
    d.setUnaryEnergy(np.ascontiguousarray(unary_from_softmax(probs)))
    d.addPairwiseGaussian(sxy=3, compat=3)
    d.addPairwiseBilateral(sxy=80, srgb=13, rgbim=np.ascontiguousarray(img), compat=10)
    q = np.array(d.inference(iters)).reshape(LABELS, h, w)
    return q, time.perf_counter() - t


def weakseg_run(exe, img, probs, iters, tmp):
    png, pn, qn, out = (os.path.join(tmp, n) for n in ("im.png", "p.npy", "q.npy", "l.png"))
    write_png(png, img)
    np.save(pn, probs)
    r = subprocess.run(
        [exe, "crf", "--image", png, "--probs", pn, "--out", out,
         "--save-probs", qn, "--iters", str(iters)],
        capture_output=True, text=True, check=True,
    )
    m = re.search(r"lattices ([\d.]+) s, \d+ iterations ([\d.]+) s", r.stderr)
    secs = float(m.group(1)) + float(m.group(2)) if m else float("nan")
    return read_npy(qn), secs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--weakseg", default="target/release/weakseg")
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    print("| size | labels | pixels agreeing | max |ΔQ| | pydensecrf (s) | weakseg (s) |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for (w, h) in [(320, 240), (500, 375)]:
            img, probs = scene(w, h, args.seed + w)
            qp, tp = pydensecrf_run(img, probs, args.iters)
            qw, tw = weakseg_run(args.weakseg, img, probs, args.iters, tmp)
            agree = float((qp.argmax(0) == qw.argmax(0)).mean())
            print(f"| {w}×{h} | {LABELS} | {100 * agree:.2f}% | {np.abs(qp - qw).max():.2e} "
                  f"| {tp:.2f} | {tw:.2f} |")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
