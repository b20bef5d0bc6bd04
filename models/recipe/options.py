"""The modern recipe's parts as options of every model, all off by default (the book's recipe).

* ``ema``: the decay of an average of the generator's weights that draws the samples
  (``models.recipe.average``); 0 is off, 0.999 a usual value; ``ema_rampup`` (with it) caps
  the average's half-life at this share of the updates so far (StyleGAN2-ADA's ramp, 0.05);
* ``augment``: differentiable augmentation of every image the adversary sees
  (``models.recipe.augment``): ``'translation'``, ``'cutout'``, ``'color'``, comma-separated;
  ``augment_probability`` is the chance each policy hits an image, and a non-zero
  ``augment_target`` adapts it (ADA) towards that rate of real images scored as real, able to move
  from 0 to 1 over ``augment_adjust_images`` real images (the adjustment's speed; ADA's own is
  500,000, for runs of millions of images);
* ``spectral_norm``: every layer of the adversary with a kernel divided by its largest
  singular value (Miyato et al. 2018), through ``keras.layers.SpectralNormalization``;
* ``minibatch_std``: the batch's standard deviation as one more feature map before the
  adversary's last conv (``models.recipe.minibatch_std``; ProGAN, StyleGAN);
* ``r1_weight``: γ of the R1 penalty, γ/2 · E‖∇ₓ D(x)‖² on real images (Mescheder et al. 2018),
  on the adversary's logit (its score, where it has no sigmoid);
* ``r2_weight``: γ of the R2 penalty, the same on generated images (R3GAN trains with both);
* ``r1_every``: R1 and R2 in one step of this many in ``fit``/``train``, at this many times the
  weight (StyleGAN2's lazy regularisation, 16); 1: every step;
* ``lecam_weight``: λ of LeCam regularisation, the adversary's logits held near the running
  means of the other side's (``models.penalties.lecam``; for little data);
* ``adam_betas``: ``(β₁, β₂)``: both networks train with Adam at these betas (StyleGAN2 and R3GAN
  train with (0, 0.99)) instead of the book's ``optimiser``; empty: the book's;
* ``penalty``: the user's own term of the adversary's loss, ``f(adversary, real, fake)`` → a
  scalar, or the ``'module:function'`` name of one (what ``run.json`` keeps).

The penalties are parts of ``models.penalties``, composed by the adversary's update.

The hinge loss is an objective (``loss='hinge'``) and separate learning rates are the
book's own two arguments; ``utils.presets.get(chapter, recipe='modern')`` gives a chapter's
whole modern recipe.
"""

from dataclasses import asdict, dataclass, fields

from models.penalties.custom import qualified_name, resolve as resolve_penalty
from models.recipe.augment import parse_policies


@dataclass(frozen=True)
class Recipe:
    ema: float = 0.0
    ema_rampup: float = 0.0
    augment: str = ""
    augment_probability: float = 1.0
    augment_target: float = 0.0
    augment_adjust_images: int = 20_000
    spectral_norm: bool = False
    minibatch_std: bool = False
    r1_weight: float = 0.0
    r2_weight: float = 0.0
    r1_every: int = 1
    lecam_weight: float = 0.0
    adam_betas: tuple = ()
    penalty: object = None

    def __post_init__(self):
        if isinstance(self.adam_betas, list):  # as run.json keeps it
            object.__setattr__(self, "adam_betas", tuple(self.adam_betas))

    @classmethod
    def from_options(cls, model_name, options):
        """The recipe of a constructor's extra keywords; an unknown one is named with the choices."""
        names = [field.name for field in fields(cls)]
        unknown = sorted(set(options) - set(names))
        if unknown:
            raise TypeError(
                f"{model_name}() got unexpected keyword argument(s) {', '.join(map(repr, unknown))}: "
                f"its options beyond the book's are the GAN hacks and the recipe's "
                f"{', '.join(names)} (see models/recipe/options.py).")
        return cls(**options).check()

    def check(self):
        """Refuse values that cannot work, naming the option and its range."""
        def number(name, low, high, low_open=False, high_open=True):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
                    (low < value if low_open else low <= value) and (value < high if high_open else value <= high)):
                bounds = f"{'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
                raise ValueError(f"{name} must be a number in {bounds}, got {value!r}.")

        number("ema", 0.0, 1.0)
        number("ema_rampup", 0.0, float("inf"))
        if self.ema_rampup and not self.ema:
            raise ValueError(f"ema_rampup={self.ema_rampup!r} ramps the generator's average, which is off "
                             "(ema=0): set ema too, e.g. ema=0.999.")
        number("augment_probability", 0.0, 1.0, high_open=False)
        number("augment_target", 0.0, 1.0)
        adjust = self.augment_adjust_images
        if isinstance(adjust, bool) or not isinstance(adjust, int) or adjust < 1:
            raise ValueError(f"augment_adjust_images must be a whole number of images, at least 1; got {adjust!r}.")
        if adjust != Recipe.augment_adjust_images and not self.augment_target:
            raise ValueError(f"augment_adjust_images={adjust} sets how fast the adaptive augmentation moves, and "
                             "it is not adaptive (augment_target=0): set augment_target too, e.g. 0.6.")
        number("r1_weight", 0.0, float("inf"))
        number("r2_weight", 0.0, float("inf"))
        number("lecam_weight", 0.0, float("inf"))
        if isinstance(self.r1_every, bool) or not isinstance(self.r1_every, int) or self.r1_every < 1:
            raise ValueError(f"r1_every must be a whole number of steps, at least 1; got {self.r1_every!r}.")
        if self.r1_every > 1 and not (self.r1_weight or self.r2_weight):
            raise ValueError(f"r1_every={self.r1_every} spaces out R1 and R2, and neither is on: set "
                             "r1_weight (or r2_weight) too, e.g. r1_weight=1.0.")
        betas = self.adam_betas
        if not isinstance(betas, tuple) or (betas and (len(betas) != 2 or not all(
                isinstance(b, (int, float)) and not isinstance(b, bool) and 0 <= b < 1 for b in betas))):
            raise ValueError(f"adam_betas must be two numbers in [0, 1), (beta_1, beta_2), or () for the "
                             f"book's optimiser; got {betas!r}.")
        resolve_penalty(self.penalty)
        parse_policies(self.augment)
        for name in ("spectral_norm", "minibatch_std"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}.")
        return self

    def as_dict(self):
        """The options as plain values (``adam_betas`` a list): the user's penalty by its ``'module:function'`` name (a
        function that has none is refused where the run is saved: ``saved_penalty``)."""
        options = asdict(self)
        options["adam_betas"] = list(self.adam_betas)  # as JSON keeps it
        if callable(self.penalty):
            options["penalty"] = qualified_name(self.penalty) or repr(self.penalty)
        return options

    @property
    def policies(self):
        return parse_policies(self.augment)


NAMES = tuple(field.name for field in fields(Recipe))

# The options that decide which variables a checkpoint holds, by whether they are on: the average's
# network, the augmentation's probability, the adversary's layers, LeCam's anchors, Adam's slots.
CHECKPOINT_PARTS = ("ema", "augment", "spectral_norm", "minibatch_std", "lecam_weight", "adam_betas")


def checkpoint_differences(recorded, asked):
    """The options of ``asked`` that would build a model whose checkpoint holds other variables
    than a model built with ``recorded`` (both dicts of options), as ``{name: (recorded, asked)}``."""
    defaults = Recipe().as_dict()
    return {name: (recorded.get(name, defaults[name]), asked[name]) for name in CHECKPOINT_PARTS
            if name in asked and bool(asked[name]) != bool(recorded.get(name, defaults[name]))}
