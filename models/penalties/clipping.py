"""Weight clipping (the book's WGAN): every weight of the critic clipped into [−c, c] after each update.

A crude way to keep the critic (roughly) 1-Lipschitz, as the Wasserstein loss
needs; it adds nothing to the loss.  The clipping runs inside the compiled step,
once per variable even with several replicas.
"""

from keras import ops

from models.core import backends
from models.arguments import positive_number
from models.penalties.base import Penalty


def clip_weights(variables, clip_threshold):
    """Clip every variable into [−c, c], once per variable even with several replicas."""
    if backends.name() != "tensorflow":
        for variable in variables:
            variable.assign(ops.clip(variable, -clip_threshold, clip_threshold))
        return
    import tensorflow as tf

    def clip(strategy):
        for variable in variables:
            strategy.extended.update(
                variable.value,
                lambda v: v.assign(tf.clip_by_value(v, -clip_threshold, clip_threshold)),
                group=False,
            )

    replica_context = tf.distribute.get_replica_context()
    if replica_context is None:
        clip(tf.distribute.get_strategy())
    else:
        replica_context.merge_call(clip)


class WeightClipping(Penalty):
    """The critic's trainable weights clipped into [−``threshold``, ``threshold``] after each update."""

    name = "clip_threshold"

    def __init__(self, threshold=0.01):
        self.threshold = positive_number("clip_threshold", threshold)

    def after_update(self, adversary):
        clip_weights(adversary.trainable_variables, self.threshold)
