"""The study's optimizer: RMSprop as Keras 2 computed it.

The study ran standalone Keras 2 (2.2/2.3, on TensorFlow 1), whose RMSprop
steps every weight by::

    v = rho * v + (1 - rho) * g**2
    p = p - lr * g / (sqrt(v) + epsilon)

Keras 3 (``keras.optimizers.RMSprop``) moved epsilon under the root::

    p = p - lr * g / sqrt(v + epsilon)

With epsilon = 1e-7 the two agree for large gradients and part ways for small
ones: under the root, epsilon sets a floor of sqrt(1e-7) = 3.2e-4 on the
denominator, so a weight whose gradient is far below that floor barely moves,
while Keras 2 divides by sqrt(v) itself and moves every weight by about the
same amount, however small its gradient (a sign-like step of ~lr / sqrt(1 - rho)
on the first step). The study's CNN baseline has a 135,424 x 50 dense layer whose
gradients are of order 1e-3 and smaller; the two updates train it differently
enough to decide whether its ReLU units survive (notebook 02 shows it). Reproducing
the study means reproducing this detail.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

KERAS2_EPSILON = 1e-7
"""``keras.backend.epsilon()`` in Keras 2.1-2.3, RMSprop's default there."""


@keras.saving.register_keras_serializable(package="fkd")
class Keras2RMSprop(keras.optimizers.RMSprop):
    """RMSprop with Keras 2's update: ``p -= lr * g / (sqrt(v) + epsilon)``, accumulator starting at 0.

    Everything else (rho = 0.9, epsilon = 1e-7, the learning rate and its
    schedules, weight decay, serialisation) is Keras 3's RMSprop. Keras 2's
    RMSprop had neither momentum nor a centred variant, so both are refused.
    """

    def __init__(self, learning_rate: Any = 0.001, rho: float = 0.9, epsilon: float = KERAS2_EPSILON,
                 name: str = "keras2_rmsprop", **kwargs: Any) -> None:
        if kwargs.get("momentum") or kwargs.get("centered"):
            raise ValueError("Keras2RMSprop reproduces Keras 2's RMSprop, which had no momentum and no "
                             "centred variant; use keras.optimizers.RMSprop for those")
        super().__init__(learning_rate=learning_rate, rho=rho, epsilon=epsilon, name=name, **kwargs)

    def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> None:
        lr = ops.cast(learning_rate, variable.dtype)
        gradient = ops.cast(gradient, variable.dtype)
        velocity = self._velocities[self._get_variable_index(variable)]
        self.assign(velocity, ops.add(ops.multiply(self.rho, velocity),
                                      ops.multiply(1 - self.rho, ops.square(gradient))))
        denominator = ops.add(ops.sqrt(velocity), self.epsilon)
        self.assign_sub(variable, ops.divide(ops.multiply(lr, gradient), denominator))
