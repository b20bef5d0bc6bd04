"""WGAN-GP (book section "WGAN-GP", CelebA faces).

What differs from the WGAN: no weight clipping; instead the critic's loss
gains a gradient penalty, ``grad_weight · mean((‖∇ₓ critic(x̂)‖₂ − 1)²)`` on
random points x̂ between real and fake images, which pushes the critic towards
1-Lipschitz where it matters.  One critic update sees the real batch, the fake
batch and the penalty together, as the book's ``critic_model`` did.

The book took the gradient with ``K.gradients`` inside a Keras loss; Keras 3
has no such thing, so the penalty is a nested ``tf.GradientTape`` (a gradient
of a gradient for the update).
"""

import tensorflow as tf
import keras

from models.combined import keep_statistics
from models.WGAN import WGAN, wasserstein


class RandomWeightedAverage(keras.layers.Layer):
    """[real, fake] → α·real + (1 − α)·fake, one α ~ U[0, 1] per sample.

    The batch size comes from the input (the book fixed it at construction,
    which broke the last, smaller batch); ``batch_size`` is still accepted so
    the book's ``RandomWeightedAverage(batch_size)`` works.
    """

    def __init__(self, batch_size=None, **kwargs):
        super().__init__(**kwargs)
        self.batch_size = batch_size

    def call(self, inputs):
        real, fake = inputs
        rank = len(real.shape)
        alpha = tf.random.uniform(
            tf.concat([tf.shape(real)[:1], tf.ones([rank - 1], tf.int32)], axis=0),
            0.0, 1.0, dtype=real.dtype,
        )
        return alpha * real + (1.0 - alpha) * fake

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "batch_size": self.batch_size}


def penalised_critic_update(model, real, fake, conditions=None, mismatched=None):
    """One update of ``model.critic`` on −f(real) + f(fake) + grad_weight·GP → [loss, real, fake, GP].

    ``conditions`` (a conditional critic's labels) go beside both batches and the
    interpolates; the images get the instance noise of ``model.hacks``, when asked.
    ``mismatched``, a conditional critic's ``[real images, wrong labels]``, is scored with
    the fakes (their term is the mean over both); the penalty stays on real–fake interpolates.
    """
    critic = model.critic
    real, fake = model.hacks.noisy(real), model.hacks.noisy(fake)
    interpolated = model.random_weighted_average([real, fake])

    def score(images, labels=conditions):
        return critic(images if labels is None else [images, labels], training=True)

    with tf.GradientTape() as tape:
        loss_real = wasserstein(1.0, score(real))
        fake_scores = score(fake)
        if mismatched is not None:
            images, labels = mismatched
            fake_scores = tf.concat([fake_scores, score(model.hacks.noisy(images), labels)], 0)
        loss_fake = wasserstein(-1.0, fake_scores)
        penalty = gradient_penalty(critic, interpolated, conditions=conditions)
        loss = loss_real + loss_fake + model.grad_weight * penalty
    model._descend(model.d_optimizer, critic, tape, loss)
    return tf.stack([loss, loss_real, loss_fake, penalty])


def gradient_penalty(critic, interpolated, conditions=None):
    """mean over samples of (‖∂critic/∂x̂‖₂ − 1)², the norm over all non-batch axes.

    ``conditions`` (a conditional critic's labels) are passed beside the images and held fixed:
    the gradient is the image's.
    """
    with tf.GradientTape() as tape:
        tape.watch(interpolated)
        if conditions is None:
            scores = call_with_constant_slopes(critic, interpolated)
        else:
            scores = critic([interpolated, conditions], training=True)
    gradients = tape.gradient(scores, interpolated)
    axes = list(range(1, len(interpolated.shape)))
    norms = tf.sqrt(tf.reduce_sum(tf.square(gradients), axis=axes) + 1e-12)
    return tf.reduce_mean(tf.square(norms - 1.0))


