"""The WGAN's objective (book section "Wasserstein GAN"): a critic's scores, not probabilities.

The critic raises its score of real images (label +1) and lowers that of
generated ones (label −1): its loss, −mean(y·f(x)), estimates minus the
Wasserstein distance between the two when the critic is 1-Lipschitz.  The book
keeps it (roughly) so by clipping every critic weight after each update
(``loss='wgan'``), its WGAN-GP by a gradient penalty (``loss='wgan-gp'``): both
are penalties (``models.penalties``) that come with the named loss.
"""

from keras import ops

from models.objectives.base import Objective
from models.penalties.clipping import WeightClipping
from models.penalties.gradient_penalty import GradientPenalty


def wasserstein(labels, scores):
    """−mean(y·f(x)): minimising it raises the critic's score on +1 samples and lowers it on −1."""
    return -ops.mean(labels * ops.cast(scores, "float32"))


class Wasserstein(Objective):
    """The Wasserstein loss, with the book's weight clipping at ``clip_threshold`` c (None: none)."""

    name = "wgan"
    summary = "the WGAN's Wasserstein critic, its weights clipped"
    estimates_distance = True
    default_n_critic = 5
    signal_description = "critic's Wasserstein estimate −(d_loss_real + d_loss_fake)"

    def __init__(self, clip_threshold=0.01):
        self.clip_threshold = clip_threshold

    def adversary_loss(self, labels, scores):
        return wasserstein(labels, scores)

    def penalties(self):
        return () if self.clip_threshold is None else (WeightClipping(self.clip_threshold),)


class WassersteinGradientPenalty(Wasserstein):
    """The WGAN-GP's: the Wasserstein loss with the gradient penalty of weight ``grad_weight``, no
    clipping, the fakes drawn with the generator in training mode (the book's critic model)."""

    name = "wgan-gp"
    summary = "the Wasserstein critic with a gradient penalty (WGAN-GP)"
    fakes_in_training_mode = True

    def __init__(self, grad_weight=10.0, batch_size=None):
        super().__init__(clip_threshold=None)
        self.grad_weight = grad_weight
        self.batch_size = batch_size

    def penalties(self):
        return (GradientPenalty(self.grad_weight, self.batch_size),)
