"""Turn a :class:`~fkd.configs.ModelConfig` into a Keras network and its optimizer.

The networks are the study's, layer for layer: the notebook wrote each one out by
hand; here one builder reads the config. Every network takes a 96x96x1 float32
image scaled to [0, 1] and outputs 30 numbers, the keypoints in the study's
normalised units ``(pixels - 48) / 48``.

Only stock Keras layers are used, so saved models load with ``safe_mode=True``; the
one fkd layer, :class:`MirrorAxis`, computes nothing and is registered with Keras.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import numpy as np

from fkd.configs import ModelConfig
from fkd.keypoints import COORDINATE_COLUMNS, HALF, IMAGE_SIZE
from fkd.optimizers import Keras2RMSprop

INPUT_SHAPE = (IMAGE_SIZE, IMAGE_SIZE, 1)
N_OUTPUTS = len(COORDINATE_COLUMNS)

LATER_KERNEL_SIZE = 3
"""Every convolution after the first is 3x3 in the study, whatever the first one is."""


def build_model(config: ModelConfig, mirror_axis: float | None = None, name: str | None = None) -> keras.Model:
    """The untrained network a ``dense`` or ``cnn`` config describes, named after it (or ``name``).

    dense: Flatten -> Dense(hidden_units, relu) -> Dense(30), the study's two-layer net.
    cnn: for each convolution i, Conv2D(filters[i], kernel_size for i == 0 else 3,
    relu, padding first_padding for i == 0 else "valid"), then MaxPooling2D(2) when
    pool_after[i]; then Dropout(dropout) -> Flatten -> Dense(dense_units, relu) ->
    Dense(30). This is exactly the study's Sequential stacks (model3/4, modelh_*).

    Levers (all off by default): ``input_norm`` puts a per-image standardisation first,
    ``stem`` changes how the first convolution halves the image, and ``mirror_axis``
    (pixels, estimated at fit time) is carried in a :class:`MirrorAxis` layer.
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
    inputs = [keras.Input(INPUT_SHAPE, name="image"), *_input_layers(config, mirror_axis)]
    return keras.Sequential([*inputs, *layers], name=name or config.name)


def _input_layers(config: ModelConfig, mirror_axis: float | None) -> list[keras.layers.Layer]:
    """What comes before the first learned layer: the mirror axis, standardisation, the folded stem."""
    layers: list[keras.layers.Layer] = []
    if mirror_axis is not None:
        layers.append(MirrorAxis(mirror_axis, name="mirror_axis"))
    if config.input_norm == "per_image":
        # Zero mean and unit variance over each image's pixels: a LayerNormalization without
        # learned scale or shift. Brightness and contrast then stop mattering.
        layers.append(keras.layers.LayerNormalization(
            axis=[1, 2, 3], center=False, scale=False, epsilon=PER_IMAGE_EPSILON, name="standardise"))
    if config.kind == "cnn" and config.stem == "space_to_depth":
        layers.extend(space_to_depth())
    return layers


PER_IMAGE_EPSILON = 1e-6
"""Added to each image's variance: a blank image (variance 0) standardises to zeros, not NaN."""


def space_to_depth(block: int = 2) -> list[keras.layers.Layer]:
    """Fold each ``block`` x ``block`` square of pixels into channels: 96x96x1 -> 48x48x4.

    The same arrangement as ``tf.nn.space_to_depth`` (channel = row-in-block * block +
    column-in-block), from stock reshapes, so saved models need no custom code. Nothing
    is lost, unlike a pool, and the first convolution runs on a quarter of the positions.
    """
    side = IMAGE_SIZE // block
    return [
        keras.layers.Reshape((side, block, side, block), name="fold_rows"),
        keras.layers.Permute((1, 3, 2, 4), name="fold_blocks"),
        keras.layers.Reshape((side, side, block * block), name="fold_channels"),
    ]


def _convolutions(config: ModelConfig) -> list[keras.layers.Layer]:
    layers: list[keras.layers.Layer] = []
    for i, (filters, pool) in enumerate(zip(config.filters, config.pool_after)):
        first = i == 0
        layers.append(
            keras.layers.Conv2D(
                filters,
                config.kernel_size if first else LATER_KERNEL_SIZE,
                strides=2 if first and config.stem == "stride2" else 1,
                padding=config.first_padding if first else "valid",
                activation="relu",
                name=f"conv{i + 1}",
            )
        )
        if pool and not (first and config.stem != "conv"):  # a stem already halved the image
            layers.append(keras.layers.MaxPooling2D(2, name=f"pool{i + 1}"))
    return layers


@keras.saving.register_keras_serializable(package="fkd")
class MirrorAxis(keras.layers.Layer):
    """Passes images through unchanged; carries the x (pixels) about which the network's labels mirror.

    A network trained with an estimated mirror axis (``ModelConfig.mirror_axis``) must be
    flipped about the same axis at test time; keeping it inside the model means a saved
    model answers the same way wherever it is loaded (see :func:`model_mirror_axis`).
    """

    def __init__(self, axis: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.axis = float(axis)

    def call(self, inputs):
        return inputs

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axis": self.axis}


def model_mirror_axis(model: Any) -> float:
    """The mirror axis (pixels) ``model`` was trained with: its :class:`MirrorAxis`, else the image centre."""
    for layer in getattr(model, "layers", ()):
        if isinstance(layer, MirrorAxis):
            return layer.axis
        if isinstance(layer, keras.Model):  # a snapshot ensemble's members
            return model_mirror_axis(layer)
    return HALF


def snapshot_ensemble(
    config: ModelConfig, snapshots: Sequence[list[np.ndarray]], mirror_axis: float | None = None
) -> keras.Model:
    """One model, named after ``config``, whose answer is the mean of its members' answers.

    Each member is ``config``'s network holding one snapshot's weights (``model.get_weights()``
    at the end of a cosine cycle), nested under the name ``snapshot<i>``. Averaging
    keypoints is linear, so flip TTA on the ensemble is the ensemble of flip TTAs.
    """
    if len(snapshots) < 2:
        raise ValueError(f"config {config.name!r}: an ensemble needs at least two snapshots, got {len(snapshots)}")
    image = keras.Input(INPUT_SHAPE, name="image")
    answers = []
    for i, weights in enumerate(snapshots):
        member = build_model(config, mirror_axis, name=f"snapshot{i + 1}")
        member.set_weights(weights)
        answers.append(member(image))
    return keras.Model(image, keras.layers.Average(name="keypoints")(answers), name=config.name)


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
