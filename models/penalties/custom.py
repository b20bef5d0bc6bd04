"""A penalty of the user's own: ``penalty=f`` on any model, ``f(adversary, real, fake)`` → a scalar.

``adversary`` is the adversary network (call it as ``adversary(x, training=True)``;
a conditional model's takes ``[images, labels]``), ``real`` and ``fake`` what it
was shown of each batch in this update (the images, or ``[images, labels]``).
The value is added to the adversary's loss as it is (scale it inside ``f``); it
reads both batches, so the update is one step.  A function defined at a
module's top level is kept with the run by its name (``module:function``) and
comes back with ``load_model`` and ``--resume``.
"""

import importlib

from keras import ops

from models.penalties.base import Penalty


def qualified_name(function):
    """``module:function`` of a top-level function (None for a lambda, a closure or a method)."""
    module, name = getattr(function, "__module__", None), getattr(function, "__qualname__", "")
    if not module or not name or "<" in name or "." in name:
        return None
    return f"{module}:{name}"


def resolve(penalty):
    """A penalty option as a callable: the callable itself, or the one a ``module:function`` names."""
    if penalty is None or callable(penalty):
        return penalty
    if isinstance(penalty, str) and penalty.count(":") == 1:
        module, name = penalty.split(":")
        try:
            function = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError) as error:
            raise ValueError(
                f"penalty={penalty!r}: cannot import it ({error}); pass the function itself "
                "(penalty=f) to load_model, or make its module importable.") from None
        if callable(function):
            return function
    raise ValueError(f"penalty={penalty!r}: expected a function f(adversary, real, fake) returning "
                     "a scalar, or its 'module:function' name.")


class UserPenalty(Penalty):
    """The user's ``f(adversary, real, fake)``, added to the adversary's loss."""

    name = "penalty"
    reads = ("real", "fake")

    def __init__(self, function):
        self.function = resolve(function)

    def value(self, scored, prepared=None):
        result = ops.convert_to_tensor(self.function(scored.adversary, scored.real.inputs, scored.fake.inputs))
        if len(result.shape):
            raise ValueError(f"penalty {self.function!r} returned shape {tuple(result.shape)}; "
                             "it must return one number (a scalar).")
        return ops.cast(result, "float32")
