"""R1 (Mescheder et al. 2018): the adversary's gradient on real images pulled to zero.

γ/2 · E‖∇ₓ D(x)‖² over real x, on the adversary's logit (its score where it has
no sigmoid): the zero-centred penalty that makes GAN training converge locally
and that StyleGAN and R3GAN train with.  Set by ``r1_weight`` (γ) or ``--r1``.
"""

from models.penalties.base import ZeroCentred


class R1(ZeroCentred):
    """γ/2 · mean ‖∇ₓ logit(x)‖² over the real batch, in the step that scores it."""

    name = "r1_weight"
    reads = ("real",)
    gradient_of = "real"
