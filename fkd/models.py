"""Turn a :class:`~fkd.configs.ModelConfig` into a Keras network and its optimizer.

The networks are the study's, layer for layer: the notebook wrote each one out by
hand; here one builder reads the config. Every network takes a 96x96x1 float32
image scaled to [0, 1] and outputs 30 numbers, the keypoints in the study's
normalised units ``(pixels - 48) / 48``.

Only stock Keras layers are used, so saved models load with ``safe_mode=True``.
"""

from __future__ import annotations

import keras
import numpy as np

from fkd.configs import ModelConfig
from fkd.keypoints import COORDINATE_COLUMNS, IMAGE_SIZE
from fkd.optimizers import Keras2RMSprop

INPUT_SHAPE = (IMAGE_SIZE, IMAGE_SIZE, 1)
N_OUTPUTS = len(COORDINATE_COLUMNS)

LATER_KERNEL_SIZE = 3
"""Every convolution after the first is 3x3 in the study, whatever the first one is."""


def build_model(config: ModelConfig) -> keras.Model:
    """The untrained network a ``dense`` or ``cnn`` config describes, named after it.

    dense: Flatten -> Dense(hidden_units, relu) -> Dense(30), the study's two-layer net.
    cnn: for each convolution i, Conv2D(filters[i], kernel_size for i == 0 else 3,
    relu, padding first_padding for i == 0 else "valid"), then MaxPooling2D(2) when
    pool_after[i]; then Dropout(dropout) -> Flatten -> Dense(dense_units, relu) ->
    Dense(30). This is exactly the study's Sequential stacks (model3/4, modelh_*).
    """
    if config.kind == "dense":
        layers = [
            keras.layers.Flatten(name="flatten"),
            keras.layers.Dense(config.hidden_units, activation="relu", name="hidden"),
        ]
    elif config.kind == "cnn":
        layers = _convolutions(config) + [
            keras.layers.Dropout(config.dropout, name="dropout"),
            keras.layers.Flatten(name="flatten"),
            keras.layers.Dense(config.dense_units, activation="relu", name="dense"),
        ]
    else:
        raise ValueError(
            f"config {config.name!r}: build_model makes networks for kind 'dense' or 'cnn', "
            f"not {config.kind!r} (k-NN is fitted by fkd.train.train)"
        )
    layers.append(keras.layers.Dense(N_OUTPUTS, name="keypoints"))
    return keras.Sequential([keras.Input(INPUT_SHAPE, name="image"), *layers], name=config.name)


def _convolutions(config: ModelConfig) -> list[keras.layers.Layer]:
    layers: list[keras.layers.Layer] = []
    for i, (filters, pool) in enumerate(zip(config.filters, config.pool_after)):
        first = i == 0
        layers.append(
            keras.layers.Conv2D(
                filters,
                config.kernel_size if first else LATER_KERNEL_SIZE,
                padding=config.first_padding if first else "valid",
                activation="relu",
                name=f"conv{i + 1}",
            )
        )
        if pool:
            layers.append(keras.layers.MaxPooling2D(2, name=f"pool{i + 1}"))
    return layers


def make_optimizer(
    config: ModelConfig, steps_per_epoch: int, epochs: int | None = None
) -> keras.optimizers.Optimizer:
    """The config's optimizer; with ``schedule="cosine"`` its rate decays to 0 over training.

    ``steps_per_epoch`` and ``epochs`` (default ``config.epochs``) size the cosine
    schedule, which must end exactly when training does to reach its low rates.
    ``weight_decay`` is Keras's decoupled decay (AdamW's; also honoured by RMSprop/Adam).
    """
    learning_rate: float | keras.optimizers.schedules.LearningRateSchedule = config.learning_rate
    if config.schedule == "cosine":
        total_steps = max(1, steps_per_epoch * (epochs or config.epochs))
        learning_rate = keras.optimizers.schedules.CosineDecay(config.learning_rate, total_steps)
    elif config.schedule != "constant":
        raise ValueError(f"config {config.name!r}: unknown schedule {config.schedule!r}")
    # None, not 0.0: Keras would otherwise add a multiply-by-zero to every update.
    weight_decay = config.weight_decay or None
    if config.optimizer == "rmsprop":
        return keras.optimizers.RMSprop(learning_rate, weight_decay=weight_decay)
    if config.optimizer == "keras2_rmsprop":
        return Keras2RMSprop(learning_rate, weight_decay=weight_decay)
    if config.optimizer == "adam":
        return keras.optimizers.Adam(learning_rate, weight_decay=weight_decay)
    if config.optimizer == "adamw":
        return keras.optimizers.AdamW(learning_rate, weight_decay=config.weight_decay)
    raise ValueError(
        f"config {config.name!r}: unknown optimizer {config.optimizer!r}; "
        "choose rmsprop, keras2_rmsprop, adam or adamw"
    )


HIDDEN_LAYER = {"dense": "hidden", "cnn": "dense"}
"""The last hidden (ReLU) layer of each kind of network: where units die when a network collapses."""


def hidden_layer(config: ModelConfig) -> str:
    """The name of ``config``'s last hidden ReLU layer (``hidden`` in the two-layer net, ``dense`` in a CNN)."""
    try:
        return HIDDEN_LAYER[config.kind]
    except KeyError:
        raise ValueError(f"config {config.name!r}: a {config.kind!r} model has no hidden layer") from None


class UnitProbe:
    """Counts the living units of one hidden layer of ``model`` on a fixed set of faces.

    A ReLU unit that outputs zero for every face is "dead": it no longer passes any
    gradient and can never learn again. A net whose hidden units all died answers
    every face with its output bias -- a constant, at best the mean face.
    """

    def __init__(self, model: keras.Model, layer: str) -> None:
        self.probe = keras.Model(model.inputs[0], model.get_layer(layer).output)

    def alive(self, images: np.ndarray) -> float:
        """Fraction of the layer's units that output more than zero for at least one of ``images`` (uint8)."""
        fired = None
        for i in range(0, len(images), 256):
            batch = images[i:i + 256, ..., None].astype(np.float32) / 255.0
            outputs = np.asarray(self.probe(batch, training=False))
            any_fired = (outputs.reshape(len(batch), -1) > 0).any(axis=0)
            fired = any_fired if fired is None else fired | any_fired
        return float(fired.mean()) if fired is not None else float("nan")


def active_units(model: keras.Model, layer: str, images: np.ndarray) -> float:
    """Fraction of ``layer``'s units that fire (output > 0) for at least one of ``images`` (uint8)."""
    return UnitProbe(model, layer).alive(images)
