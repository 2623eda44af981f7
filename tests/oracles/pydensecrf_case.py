#!/usr/bin/env python3
"""Test-only oracle: one dense-CRF case run through pydensecrf (PyPI
`pydensecrf2`), for `tests/crf_oracle.rs`.

    pydensecrf_case.py OUT_DIR MODE WIDTH HEIGHT SEED

MODE `probs` is psa's `crf_inference` (unary_from_softmax of 21-label
probabilities; Gaussian 3/3, bilateral 80/13/10; 10 iterations); MODE
`labels` is IRN's `crf_inference_label` (unary_from_labels of a noisy label
map over 21 labels, gt_prob 0.7, zero_unsure False; Gaussian 3/3, bilateral
50/5/10; 10 iterations). The scene is ellipses of random colour over a
gradient with noise (the parity peer's, `peers/pydensecrf/crf_parity.py`).
Writes, as float32 .npy files: image.npy [H, W, 3]
(0..255), input.npy ([L, H, W] probabilities or [H, W] labels) and q.npy
[L, H, W] (pydensecrf's marginals).
"""

import os
import sys

import numpy as np
import pydensecrf.densecrf as dcrf
from pydensecrf.utils import unary_from_labels, unary_from_softmax

# The scenes of the CRF parity peer: ellipses of random colour over a
# gradient with noise, and probabilities that follow them.
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "../../peers/pydensecrf"))
from crf_parity import LABELS, scene  # noqa: E402


def labels_of(probs, seed):
    """A noisy label map: each pixel's most probable label, a random one on
    20% of pixels."""
    rng = np.random.default_rng(seed)
    h, w = probs.shape[1:]
    noise = rng.integers(0, LABELS, (h, w))
    return np.where(rng.uniform(size=(h, w)) < 0.2, noise, probs.argmax(0))


def main():
    out, mode, w, h, seed = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:6])
    img, probs = scene(w, h, seed)
    labels = labels_of(probs, seed)
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
