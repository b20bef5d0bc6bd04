"""The Wasserstein GAN (book section "Wasserstein GAN", CIFAR-10 horses).

What differs from the GAN: a *critic* with a linear output instead of a
sigmoid discriminator, the Wasserstein loss with labels +1 (real) and −1
(fake), ``n_critic`` critic updates per generator update, and the critic's
weights clipped into [−c, c] after every update to keep it (roughly) 1-Lipschitz.
The objective is ``models.objectives.wasserstein``, the clipping
``models.penalties.clipping``; it runs inside the compiled step, on the device.
"""

import keras

from models.arguments import positive_number
from models.core.book import BookModel
from models.objectives.wasserstein import Wasserstein
from models.penalties.clipping import WeightClipping


@keras.saving.register_keras_serializable(package="gdl")
class WGAN(BookModel):
    SECTION = "wgan"
    ADVERSARY_NAME = "critic"

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
        **recipe,
    ):
        self._setup(locals())

    @property
    def critic(self):
        return self.adversary

    def make_objective(self, arguments):
        return Wasserstein(clip_threshold=0.01)

    @property
    def clipping(self):
        """The weight clipping part (``models.penalties.clipping.WeightClipping``; None without)."""
        return next((p for p in self.penalties if isinstance(p, WeightClipping)), None)

    @property
    def clip_threshold(self):
        """Critic weights are clipped into [−c, c] after every update (a new value retraces the step;
        None where the critic is kept smooth otherwise, as WGAN-GP's)."""
        return None if self.clipping is None else self.clipping.threshold

    @clip_threshold.setter
    def clip_threshold(self, value):
        value = positive_number("clip_threshold", value)
        if self.clipping is None:
            raise ValueError(f"clip_threshold={value!r}: {type(self).__name__} does not clip its "
                             "critic's weights (its gradient penalty keeps it smooth).")
        if value != self.clipping.threshold:
            self.clipping.threshold = value
            self._retrace()

    # -- the book's methods -----------------------------------------------------------------

    def train_critic(self, x_train, batch_size, clip_threshold, using_generator=False):
        """One critic update on a random real batch and as many fakes, then the clipping.

        Args:
            x_train, batch_size, using_generator: as ``GAN.train_discriminator``.
            clip_threshold: c: the critic's weights end inside [−c, c].
        Returns:
            [d_loss, d_loss_real, d_loss_fake].
        """
        self.clip_threshold = clip_threshold
        real = self._book_batch(x_train, batch_size, using_generator)
        return [float(v) for v in self.critic_step(real)]

    def train_generator(self, batch_size):
        """One generator update through the frozen critic on ``batch_size`` latent points → g_loss."""
        return float(self.generator_step(batch_size)[0])

    def train(self, x_train, batch_size, epochs, run_folder, print_every_n_batches=10,
              n_critic=5, clip_threshold=0.01, using_generator=False, *, callbacks=(),
              tensorboard=True):
        """Per "epoch": ``n_critic`` critic updates, then one generator update (``fit()`` underneath).

        Args:
            x_train, batch_size, epochs, run_folder, print_every_n_batches, using_generator,
                callbacks, tensorboard: as ``GAN.train``.
            n_critic: critic updates per generator update, each on its own real batch.
            clip_threshold: c of the weight clipping after every critic update.
        Returns:
            ``fit``'s ``History``.
        """
        self.clip_threshold = clip_threshold
        return self._train(x_train, batch_size, epochs, run_folder, print_every_n_batches,
                           using_generator, callbacks, tensorboard, n_critic=n_critic)
