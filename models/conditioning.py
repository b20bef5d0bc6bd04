"""How a class label enters the conditional GAN's two networks.

The generator takes ``[z, label]`` and the discriminator ``[image, label]``,
with integer labels of shape ``(N,)``.  Both wrap the chapter's own networks
(``models.networks``), built for a slightly wider input:

* generator: ``concat(z, one_hot(label))`` → the book's generator.  A one-hot
  vector through the first Dense layer *is* a learned per-class embedding added
  to the dense features (its weight rows are the embedding), so nothing is
  gained by a separate ``Embedding`` layer and there is no embedding size to
  choose;
* discriminator: the image with ``num_classes`` extra channels, one constant
  map per class, 1 on the label's map and 0 elsewhere → the book's
  discriminator.  Its first convolution then sees the label at every position,
  so it can judge "is this a plausible *horse*" from the first layer on — the
  second edition's conditional WGAN-GP feeds its critic the same way.  Feeding
  the label only near the output would let the body learn features blind to it.
"""

import keras
from keras import layers

from models.core.combined import CombinedModel
from models.networks import build_discriminator, build_generator


@keras.saving.register_keras_serializable(package="gdl")
class LabelMaps(layers.Layer):
    """(N,) integer labels → (N, H, W, num_classes) one-hot maps, constant over the image."""

    def __init__(self, num_classes, height, width, **kwargs):
        super().__init__(**kwargs)
        self.num_classes, self.height, self.width = int(num_classes), int(height), int(width)

    def call(self, labels):
        one_hot = keras.ops.one_hot(keras.ops.cast(keras.ops.reshape(labels, (-1,)), "int32"),
                                    self.num_classes, dtype=self.compute_dtype)
        maps = keras.ops.reshape(one_hot, (-1, 1, 1, self.num_classes))
        return keras.ops.tile(maps, (1, self.height, self.width, 1))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.height, self.width, self.num_classes)

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes, "height": self.height,
                "width": self.width}


@keras.saving.register_keras_serializable(package="gdl")
class OneHot(layers.Layer):
    """(N,) integer labels → (N, num_classes) one-hot vectors."""

    def __init__(self, num_classes, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = int(num_classes)

    def call(self, labels):
        return keras.ops.one_hot(keras.ops.cast(keras.ops.reshape(labels, (-1,)), "int32"),
                                 self.num_classes, dtype=self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_classes)

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes}


def build_conditional_generator(num_classes, z_dim, *book_arguments, name="generator", dtype=None, **kwargs):
    """``[z, label]`` → image: the book's generator (``build_generator``'s arguments) on
    ``concat(z, one_hot(label))``."""
    base = build_generator(z_dim + num_classes, *book_arguments, name=f"{name}_body", dtype=dtype,
                           **kwargs)
    z = keras.Input(shape=(z_dim,), name=f"{name}_input")
    label = keras.Input(shape=(), dtype="int32", name=f"{name}_label")
    code = layers.Concatenate(name=f"{name}_z_and_class", dtype=dtype)(
        [z, OneHot(num_classes, name=f"{name}_one_hot", dtype=dtype)(label)])
    return keras.Model([z, label], base(code), name=name)


def build_conditional_discriminator(num_classes, input_dim, *book_arguments, name="discriminator",
                                    dtype=None, **kwargs):
    """``[image, label]`` → score: the book's discriminator (``build_discriminator``'s
    arguments) on the image with one label map per class as extra channels."""
    height, width, channels = input_dim
    base = build_discriminator((height, width, channels + num_classes), *book_arguments,
                               name=f"{name}_body", dtype=dtype, **kwargs)
    image = keras.Input(shape=tuple(input_dim), name=f"{name}_input")
    label = keras.Input(shape=(), dtype="int32", name=f"{name}_label")
    maps = LabelMaps(num_classes, height, width, name=f"{name}_label_maps", dtype=dtype)(label)
    stacked = layers.Concatenate(name=f"{name}_image_and_class", dtype=dtype)([image, maps])
    return keras.Model([image, label], base(stacked), name=name)


class ConditionalCombinedModel(CombinedModel):
    """``[z, label]`` → D(G(z, label), label): the label the generator drew for is the one the
    frozen discriminator judges against."""

    def call(self, inputs, training=None):
        z, label = inputs
        images = self.generator([z, label], training=training)
        return self.discriminator([self.seen(images, training), label], training=training)
