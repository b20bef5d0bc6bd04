"""The GAN's objective (book section "GAN"): a sigmoid discriminator and binary cross-entropy.

The discriminator learns to say 1 for real images and 0 for generated ones; the
generator is trained through it towards 1 (the non-saturating form the book uses).
Each update also reports its accuracy, as the book's ``train_on_batch`` did.
"""

import keras
from keras import ops

from models.objectives.base import Objective


def binary_accuracy(labels, predictions):
    return ops.mean(keras.metrics.binary_accuracy(labels, predictions))


class Minimax(Objective):
    name = "gan"
    summary = "the chapter's GAN: binary cross-entropy on a sigmoid discriminator"
    output_activation = "sigmoid"
    binary_targets = True
    real_label, fake_label = 1.0, 0.0
    d_loss_names = ("d_loss", "d_loss_real", "d_loss_fake", "d_acc", "d_acc_real", "d_acc_fake")
    g_loss_names = ("g_loss", "g_acc")

    def adversary_loss(self, labels, scores):
        return keras.losses.binary_crossentropy(labels, scores)

    def logits(self, scores):
        """log(p / (1 − p)) of the sigmoid's probabilities, clipped as Keras' cross-entropy clips them."""
        epsilon = keras.config.epsilon()
        p = ops.clip(ops.cast(scores, "float32"), epsilon, 1.0 - epsilon)
        return ops.log(p) - ops.log1p(-p)

    def adversary_metrics(self):
        return ["accuracy"]

    def adversary_report(self, losses, real, fake):
        """[d_loss, d_loss_real, d_loss_fake, d_acc, d_acc_real, d_acc_fake], accuracies
        against the true labels (not the targets the label hacks make of them)."""
        acc_real = binary_accuracy(real.labels, real.scores)
        acc_fake = binary_accuracy(fake.labels, fake.scores)
        return [losses["d_loss"], losses["d_loss_real"], losses["d_loss_fake"],
                0.5 * (acc_real + acc_fake), acc_real, acc_fake]

    def generator_report(self, losses, labels, scores):
        return [losses["g_loss"], binary_accuracy(labels, scores)]
