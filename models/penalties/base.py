"""What a penalty is: a term added to the adversary's loss, or a constraint applied after its step.

A penalty reads what one adversary update has scored (``Scored``: the images
each side was shown, their scores, and the input gradients it asked for) and
returns one number, which the update adds to its loss times ``weight``.  A
constraint (the WGAN's weight clipping) adds nothing and acts in
``after_update`` instead.  Penalties never call the model: the update hands
them the adversary and what it scored.
"""

from keras import ops


class Penalty:
    """One term of the adversary's loss, or a constraint on its weights.

    Attributes:
        name: the option that sets it (``r1_weight``...) or the part's name.
        reported_as: the ``d_losses`` column its value is reported in (None: not reported).
        reads: the batches it reads, ``"real"`` and/or ``"fake"``: it joins the update step
            that scores them (one that reads both makes the update one step).
        gradient_of: the side (``"real"``/``"fake"``) whose input gradient of the adversary's
            logit it needs; that side is then scored through ``backends.input_gradient``.
        penalises_gradient: it constrains the adversary's input gradient (one such is enough).
        own_points: it scores points of its own (the gradient penalty's interpolates): one more
            forward and backward pass of the adversary per update, beside the batches'.
        weight: the factor of its value in the adversary's loss.
        every: it joins one adversary update in this many (lazy regularisation, StyleGAN2), its
            weight then multiplied by ``every``; 1: every update.
        layers: Keras layers it draws with (their random state travels with the model's).
        states: Keras layers holding what it keeps between updates (saved with the model).
    """

    name = ""
    reported_as = None
    reads = ()
    gradient_of = None
    penalises_gradient = False
    own_points = False
    weight = 1.0
    every = 1
    layers = ()
    states = ()

    def prepare(self, sides):
        """What it draws before the step's gradient is taken (``sides``: the step's ``Side``s by
        name), handed back to ``value``; nothing here."""
        return None

    def value(self, scored, prepared=None):
        """The penalty's value on what the update scored (a ``Scored``), before ``weight``."""
        raise NotImplementedError

    def observe(self, sides):
        """What it keeps of the step just taken (``sides``: its ``Side``s by name, scored); nothing
        here."""

    def after_update(self, adversary):
        """What follows each adversary update (a constraint on its weights); nothing here."""

    def check(self, model_name, params, adversary):
        """Refuse book arguments this penalty cannot work with (``adversary``: their prefix)."""

    def joins(self, sides):
        """Whether it is part of the update step that scores ``sides`` (a constraint, reading
        nothing, joins no step: it acts after the update)."""
        return bool(self.reads) and set(self.reads) <= set(sides)


class ZeroCentred(Penalty):
    """γ/2 · mean ‖∇ₓ logit(x)‖² over one batch (``gradient_of``), in the step that scores it: the
    zero-centred penalties R1 (real images) and R2 (generated ones); with ``every`` > 1, in one
    step of ``every`` in ``fit`` (lazy regularisation), at ``every`` times the weight."""

    penalises_gradient = True

    def __init__(self, gamma, every=1):
        self.gamma = float(gamma)
        self.weight = 0.5 * self.gamma
        self.every = int(every)

    def value(self, scored, prepared=None):
        gradient = ops.cast(scored.sides[self.gradient_of].gradient, "float32")
        return ops.mean(ops.sum(ops.square(gradient), axis=list(range(1, len(gradient.shape)))))
