"""Minibatch standard deviation (Karras et al. 2018, ProGAN; kept by StyleGAN): a feature map that
lets the adversary see how varied its batch is.

A generator that draws one good picture over and over fools an adversary that
judges each image alone.  This layer appends one channel to its input: the
standard deviation of every feature over the batch, averaged to a single number,
so that a batch of near copies (a collapsed generator) looks different from a
batch of real images.  Each batch the adversary scores is measured on its own
(the real batch, the fake batch, the gradient penalty's interpolates).
"""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="gdl")
class MinibatchStd(keras.layers.Layer):
    """``(N, H, W, C)`` → ``(N, H, W, C + 1)``: the last channel is the batch's mean standard
    deviation (over the batch, per feature, then averaged), the same for every image."""

    def call(self, x):
        deviation = ops.sqrt(ops.var(ops.cast(x, "float32"), axis=0) + 1e-8)
        spread = ops.cast(ops.mean(deviation), x.dtype)
        column = ops.ones_like(x[..., :1]) * spread
        return ops.concatenate([x, column], axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], input_shape[-1] + 1)
