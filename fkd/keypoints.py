"""The 15 facial keypoints of Kaggle's "Facial Keypoints Detection", in Kaggle's order.

Everything that needs to know which column is which (loading, flipping, plotting,
submissions) imports these names instead of spelling them out again.
"""

from __future__ import annotations

import numpy as np

IMAGE_SIZE = 96
"""Images are IMAGE_SIZE x IMAGE_SIZE gray pixels, values 0-255."""

KEYPOINT_NAMES: tuple[str, ...] = (
    "left_eye_center",
    "right_eye_center",
    "left_eye_inner_corner",
    "left_eye_outer_corner",
    "right_eye_inner_corner",
    "right_eye_outer_corner",
    "left_eyebrow_inner_end",
    "left_eyebrow_outer_end",
    "right_eyebrow_inner_end",
    "right_eyebrow_outer_end",
    "nose_tip",
    "mouth_left_corner",
    "mouth_right_corner",
    "mouth_center_top_lip",
    "mouth_center_bottom_lip",
)

COORDINATE_COLUMNS: tuple[str, ...] = tuple(
    f"{name}_{axis}" for name in KEYPOINT_NAMES for axis in ("x", "y")
)
"""The 30 target columns of training.csv: x then y of each keypoint, in pixels."""

ALWAYS_PRESENT: tuple[str, ...] = (
    "left_eye_center",
    "right_eye_center",
    "nose_tip",
    "mouth_center_bottom_lip",
)
"""Keypoints labelled in both of Kaggle's labelling batches ("left" is the subject's left)."""

FLIP_PAIRS: tuple[tuple[str, str], ...] = (
    ("left_eye_center", "right_eye_center"),
    ("left_eye_inner_corner", "right_eye_inner_corner"),
    ("left_eye_outer_corner", "right_eye_outer_corner"),
    ("left_eyebrow_inner_end", "right_eyebrow_inner_end"),
    ("left_eyebrow_outer_end", "right_eyebrow_outer_end"),
    ("mouth_left_corner", "mouth_right_corner"),
)
"""Keypoints that trade places when a face is mirrored left to right."""


def _flip_permutation() -> np.ndarray:
    index = {name: i for i, name in enumerate(KEYPOINT_NAMES)}
    keypoint_order = list(range(len(KEYPOINT_NAMES)))
    for left, right in FLIP_PAIRS:
        keypoint_order[index[left]], keypoint_order[index[right]] = index[right], index[left]
    return np.array([2 * k + axis for k in keypoint_order for axis in (0, 1)], dtype=np.int64)


FLIP_PERMUTATION: np.ndarray = _flip_permutation()
"""Column order that relabels a mirrored face: ``mirrored[:, FLIP_PERMUTATION]``.

After mirroring, what used to be the left eye sits where the right eye belongs, so
column j of the relabelled target is column FLIP_PERMUTATION[j] of the mirrored one.
"""

ALWAYS_PRESENT_COLUMNS: np.ndarray = np.array(
    [COORDINATE_COLUMNS.index(f"{name}_{axis}") for name in ALWAYS_PRESENT for axis in ("x", "y")]
)