def call_with_constant_slopes(critic, x):
    """``critic(x, training=True)``, with each (leaky) ReLU's slope held constant under differentiation.

    A (leaky) ReLU critic is piecewise linear, so ∂critic/∂x depends on x only
    through which side of zero each unit sits, and the derivative of that is zero.
    TensorFlow's gradient of ``LeakyReluGrad`` nevertheless returns explicit zeros
    for it, and the penalty's update then back-propagates them through the whole
    forward pass: a third of the penalty's arithmetic spent on zeros.  Writing the
    activation as ``x · stop_gradient(slope)`` gives the same values and the same
    gradients without that pass.  Critics that are not a plain chain of layers are
    simply called.
    """
    chain = _layer_chain(critic)
    if chain is None:
        return critic(x, training=True)
    for layer in chain:
        slope = _negative_slope(layer)
        if slope is None:
            x = layer(x, training=True)
        else:
            x = tf.cast(x, layer.compute_dtype)
            positive = x > tf.zeros([], x.dtype)
            x = x * tf.stop_gradient(tf.where(positive, tf.ones([], x.dtype), tf.cast(slope, x.dtype)))
    return x


def _negative_slope(layer):
    if isinstance(layer, keras.layers.LeakyReLU):
        return float(layer.negative_slope)
    if isinstance(layer, keras.layers.Activation) and layer.activation is keras.activations.relu:
        return 0.0
    return None


def _layer_chain(model):
    """The model's layers in order if each one feeds only the next (as our critics do), else None."""
    if not isinstance(model, keras.Model) or len(model.inputs or []) != 1:
        return None
    chain = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    previous = model.inputs[0]
    try:
        for layer in chain:
            if layer.input is not previous:
                return None
            previous = layer.output
    except (AttributeError, ValueError):  # a layer called more than once, or never
        return None
    return chain if chain and previous is model.outputs[0] else None


@keras.saving.register_keras_serializable(package="gdl")
class WGANGP(WGAN):
    D_LOSS_NAMES = ("d_loss", "d_loss_real", "d_loss_fake", "d_loss_gp")
    SECTION = "wgangp"

    def __init__(
        self,
        input_dim,
        critic_conv_filters,
        critic_conv_kernel_size,
        critic_conv_strides,
        critic_batch_norm_momentum,
        critic_activation,
        critic_dropout_rate,
        critic_learning_rate,
        generator_initial_dense_layer_size,
        generator_upsample,
        generator_conv_filters,
        generator_conv_kernel_size,
        generator_conv_strides,
        generator_batch_norm_momentum,
        generator_activation,
        generator_dropout_rate,
        generator_learning_rate,
        optimiser,
        grad_weight,
        z_dim,
        batch_size,
        *,
        label_smoothing=0.0,
        label_flip=0.0,
        instance_noise=0.0,
        mixed_precision=False,
        jit_compile=False,
        strategy=None,
    ):
        if critic_batch_norm_momentum:
            raise ValueError(
                "WGAN-GP's critic cannot use batch normalisation "
                f"(critic_batch_norm_momentum={critic_batch_norm_momentum!r}): batch norm makes each "
                "sample's score depend on the rest of the batch, so the per-sample gradient the "
                "penalty constrains is no longer the critic's. Pass critic_batch_norm_momentum=None."
            )
        self._setup(locals())
        # A layer without weights: kept as a plain attribute, outside the built model's state.
        object.__setattr__(self, "random_weighted_average", RandomWeightedAverage(batch_size))

    def _critic_update(self, real, noise):
        """One update on −f(real) + f(fake) + grad_weight·GP; the generator stays frozen."""
        # The generator runs in training mode as inside the book's critic_model, but its
        # batch-norm statistics are put back: it is frozen during the critic's step.
        fake = keep_statistics(self.generator, lambda: self.generator(noise, training=True))
        return penalised_critic_update(self, real, fake)

    # -- the book's methods -----------------------------------------------------------------

    def train_critic(self, x_train, batch_size, using_generator=False):
        """→ [d_loss, d_loss_real, d_loss_fake, d_loss_gp] (d_loss includes grad_weight·gp)."""
        real = self._book_batch(x_train, batch_size, using_generator)
        return [float(v) for v in self.critic_step(real)]

    def train(self, x_train, batch_size, epochs, run_folder, print_every_n_batches=10,
              n_critic=5, using_generator=False, *, callbacks=(), tensorboard=True):
        """Per "epoch": ``n_critic`` critic updates, then one generator update (``fit()`` underneath)."""
        self.n_critic = n_critic
        return self._train(x_train, batch_size, epochs, run_folder, print_every_n_batches,
                           using_generator, callbacks, tensorboard)
