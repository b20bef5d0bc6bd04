"""The Wasserstein GAN (book section "Wasserstein GAN", CIFAR-10 horses).

What differs from the GAN: a *critic* with a linear output instead of a
sigmoid discriminator, the Wasserstein loss with labels +1 (real) and −1
(fake), ``n_critic`` critic updates per generator update, and the critic's
weights clipped into [−c, c] after every update to keep it (roughly) 1-Lipschitz.
The clipping runs inside the compiled step, on the device.
"""

import tensorflow as tf
import keras

from models.adversarial import AdversarialModel
from models.arguments import positive_number
from models.book import BookModel


def wasserstein(y_true, y_pred):
    """−mean(y·f(x)): minimising it raises the critic's score on +1 samples and lowers it on −1."""
    return -tf.reduce_mean(y_true * y_pred)


def clip_weights(variables, clip_threshold):
    """Clip every variable into [−c, c], once per variable even with several replicas."""

    def clip(strategy):
        for variable in variables:
            strategy.extended.update(
                variable.value,
                lambda v: v.assign(tf.clip_by_value(v, -clip_threshold, clip_threshold)),
                group=False,
            )

    replica_context = tf.distribute.get_replica_context()
    if replica_context is None:
        clip(tf.distribute.get_strategy())
    else:
        replica_context.merge_call(clip)


@keras.saving.register_keras_serializable(package="gdl")
class WGAN(BookModel, AdversarialModel):
    D_LOSS_NAMES = ("d_loss", "d_loss_real", "d_loss_fake")
    G_LOSS_NAMES = ("g_loss",)
    SECTION = "wgan"
    CRITIC = "critic"
    CRITIC_OUTPUT_ACTIVATION = None

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
        z_dim,
        *,
        label_smoothing=0.0,
        label_flip=0.0,
        instance_noise=0.0,
        mixed_precision=False,
        jit_compile=False,
        strategy=None,
    ):
        self._clip_threshold = 0.01
        self._setup(locals())

    @property
    def critic(self):
        return self.adversary

    @property
    def clip_threshold(self):
        """Critic weights are clipped into [−c, c] after every update (a new value retraces the step)."""
        return self._clip_threshold

    @clip_threshold.setter
    def clip_threshold(self, value):
        value = positive_number("clip_threshold", value)
        if value != self._clip_threshold:
            self._clip_threshold = float(value)
            self._retrace()

    def adversarial_loss(self, labels, predictions):
        return wasserstein(labels, predictions)

    # -- the two updates -----------------------------------------------------------------

    def _critic_update(self, real, noise):
        """As the book: a real batch (+1), a fake batch (−1), then clip every critic weight."""
        fake = self.generator(noise, training=False)  # the book's generator.predict
        loss_real, _, _ = self._fit_critic(real, 1.0)
        loss_fake, _, _ = self._fit_critic(fake, -1.0)
        clip_weights(self.critic.trainable_variables, self.clip_threshold)
        return tf.stack([0.5 * (loss_real + loss_fake), loss_real, loss_fake])

    def _generator_update(self, noise):
        loss, _, _ = self._fit_generator(noise)
        return tf.reshape(loss, (1,))

    # -- the book's methods -----------------------------------------------------------------

    def train_critic(self, x_train, batch_size, clip_threshold, using_generator=False):
        """→ [d_loss, d_loss_real, d_loss_fake]; the critic's weights end inside [−c, c]."""
        self.clip_threshold = clip_threshold
        real = self._book_batch(x_train, batch_size, using_generator)
        return [float(v) for v in self.critic_step(real)]

    def train_generator(self, batch_size):
        """→ g_loss"""
        return float(self.generator_step(batch_size)[0])

    def train(self, x_train, batch_size, epochs, run_folder, print_every_n_batches=10,
              n_critic=5, clip_threshold=0.01, using_generator=False, *, callbacks=(),
              tensorboard=True):
        """Per "epoch": ``n_critic`` critic updates, then one generator update (``fit()`` underneath)."""
        self.n_critic, self.clip_threshold = n_critic, clip_threshold
        return self._train(x_train, batch_size, epochs, run_folder, print_every_n_batches,
                           using_generator, callbacks, tensorboard)
