"""The losses a GAN can be trained with, each one small part (``Objective``), by name.

``objective_for(name, **settings)`` builds one: ``'gan'`` (the book's GAN),
``'wgan'`` (the Wasserstein critic, its weights clipped), ``'wgan-gp'`` (with a
gradient penalty instead), ``'hinge'`` and ``'relativistic'``.  A new loss is a
module here and one line in ``OBJECTIVES``.
"""

import inspect

from models.objectives.base import Objective
from models.objectives.hinge import Hinge
from models.objectives.minimax import Minimax
from models.objectives.relativistic import Relativistic
from models.objectives.wasserstein import Wasserstein, WassersteinGradientPenalty

OBJECTIVES = {objective.name: objective
              for objective in (Minimax, Wasserstein, WassersteinGradientPenalty, Hinge, Relativistic)}


def objective_for(name, allowed=None, **settings):
    """The objective called ``name`` (one of ``allowed``, where a model takes only some), built
    with those of ``settings`` it takes (``clip_threshold``, ``grad_weight``...): a model passes
    all of its own, and each objective picks what it uses."""
    choices = tuple(allowed or OBJECTIVES)
    if name not in choices:
        raise ValueError(f"loss={name!r}: expected one of {', '.join(repr(c) for c in choices)}.")
    objective = OBJECTIVES[name]
    taken = inspect.signature(objective.__init__).parameters
    return objective(**{key: value for key, value in settings.items() if key in taken})


__all__ = ["OBJECTIVES", "Objective", "objective_for"]
