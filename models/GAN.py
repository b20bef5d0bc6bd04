"""The chapter's first GAN (book section "Your First GAN", the Quick, Draw! camels).

The book's networks trained with the GAN's objective (``models.objectives.minimax``:
binary cross-entropy, real = 1 and fake = 0, a sigmoid discriminator) or, with
``loss='hinge'``, the hinge objective of SAGAN and BigGAN, or with
``loss='relativistic'``, R3GAN's pairing loss.  The keyword options
``label_smoothing``, ``label_flip`` and ``instance_noise`` (off by default) are
the GAN hacks of ``models.recipe.hacks``.  As in the book, one discriminator step is two
optimizer updates — one on a real batch, one on a fake batch drawn from the
generator in inference mode — and one generator step trains ``gan.model``
(z → D(G(z))) towards "real" with the discriminator frozen.
"""

import keras

from models.core.book import BookModel
from models.objectives import objective_for

LOSSES = ("gan", "hinge", "relativistic")


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
        """One discriminator update on a random real batch and as many fakes (the book's).

        Args:
            x_train: the training images, (N, H, W, C) in [-1, 1], or a stream of batches.
            batch_size: real images (and fakes) in the update.
            using_generator: ``x_train`` is a stream (the book's flag for its face generator).
        Returns:
            [d_loss, d_loss_real, d_loss_fake, d_acc, d_acc_real, d_acc_fake] (``d_loss_names``;
            with ``loss='hinge'`` the first three).
        """
        real = self._book_batch(x_train, batch_size, using_generator)
        return [float(v) for v in self.critic_step(real)]

    def train_generator(self, batch_size):
        """One generator update through the frozen discriminator on ``batch_size`` latent points.

        Returns:
            [g_loss, g_acc] (``g_loss_names``; with ``loss='hinge'``, [g_loss]).
        """
        return [float(v) for v in self.generator_step(batch_size)]

    def train(self, x_train, batch_size, epochs, run_folder, print_every_n_batches=50,
              using_generator=False, *, callbacks=(), tensorboard=True, n_critic=None):
        """The book's loop: per "epoch" (one batch), a discriminator step then a generator step.

        ``fit()`` underneath, into the run folder (``utils.runs.training.train_run``): grids,
        checkpoint and loss curves every ``print_every_n_batches`` epochs, the run resumable.

        Args:
            x_train: the training images, (N, H, W, C) in [-1, 1], or a stream of batches.
            batch_size: real images per discriminator update (and latent points per generator one).
            epochs: how many more epochs (batches) to train; the count goes on from ``epoch``.
            run_folder: the run folder (a path, or a held ``RunFolder``).
            print_every_n_batches: grids and checkpoints every this many epochs.
            using_generator: ``x_train`` is a stream of batches.
            callbacks: more Keras callbacks (a quality monitor...).
            tensorboard: write TensorBoard logs to the run folder's ``logs/``.
            n_critic: discriminator updates per epoch, each on a real batch of its own (None: one,
                the book's).
        Returns:
            ``fit``'s ``History``.
        Raises:
            TrainingDiverged, TrainingInterrupted, RunFolderTaken: see ``train_run``.
        """
        return self._train(x_train, batch_size, epochs, run_folder, print_every_n_batches,
                           using_generator, callbacks, tensorboard, n_critic=n_critic)
