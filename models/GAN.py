"""The chapter's first GAN (book section "Your First GAN", the Quick, Draw! camels).

The book's networks trained with the GAN's objective (``models.objectives.minimax``:
binary cross-entropy, real = 1 and fake = 0, a sigmoid discriminator) or, with
``loss='hinge'``, the hinge objective of SAGAN and BigGAN.  The keyword options
``label_smoothing``, ``label_flip`` and ``instance_noise`` (off by default) are
the GAN hacks of ``models.recipe.hacks``.  As in the book, one discriminator step is two
optimizer updates — one on a real batch, one on a fake batch drawn from the
generator in inference mode — and one generator step trains ``gan.model``
(z → D(G(z))) towards "real" with the discriminator frozen.
"""

import keras

from models.core.book import BookModel
from models.objectives import objective_for

LOSSES = ("gan", "hinge")


@keras.saving.register_keras_serializable(package="gdl")
class GAN(BookModel):
    SECTION = "gan"
    ADVERSARY_NAME = "discriminator"

    def __init__(
        self,
        input_dim,
        discriminator_conv_filters,
        discriminator_conv_kernel_size,
        discriminator_conv_strides,
        discriminator_batch_norm_momentum,
        discriminator_activation,
        discriminator_dropout_rate,
        discriminator_learning_rate,
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
        loss="gan",
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
    def discriminator(self):
        return self.adversary

    def make_objective(self, arguments):
        return objective_for(arguments["loss"], LOSSES)

    def model_options(self):
        return {**super().model_options(), "loss": self.objective.name}

    # -- the book's methods -----------------------------------------------------------------

    def train_discriminator(self, x_train, batch_size, using_generator=False):
        """→ [d_loss, d_loss_real, d_loss_fake, d_acc, d_acc_real, d_acc_fake] (``d_loss_names``;
        with ``loss='hinge'`` the first three)"""
        real = self._book_batch(x_train, batch_size, using_generator)
        return [float(v) for v in self.critic_step(real)]

    def train_generator(self, batch_size):
        """→ [g_loss, g_acc] (``g_loss_names``; with ``loss='hinge'``, [g_loss])"""
        return [float(v) for v in self.generator_step(batch_size)]

    def train(self, x_train, batch_size, epochs, run_folder, print_every_n_batches=50,
              using_generator=False, *, callbacks=(), tensorboard=True):
        """One "epoch" is one batch: a discriminator step then a generator step.

        ``fit()`` underneath: ``callbacks`` are passed on; returns its ``History``.
        """
        self.n_critic = 1
        return self._train(x_train, batch_size, epochs, run_folder, print_every_n_batches,
                           using_generator, callbacks, tensorboard)
