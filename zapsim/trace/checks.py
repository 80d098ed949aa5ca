"""Checks on the image sets a trace uses: do the evaluation and ZAP-training images overlap?

Two kinds of overlap are found, both cheap:

* identical images: the same pixels (uint8 bytes) in both sets, whatever the
  sets are called (e.g. the same array passed twice);
* the same source images: both sets declare the same ``origin`` (or, without
  one, the same ``name``) and their ``indices`` ranges intersect -- this also
  catches a lossy copy of an evaluation image, whose pixels differ.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from .data import ImageSet


def _digests(images: np.ndarray) -> list[bytes]:
    flat = np.ascontiguousarray(images).reshape(len(images), -1)
    return [hashlib.blake2b(row.tobytes(), digest_size=16).digest() for row in flat]


def _index_range(info: dict[str, Any]) -> tuple[int, int] | None:
    ind = info.get("indices")
    if isinstance(ind, (list, tuple)) and len(ind) == 2 and all(isinstance(v, (int, np.integer)) for v in ind):
        return int(ind[0]), int(ind[1])
    return None


def image_overlap(eval_images: ImageSet, train_images: ImageSet) -> dict[str, Any]:
    """How many evaluation images also occur among the training images (see the module docstring)."""
    identical = 0
    if eval_images.images.shape[1:] == train_images.images.shape[1:]:
        train = set(_digests(train_images.images))
        identical = sum(d in train for d in _digests(eval_images.images))
    ea, ta = eval_images.info, train_images.info
    origin_e, origin_t = ea.get("origin", ea.get("name")), ta.get("origin", ta.get("name"))
    same_source = 0
    re, rt = _index_range(ea), _index_range(ta)
    if origin_e is not None and origin_e == origin_t and re is not None and rt is not None:
        same_source = max(0, min(re[1], rt[1]) - max(re[0], rt[0]) + 1)
    return {"identical_images": int(identical), "same_source_indices": int(same_source),
            "source": origin_e if same_source else None}


def overlap_text(ov: dict[str, Any]) -> str:
    """One line describing an overlap found by :func:`image_overlap` (empty when there is none)."""
    parts = []
    if ov["identical_images"]:
        parts.append(f"{ov['identical_images']} evaluation images have identical pixels in the training images")
    if ov["same_source_indices"]:
        parts.append(f"{ov['same_source_indices']} source indices of '{ov['source']}' are in both sets")
    return "; ".join(parts)
