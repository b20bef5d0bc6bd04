"""Random draws inside a training step, on every backend.

On TensorFlow they are its stateful random ops, as they always were here: each
replica of a distribution strategy draws its own.  A traced JAX function cannot
hold hidden state, so elsewhere they come from a Keras ``SeedGenerator``, whose
state is a variable of the layer or model that owns it and travels with the rest
of the step's state.
"""

import keras


class Randomness:
    """The random draws of one layer or model (``seed_generator``: its ``keras.random.SeedGenerator``,
    used off TensorFlow; None on TensorFlow)."""

    def __init__(self, seed_generator=None):
        self.seed_generator = seed_generator

    @classmethod
    def for_backend(cls):
        """A new source: TensorFlow's stateful ops there, a new seed generator elsewhere (assign it
        to a tracked attribute of the layer that owns it)."""
        if keras.backend.backend() == "tensorflow":
            return cls(None)
        return cls(keras.random.SeedGenerator())

    @classmethod
    def owned_by(cls, layer):
        """A new source for ``layer``, its seed generator (off TensorFlow) tracked as
        ``layer.seed_generator`` so that its state is the layer's, and a traced step's."""
        random = cls.for_backend()
        if random.seed_generator is not None:
            layer.seed_generator = random.seed_generator
        return random

    def normal(self, shape, dtype="float32"):
        if self.seed_generator is None:
            import tensorflow as tf

            return tf.random.normal(shape, dtype=dtype)
        return keras.random.normal(shape, dtype=dtype, seed=self.seed_generator)

    def uniform(self, shape, minval=0.0, maxval=1.0, dtype="float32"):
        if self.seed_generator is None:
            import tensorflow as tf

            return tf.random.uniform(shape, minval, maxval, dtype=dtype)
        return keras.random.uniform(shape, minval, maxval, dtype=dtype, seed=self.seed_generator)

    def integers(self, shape, minval, maxval):
        """int32 draws in [minval, maxval) (bounds may be tensors on TensorFlow)."""
        if self.seed_generator is None:
            import tensorflow as tf

            return tf.random.uniform(shape, minval, maxval, dtype=tf.int32)
        return keras.random.randint(shape, minval, maxval, dtype="int32", seed=self.seed_generator)
