"""The gradient penalty (WGAN-GP, book section "WGAN-GP"): the critic's gradient norm pulled to 1.

``mean((‖∇ₓ critic(x̂)‖₂ − 1)²)`` on random points x̂ between each real image
and a generated one (``RandomWeightedAverage``: one α ~ U[0, 1] per pair), which
pushes the critic towards 1-Lipschitz where it matters.  It reads the real and
the generated batch together, so the critic's update is one step, as the
book's ``critic_model`` was.

The book took the gradient with ``K.gradients`` inside a Keras loss; Keras 3
has no such thing, so the penalty is an input gradient taken inside the update's
own gradient (``models.core.backends.input_gradient``: a gradient of a gradient,
on each backend).
"""

import keras
from keras import ops

from models.core import backends
from models.arguments import positive_number
from models.core.randomness import Randomness
from models.ops.constant_slopes import call_with_constant_slopes
from models.penalties.base import Penalty


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


class GradientPenalty(Penalty):
    """``weight`` · mean((‖∇ₓ critic(x̂)‖₂ − 1)²) on real–fake interpolates, reported as ``d_loss_gp``.

    With a conditional critic the interpolates keep the real batch's labels (the fakes were
    drawn for the same ones); fakes beyond the real batch's size (CGAN's mismatched pairs) are
    not interpolated.
    """

    name = "grad_weight"
    reported_as = "d_loss_gp"
    reads = ("real", "fake")
    penalises_gradient = True
    own_points = True

    def __init__(self, weight=10.0, batch_size=None):
        self.weight = positive_number("grad_weight", weight)
        self.interpolate = RandomWeightedAverage(batch_size)
        self.layers = (self.interpolate,)

    def prepare(self, sides):
        """The interpolates, drawn before the step (as the book's critic model drew them)."""
        real, fake = sides["real"], sides["fake"]
        return self.interpolate([real.images, fake.images[:ops.shape(real.images)[0]]])

    def value(self, scored, prepared=None):
        return gradient_penalty(scored.adversary, prepared, conditions=scored.real.conditions)

    def check(self, model_name, params, adversary):
        momentum = params[f"{adversary}_batch_norm_momentum"]
        if momentum:
            raise ValueError(
                f"{model_name} with the gradient penalty cannot use batch normalisation in its critic "
                f"({adversary}_batch_norm_momentum={momentum!r}): batch norm makes each sample's score "
                "depend on the rest of the batch, so the per-sample gradient the penalty constrains "
                f"is no longer the critic's. Pass {adversary}_batch_norm_momentum=None.")
