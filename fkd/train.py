"""Fit a model config to images and keypoints; predict, save and load the result.

One entry point, :func:`train`, handles every kind of model in the study:
k-nearest neighbours (scikit-learn) and the Keras networks of :mod:`fkd.models`.
Networks are fed by a ``tf.data`` pipeline (shuffle, batch, augment on the graph,
prefetch) and trained by a single ``model.fit`` call, seeded so that the same
seed on the same machine gives the same weights.

Conventions (see ``fkd.keypoints``): images are uint8 N x 96 x 96; keypoints are
float32 N x 30 pixels with NaN for missing; networks see ``images / 255`` and learn
``fkd.keypoints.normalise(pixels)`` = ``(pixels - 48) / 48``; :func:`predict` always
answers in pixels.
"""

from __future__ import annotations

import functools
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pandas as pd
import tensorflow as tf
from sklearn.neighbors import KNeighborsRegressor

from fkd.atomic import atomic_path
from fkd.augment import estimate_mirror_axis, make_augmenter
from fkd.configs import Augmentation, ModelConfig
from fkd.data import DataError
from fkd.evaluate import rmse
from fkd.keypoints import COORDINATE_COLUMNS, HALF, IMAGE_SIZE, mirror_normalised, normalise, to_pixels
from fkd.models import (
    UnitProbe,
    build_model,
    hidden_layer,
    make_optimizer,
    model_mirror_axis,
    snapshot_ensemble,
)

N_COORDINATES = len(COORDINATE_COLUMNS)

Model = keras.Model | KNeighborsRegressor


@dataclass
class TrainedModel:
    """A fitted model and how its training went.

    history: per-epoch values as plain lists -- 'loss' (the config's loss: masked MSE in
    normalised units by default, see :func:`keypoint_loss`) and 'rmse' (pixels, on
    augmented training batches); with validation data
    also 'val_loss' and 'val_rmse' (pixels, over present coordinates); and
    'seconds' / 'cpu_seconds', the wall and process CPU time from the start of
    training to the end of each epoch, so accuracy can be plotted against time
    (time-to-accuracy); and 'alive', the fraction of the last hidden layer's ReLU
    units that still fire for some of :data:`ALIVE_PROBE_FACES` training faces
    (:class:`UnitsAlive`). k-NN has one "epoch". images_per_second: epochs x
    training rows / seconds of fit wall time (validation passes included).
    With ``config.mirror_axis == "estimated"`` history also holds 'mirror_axis': one
    value, the axis (pixels) estimated from the training faces. With several cosine
    cycles the lists run on across cycles, times counted from the first cycle's start.
    """

    model: Model
    config: ModelConfig
    history: dict[str, list[float]]
    seconds: float
    images_per_second: float
    epochs: int


# --- Missing keypoints -------------------------------------------------------------


def apply_missing_policy(keypoints: np.ndarray, policy: str) -> tuple[np.ndarray, np.ndarray]:
    """The rows to train on and their targets (pixels; NaN only under "masked").

    dropna: complete rows only (the study). ffill: each NaN takes the value of the
    nearest earlier row in that column (pandas ``ffill``, the study's appendix),
    then rows still incomplete -- those before a column's first value -- are
    dropped; rows are filled in the order given, so pass them in file order.
    masked: every row with at least one label; the loss skips the NaNs.
    """
    keypoints = np.asarray(keypoints, dtype=np.float32)
    if policy == "dropna":
        targets = keypoints
    elif policy == "ffill":
        targets = pd.DataFrame(keypoints).ffill().to_numpy(np.float32)
    elif policy == "masked":
        rows = np.flatnonzero(~np.isnan(keypoints).all(axis=1))
        return rows, keypoints[rows]
    else:
        raise ValueError(f"unknown missing-keypoint policy {policy!r}; use dropna, ffill or masked")
    rows = np.flatnonzero(~np.isnan(targets).any(axis=1))
    return rows, targets[rows]


# --- Loss and metric ---------------------------------------------------------------


