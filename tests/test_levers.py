"""The third round's levers: losses, stems, per-image inputs, weight averages, cosine cycles,
snapshot ensembles, pseudo-labels and the mirror axis -- each off by default, each checked by hand."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from fkd.augment import estimate_mirror_axis, flip_half, flip_targets, horizontal_offset
from fkd.keypoints import COORDINATE_COLUMNS, FLIP_PAIRS, HALF, mirror_normalised, mirror_pixels, normalise

LEFT_EYE_X = COORDINATE_COLUMNS.index("left_eye_center_x")
RIGHT_EYE_X = COORDINATE_COLUMNS.index("right_eye_center_x")


def column(name: str) -> int:
    return COORDINATE_COLUMNS.index(name)


# --- the mirror axis -----------------------------------------------------------------------------

FEATURE_ROWS = {"eye_center": 30, "eye_inner_corner": 36, "eye_outer_corner": 24, "eyebrow_inner_end": 16,
                "eyebrow_outer_end": 10, "mouth": 70}
"""A pixel row for each pair of symmetric features, so their squares differ."""


def symmetric_faces(n: int, label_offset: float, centre: float = 46.0, seed: int = 0):
    """Mirror-symmetric drawn faces, centred at random whole x around ``centre`` (not 48), with
    labels ``label_offset`` px right of the pixel centres they mark.

    Each feature is a bright pixel with a dimmer one on its outer side and one above: its
    mirror image is its partner, not itself, so only the right axis lines the two up.
    """
    rng = np.random.default_rng(seed)
    images = np.full((n, 96, 96), 20, np.uint8)
    keypoints = np.full((n, 30), np.nan, np.float32)
    for i in range(n):
        axis = int(round(centre)) + int(rng.integers(-2, 3))  # the face's symmetry axis, a pixel border
        for k, (left, right) in enumerate(FLIP_PAIRS):
            row = FEATURE_ROWS[next(key for key in FEATURE_ROWS if key in left)]
            half_width = 6 + 3 * k
            for name, col, outward in ((left, axis + half_width, 1), (right, axis - half_width - 1, -1)):
                images[i, row, col] = 220
                images[i, row, col + outward] = 120
                images[i, row - 1, col] = 70
                keypoints[i, column(f"{name}_x")] = col + 0.5 + label_offset
                keypoints[i, column(f"{name}_y")] = row + 0.5
    return images, keypoints


@pytest.mark.parametrize("offset", [0.0, 0.6, -0.5])
def test_axis_estimate_recovers_a_known_label_offset_wherever_the_faces_sit(offset):
    images, keypoints = symmetric_faces(40, offset)
    assert estimate_mirror_axis(images, keypoints) == pytest.approx(HALF + offset, abs=0.03)
    # The pairs' label midpoints would have said where the faces sit (about 46), not the offset.
    midpoint = np.nanmean((keypoints[:, LEFT_EYE_X] + keypoints[:, RIGHT_EYE_X]) / 2)
    assert abs(midpoint - (HALF + offset)) > 1.5


def test_horizontal_offset_finds_a_subpixel_shift():
    columns = np.arange(25, dtype=np.float64)
    reference = np.exp(-((columns - 12.0) ** 2) / 8)[None, :].repeat(3, axis=0)
    moved = np.exp(-((columns - 12.7) ** 2) / 8)[None, :].repeat(3, axis=0)
    assert horizontal_offset(reference, moved) == pytest.approx(0.7, abs=0.02)


def test_mirroring_about_an_axis_reflects_x_and_swaps_labels():
    pixels = np.full(30, np.nan, np.float32)
    pixels[LEFT_EYE_X:LEFT_EYE_X + 2] = (60.0, 40.0)
    mirrored = mirror_pixels(pixels, axis=48.5)
    np.testing.assert_allclose(mirrored[RIGHT_EYE_X:RIGHT_EYE_X + 2], (37.0, 40.0), atol=1e-5)  # 2 x 48.5 - 60
    np.testing.assert_allclose(mirror_pixels(mirrored, axis=48.5)[LEFT_EYE_X:LEFT_EYE_X + 2], (60.0, 40.0), atol=1e-5)
    np.testing.assert_allclose(mirror_pixels(pixels)[RIGHT_EYE_X], 36.0)  # about the centre by default


def test_flip_augmentation_mirrors_labels_about_the_axis_and_moves_their_weights():
    targets = np.full((2, 30), 0.25, np.float32)
    weights = np.ones((2, 30), np.float32)
    weights[:, LEFT_EYE_X] = 0.5  # the left eye's x is a pseudo-label
    images = np.zeros((2, 96, 96, 1), np.float32)
    axis = float(normalise(49.0))
    flipped_images, flipped, moved = flip_half(images, targets, tf.constant([1, 2], tf.int64), axis, weights)
    np.testing.assert_allclose(np.asarray(flip_targets(targets, axis)), mirror_normalised(targets, axis))
    flipped_row = int(np.flatnonzero(np.asarray(flipped)[:, 0] != 0.25)[0])
    assert np.asarray(flipped)[flipped_row, LEFT_EYE_X] == pytest.approx(2 * axis - 0.25)
    assert np.asarray(moved)[flipped_row, RIGHT_EYE_X] == 0.5 and np.asarray(moved)[flipped_row, LEFT_EYE_X] == 1.0
    assert np.asarray(moved)[1 - flipped_row, LEFT_EYE_X] == 0.5  # the other half is untouched
