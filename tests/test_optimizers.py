"""The study's optimizer is Keras 2's RMSprop: epsilon added to the root, not under it."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest

from fkd.configs import REGISTRY, STUDY, get_config
from fkd.models import make_optimizer
from fkd.optimizers import Keras2RMSprop

LR, RHO, EPS = 1e-3, 0.9, 1e-7
GRADIENTS = (np.array([1e-3, 1e-5, -2e-2], np.float32), np.array([5e-4, 1e-5, 1e-2], np.float32))
"""Two steps' gradients for three weights: one of the dense layer's typical size, one tiny, one large."""


def steps(optimizer: keras.optimizers.Optimizer) -> np.ndarray:
    weights = keras.Variable(np.ones(3, np.float32))
    for gradient in GRADIENTS:
        optimizer.apply_gradients([(keras.ops.convert_to_tensor(gradient), weights)])
    return np.asarray(weights)


def by_hand(epsilon_under_root: bool) -> np.ndarray:
    weights, velocity = np.ones(3), np.zeros(3)
    for gradient in GRADIENTS:
        velocity = RHO * velocity + (1 - RHO) * gradient.astype(np.float64) ** 2
        denominator = np.sqrt(velocity + EPS) if epsilon_under_root else np.sqrt(velocity) + EPS
        weights = weights - LR * gradient / denominator
    return weights


def test_first_step_by_hand():
    # v = 0.1 g^2; Keras 2 steps lr g / (sqrt(v) + eps): for g = 1e-3, 1e-6 / (3.1623e-4 + 1e-7)
    weights = keras.Variable(np.ones(1, np.float32))
    Keras2RMSprop(LR).apply_gradients([(keras.ops.convert_to_tensor(np.array([1e-3], np.float32)), weights)])
    assert float(np.asarray(weights)[0]) == pytest.approx(1 - 1e-6 / (math.sqrt(1e-7) + 1e-7), abs=1e-7)


def test_two_steps_follow_keras2s_formula():
    np.testing.assert_allclose(steps(Keras2RMSprop(LR)), by_hand(epsilon_under_root=False), rtol=0, atol=2e-6)


def test_keras3_rmsprop_is_the_other_formula_and_differs_for_small_gradients():
    keras3 = steps(keras.optimizers.RMSprop(LR))
    np.testing.assert_allclose(keras3, by_hand(epsilon_under_root=True), rtol=0, atol=2e-6)
    keras2 = steps(Keras2RMSprop(LR))
    # a tiny gradient still moves its weight by ~lr * sqrt(10) under Keras 2, ~100x less under Keras 3
    assert 1 - keras2[1] > 50 * (1 - keras3[1])
    # a large gradient moves it the same under both
    assert keras2[2] == pytest.approx(keras3[2], rel=1e-3)


def test_momentum_and_centred_variants_are_refused():
    with pytest.raises(ValueError, match="no momentum"):
        Keras2RMSprop(LR, momentum=0.9)
    with pytest.raises(ValueError, match="centred"):
        Keras2RMSprop(LR, centered=True)


def test_round_trips_through_keras_serialisation():
    optimizer = Keras2RMSprop(2e-3)
    again = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    assert isinstance(again, Keras2RMSprop)
    assert float(again.learning_rate) == pytest.approx(2e-3) and again.epsilon == EPS


def test_every_study_network_trains_with_the_studys_optimizer_and_best_does_not():
    for config in STUDY:
        if config.kind != "knn":
            assert isinstance(make_optimizer(config, steps_per_epoch=1), Keras2RMSprop), config.name
    assert REGISTRY["modelh_12_noflip"].optimizer == "keras2_rmsprop"
    assert isinstance(make_optimizer(get_config("best"), steps_per_epoch=1), keras.optimizers.AdamW)
