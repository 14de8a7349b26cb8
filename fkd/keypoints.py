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


# --- Where a keypoint is: the one pixel convention ------------------------------------------
#
# Kaggle gives keypoints in pixels but not where a pixel's centre is. fkd takes pixel
# column c to cover [c, c + 1), centre c + 0.5, so the image spans [0, 96] with its
# centre at 48 -- the 48 the study subtracts when it normalises (px - 48) / 48. In
# normalised units the image is the square [-1, 1] centred on 0, and mirroring the
# pixel grid (column c -> 95 - c) maps x -> 96 - x in pixels, x -> -x normalised:
# exactly the study's flip. (Had pixel centres been at integers, the mirror would be
# x -> 95 - x; the two rules differ by half a pixel on flipped faces.)
#
# Everything that places, moves, mirrors, draws or normalises keypoints -- training,
# augmentation, test-time flipping, figures, the demo faces -- uses the names below.

PIXEL_CENTRE = 0.5
"""Pixel column c (row r) has its centre at x = c + PIXEL_CENTRE (y = r + PIXEL_CENTRE)."""

HALF = IMAGE_SIZE / 2
"""The image centre in pixels (48), and pixels per normalised unit."""

IMAGE_EXTENT = (0.0, float(IMAGE_SIZE), float(IMAGE_SIZE), 0.0)
"""``imshow(image, extent=IMAGE_EXTENT)`` draws pixel c over [c, c + 1]: keypoints land where they belong."""

MIRROR_SIGN: np.ndarray = np.array([-1.0, 1.0] * len(KEYPOINT_NAMES), np.float32)
"""Multiplies normalised x by -1 and y by 1: mirroring about the image centre."""


def pixel_centres(n: int = IMAGE_SIZE) -> np.ndarray:
    """Coordinates of the centres of pixels 0 .. n-1 along one axis (0.5, 1.5, ...)."""
    return np.arange(n, dtype=np.float32) + PIXEL_CENTRE


def normalise(pixels: np.ndarray) -> np.ndarray:
    """Pixel coordinates to the networks' units, ``(px - 48) / 48`` (NaN stays NaN)."""
    return ((np.asarray(pixels, dtype=np.float32) - HALF) / HALF).astype(np.float32)


def to_pixels(normalised: np.ndarray) -> np.ndarray:
    """The networks' units back to pixel coordinates, ``q * 48 + 48``."""
    return (np.asarray(normalised, dtype=np.float32) * HALF + HALF).astype(np.float32)


MIRROR_SHIFT: np.ndarray = (1.0 - MIRROR_SIGN).astype(np.float32)
"""Times the mirror axis, what mirroring adds to each coordinate: ``2 * axis`` to x, nothing to y."""


def mirror_normalised(normalised: np.ndarray, axis: float = 0.0) -> np.ndarray:
    """Keypoints of the left-right mirrored face, in normalised units (N x 30 or 30).

    Reflect x about ``axis`` (x -> 2 axis - x; the image centre, 0, unless the labels
    sit off the pixels they mark, see ``fkd.augment.estimate_mirror_axis``), then
    swap each left/right pair: after mirroring, the subject's left eye is where the
    right eye was. Mirroring twice about the same axis gives the keypoints back.
    """
    mirrored = np.asarray(normalised, dtype=np.float32) * MIRROR_SIGN + MIRROR_SHIFT * np.float32(axis)
    return mirrored[..., FLIP_PERMUTATION]


def mirror_pixels(pixels: np.ndarray, axis: float = HALF) -> np.ndarray:
    """Keypoints of the mirrored face, in pixels: x -> 2 axis - x (96 - x about the centre), labels swapped."""
    return to_pixels(mirror_normalised(normalise(pixels), float(normalise(axis))))
