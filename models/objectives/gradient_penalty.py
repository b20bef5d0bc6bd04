"""The WGAN-GP's objective (book section "WGAN-GP"): the Wasserstein loss plus a gradient penalty.

Instead of clipping weights, the critic's loss gains
``grad_weight · mean((‖∇ₓ critic(x̂)‖₂ − 1)²)`` on random points x̂ between real
and generated images, which pushes the critic towards 1-Lipschitz where it
matters.  One critic update sees the real batch, the fake batch and the penalty
together, as the book's ``critic_model`` did, with the fakes drawn by the
generator in training mode (its batch-norm statistics kept: it is frozen).

The book took the gradient with ``K.gradients`` inside a Keras loss; Keras 3
has no such thing, so the penalty is an input gradient taken inside the update's
own gradient (``models.core.backends.input_gradient``: a gradient of a gradient,
on each backend).
"""

import keras
from keras import ops

from models.core import backends
from models.core.arguments import positive_number
from models.core.randomness import Randomness
from models.ops.constant_slopes import call_with_constant_slopes
from models.objectives.wasserstein import Wasserstein, wasserstein


class RandomWeightedAverage(keras.layers.Layer):
    """[real, fake] → α·real + (1 − α)·fake, one α ~ U[0, 1] per sample.

    The batch size comes from the input (the book fixed it at construction,
    which broke the last, smaller batch); ``batch_size`` is still accepted so
    the book's ``RandomWeightedAverage(batch_size)`` works.
    """

    def __init__(self, batch_size=None, **kwargs):
        super().__init__(**kwargs)
        self.batch_size = batch_size
        self.random = Randomness.owned_by(self)
        self.built = True  # no weights

    def call(self, inputs):
        real, fake = inputs
        rank = len(real.shape)
        alpha = self.random.uniform((ops.shape(real)[0], *([1] * (rank - 1))), 0.0, 1.0, dtype=real.dtype)
        return alpha * real + (1.0 - alpha) * fake

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "batch_size": self.batch_size}


def gradient_penalty(critic, interpolated, conditions=None):
    """mean over samples of (‖∂critic/∂x̂‖₂ − 1)², the norm over all non-batch axes.

    ``conditions`` (a conditional critic's labels) are passed beside the images and held fixed:
    the gradient is the image's.
    """

    def scores_of(x):
        if conditions is None:
            return call_with_constant_slopes(critic, x), None
        return critic([x, conditions], training=True), None

    _, gradients = backends.input_gradient(scores_of, interpolated)
    axes = list(range(1, len(interpolated.shape)))
    norms = ops.sqrt(ops.sum(ops.square(ops.cast(gradients, "float32")), axis=axes) + 1e-12)
    return ops.mean(ops.square(norms - 1.0))


class WassersteinGradientPenalty(Wasserstein):
    """The Wasserstein loss with the gradient penalty of weight ``grad_weight``, no clipping."""

    name = "wgan-gp"
    fakes_in_training_mode = True
    penalises_gradient = True
    d_loss_names = ("d_loss", "d_loss_real", "d_loss_fake", "d_loss_gp")

    def __init__(self, grad_weight=10.0, batch_size=None):
        super().__init__(clip_threshold=None)
        self.grad_weight = positive_number("grad_weight", grad_weight)
        self.interpolate = RandomWeightedAverage(batch_size)
        self.layers = (self.interpolate,)

    def check_arguments(self, model_name, params, adversary):
        momentum = params[f"{adversary}_batch_norm_momentum"]
        if momentum:
            raise ValueError(
                f"{model_name} with the gradient penalty cannot use batch normalisation in its critic "
                f"({adversary}_batch_norm_momentum={momentum!r}): batch norm makes each sample's score "
                "depend on the rest of the batch, so the per-sample gradient the penalty constrains "
                f"is no longer the critic's. Pass {adversary}_batch_norm_momentum=None.")

    def critic_update(self, model, real, fake, mismatched=None):
        """One update on −f(real) + f(fake) + grad_weight·GP → [loss, real, fake, GP].

        A conditional model's ``[images, labels]`` keep their labels beside both batches and
        the interpolates; ``mismatched`` (real images with wrong labels) is scored with the
        fakes (their term is the mean over both); the penalty stays on real–fake interpolates.
        """
        conditional = isinstance(real, (list, tuple))
        conditions = real[1] if conditional else None
        real, fake = (real[0], fake[0]) if conditional else (real, fake)
        critic, view = model.adversary, model.adversary_view
        real, fake = view(real), view(fake)
        interpolated = self.interpolate([real, fake])

        def score(images, labels=conditions):
            return critic(images if labels is None else [images, labels], training=True)

        def compute():
            real_scores = score(real)
            loss_real = wasserstein(1.0, real_scores)
            fake_scores = score(fake)
            if mismatched is not None:
                images, labels = mismatched
                fake_scores = ops.concatenate([fake_scores, score(view(images), labels)], 0)
            loss_fake = wasserstein(-1.0, fake_scores)
            penalty = gradient_penalty(critic, interpolated, conditions=conditions)
            loss = loss_real + loss_fake + self.grad_weight * penalty
            return loss, (real_scores, loss_real, loss_fake, penalty)

        loss, (real_scores, loss_real, loss_fake, penalty) = model.descend(model.d_optimizer, critic, compute)
        model.observe_real_scores(real_scores)
        return ops.stack([loss, loss_real, loss_fake, penalty])
