"""How one update runs on each backend outside ``fit()``: the book's ``train_discriminator`` and
``train_generator`` as a compiled step on every replica (TensorFlow), a jitted pure function of
the model's state (JAX) or a plain call (PyTorch); and what Keras' JAX trainer threads through
its step as the model's optimizer state."""

import numpy as np
from keras import ops

from models.core import backends


def compiled_step(model, replica_fn):
    """``replica_fn(batch)`` (one update on a replica's share of a batch) as a function of a global
    batch that runs it on every replica and averages what it returns."""
    backend = backends.name()
    if backend == "tensorflow":
        import tensorflow as tf

        strategy = model.distribute_strategy
        inner = tf.function(replica_fn, jit_compile=True) if model.jit_compile else replica_fn

        def replicated(batch):
            per_replica = strategy.run(inner, args=(batch,))
            return strategy.reduce(tf.distribute.ReduceOp.MEAN, per_replica, axis=None)

        replicated = tf.function(replicated)
        return lambda batch: replicated(split_across_replicas(strategy, batch))
    if backend == "jax":
        import jax

        variables = model.state_variables()
        pure = backends.pure(replica_fn, variables)
        function = pure if model.run_eagerly else jax.jit(pure)

        def step(batch):
            result, values = function([v.value for v in variables], ops.convert_to_tensor(batch))
            for variable, value in zip(variables, values):
                variable.assign(value)
            return result

        return step
    return lambda batch: replica_fn(ops.convert_to_tensor(np.asarray(batch, dtype="float32")))


def split_across_replicas(strategy, value):
    """A global batch as per-replica slices (the first replica takes the first rows)."""
    import tensorflow as tf

    value = tf.convert_to_tensor(np.asarray(value, dtype="float32"))
    replicas = strategy.num_replicas_in_sync
    if replicas == 1:
        return value
    size = int(value.shape[0])
    if size % replicas:
        raise ValueError(
            f"batch_size={size} must be divisible by the {replicas} replicas of the "
            f"distribution strategy (each replica trains on batch_size / replicas).")
    per_replica = size // replicas

    def shard(context):
        start = context.replica_id_in_sync_group * per_replica
        return value[start: start + per_replica]

    return strategy.experimental_distribute_values_from_function(shard)


class OptimizerStates:
    """What Keras' JAX trainer takes as ``model.optimizer``: it threads ``optimizer.variables``
    through the jitted step and writes them back; a GAN's are all its optimizers'."""

    built = True

    def __init__(self, model):
        self._model = model

    @property
    def variables(self):
        return backends.unique(self._model.optimizer_variables())
