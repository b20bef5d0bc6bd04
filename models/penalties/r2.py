"""R2: the adversary's gradient on generated images pulled to zero.

γ/2 · E‖∇ₓ D(x)‖² over generated x, R1's twin on the fakes.  R3GAN ("The GAN is
dead; long live the GAN!", NeurIPS 2024) trains with both: with the relativistic
pairing loss, R1 alone still lets training stall, R1 and R2 together converge.
Set by ``r2_weight`` (γ) or ``--r2``.
"""

from models.penalties.base import ZeroCentred


class R2(ZeroCentred):
    """γ/2 · mean ‖∇ₓ logit(x)‖² over the generated batch, in the step that scores it."""

    name = "r2_weight"
    reads = ("fake",)
    gradient_of = "fake"
