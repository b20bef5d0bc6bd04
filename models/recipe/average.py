"""An exponential moving average of the generator's weights, to draw samples with.

The generator's weights move with the adversary it chases and oscillate around a
good solution; their running average sits nearer its centre and draws better
samples than the generator it averages (Yazıcı et al. 2019, "The Unusual
Effectiveness of Averaging in GAN Training").  The average is a second generator
network: grids, ``predict``, saved networks and every evaluation draw with it,
while training goes on with the trained one.

Why not Keras' ``use_ema`` optimizer option: it keeps the average inside the
optimizer, as bare variables, and writes it over the trained weights (every
``ema_overwrite_frequency`` steps, or at the end of ``fit``, which skips a model
compiled with two optimizers as this one is).  A GAN needs both at once — the
trained weights to go on training, the average to sample — and the average's
batch-norm statistics too, which no optimizer sees.

The decay warms up as ``min(decay, (1 + t) / (10 + t))`` after ``t`` generator updates
(as TensorFlow's ``ExponentialMovingAverage`` with ``num_updates``), so that a short
run's average is not dominated by the untrained weights it started from.  With a
``rampup`` r instead (StyleGAN2-ADA's ``ema_rampup``), the average's half-life, h
updates at the full decay, is capped at r·t: the decay after t updates is
0.5 ** (1 / min(h, r·t)), so the average forgets its start at a pace that grows with the run.
"""

import math

import keras
from keras import ops


class GeneratorAverage(keras.layers.Layer):
    """The averaged copy of ``generator`` and how many updates it has seen (both saved).

    Args:
        generator: the trained generator (a built Keras model); it is cloned.
        decay: the average's decay per generator update, in (0, 1), e.g. 0.999.
        rampup: the cap on the half-life as a share of the updates so far (0: the warm-up above).
    """

    def __init__(self, generator, decay, rampup=0.0, **kwargs):
        super().__init__(**kwargs)
        self.decay = float(decay)
        self.rampup = float(rampup)
        self.network = keras.models.clone_model(generator)  # same name: saved as the generator
        self.network.set_weights(generator.get_weights())
        self.updates = self.add_weight(shape=(), initializer="zeros", trainable=False, name="updates",
                                       dtype="float32", aggregation="only_first_replica")
        self.built = True  # its network is built already

    def update(self, generator):
        """Move the average towards ``generator``'s weights (one generator update later); the
        batch-norm statistics are copied, as they are not learned by gradient."""
        t = self.updates
        if self.rampup:
            half_life = math.log(0.5) / math.log(self.decay)
            ramped = ops.maximum(ops.minimum(half_life, self.rampup * t), 1e-8)
            decay = ops.power(0.5, 1.0 / ramped)
        else:
            decay = ops.minimum(self.decay, (1.0 + t) / (10.0 + t))
        for average, trained in zip(self.network.trainable_weights, generator.trainable_weights):
            value = ops.cast(trained, average.dtype)
            average.assign(value + ops.cast(decay, average.dtype) * (average - value))
        for average, trained in zip(self.network.non_trainable_weights, generator.non_trainable_weights):
            average.assign(trained)
        self.updates.assign_add(1.0)