@keras.saving.register_keras_serializable(package="fkd")
def masked_mse(y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
    """Mean squared error over the present (non-NaN) targets of the batch.

    Averaging over present coordinates only, not all 30, keeps a batch of
    4-keypoint faces from counting as a batch of mostly perfect guesses. NaNs are
    replaced before subtracting, so no NaN reaches the gradient.
    """
    present = tf.math.is_finite(y_true)
    errors = tf.where(present, y_pred - tf.where(present, y_true, 0.0), 0.0)
    count = tf.reduce_sum(tf.cast(present, y_pred.dtype))
    return tf.reduce_sum(tf.square(errors)) / tf.maximum(count, 1.0)


@keras.saving.register_keras_serializable(package="fkd")
class MaskedKeypointLoss(keras.losses.Loss):
    """A loss in pixels over the present coordinates, each weighted (pseudo-labels weigh less).

    kind: ``mse``; ``l1``; ``smooth_l1`` (0.5 e^2 / beta below beta, |e| - beta / 2
    above); ``wing`` (Feng et al. 2018: w ln(1 + |e| / epsilon) below w, |e| - C above,
    C = w - w ln(1 + w / epsilon) joining the two), with e = prediction - label in pixels.
    The batch's loss is sum(weight x loss) / sum(weight) over present coordinates
    (a weight of 1 each without ``sample_weight``), so a batch of 4-keypoint faces counts
    as four keypoints, as in :func:`masked_mse`. Keras's own reduction would average
    over all 30 columns, so this loss reduces itself.
    """

    def __init__(self, kind: str = "mse", beta: float = 1.0, width: float = 10.0, curvature: float = 2.0,
                 name: str = "masked_keypoint_loss", **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        if kind not in ("mse", "l1", "smooth_l1", "wing"):
            raise ValueError(f"unknown loss {kind!r}; choose mse, l1, smooth_l1 or wing")
        self.kind, self.beta, self.width, self.curvature = kind, float(beta), float(width), float(curvature)

    def __call__(self, y_true, y_pred, sample_weight=None):
        y_true = tf.convert_to_tensor(y_true, tf.float32)
        y_pred = tf.convert_to_tensor(y_pred, tf.float32)
        present = tf.math.is_finite(y_true)
        errors = tf.where(present, y_pred - tf.where(present, y_true, 0.0), 0.0) * HALF
        weights = tf.cast(present, tf.float32)
        if sample_weight is not None:
            weights *= tf.cast(sample_weight, tf.float32)
        return tf.reduce_sum(weights * self.pointwise(errors)) / tf.maximum(tf.reduce_sum(weights), 1.0)

    def pointwise(self, errors: tf.Tensor) -> tf.Tensor:
        """The loss of each error (pixels), before weighting and averaging."""
        size = tf.abs(errors)
        if self.kind == "mse":
            return tf.square(errors)
        if self.kind == "l1":
            return size
        if self.kind == "smooth_l1":
            return tf.where(size < self.beta, 0.5 * tf.square(errors) / self.beta, size - 0.5 * self.beta)
        join = self.width - self.width * math.log1p(self.width / self.curvature)
        return tf.where(size < self.width, self.width * tf.math.log1p(size / self.curvature), size - join)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "kind": self.kind, "beta": self.beta, "width": self.width,
                "curvature": self.curvature}


def keypoint_loss(config: ModelConfig) -> keras.losses.Loss | Any:
    """The loss ``config`` trains with: :func:`masked_mse` unless it changes the loss or adds
    pseudo-labels, whose weights need :class:`MaskedKeypointLoss`."""
    if config.loss == "mse" and not config.pseudo_label_weight:
        return masked_mse
    return MaskedKeypointLoss(config.loss, beta=config.smooth_l1_beta, width=config.wing_width,
                              curvature=config.wing_curvature)


@keras.saving.register_keras_serializable(package="fkd")
class PixelRMSE(keras.metrics.Metric):
    """Root mean squared error in pixels over every present coordinate seen.

    Sums squared errors and counts across batches (not a mean of batch RMSEs), so
    the epoch value is the RMSE of the whole validation set.
    """

    def __init__(self, name: str = "rmse", **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        self.squared_error = self.add_variable((), initializer="zeros", name="squared_error")
        self.count = self.add_variable((), initializer="zeros", name="count")

    def update_state(self, y_true, y_pred, sample_weight=None):
        present = tf.math.is_finite(y_true)
        errors = tf.where(present, y_pred - tf.where(present, y_true, 0.0), 0.0) * HALF
        self.squared_error.assign_add(tf.reduce_sum(tf.square(errors)))
        self.count.assign_add(tf.reduce_sum(tf.cast(present, self.dtype)))

    def result(self):
        return tf.sqrt(self.squared_error / tf.maximum(self.count, 1.0))


# --- Devices -----------------------------------------------------------------------


def strategy_for_devices(devices: Sequence[str] | None = None) -> tf.distribute.Strategy:
    """How to spread training over this machine's accelerators.

    With ``devices=None``: several visible GPUs -> ``tf.distribute.MirroredStrategy()``
    (one model copy per GPU, gradients summed every step); one GPU or none -> the
    default strategy (TensorFlow places the work on the GPU by itself when there is
    one). Pass device names (e.g. ``["/gpu:0", "/gpu:1"]``, or two logical CPUs in
    tests) to mirror over exactly those.

    Several machines: when the ``TF_CONFIG`` environment variable describes a
    cluster, ``devices=None`` gives ``tf.distribute.MultiWorkerMirroredStrategy()``;
    run the same command on every worker, each with its own ``TF_CONFIG`` task
    index. It must be created before TensorFlow runs any op in the process, so
    call this first.
    """
    if devices is None:
        return _machine_strategy()
    devices = list(devices)
    if len(devices) > 1:
        return tf.distribute.MirroredStrategy(devices)
    if len(devices) == 1:
        return tf.distribute.OneDeviceStrategy(devices[0])
    raise ValueError("strategy_for_devices: give at least one device name, or None")


@functools.cache
def _machine_strategy() -> tf.distribute.Strategy:
    """One strategy per process: a cluster's collective ops can be set up only once."""
    if os.environ.get("TF_CONFIG"):
        return tf.distribute.MultiWorkerMirroredStrategy()
    if len(tf.config.list_logical_devices("GPU")) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


# --- Input pipeline ----------------------------------------------------------------


def to_network_images(images: tf.Tensor) -> tf.Tensor:
    """uint8 [B, 96, 96] -> float32 [B, 96, 96, 1] in [0, 1], on the graph."""
    return tf.cast(images, tf.float32)[..., None] / 255.0


def training_dataset(
    images: np.ndarray,
    targets: np.ndarray,
    batch_size: int,
    seed: int,
    augmentation: Augmentation = Augmentation(),
    mirror_axis: float = 0.0,
    weights: np.ndarray | None = None,
) -> tf.data.Dataset:
    """Endless batches of (network images, normalised targets), reshuffled every epoch.

    Images stay uint8 in memory (4x smaller) and become floats batch by batch.
    Shuffle -> batch -> repeat gives epochs of exactly one pass each; numbering
    the batches after ``repeat`` gives each one its own augmentation seed. Fit it
    with ``steps_per_epoch = ceil(n / batch_size)``. Flips mirror labels about
    ``mirror_axis`` (normalised). With ``weights`` (N x 30) each batch carries them
    third, as Keras's sample weights.
    """
    arrays = (images, targets) if weights is None else (images, targets, np.asarray(weights, np.float32))
    dataset = (
        tf.data.Dataset.from_tensor_slices(arrays)
        .cache()
        .shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
        .batch(batch_size)
        .repeat()
        .map(lambda x, *rest: (to_network_images(x), *rest), num_parallel_calls=tf.data.AUTOTUNE)
    )
    if augmentation.active:
        dataset = dataset.enumerate().map(
            make_augmenter(augmentation, seed, mirror_axis), num_parallel_calls=tf.data.AUTOTUNE
        )
    return dataset.prefetch(tf.data.AUTOTUNE)


def evaluation_dataset(images: np.ndarray, targets: np.ndarray, batch_size: int) -> tf.data.Dataset:
    """Batches of (network images, normalised targets) in order, unaugmented."""
    return (
        tf.data.Dataset.from_tensor_slices((images, targets))
        .batch(batch_size)
        .map(lambda x, y: (to_network_images(x), y), num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(tf.data.AUTOTUNE)
    )


def compile_model(
    config: ModelConfig, steps_per_epoch: int, epochs: int, mirror_axis: float | None = None
) -> keras.Model:
    """The config's network, compiled with its optimizer, the masked loss and pixel RMSE.

    One place for it, so a comparison that feeds the network differently (the
    benchmark's bare ``fit``) trains exactly the model :func:`train` trains.
    ``mirror_axis`` (pixels) is kept in the network (:class:`fkd.models.MirrorAxis`).
    """
    model = build_model(config, mirror_axis)
    recompile(model, config, steps_per_epoch, epochs)
    return model


def recompile(model: keras.Model, config: ModelConfig, steps_per_epoch: int, epochs: int) -> None:
    """Give ``model`` a fresh optimizer for ``epochs`` more epochs (a cosine cycle restarts), the
    config's loss and pixel RMSE; its weights are kept."""
    model.compile(
        optimizer=make_optimizer(config, steps_per_epoch, epochs),
        loss=keypoint_loss(config),
        metrics=[PixelRMSE()],
        # Keras turns XLA on whenever a GPU is visible. We keep the same kernels on
        # every machine; on CPU, XLA runs these convolutions ~3.5x slower anyway.
        jit_compile=False,
    )


# --- Progress ----------------------------------------------------------------------


class EpochClock(keras.callbacks.Callback):
    """Records the wall and CPU seconds since training began at the end of every epoch.

    CPU seconds count every thread of this process (tf.data's included). On a shared
    machine wall times stretch with other people's work while CPU times barely do,
    so both are kept.
    """

    def on_train_begin(self, logs=None):
        self.start, self.cpu_start = time.perf_counter(), time.process_time()
        self.seconds: list[float] = []
        self.cpu_seconds: list[float] = []

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self.start)
        self.cpu_seconds.append(time.process_time() - self.cpu_start)


ALIVE_PROBE_FACES = 256
"""Training faces (the first ones learned from) on which :class:`UnitsAlive` counts living units."""


class UnitsAlive(keras.callbacks.Callback):
    """Records, after every epoch, the fraction of the last hidden layer's units still alive.

    A unit is alive when it fires (ReLU output > 0) for at least one of a fixed set
    of training faces. Under Keras 3's RMSprop the study's CNN baseline loses almost
    all its dense units within a few dozen steps on real faces; under Keras 2's
    (the study's) a good share survive -- this history shows which happened. The
    count is one inference pass over the probe faces per epoch (a few per cent of
    an epoch's time) and touches no random state.
    """

    def __init__(self, images: np.ndarray, layer: str) -> None:
        super().__init__()
        self.images, self.layer = images, layer
        self.alive: list[float] = []

    def on_train_begin(self, logs=None):
        self.probe = UnitProbe(self.model, self.layer)

    def on_epoch_end(self, epoch, logs=None):
        self.alive.append(self.probe.alive(self.images))


class WeightAverage(keras.callbacks.Callback):
    """An exponential moving average of the weights, updated after every step; the network ends with it.

    average_t = m average_{t-1} + (1 - m) w_t from average_0 = 0, read as
    average_t / (1 - m^t) (bias-corrected, as Adam's moments are): after t steps that is a
    weighted mean of the weights of those t steps, so even a short run is not pulled
    towards zero or towards its random start. Validation passes during training see the
    average (swapped in, then back), so 'val_rmse' scores the network that will predict.
    When training ends the network holds the average. Plain NumPy, one copy of the
    weights, outside the graph; the same on any device strategy.
    """

    def __init__(self, momentum: float) -> None:
        super().__init__()
        if not 0.0 < momentum < 1.0:
            raise ValueError(f"WeightAverage: momentum must be in (0, 1), got {momentum}")
        self.momentum = momentum

    def on_train_begin(self, logs=None):
        self.sums = [np.zeros_like(w) for w in self.model.get_weights()]
        self.steps = 0
        self.training_weights: list[np.ndarray] | None = None

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        for total, weights in zip(self.sums, self.model.get_weights()):
            total *= self.momentum
            total += (1 - self.momentum) * weights

    def average(self) -> list[np.ndarray]:
        """The bias-corrected average (the current weights before the first step)."""
        if self.steps == 0:
            return self.model.get_weights()
        correction = 1 - self.momentum ** self.steps
        return [(total / correction).astype(total.dtype) for total in self.sums]

    def on_test_begin(self, logs=None):
        self.training_weights = self.model.get_weights()
        self.model.set_weights(self.average())

    def on_test_end(self, logs=None):
        self.model.set_weights(self.training_weights)
        self.training_weights = None

    def on_train_end(self, logs=None):
        self.model.set_weights(self.average())


class EpochProgressBar(keras.callbacks.Callback):
    """One tqdm bar over the epochs, showing the latest loss and val_rmse.

    Replaces Keras's per-batch log lines, which flood notebooks over 300 epochs.
    """

    def __init__(self, epochs: int, description: str) -> None:
        super().__init__()
        self.epochs = epochs
        self.description = description
        self.bar = None

    def on_train_begin(self, logs=None):
        from tqdm.auto import tqdm

        self.bar = tqdm(total=self.epochs, desc=self.description, unit="epoch")

    def on_epoch_end(self, epoch, logs=None):
        shown = {k: f"{v:.4g}" for k, v in (logs or {}).items() if k in ("loss", "val_rmse")}
        self.bar.set_postfix(shown, refresh=False)
        self.bar.update(1)

    def on_train_end(self, logs=None):
        self.bar.close()


# --- Training ----------------------------------------------------------------------


def train(
    config: ModelConfig,
    images: np.ndarray,
    keypoints: np.ndarray,
    val_images: np.ndarray | None = None,
    val_keypoints: np.ndarray | None = None,
    *,
    seed: int = 0,
    epochs: int | None = None,
    progress: bool = True,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    strategy: tf.distribute.Strategy | None = None,
) -> TrainedModel:
    """Fit ``config`` to uint8 images and pixel keypoints (NaN = missing).

    Rows are chosen by ``config.missing`` (:func:`apply_missing_policy`).
    Validation data, if given, is scored every epoch as 'val_rmse' (pixels, every
    present coordinate; all its rows are used). ``epochs`` overrides
    ``config.epochs``. The same seed on the same machine gives identical weights:
    this seeds Python, NumPy and TensorFlow and turns on TensorFlow's
    deterministic ops for the whole process.

    ``strategy`` defaults to :func:`strategy_for_devices`. Under a multi-device
    strategy each device gets ``config.batch_size`` images per step, so the global
    batch is ``batch_size x devices`` (the learning rate is left as configured).
    """
    _check_images(images, "images")
    _check_keypoints(keypoints, len(images), "keypoints")
    has_val = val_images is not None or val_keypoints is not None
    if has_val:
        if val_images is None or val_keypoints is None:
            raise ValueError("give both val_images and val_keypoints, or neither")
        _check_images(val_images, "val_images")
        _check_keypoints(val_keypoints, len(val_images), "val_keypoints")
    epochs = epochs or config.epochs

    if config.kind == "knn":
        return _train_knn(config, images, keypoints, val_images, val_keypoints)

    strategy = strategy or strategy_for_devices()
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    rows, targets = apply_missing_policy(keypoints, config.missing)
    if len(rows) == 0:
        raise ValueError(f"no training rows left after missing policy {config.missing!r}")
    batch_size = config.batch_size * strategy.num_replicas_in_sync
    steps_per_epoch = -(-len(rows) // batch_size)
    lengths = cycle_lengths(epochs, config.cycles)
    axis = estimate_mirror_axis(images[rows], targets) if config.mirror_axis == "estimated" else None

    with strategy.scope():
        model = compile_model(config, steps_per_epoch, lengths[0], axis)
    val_data = (
        evaluation_dataset(val_images, normalise(val_keypoints), max(batch_size, 256))
        if has_val
        else None
    )
    fit_targets, fit_weights = targets, None
    history: dict[str, list[float]] = {}
    snapshots: list[list[np.ndarray]] = []
    clocks: list[EpochClock] = []
    for cycle, cycle_epochs in enumerate(lengths):
        if cycle:
            with strategy.scope():
                recompile(model, config, steps_per_epoch, cycle_epochs)
        train_data = training_dataset(
            images[rows], normalise(fit_targets), batch_size, cycle_seed(seed, cycle), config.augmentation,
            0.0 if axis is None else float(normalise(axis)), fit_weights,
        )
        clocks.append(EpochClock())
        units = UnitsAlive(images[rows[:ALIVE_PROBE_FACES]], hidden_layer(config))
        all_callbacks = [clocks[-1], units, *([WeightAverage(config.ema)] if config.ema else []), *callbacks]
        if progress:
            label = config.name if len(lengths) == 1 else f"{config.name} cycle {cycle + 1}/{len(lengths)}"
            all_callbacks.append(EpochProgressBar(cycle_epochs, label))
        if cycle == 0:
            start = time.perf_counter()
        fit = model.fit(
            train_data,
            epochs=cycle_epochs,
            steps_per_epoch=steps_per_epoch,
            validation_data=val_data,
            callbacks=all_callbacks,
            shuffle=False,  # the dataset shuffles itself, seeded
            verbose=0,
        )
        extend_history(history, fit.history, clocks[-1], clocks[0], units.alive)
        if config.snapshot_ensemble:
            snapshots.append(model.get_weights())
        if config.pseudo_label_weight and cycle < len(lengths) - 1:
            fit_targets, fit_weights = pseudo_labels(model, config, images[rows], targets, config.pseudo_label_weight)
    seconds = time.perf_counter() - start
    if snapshots:
        model = snapshot_ensemble(config, snapshots, axis)
    if axis is not None:
        history["mirror_axis"] = [axis]
    return TrainedModel(model, config, history, seconds, epochs * len(rows) / seconds, epochs)


def cycle_lengths(epochs: int, cycles: int) -> list[int]:
    """Epochs of each cosine cycle: ``epochs`` split as evenly as whole epochs allow."""
    if epochs < cycles:
        raise ValueError(f"{epochs} epochs cannot hold {cycles} cosine cycles; train at least {cycles} epochs")
    return [epochs * (c + 1) // cycles - epochs * c // cycles for c in range(cycles)]


def cycle_seed(seed: int, cycle: int) -> int:
    """The data seed (shuffling, augmentation) of cosine cycle ``cycle``: ``seed`` for the first, so a
    one-cycle run is exactly what it always was; for later ones a seed derived from both, so a
    restart does not replay the first cycle's batches."""
    return seed if cycle == 0 else int(np.random.SeedSequence([seed, cycle]).generate_state(1)[0])


def extend_history(
    history: dict[str, list[float]], logs: dict[str, list[Any]], clock: EpochClock, first: EpochClock,
    alive: list[float],
) -> None:
    """Append one fit's per-epoch values to ``history``, its times counted from the ``first`` fit's start."""
    for key, values in logs.items():
        history.setdefault(key, []).extend(float(v) for v in values)
    wall, cpu = clock.start - first.start, clock.cpu_start - first.cpu_start
    history.setdefault("seconds", []).extend(wall + s for s in clock.seconds)
    history.setdefault("cpu_seconds", []).extend(cpu + s for s in clock.cpu_seconds)
    history.setdefault("alive", []).extend(alive)


def pseudo_labels(
    model: keras.Model, config: ModelConfig, images: np.ndarray, targets: np.ndarray, weight: float
) -> tuple[np.ndarray, np.ndarray]:
    """``targets`` (pixels) with every missing coordinate filled by ``model``'s answer, and the loss weights.

    The answer is :func:`predict`'s (flip TTA when the config has it, about the model's own
    mirror axis). Labels keep weight 1 and are never changed; filled coordinates weigh ``weight``.
    """
    missing = np.isnan(targets)
    answers = predict(model, config, images)
    filled = np.where(missing, answers, targets).astype(np.float32)
    return filled, np.where(missing, np.float32(weight), np.float32(1.0))


def _train_knn(
    config: ModelConfig,
    images: np.ndarray,
    keypoints: np.ndarray,
    val_images: np.ndarray | None,
    val_keypoints: np.ndarray | None,
) -> TrainedModel:
    """The study's k-NN regressor on raw pixels / 255; complete (or filled) rows only."""
    if config.missing == "masked":
        raise ValueError(
            f"config {config.name!r}: k-NN cannot learn from partly missing keypoints; "
            "use missing='dropna' or 'ffill'"
        )
    rows, targets = apply_missing_policy(keypoints, config.missing)
    if len(rows) < config.k:
        raise DataError(f"k-NN with k = {config.k} needs at least {config.k} training faces with every keypoint "
                        f"({config.missing}), and these data have {len(rows)}; choose a smaller k or more data")
    start = time.perf_counter()
    model = KNeighborsRegressor(config.k).fit(_flat_pixels(images[rows]), normalise(targets))
    seconds = time.perf_counter() - start
    train_predictions = model.predict(_flat_pixels(images[rows]))
    history = {"loss": [float(np.mean((train_predictions - normalise(targets)) ** 2))]}
    if val_images is not None:
        val_predictions = to_pixels(model.predict(_flat_pixels(val_images)))
        history["val_rmse"] = [rmse(val_keypoints, val_predictions)]
    return TrainedModel(model, config, history, seconds, len(rows) / max(seconds, 1e-9), 1)


def _flat_pixels(images: np.ndarray) -> np.ndarray:
    return images.reshape(len(images), -1).astype(np.float32) / 255.0


def _check_images(images: np.ndarray, name: str) -> None:
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8:
        raise TypeError(f"{name} must be a uint8 numpy array of 0-255 pixels")
    if images.ndim != 3 or images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
        raise ValueError(f"{name} must be N x {IMAGE_SIZE} x {IMAGE_SIZE}, got {images.shape}")


def _check_keypoints(keypoints: np.ndarray, n_rows: int, name: str) -> None:
    shape = np.shape(keypoints)
    if shape != (n_rows, N_COORDINATES):
        raise ValueError(f"{name} must be {n_rows} x {N_COORDINATES} pixels, got {shape}")


# --- Prediction --------------------------------------------------------------------


def predict(
    model: Model, config: ModelConfig, images: np.ndarray, batch_size: int = 256
) -> np.ndarray:
    """Keypoints in pixels, float32 N x 30, for uint8 images N x 96 x 96.

    With ``config.tta_flip`` each face is also predicted mirrored; that answer is
    mirrored back (x reflected about the axis the network was trained with -- the image
    centre unless it carries an estimated one, :func:`fkd.models.model_mirror_axis` --
    left/right labels swapped) and averaged in.
    """
    _check_images(images, "images")
    normalised = _predict_normalised(model, images, batch_size)
    if config.tta_flip:
        mirrored = _predict_normalised(model, np.ascontiguousarray(images[:, :, ::-1]), batch_size)
        # Mirroring is its own inverse: mirror the answer back onto the original face.
        axis = float(normalise(model_mirror_axis(model)))
        normalised = (normalised + mirror_normalised(mirrored, axis)) / 2
    return to_pixels(normalised)


def _predict_normalised(model: Model, images: np.ndarray, batch_size: int) -> np.ndarray:
    if isinstance(model, KNeighborsRegressor):
        return model.predict(_flat_pixels(images)).astype(np.float32)
    if len(images) == 0:
        return np.zeros((0, N_COORDINATES), np.float32)
    # Calling the model eagerly batch by batch, rather than model.predict, avoids
    # tracing a new tf.function for every model a notebook scores (and the warnings).
    outputs = [
        np.asarray(model(images[start:start + batch_size, ..., None].astype(np.float32) / 255.0, training=False))
        for start in range(0, len(images), batch_size)
    ]
    return np.concatenate(outputs).astype(np.float32)


# --- Saving ------------------------------------------------------------------------


def save_model(model: keras.Model, path: str | Path) -> None:
    """Write ``model`` to ``path`` (.keras) atomically.

    The file is written under a temporary name in the same directory and then
    renamed, so a killed process never leaves a half-written model under ``path``
    (a cache that finds the file can trust it).
    """
    path = Path(path)
    if not isinstance(model, keras.Model):
        raise TypeError(
            f"save_model saves Keras networks, not {type(model).__name__}; "
            "k-NN models are refitted instead (it takes seconds)"
        )
    if path.suffix != ".keras":
        raise ValueError(f"{path}: model files must end in .keras")
    with atomic_path(path, suffix=".keras") as temporary:
        model.save(temporary)


class ModelFileError(DataError):
    """A saved model that cannot be loaded; the message names the file and what to do."""


def load_model(path: str | Path) -> keras.Model:
    """A network saved by :func:`save_model`, ready to predict (not compiled).

    ``safe_mode=True`` refuses files that would run arbitrary code (Lambda layers);
    our models use stock layers and fkd's registered ones only, so a refusal means
    the file is not one of ours. Any file that will not load -- refused, truncated, not a model -- raises
    :class:`ModelFileError` naming it, why, and what to do.
    """
    path = Path(path)
    try:
        return keras.saving.load_model(path, safe_mode=True, compile=False)
    except Exception as error:  # Keras raises ValueError, OSError, zipfile errors, KeyError...
        reason = " ".join(str(error).split())[:300] or type(error).__name__
        raise ModelFileError(
            f"this saved model cannot be loaded ({type(error).__name__}: {reason}). It was damaged, "
            "or not written by fkd; delete it and train the model again (fkd train ...)", file=path,
        ) from None
