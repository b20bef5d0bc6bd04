"""The chapter's first GAN (book section "Your First GAN", the Quick, Draw! camels).

Binary cross-entropy, real = 1 and fake = 0, a sigmoid discriminator.  The
keyword options ``label_smoothing``, ``label_flip`` and ``instance_noise`` (off
by default) are the GAN hacks of ``models.hacks``.  As in
the book, one discriminator step is two optimizer updates — one on a real
batch, one on a fake batch drawn from the generator in inference mode — and
one generator step trains ``gan.model`` (z → D(G(z))) towards "real" with the
discriminator frozen.
"""

import tensorflow as tf
import keras

from models.adversarial import AdversarialModel
from models.book import BookModel


def binary_accuracy(labels, predictions):
    return tf.reduce_mean(keras.metrics.binary_accuracy(labels, predictions))


def discriminator_update(model, real, fake):
    """The book's discriminator step on given batches (images, or a conditional model's
    ``[images, labels]``): an update on the real batch, one on the fake batch → the six losses
    of ``discriminator_losses``."""
    return discriminator_losses(model._fit_critic(real, 1.0), model._fit_critic(fake, 0.0))


def discriminator_losses(real_update, fake_update):
    """``(loss, labels, predictions)`` of the real and the fake batch's updates →
    [d_loss, d_loss_real, d_loss_fake, d_acc, d_acc_real, d_acc_fake]."""
    (loss_real, labels_real, predictions_real), (loss_fake, labels_fake, predictions_fake) = (
        real_update, fake_update)
    acc_real = binary_accuracy(labels_real, predictions_real)
    acc_fake = binary_accuracy(labels_fake, predictions_fake)
    return tf.stack([
        0.5 * (loss_real + loss_fake), loss_real, loss_fake,
        0.5 * (acc_real + acc_fake), acc_real, acc_fake,
    ])


@keras.saving.register_keras_serializable(package="gdl")
class GAN(BookModel, AdversarialModel):
    D_LOSS_NAMES = ("d_loss", "d_loss_real", "d_loss_fake", "d_acc", "d_acc_real", "d_acc_fake")
    G_LOSS_NAMES = ("g_loss", "g_acc")
    SECTION = "gan"
    CRITIC = "discriminator"
    CRITIC_OUTPUT_ACTIVATION = "sigmoid"
    BINARY_TARGETS = True

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
        label_smoothing=0.0,
        label_flip=0.0,
        instance_noise=0.0,
        mixed_precision=False,
        jit_compile=False,
        strategy=None,
    ):
        self._setup(locals())

    @property
    def discriminator(self):
        return self.adversary

    def adversarial_loss(self, labels, predictions):
        return keras.losses.binary_crossentropy(labels, predictions)

    def _adversary_metrics(self):
        return ["accuracy"]

    # -- the two updates -----------------------------------------------------------------

    def _critic_update(self, real, noise):
        fake = self.generator(noise, training=False)  # the book's generator.predict
        return discriminator_update(self, real, fake)

    def _generator_update(self, noise):
        loss, labels, predictions = self._fit_generator(noise)
        return tf.stack([loss, binary_accuracy(labels, predictions)])

    # -- the book's methods -----------------------------------------------------------------

    def train_discriminator(self, x_train, batch_size, using_generator=False):
        """→ [d_loss, d_loss_real, d_loss_fake, d_acc, d_acc_real, d_acc_fake]"""
        real = self._book_batch(x_train, batch_size, using_generator)
        return [float(v) for v in self.critic_step(real)]

    def train_generator(self, batch_size):
        """→ [g_loss, g_acc]"""
        return [float(v) for v in self.generator_step(batch_size)]

    def train(self, x_train, batch_size, epochs, run_folder, print_every_n_batches=50,
              using_generator=False, *, callbacks=(), tensorboard=True):
        """One "epoch" is one batch: a discriminator step then a generator step.

        ``fit()`` underneath: ``callbacks`` are passed on; returns its ``History``.
        """
        self.n_critic = 1
        return self._train(x_train, batch_size, epochs, run_folder, print_every_n_batches,
                           using_generator, callbacks, tensorboard)

    def progress_names(self):
        return ["d_loss", "g_loss", "d_acc"]
