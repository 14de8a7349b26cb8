"""Batch augmentation: pixels and keypoints must move together, and NaNs stay missing."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from fkd.augment import augment_batch, flip_half, make_augmenter, random_affine
from fkd.configs import Augmentation
from fkd.keypoints import ALWAYS_PRESENT_COLUMNS, COORDINATE_COLUMNS, IMAGE_SIZE

LEFT_EYE_X = COORDINATE_COLUMNS.index("left_eye_center_x")
RIGHT_EYE_X = COORDINATE_COLUMNS.index("right_eye_center_x")
SEED = tf.constant([7, 0], tf.int64)


def normalise(pixels):
    return (np.asarray(pixels, np.float32) - 48) / 48


def to_pixels(normalised):
    return np.asarray(normalised) * 48 + 48


def face_with_eye_dots() -> tuple[np.ndarray, np.ndarray]:
    """A black image with a 1.0 dot on the left eye (image right) and a 0.5 dot on the right eye.

    A dot in pixel (row r, column c) is labelled at its centre (c + 0.5, r + 0.5).
    """
    image = np.zeros((IMAGE_SIZE, IMAGE_SIZE, 1), np.float32)
    image[35, 70] = 1.0  # left eye: x = 70.5, y = 35.5
    image[45, 30] = 0.5  # right eye: x = 30.5, y = 45.5
    keypoints = np.full(30, np.nan, np.float32)
    keypoints[LEFT_EYE_X : LEFT_EYE_X + 2] = (70.5, 35.5)
    keypoints[RIGHT_EYE_X : RIGHT_EYE_X + 2] = (30.5, 45.5)
    return image, normalise(keypoints)


def test_flip_mirrors_exactly_half_of_the_batch():
    images = tf.random.stateless_uniform([10, IMAGE_SIZE, IMAGE_SIZE, 1], [1, 2])
    targets = tf.zeros([10, 30])
    flipped, _ = flip_half(images, targets, SEED)
    changed = np.any(flipped.numpy() != images.numpy(), axis=(1, 2, 3))
    assert changed.sum() == 5


def test_flip_relabels_left_eye_onto_the_mirrored_right_eye():
    image, target = face_with_eye_dots()
    images, targets = flip_half(tf.constant([image, image]), tf.constant([target, target]), SEED)
    flipped = int(np.argmax(np.any(images.numpy() != image, axis=(1, 2, 3))))
    pixels = to_pixels(targets.numpy()[flipped])

    # the new left eye is the old right eye, mirrored: x -> 96 - x, y unchanged
    np.testing.assert_allclose(pixels[LEFT_EYE_X : LEFT_EYE_X + 2], (96 - 30.5, 45.5), atol=1e-4)
    np.testing.assert_allclose(pixels[RIGHT_EYE_X : RIGHT_EYE_X + 2], (96 - 70.5, 35.5), atol=1e-4)
    # and each label sits on its dot: the column under x is floor(x) when pixel c covers [c, c+1)
    flipped_image = images.numpy()[flipped, :, :, 0]
    x, y = pixels[LEFT_EYE_X : LEFT_EYE_X + 2]
    assert flipped_image[int(y), int(x)] == 0.5
    x, y = pixels[RIGHT_EYE_X : RIGHT_EYE_X + 2]
    assert flipped_image[int(y), int(x)] == 1.0


def test_flip_leaves_the_other_half_untouched():
    image, target = face_with_eye_dots()
    images, targets = flip_half(tf.constant([image, image]), tf.constant([target, target]), SEED)
    kept = int(np.argmin(np.any(images.numpy() != image, axis=(1, 2, 3))))
    np.testing.assert_array_equal(targets.numpy()[kept], target)


def dot_batch(n: int, row: int, col: int) -> tuple[tf.Tensor, tf.Tensor]:
    """n copies of a 3x3 bright dot centred on pixel (row, col), labelled as nose_tip."""
    image = np.zeros((IMAGE_SIZE, IMAGE_SIZE, 1), np.float32)
    image[row - 1 : row + 2, col - 1 : col + 2] = 1.0
    target = np.full(30, np.nan, np.float32)
    nose = COORDINATE_COLUMNS.index("nose_tip_x")
    target[nose : nose + 2] = normalise((col + 0.5, row + 0.5))
    return tf.constant([image] * n), tf.constant([target] * n)


def dot_centres(images: np.ndarray) -> np.ndarray:
    """Intensity-weighted centre (x, y) of each image, in keypoint pixel units."""
    weights = images[..., 0]
    rows, cols = np.mgrid[0:IMAGE_SIZE, 0:IMAGE_SIZE] + 0.5
    total = weights.sum(axis=(1, 2))
    return np.stack(
        [(weights * cols).sum(axis=(1, 2)) / total, (weights * rows).sum(axis=(1, 2)) / total], axis=1
    )


@pytest.mark.parametrize(
    "augmentation",
    [Augmentation(shift=0.1), Augmentation(rotation=25.0, scale=0.15, shift=0.05)],
    ids=["shift", "rotate-scale-shift"],
)
def test_affine_moves_the_keypoint_with_its_dot(augmentation):
    images, targets = dot_batch(8, row=30, col=62)
    warped, moved = random_affine(images, targets, augmentation, SEED)
    nose = COORDINATE_COLUMNS.index("nose_tip_x")
    keypoints = to_pixels(moved.numpy()[:, nose : nose + 2])
    centres = dot_centres(warped.numpy())

    assert np.abs(keypoints - (62.5, 30.5)).max() > 2, "the draw should actually move the dots"
    # bilinear resampling keeps a dot's centroid (exactly for shifts): 0.1 px, not just 1 px,
    # so a half-pixel slip between the pixel and keypoint conventions would fail here
    np.testing.assert_allclose(keypoints, centres, atol=0.1)


@pytest.mark.parametrize("flip", [False, True])
def test_missing_keypoints_stay_missing_under_every_change(flip):
    augmentation = Augmentation(
        flip=flip, shift=0.1, rotation=15, scale=0.1, brightness=0.3, contrast=0.3
    )
    targets = np.full((6, 30), np.nan, np.float32)
    # the four always-present keypoints are their own mirror set, so the NaN pattern is fixed
    targets[:, ALWAYS_PRESENT_COLUMNS] = normalise(np.random.default_rng(0).uniform(30, 66, (6, 8)))
    images = tf.random.stateless_uniform([6, IMAGE_SIZE, IMAGE_SIZE, 1], [3, 4])
    _, augmented = augment_batch(images, tf.constant(targets), augmentation, SEED)
    np.testing.assert_array_equal(np.isnan(augmented.numpy()), np.isnan(targets))


def test_photometric_changes_keep_pixels_in_range_and_vary_per_image():
    images = tf.fill([4, IMAGE_SIZE, IMAGE_SIZE, 1], 0.6)
    images = tf.concat([images[:, :48], images[:, 48:] * 0.5], axis=1)
    changed, _ = augment_batch(images, tf.zeros([4, 30]), Augmentation(brightness=0.5, contrast=0.5), SEED)
    changed = changed.numpy()
    assert changed.min() >= 0.0 and changed.max() <= 1.0
    assert len(np.unique(changed[:, 0, 0, 0])) == 4


def test_same_seed_same_batch_other_seed_other_batch():
    augmentation = Augmentation(flip=True, shift=0.1, rotation=10, brightness=0.2)
    augment = make_augmenter(augmentation, seed=3)
    images = tf.random.stateless_uniform([4, IMAGE_SIZE, IMAGE_SIZE, 1], [5, 6])
    targets = tf.random.stateless_uniform([4, 30], [7, 8], -0.5, 0.5)
    first, _ = augment(tf.constant(0, tf.int64), (images, targets))
    again, _ = augment(tf.constant(0, tf.int64), (images, targets))
    next_batch, _ = augment(tf.constant(1, tf.int64), (images, targets))
    np.testing.assert_array_equal(first.numpy(), again.numpy())
    assert not np.allclose(first.numpy(), next_batch.numpy())
