"""What a stateful training step needs from the backend Keras runs on.

The adversarial step (``models.core.adversarial``) is written once, with ``keras.ops``,
as if variables were mutable: it calls networks, reads and assigns variables and
applies optimizers.  Only these differ between TensorFlow, PyTorch and JAX:

* how a gradient is taken (``gradients``, ``input_gradient``): a ``GradientTape``,
  ``torch.autograd.grad``, or ``jax.vjp`` of a pure function; and how it is applied
  (``apply``: the optimizer's own ``apply``, on JAX its ``stateless_apply``);
* how a value is kept while its variable changes (``snapshot``);
* on JAX, how the stateful step becomes the pure function that ``jax.jit`` and
  ``jax.vjp`` need (``pure``): it runs inside a ``FallbackScope``, a Keras
  ``StatelessScope`` that reads what it was not given from the scope around it and
  hands back everything assigned inside it, so that scopes nest (a gradient inside a
  jitted step, an input gradient inside that gradient).
"""

import contextlib

import keras


def name():
    """The backend Keras runs on now ('tensorflow', 'jax' or 'torch')."""
    return keras.backend.backend()


class FallbackScope(keras.StatelessScope):
    """A ``StatelessScope`` whose variables read as the enclosing scope's where it holds no
    value, and which records what was assigned inside it (``assigned``)."""

    def __init__(self, state_mapping=()):
        super().__init__(state_mapping=list(state_mapping))
        self.assigned = {}

    def add_update(self, update):
        variable, value = update
        self.assigned[id(variable)] = (variable, value)
        super().add_update(update)

    def get_current_value(self, variable):
        value = super().get_current_value(variable)
        if value is None and self.original_scope is not None:
            value = self.original_scope.get_current_value(variable)
        return value

    def updates(self):
        """``[(variable, value)]`` assigned inside the scope, in first-assigned order."""
        return list(self.assigned.values())


def _reassign(updates):
    for variable, value in updates:
        variable.assign(value)


def snapshot(variable):
    """A copy of ``variable``'s current value that later assignments leave alone."""
    backend = name()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.identity(variable.value)
    if backend == "torch":
        return variable.value.detach().clone()
    return variable.value  # immutable; inside a stateless scope, the scope's


def gradients(compute, groups):
    """The gradients of each of ``compute()``'s losses with respect to its group of variables.

    Args:
        compute: a function of no argument returning ``(losses, aux)``: one scalar loss per
            group, and anything else to hand back.  It may read and assign any variable
            (batch-norm statistics, random seeds): its assignments stand afterwards.
        groups: one list of variables per loss.
    Returns:
        ``(aux, grads)``: ``grads[i]`` lists the gradients of ``losses[i]`` for ``groups[i]``
        (zeros for a variable the loss does not depend on).
    """
    backend = name()
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape(persistent=len(groups) > 1) as tape:
            losses, aux = compute()
        grads = [tape.gradient(loss, variables) for loss, variables in zip(losses, groups)]
        grads = [[keras.ops.zeros_like(v) if g is None else g for g, v in zip(gs, variables)]
                 for gs, variables in zip(grads, groups)]
        return aux, grads
    if backend == "torch":
        import torch

        losses, aux = compute()
        grads = []
        for i, (loss, variables) in enumerate(zip(losses, groups)):
            found = torch.autograd.grad(loss, [v.value for v in variables], allow_unused=True,
                                        retain_graph=i < len(groups) - 1)
            grads.append([torch.zeros_like(v.value) if g is None else g for g, v in zip(found, variables)])
        return aux, grads
    if backend == "jax":
        import jax

        flat = [v for variables in groups for v in variables]

        def loss_of(values):
            with FallbackScope(zip(flat, values)) as scope:
                losses, aux = compute()
            return tuple(losses), (aux, scope.updates())

        losses, pullback, (aux, updates) = jax.vjp(loss_of, [v.value for v in flat], has_aux=True)
        grads, start = [], 0
        for i, variables in enumerate(groups):
            cotangent = tuple(keras.ops.ones_like(loss) if j == i else keras.ops.zeros_like(loss)
                              for j, loss in enumerate(losses))
            (all_grads,) = pullback(cotangent)
            grads.append(list(all_grads[start: start + len(variables)]))
            start += len(variables)
        # What the loss assigned to the variables it is taken for (a spectrally normalised
        # kernel) lands before the update, as on the other backends.
        _reassign(updates)
        return aux, grads
    raise NotImplementedError(f"backend {backend!r}: the adversarial step runs on tensorflow, jax or torch.")


