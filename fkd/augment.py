"""Random changes to training batches, computed on the TensorFlow graph.

The study augmented in a Python loop, one image and one ``model.fit`` call per
batch. Here every change is a handful of batched TensorFlow ops, run inside
``tf.data`` (``dataset.batch(...).map(augmenter)``) on the whole batch at once, so
augmentation overlaps with training instead of stalling it.

Random numbers come from stateless ops keyed by ``(seed, batch number)``: the same
seed gives the same augmented batches in every run, and no global random state is
touched.

Coordinates
-----------
Keypoints follow :mod:`fkd.keypoints`' one pixel convention (pixel c covers
[c, c + 1), so mirroring maps x -> 96 - x and normalised x -> -x). The same
convention ties the affine warp of the pixels to the affine map of the keypoints
below.

Missing keypoints are NaN and stay NaN: every keypoint change is arithmetic or a
column permutation, and NaN survives both.

Mirror axis
-----------
Pixels are always mirrored about the image centre (columns reversed); labels are
mirrored about ``mirror_axis`` (normalised; 0 is the centre). When labels sit a
constant b pixels right of the points they mark, the right axis is 48 + b: the
mirrored face's labels then sit b right of their points too, and the network is
not taught two answers, b apart, for one face. :func:`estimate_mirror_axis`
measures it on the training faces.

Per-coordinate loss weights (pseudo-labels weigh less than labels) may ride along
with the targets: a flip swaps them with their columns; nothing else moves them.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import tensorflow as tf

from fkd.configs import Augmentation
from fkd.keypoints import (
    COORDINATE_COLUMNS,
    FLIP_PAIRS,
    FLIP_PERMUTATION,
    HALF,
    IMAGE_SIZE,
    MIRROR_SHIFT,
    MIRROR_SIGN,
    PIXEL_CENTRE,
)

_CENTRE_INDEX = HALF - PIXEL_CENTRE
"""The image centre in TensorFlow's pixel-index coordinates, where pixel c's centre is c.

