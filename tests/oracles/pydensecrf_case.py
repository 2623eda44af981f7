#!/usr/bin/env python3
"""Test-only oracle: one dense-CRF case run through pydensecrf (PyPI
`pydensecrf2`), for `tests/crf_oracle.rs`.

    pydensecrf_case.py OUT_DIR MODE WIDTH HEIGHT SEED

MODE `probs` is psa's `crf_inference` (unary_from_softmax of 21-label
probabilities; Gaussian 3/3, bilateral 80/13/10; 10 iterations); MODE
`labels` is IRN's `crf_inference_label` (unary_from_labels of a label map
over 21 labels, gt_prob 0.7, zero_unsure False; Gaussian 3/3, bilateral
50/5/10; 10 iterations). The scene is ellipses of random colour over a
gradient with noise. Writes, as float32 .npy files: image.npy [H, W, 3]
(0..255), input.npy ([L, H, W] probabilities or [H, W] labels) and q.npy
[L, H, W] (pydensecrf's marginals).
"""

import os
import sys

import numpy as np
import pydensecrf.densecrf as dcrf
from pydensecrf.utils import unary_from_labels, unary_from_softmax

LABELS = 21


def scene(w, h, seed):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack(
        [60 + 80 * xx / w, 90 + 60 * yy / h, 120 + 40 * (xx + yy) / (w + h)], axis=-1
    )
    region = np.zeros((h, w), np.int64)
    for _ in range(8):
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        rx, ry = rng.uniform(0.08, 0.3) * w, rng.uniform(0.08, 0.3) * h
        inside = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 < 1
        img[inside] = rng.uniform(0, 255, 3)
        region[inside] = rng.integers(1, LABELS)
    img += rng.normal(0, 8, img.shape)
    img = np.clip(img, 0, 255).astype(np.uint8)
    logits = rng.normal(0, 1.5, (LABELS, h, w)).astype(np.float32)
    logits[region, yy.astype(int), xx.astype(int)] += 2.0
    probs = np.exp(logits - logits.max(0))
    probs /= probs.sum(0)
    # A noisy label map: the region's label, a random one on 20% of pixels.
    labels = np.where(rng.uniform(size=(h, w)) < 0.2, rng.integers(0, LABELS, (h, w)), region)
    return img, probs.astype(np.float32), labels.astype(np.int64)


def main():
    out, mode, w, h, seed = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:6])
    img, probs, labels = scene(w, h, seed)
    d = dcrf.DenseCRF2D(w, h, LABELS)
    if mode == "probs":
        d.setUnaryEnergy(np.ascontiguousarray(unary_from_softmax(probs)))
        d.addPairwiseGaussian(sxy=3, compat=3)
        d.addPairwiseBilateral(sxy=80, srgb=13, rgbim=np.ascontiguousarray(img), compat=10)
        given = probs
    elif mode == "labels":
        d.setUnaryEnergy(unary_from_labels(labels, LABELS, gt_prob=0.7, zero_unsure=False))
        d.addPairwiseGaussian(sxy=3, compat=3)
        d.addPairwiseBilateral(sxy=50, srgb=5, rgbim=np.ascontiguousarray(img), compat=10)
        given = labels.astype(np.float32)
    else:
        sys.exit(f"unknown mode {mode!r}")
    q = np.array(d.inference(10), dtype=np.float32).reshape(LABELS, h, w)
    np.save(os.path.join(out, "image.npy"), img.astype(np.float32))
    np.save(os.path.join(out, "input.npy"), given)
    np.save(os.path.join(out, "q.npy"), q)


if __name__ == "__main__":
    main()
