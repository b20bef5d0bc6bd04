"""The WGAN's objective (book section "Wasserstein GAN"): a critic's scores, not probabilities.

The critic raises its score of real images (label +1) and lowers that of
generated ones (label −1): its loss, −mean(y·f(x)), estimates minus the
Wasserstein distance between the two when the critic is 1-Lipschitz, which the
book keeps (roughly) by clipping every critic weight into [−c, c] after each update.
"""

from keras import ops

from models.core import backends
from models.core.arguments import positive_number
from models.objectives.base import Objective


def wasserstein(labels, scores):
    """−mean(y·f(x)): minimising it raises the critic's score on +1 samples and lowers it on −1."""
    return -ops.mean(labels * ops.cast(scores, "float32"))


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


class Wasserstein(Objective):
    """The Wasserstein loss; with ``clip_threshold`` c, the critic's weights are clipped into
    [−c, c] after every update (None: no clipping, as when a penalty keeps the critic smooth)."""

    name = "wgan"
    estimates_distance = True
    default_n_critic = 5
    signal_description = "critic's Wasserstein estimate −(d_loss_real + d_loss_fake)"

    def __init__(self, clip_threshold=0.01):
        self.clip_threshold = None if clip_threshold is None else positive_number(
            "clip_threshold", clip_threshold)

    def adversary_loss(self, labels, scores):
        return wasserstein(labels, scores)

    def after_critic_update(self, model):
        if self.clip_threshold is not None:
            clip_weights(model.adversary.trainable_variables, self.clip_threshold)
