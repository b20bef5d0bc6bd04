"""What the step keeps of its losses, and what tells that training diverged: two Keras metrics.

``LossMeans`` holds the mean of each of the step's losses (the logs ``fit()`` reports);
``NonFiniteUpdates`` counts the updates that left a loss, weight or optimizer state NaN
or infinite, or a trained weight beyond ``WEIGHT_LIMIT``, which the run's divergence guard
reads after every step.
"""

import keras
from keras import ops

# No weight of a sound GAN comes near this; one update at a huge learning rate (or penalty weight)
# goes past it while staying finite, and nothing trains on from such weights, whatever the rates.
WEIGHT_LIMIT = 1e4


class NonFiniteUpdates(keras.metrics.Metric):
    """How many checks since the last reset found a NaN or infinite value in what they were given.

    The adversarial step checks each update's loss, variables and optimizer state
    and, at its end, every weight: a NaN need not reach the losses (a clip or a
    ReLU can drop it, depending on the CPU's kernels), so the losses alone cannot
    tell that training diverged.  Not saved with the model (metrics are not).
    """

    def __init__(self, name="non_finite_updates", **kwargs):
        super().__init__(name=name, **kwargs)
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def update_state(self, tensors, bounded=()):
        """Count one if a tensor of ``tensors`` holds NaN or ±inf, or one of ``bounded`` (trained
        weights) holds a value beyond ``WEIGHT_LIMIT``."""
        sound = all_finite(tensors)
        if bounded:
            sound = ops.logical_and(sound, all_within(bounded, WEIGHT_LIMIT))
        self.count.assign_add(ops.cast(ops.logical_not(sound), self.dtype))

    def result(self):
        return self.count


def all_finite(tensors):
    """One boolean: whether every floating-point tensor in ``tensors`` is free of NaN and ±inf.

    ``isfinite`` on every element: a max, min or clip could turn a NaN into a number.
    """
    checks = [ops.all(ops.isfinite(ops.convert_to_tensor(t))) for t in tensors if is_floating(t)]
    return ops.all(ops.stack(checks)) if checks else ops.convert_to_tensor(True)


def all_within(tensors, limit):
    """One boolean: whether every value of the floating-point ``tensors`` is within ±``limit``."""
    checks = [ops.all(ops.abs(ops.convert_to_tensor(t)) <= limit) for t in tensors if is_floating(t)]
    return ops.all(ops.stack(checks)) if checks else ops.convert_to_tensor(True)


def is_floating(tensor):
    return keras.backend.standardize_dtype(tensor.dtype).startswith(("float", "bfloat"))


class LossMeans(keras.metrics.Metric):
    """The mean of each named loss since the last reset, as ``{name: mean}``.

    One metric for all of a step's losses rather than one ``Mean`` each: Keras
    resets and reads metrics eagerly at every epoch, and the book's ``train()``
    makes every step an epoch, so two variables cost far less than sixteen.
    """

    def __init__(self, names, name="losses", **kwargs):
        super().__init__(name=name, **kwargs)
        self.names = list(names)
        self.total = self.add_variable(shape=(len(self.names),), initializer="zeros", name="total")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def update_state(self, values):
        self.total.assign_add(ops.cast(values, self.dtype))
        self.count.assign_add(ops.ones([], self.dtype))

    def result(self):
        means = self.total / ops.maximum(self.count, ops.ones([], self.dtype))
        return {name: means[i] for i, name in enumerate(self.names)}

    def get_config(self):
        return {**super().get_config(), "names": self.names}
