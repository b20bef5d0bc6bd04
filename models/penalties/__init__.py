"""Terms added to the adversary's loss, and constraints on its weights: each one small part.

``weight clipping`` (the book's WGAN), the ``gradient penalty`` (its WGAN-GP), ``R1``
and ``R2`` (zero-centred penalties on the real and the generated images), ``LeCam``
(the scores held near their running means, for little data) and the
user's own ``penalty=f``.  The adversary update (``models.core.updates``) composes
whichever a model has: those its named loss comes with, and those its options ask
for (``recipe_penalties``).
"""

from models.penalties.base import Penalty
from models.penalties.clipping import WeightClipping
from models.penalties.custom import UserPenalty
from models.penalties.gradient_penalty import GradientPenalty, RandomWeightedAverage
from models.penalties.lecam import LeCam
from models.penalties.r1 import R1
from models.penalties.r2 import R2


def recipe_penalties(recipe, objective):
    """The penalties a model's options ask for (``models.recipe.options.Recipe``): R1, R2, LeCam
    (which reads the ``objective``'s logits) and the user's own, each where it is set."""
    chosen = []
    if recipe.r1_weight:
        chosen.append(R1(recipe.r1_weight, recipe.r1_every))
    if recipe.r2_weight:
        chosen.append(R2(recipe.r2_weight, recipe.r1_every))
    if recipe.lecam_weight:
        chosen.append(LeCam(recipe.lecam_weight, objective))
    if recipe.penalty is not None:
        chosen.append(UserPenalty(recipe.penalty))
    return tuple(chosen)


__all__ = ["Penalty", "WeightClipping", "GradientPenalty", "RandomWeightedAverage", "R1", "R2", "LeCam",
           "UserPenalty", "recipe_penalties"]
