"""The book's combined model z → D(G(z)), whose discriminator is really frozen."""

import tensorflow as tf
import keras


class CombinedModel(keras.Model):
    """z → D(G(z)), the model the generator is trained through.

    The book freezes the discriminator by toggling ``trainable`` around
    ``compile()``.  Keras 3 reads ``trainable`` when the train function is
    traced, so that recipe silently trains the discriminator too.  Here the
    model simply declares that its trainable weights are the generator's: every
    optimizer step through this model, including a user's own
    ``model.train_on_batch``, can only move the generator.
    """

    def __init__(self, generator, discriminator, **kwargs):
        super().__init__(**kwargs)
        self.generator = generator
        self.discriminator = discriminator
        self.view = None  # what the discriminator is shown of an image in training (set by the model)

    def call(self, z, training=None):
        return self.discriminator(self.seen(self.generator(z, training=training), training),
                                  training=training)

    def seen(self, images, training):
        """What the discriminator is shown: in training, the model's ``adversary_view`` of the
        images (any instance noise and augmentation), as in the discriminator's own updates."""
        if training and self.view is not None:
            return self.view(images)
        return images

    def train_step(self, data):
        return keep_statistics(self.discriminator, lambda: super(CombinedModel, self).train_step(data))

    @property
    def trainable_weights(self):
        return self.generator.trainable_weights

    @property
    def trainable_variables(self):
        return self.generator.trainable_variables

    @property
    def non_trainable_weights(self):
        return self.generator.non_trainable_weights + self.discriminator.weights

    @property
    def non_trainable_variables(self):
        return self.non_trainable_weights


def keep_statistics(network, update):
    """Run ``update()`` and put back ``network``'s non-trainable weights afterwards.

    A frozen network still runs in training mode inside the other network's
    step (batch statistics, dropout), as it did in the book's Keras 2; but its
    batch-norm moving statistics must not move either, or it is not frozen.  Nor
    may the kernels that ``keras.layers.SpectralNormalization`` rescales in place
    on every training call (the recipe's ``spectral_norm``).
    """
    frozen = [*network.non_trainable_weights, *rescaled_kernels(network)]
    saved = [tf.identity(weight.value) for weight in frozen]
    result = update()
    for weight, value in zip(frozen, saved):
        weight.assign(value)
    return result


def rescaled_kernels(network):
    """The kernels of ``network``'s ``SpectralNormalization`` layers, nested models included."""
    found = []
    for layer in getattr(network, "layers", ()):
        if isinstance(layer, keras.layers.SpectralNormalization):
            found.append(layer.kernel)
        else:
            found.extend(rescaled_kernels(layer))
    return found
