"""The book's combined model z → D(G(z)), whose discriminator is really frozen."""

import keras

from models.core import backends


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

    def train_step(self, *args):
        if len(args) == 2:  # JAX: (state, data) → (logs, state)
            return self._stateless_train_step(*args)
        return keep_statistics(self.discriminator, lambda: super(CombinedModel, self).train_step(args[0]))

    def _stateless_train_step(self, state, data):
        """Keras' JAX step, with every discriminator weight (batch-norm statistics, spectrally
        normalised kernels) put back as it came in; its random seeds move on."""
        logs, (trainable, non_trainable, optimizer, metrics) = super().train_step(state, data)
        frozen = {id(w) for w in self.discriminator.weights}
        non_trainable = [old if id(v) in frozen else new
                         for v, old, new in zip(self.non_trainable_variables, state[1], non_trainable)]
        return logs, (trainable, non_trainable, optimizer, metrics)

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
        # With the discriminator's random seeds (dropout), which its weights leave out.
        return backends.unique([*self.generator.non_trainable_variables, *self.discriminator.weights,
                                *self.discriminator.non_trainable_variables])


def keep_statistics(network, update):
    """Run ``update()`` and put back ``network``'s non-trainable weights afterwards.

    A frozen network still runs in training mode inside the other network's
    step (batch statistics, dropout), as it did in the book's Keras 2; but its
    batch-norm moving statistics must not move either, or it is not frozen.  Nor
    may the kernels that ``keras.layers.SpectralNormalization`` rescales in place
    on every training call (the recipe's ``spectral_norm``).
    """
    frozen = [*network.non_trainable_weights, *rescaled_kernels(network)]
    saved = [backends.snapshot(weight) for weight in frozen]
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
