"""The hinge objective (Lim & Ye 2017; the loss of SAGAN and BigGAN), beyond the book.

The adversary scores images without a sigmoid and is only pushed while it is
not yet sure by a margin: ``mean(relu(1 − f(x)))`` on real images and
``mean(relu(1 + f(G(z))))`` on generated ones, so confident, correct scores
cost nothing.  The generator raises the scores of its images: ``−mean(f(G(z)))``.
"""

from keras import ops

from models.objectives.base import Objective


class Hinge(Objective):
    name = "hinge"
    summary = "the hinge loss of SAGAN and BigGAN (Lim & Ye 2017)"

    def adversary_loss(self, labels, scores):
        """mean(relu(1 − y·f)): labels +1 for real images, −1 for generated ones."""
        scores = ops.cast(scores, "float32")
        return ops.mean(ops.relu(1.0 - ops.cast(labels, "float32") * scores), axis=-1)

    def generator_loss(self, labels, scores):
        """−f(G(z)) per sample: the generator raises its images' scores."""
        return -ops.mean(ops.cast(scores, "float32"), axis=-1)
