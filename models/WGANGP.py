"""WGAN-GP (book section "WGAN-GP", CelebA faces).

What differs from the WGAN: no weight clipping; instead the critic's loss
gains a gradient penalty, ``grad_weight · mean((‖∇ₓ critic(x̂)‖₂ − 1)²)`` on
random points x̂ between real and fake images, which pushes the critic towards
1-Lipschitz where it matters.  One critic update sees the real batch, the fake
batch and the penalty together, as the book's ``critic_model`` did.

The objective is ``models.objectives.wasserstein``; the penalty and
``RandomWeightedAverage`` live in ``models.penalties.gradient_penalty``.
"""

import keras

from models.objectives.wasserstein import WassersteinGradientPenalty
from models.penalties.gradient_penalty import GradientPenalty, RandomWeightedAverage
from models.WGAN import WGAN

__all__ = ["RandomWeightedAverage", "WGANGP"]  # the book imports RandomWeightedAverage from here


@keras.saving.register_keras_serializable(package="gdl")
class WGANGP(WGAN):
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
        **recipe,
    ):
        self._setup(locals())

    def make_objective(self, arguments):
        return WassersteinGradientPenalty(arguments["grad_weight"], arguments["batch_size"])

    @property
    def random_weighted_average(self):
        """The book's ``RandomWeightedAverage`` layer the penalty's interpolates come from."""
        return next(p for p in self.penalties if isinstance(p, GradientPenalty)).interpolate

    # -- the book's methods -----------------------------------------------------------------

    def train_critic(self, x_train, batch_size, using_generator=False):
        """One critic update on a real batch, as many fakes and the gradient penalty.

        Args:
            x_train, batch_size, using_generator: as ``GAN.train_discriminator``.
        Returns:
            [d_loss, d_loss_real, d_loss_fake, d_loss_gp] (d_loss includes grad_weight·gp).
        """
        real = self._book_batch(x_train, batch_size, using_generator)
        return [float(v) for v in self.critic_step(real)]

    def train(self, x_train, batch_size, epochs, run_folder, print_every_n_batches=10,
              n_critic=5, using_generator=False, *, callbacks=(), tensorboard=True):
        """Per "epoch": ``n_critic`` critic updates, then one generator update (``fit()`` underneath).

        Args:
            x_train, batch_size, epochs, run_folder, print_every_n_batches, using_generator,
                callbacks, tensorboard: as ``GAN.train``.
            n_critic: critic updates (loss and gradient penalty) per generator update.
        Returns:
            ``fit``'s ``History``.
        """
        return self._train(x_train, batch_size, epochs, run_folder, print_every_n_batches,
                           using_generator, callbacks, tensorboard, n_critic=n_critic)