Normalised q and pixel index u relate by u = 48 q + 47.5 (pixel centre c + 0.5 = 48 q + 48).
"""

Batch = tuple[tf.Tensor, ...]
"""(images, targets), or (images, targets, weights) with per-coordinate loss weights."""


def augment_batch(
    images: tf.Tensor,
    targets: tf.Tensor,
    augmentation: Augmentation,
    seed: tf.Tensor,
    mirror_axis: float = 0.0,
    weights: tf.Tensor | None = None,
) -> Batch:
    """One random draw of ``augmentation`` applied to a batch.

    images: float32 [B, 96, 96, 1] in [0, 1]; targets: float32 [B, 30], normalised
    ``(px - 48) / 48``, NaN where missing; seed: int [2] for stateless random ops;
    mirror_axis: normalised x about which flipped labels are mirrored; weights:
    optional float32 [B, 30], returned as a third element, swapped with their columns.
    Order: flip, then one affine warp per image (shift/rotation/scale), then
    brightness and contrast.
    """
    flip_seed, affine_seed, photo_seed = tf.unstack(
        tf.random.experimental.stateless_split(seed, num=3)
    )
    if augmentation.flip:
        images, targets, *moved = flip_half(images, targets, flip_seed, mirror_axis, weights)
        weights = moved[0] if moved else None
    if augmentation.shift or augmentation.rotation or augmentation.scale:
        images, targets = random_affine(images, targets, augmentation, affine_seed)
    if augmentation.brightness or augmentation.contrast:
        images = random_photometric(images, augmentation, photo_seed)
    return (images, targets) if weights is None else (images, targets, weights)


def make_augmenter(
    augmentation: Augmentation, seed: int, mirror_axis: float = 0.0
) -> Callable[[tf.Tensor, Batch], Batch]:
    """A function for ``dataset.enumerate().map(...)``: (batch number, batch) -> batch.

    Batch ``k`` is augmented with stateless seed ``(seed, k)``, so a run is repeatable
    and every batch of every epoch still gets fresh random numbers (the batch
    number keeps counting across epochs when the dataset is repeated). A batch may
    carry weights as a third element (:data:`Batch`).
    """

    def augment(batch_number: tf.Tensor, batch: Batch) -> Batch:
        images, targets, *weights = batch
        batch_seed = tf.stack([tf.constant(seed, tf.int64), tf.cast(batch_number, tf.int64)])
        return augment_batch(images, targets, augmentation, batch_seed, mirror_axis, *weights)

    return augment


def flip_targets(targets: tf.Tensor, axis: float = 0.0) -> tf.Tensor:
    """:func:`fkd.keypoints.mirror_normalised` on the graph: x -> 2 axis - x, swap left/right labels.

    After mirroring, the subject's left eye is where the right eye was, so the new
    ``left_eye_center`` column is the old ``right_eye_center`` mirrored. (The
    constants are NumPy arrays, not tf.constants: importing this module must not
    start TensorFlow's runtime, which multi-worker training configures first.)
    """
    mirrored = targets * MIRROR_SIGN
    if axis:
        mirrored += MIRROR_SHIFT * np.float32(axis)
    return tf.gather(mirrored, FLIP_PERMUTATION, axis=1)


def flip_half(
    images: tf.Tensor,
    targets: tf.Tensor,
    seed: tf.Tensor,
    axis: float = 0.0,
    weights: tf.Tensor | None = None,
) -> Batch:
    """Mirror a random half of the batch left-right (the study's FlipPic), labels too (about ``axis``).

    With ``weights``, each coordinate's weight follows its label to its new column,
    and the batch comes back as (images, targets, weights).
    """
    batch_size = tf.shape(images)[0]
    ranks = tf.argsort(tf.argsort(tf.random.stateless_uniform([batch_size], seed)))
    flip = ranks < batch_size // 2
    images = tf.where(flip[:, None, None, None], tf.reverse(images, axis=[2]), images)
    targets = tf.where(flip[:, None], flip_targets(targets, axis), targets)
    if weights is None:
        return images, targets
    return images, targets, tf.where(flip[:, None], tf.gather(weights, FLIP_PERMUTATION, axis=1), weights)


def random_affine(
    images: tf.Tensor, targets: tf.Tensor, augmentation: Augmentation, seed: tf.Tensor
) -> Batch:
    """Shift, rotate and zoom each image about the image centre, keypoints alike.

    Each image i gets its own map, in normalised coordinates
    ``q' = s_i R(theta_i) q + t_i``. The keypoints go through it directly; the pixels
    are resampled through its inverse (output pixel -> input point) in one
    ``ImageProjectiveTransformV3`` call for the whole batch, with bilinear
    interpolation and edge pixels repeated into the uncovered border (a black
    border would be an easy, meaningless cue). Keypoints pushed out of the frame
    are kept: the network can still regress them.
    """
    batch_size = tf.shape(images)[0]
    angle_seed, scale_seed, shift_seed = tf.unstack(
        tf.random.experimental.stateless_split(seed, num=3)
    )
    max_angle = augmentation.rotation * math.pi / 180
    angle = tf.random.stateless_uniform([batch_size], angle_seed, -max_angle, max_angle)
    scale = tf.random.stateless_uniform(
        [batch_size], scale_seed, 1 - augmentation.scale, 1 + augmentation.scale
    )
    # shift is a fraction of the image size; the image is 2 normalised units wide.
    max_shift = 2 * augmentation.shift
    shift = tf.random.stateless_uniform([batch_size, 2], shift_seed, -max_shift, max_shift)
    return (
        warp_images(images, angle, scale, shift),
        warp_targets(targets, angle, scale, shift),
    )


def warp_targets(
    targets: tf.Tensor, angle: tf.Tensor, scale: tf.Tensor, shift: tf.Tensor
) -> tf.Tensor:
    """Apply ``q' = scale R(angle) q + shift`` to every keypoint (normalised units).

    With the image's y axis pointing down, a positive angle turns the face clockwise
    on screen.
    """
    cos, sin = (scale * tf.cos(angle))[:, None], (scale * tf.sin(angle))[:, None]
    x, y = targets[:, 0::2], targets[:, 1::2]
    new_x = cos * x - sin * y + shift[:, 0:1]
    new_y = sin * x + cos * y + shift[:, 1:2]
    return tf.reshape(tf.stack([new_x, new_y], axis=-1), tf.shape(targets))


def warp_images(
    images: tf.Tensor, angle: tf.Tensor, scale: tf.Tensor, shift: tf.Tensor
) -> tf.Tensor:
    """Resample images so that content at q moves to ``scale R(angle) q + shift``.

    ImageProjectiveTransformV3 wants, per image, the map from an output pixel index
    u' to the input point u it reads. With u = 48 q + 47.5 (pixel centres at
    integers there) and q = R^T (q' - t) / s:
    ``u = A u' + 47.5 - A (47.5 + 48 t)`` where ``A = R^T / s``.
    """
    cos, sin = tf.cos(angle) / scale, tf.sin(angle) / scale
    a0, a1, b0, b1 = cos, sin, -sin, cos  # A = [[a0, a1], [b0, b1]] = R^T / s
    cx = _CENTRE_INDEX + HALF * shift[:, 0]
    cy = _CENTRE_INDEX + HALF * shift[:, 1]
    a2 = _CENTRE_INDEX - (a0 * cx + a1 * cy)
    b2 = _CENTRE_INDEX - (b0 * cx + b1 * cy)
    zeros = tf.zeros_like(a0)
    transforms = tf.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images,
        transforms=transforms,
        output_shape=tf.shape(images)[1:3],
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="NEAREST",
    )


def random_photometric(
    images: tf.Tensor, augmentation: Augmentation, seed: tf.Tensor
) -> tf.Tensor:
    """Scale each image's brightness, then stretch its contrast about its own mean.

    brightness b multiplies pixels by a factor in [1 - b, 1 + b] (Keras's
    ``brightness_range``, as in the study's appendix); contrast c scales each
    pixel's distance from the image mean by a factor in [1 - c, 1 + c].
    Results are clipped to [0, 1].
    """
    batch_size = tf.shape(images)[0]
    brightness_seed, contrast_seed = tf.unstack(
        tf.random.experimental.stateless_split(seed, num=2)
    )
    shape = tf.stack([batch_size, 1, 1, 1])
    b, c = augmentation.brightness, augmentation.contrast
    images = images * tf.random.stateless_uniform(shape, brightness_seed, 1 - b, 1 + b)
    mean = tf.reduce_mean(images, axis=[1, 2, 3], keepdims=True)
    contrast = tf.random.stateless_uniform(shape, contrast_seed, 1 - c, 1 + c)
    return tf.clip_by_value(mean + (images - mean) * contrast, 0.0, 1.0)


# --- Where to mirror the labels ---------------------------------------------------------------

AXIS_PATCH = 12
"""Half-size (pixels) of the squares compared by :func:`estimate_mirror_axis`: 25 x 25 holds an eye."""
AXIS_SEARCH = 4.0
"""Largest label offset (pixels) :func:`estimate_mirror_axis` looks for."""
AXIS_STEP = 0.01
"""Resolution (pixels) of the offset between two mean patches; the axis moves half of it."""


def estimate_mirror_axis(images: np.ndarray, keypoints: np.ndarray) -> float:
    """The x (pixels) about which these faces' labels mirror: 48 + b, b the labels' offset to the right.

    For each left/right pair (:data:`fkd.keypoints.FLIP_PAIRS`), average the training
    images in a square centred on every left label, and in one centred on every right
    label. A face is nearly symmetric, so the right square, mirrored, shows the left
    feature -- but where labels sit b pixels right of their features, the left feature
    sits b left of the left square's centre and b right of the mirrored square's:
    the two mean squares are 2b apart (:func:`horizontal_offset`). The pairs' estimates
    are averaged, weighted by how many faces label both.

    Why not the midpoints of the pairs' labels: they say where the faces sit in the
    frame (and how they turn), which flipping the image already handles; only labels
    compared with the pixels they mark show an offset of the labels themselves.
    images: uint8 N x 96 x 96; keypoints: N x 30 pixels, NaN where missing.
    """
    images = np.asarray(images, np.float32)
    keypoints = np.asarray(keypoints, np.float32)
    offsets, counts = [], []
    for left, right in FLIP_PAIRS:
        columns = [COORDINATE_COLUMNS.index(f"{name}_{axis}") for name in (left, right) for axis in "xy"]
        rows = np.flatnonzero(np.isfinite(keypoints[:, columns]).all(axis=1))
        if len(rows) == 0:
            continue
        left_patch = mean_patch(images[rows], keypoints[rows, columns[0]], keypoints[rows, columns[1]])
        right_patch = mean_patch(images[rows], keypoints[rows, columns[2]], keypoints[rows, columns[3]])
        offsets.append(horizontal_offset(left_patch, right_patch[:, ::-1]) / 2)
        counts.append(len(rows))
    if not counts:
        raise ValueError("no face labels both keypoints of any left/right pair: the mirror axis cannot be estimated")
    return float(HALF + np.average(offsets, weights=counts))


def mean_patch(images: np.ndarray, x: np.ndarray, y: np.ndarray, half: int = AXIS_PATCH) -> np.ndarray:
    """The mean of the (2 half + 1)-pixel squares of ``images`` centred on the points (x[i], y[i]).

    Points are in fkd's pixel convention (pixel c's centre at c + 0.5); the squares are
    sampled bilinearly, edge pixels repeated beyond the border.
    """
    steps = np.arange(-half, half + 1, dtype=np.float32)
    columns = (np.asarray(x, np.float32) - PIXEL_CENTRE)[:, None] + steps  # pixel-index coordinates
    rows = (np.asarray(y, np.float32) - PIXEL_CENTRE)[:, None] + steps
    c0, r0 = np.floor(columns), np.floor(rows)
    fc, fr = columns - c0, rows - r0
    index = np.arange(len(images))[:, None, None]

    def pixel(r: np.ndarray, c: np.ndarray) -> np.ndarray:
        r = np.clip(r, 0, IMAGE_SIZE - 1).astype(np.int64)[:, :, None]
        c = np.clip(c, 0, IMAGE_SIZE - 1).astype(np.int64)[:, None, :]
        return images[index, r, c]

    top = pixel(r0, c0) * (1 - fc[:, None, :]) + pixel(r0, c0 + 1) * fc[:, None, :]
    bottom = pixel(r0 + 1, c0) * (1 - fc[:, None, :]) + pixel(r0 + 1, c0 + 1) * fc[:, None, :]
    return (top * (1 - fr[:, :, None]) + bottom * fr[:, :, None]).mean(axis=0)


def horizontal_offset(reference: np.ndarray, moved: np.ndarray, search: float = 2 * AXIS_SEARCH) -> float:
    """How far right (pixels) ``moved``'s content sits from ``reference``'s: the shift s, within
    ``search``, for which ``moved(x + s)`` best matches ``reference(x)`` (least squares, means removed).

    ``moved`` is resampled by linear interpolation along x on an ``AXIS_STEP`` grid of shifts; only
    the columns that stay inside it for every shift are compared.
    """
    width = reference.shape[1]
    margin = int(np.ceil(search)) + 1
    inside = np.arange(margin, width - margin, dtype=np.float64)
    columns = np.arange(width, dtype=np.float64)
    reference = reference[:, margin:width - margin]
    reference = reference - reference.mean()
    best, best_error = 0.0, np.inf
    for shift in np.arange(-search, search + AXIS_STEP / 2, AXIS_STEP):
        sampled = np.stack([np.interp(inside + shift, columns, row) for row in moved])
        error = float(np.sum((sampled - sampled.mean() - reference) ** 2))
        if error < best_error:
            best, best_error = float(shift), error
    return best