def apply(optimizer, grads, variables):
    """``optimizer.apply(grads, variables)``; on JAX through its ``stateless_apply``, whose values
    are then assigned: a loss-scaling optimizer's ``apply`` assigns inside ``ops.cond``
    branches, which a traced step cannot hold (``variables`` must be those it was built for)."""
    if name() != "jax":
        optimizer.apply(grads, variables)
        return
    values, slots = optimizer.stateless_apply([v.value for v in optimizer.variables], grads,
                                              [v.value for v in variables])
    _reassign([*zip(variables, values), *zip(optimizer.variables, slots)])


def input_gradient(function, inputs):
    """The gradient of ``sum(outputs)`` for ``inputs``, where ``function(inputs)`` returns
    ``(outputs, aux)``; itself differentiable (for a penalty on the gradient, such as
    WGAN-GP's or R1).  Returns ``(aux, gradient)``."""
    backend = name()
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            tape.watch(inputs)
            outputs, aux = function(inputs)
        return aux, tape.gradient(outputs, inputs)
    if backend == "torch":
        import torch

        if not inputs.requires_grad:
            inputs = inputs.detach().requires_grad_(True)
        outputs, aux = function(inputs)
        (grad,) = torch.autograd.grad(outputs.sum(), inputs, create_graph=True)
        return aux, grad
    if backend == "jax":
        import jax

        def summed(x):
            with FallbackScope() as scope:
                outputs, aux = function(x)
            return keras.ops.sum(keras.ops.cast(outputs, "float32")), (aux, scope.updates())

        grad, (aux, updates) = jax.grad(summed, has_aux=True)(inputs)
        _reassign(updates)
        return aux, grad
    raise NotImplementedError(f"backend {backend!r}: the adversarial step runs on tensorflow, jax or torch.")


def pure(step, variables):
    """``step(*args)``, stateful, as a pure function ``(values, *args) → (result, new_values)`` of
    the ``variables``' values (for ``jax.jit``).  Every variable ``step`` reads must be among
    ``variables``, or it is read as a constant."""

    def function(values, *args):
        with FallbackScope(zip(variables, values)) as scope:
            result = step(*args)
        return result, [current_value_in(scope, v) for v in variables]

    return function


def current_value_in(scope, variable):
    value = scope.get_current_value(variable)
    return variable.value if value is None else value


def unique(variables):
    """``variables`` without repeats (a network shared by two models lists its weights twice)."""
    seen, kept = set(), []
    for variable in variables:
        if id(variable) not in seen:
            seen.add(id(variable))
            kept.append(variable)
    return kept


def strategy_for(strategy):
    """The ``tf.distribute`` strategy to build under: ``strategy``, else TensorFlow's current one;
    None off TensorFlow, where a strategy cannot be used (Keras' ``keras.distribution`` can)."""
    if name() == "tensorflow":
        import tensorflow as tf

        return strategy or tf.distribute.get_strategy()
    if strategy is not None:
        raise ValueError(
            f"strategy={type(strategy).__name__}: a tf.distribute strategy needs KERAS_BACKEND=tensorflow; "
            f"on {name()} distribute with keras.distribution (e.g. "
            "keras.distribution.set_distribution(keras.distribution.DataParallel())) and pass no strategy.")
    return None


def replica_scope(strategy):
    """The strategy's scope on TensorFlow; nothing to enter elsewhere."""
    return strategy.scope() if strategy is not None else contextlib.nullcontext()
