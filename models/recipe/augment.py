"""Differentiable augmentation of every image the adversary sees (DiffAugment, with ADA's strength).

On small data the discriminator learns the training images by heart and the
generator chases what it memorised.  Augmenting the images it is shown — real and
generated alike, in its own updates and inside the generator's, through
differentiable operations so the generator's gradient passes them — leaves it
less to memorise without teaching the generator the augmentation (Zhao et al.
2020, "Differentiable Augmentation for Data-Efficient GAN Training").

Each policy is applied to each image with probability ``p``.  ``p`` is fixed, or
adapted while training (Karras et al. 2020, "Training Generative Adversarial
Networks with Limited Data"): the fraction of real images the adversary scores
as real, ``r = E[sign(score − threshold)]``, above a target means it is
overfitting, so ``p`` rises; below, it falls.  ``p`` is a variable of the model,
so checkpoints keep it and ``--resume`` continues with it.
"""

import keras
from keras import ops

from models.core.randomness import Randomness

POLICIES = ("translation", "cutout", "color")


def parse_policies(value):
    """``'translation,cutout'`` (or a list) → a tuple of policy names; ``''``/None → ``()``."""
    if not value:
        return ()
    names = value.split(",") if isinstance(value, str) else list(value)
    names = tuple(name.strip() for name in names)
    unknown = [name for name in names if name not in POLICIES]
    if unknown or len(set(names)) != len(names):
        raise ValueError(
            f"augment={value!r}: expected a comma-separated choice of {', '.join(POLICIES)}, "
            f"each at most once (e.g. 'translation,cutout').")
    return names


def _chosen(images, p, random):
    """A (n, 1, 1, 1) float mask: 1 for each image that a policy applied with probability p hits."""
    return ops.cast(random.uniform((ops.shape(images)[0], 1, 1, 1)) < p, images.dtype)


def translate(images, p, ratio=0.125, random=None):
    """Shift each chosen image by up to ``ratio`` of its size in each direction, filling with 0
    (``random``: the draws' ``models.core.randomness.Randomness``; a new one if None)."""
    random = random or Randomness.for_backend()
    n, height, width = ops.shape(images)[0], int(images.shape[1]), int(images.shape[2])
    reach_y, reach_x = int(height * ratio + 0.5), int(width * ratio + 0.5)
    hit = ops.cast(random.uniform((n,)) < p, "int32")
    shift_y = hit * random.integers((n,), -reach_y, reach_y + 1)
    shift_x = hit * random.integers((n,), -reach_x, reach_x + 1)
    rows = ops.arange(height, dtype="int32")[None, :] - shift_y[:, None]  # (n, H): the source row of each row
    cols = ops.arange(width, dtype="int32")[None, :] - shift_x[:, None]
    rows_inside = ops.cast((rows >= 0) & (rows < height), images.dtype)
    cols_inside = ops.cast((cols >= 0) & (cols < width), images.dtype)
    rows = ops.broadcast_to(ops.clip(rows, 0, height - 1)[:, :, None, None], ops.shape(images))
    moved = ops.take_along_axis(images, rows, axis=1)
    cols = ops.broadcast_to(ops.clip(cols, 0, width - 1)[:, None, :, None], ops.shape(images))
    moved = ops.take_along_axis(moved, cols, axis=2)
    inside = rows_inside[:, :, None, None] * cols_inside[:, None, :, None]
    return moved * inside


def cutout(images, p, ratio=0.5, random=None):
    """Set a square of ``ratio`` of the image's size, at a random place, to 0 in each chosen image."""
    random = random or Randomness.for_backend()
    n, height, width = ops.shape(images)[0], int(images.shape[1]), int(images.shape[2])
    size_y, size_x = int(height * ratio + 0.5), int(width * ratio + 0.5)
    top = random.integers((n, 1), 0, height + (1 - size_y % 2)) - size_y // 2
    left = random.integers((n, 1), 0, width + (1 - size_x % 2)) - size_x // 2
    rows, cols = ops.arange(height, dtype="int32")[None, :], ops.arange(width, dtype="int32")[None, :]
    in_rows = ops.cast((rows >= top) & (rows < top + size_y), images.dtype)
    in_cols = ops.cast((cols >= left) & (cols < left + size_x), images.dtype)
    hole = in_rows[:, :, None, None] * in_cols[:, None, :, None] * _chosen(images, p, random)
    return images * (1.0 - hole)


def color(images, p, random=None):
    """Random brightness, saturation and contrast of each chosen colour image (as DiffAugment)."""
    random = random or Randomness.for_backend()
    def draw(low, high):
        return random.uniform((ops.shape(images)[0], 1, 1, 1), low, high, dtype=images.dtype)

    hit = _chosen(images, p, random)
    x = images + hit * (draw(0.0, 1.0) - 0.5)
    mean = ops.mean(x, axis=3, keepdims=True)
    x = mean + (x - mean) * (1.0 + hit * (draw(0.0, 2.0) - 1.0))
    mean = ops.mean(x, axis=[1, 2, 3], keepdims=True)
    return mean + (x - mean) * (1.0 + hit * (draw(0.5, 1.5) - 1.0))


OPERATIONS = {"translation": translate, "cutout": cutout, "color": color}


class Augmentation(keras.layers.Layer):
    """The augmentation a model's adversary sees, with its probability ``p`` as saved state.

    Args:
        policies: names from ``POLICIES``, applied in that order (``color`` needs 3 channels).
        probability: ``p`` when fixed; the starting ``p`` when adaptive.
        target: ADA's target for ``r``, the real images' sign rate; 0 keeps ``p`` fixed.
        adjust_images: with a target, ``p`` can move from 0 to 1 over this many real images.
    """

    def __init__(self, policies, probability=1.0, target=0.0, adjust_images=20_000, **kwargs):
        super().__init__(**kwargs)
        self.policies = parse_policies(policies)
        self.target = float(target)
        self.adjust_images = int(adjust_images)
        self.probability = self.add_weight(
            shape=(), initializer=keras.initializers.Constant(float(probability)), trainable=False,
            name="probability", dtype="float32", aggregation="only_first_replica")
        self.random = Randomness.owned_by(self)
        self.built = True  # nothing depends on the images' shape

    def call(self, images):
        p = ops.cast(self.probability, images.dtype)
        for name in self.policies:
            images = OPERATIONS[name](images, p, random=self.random)
        return images

    def observe_real(self, scores, threshold):
        """Adapt ``p`` from the adversary's scores of a batch of real images (with a target only).

        ``threshold`` separates "real" from "fake" scores (0.5 for a probability, 0 for a score).
        """
        if not self.target:
            return
        scores = ops.cast(ops.reshape(scores, (-1,)), "float32")
        rate = ops.mean(ops.sign(scores - threshold))
        step = ops.cast(ops.size(scores), "float32") / self.adjust_images
        self.probability.assign(ops.clip(
            self.probability + ops.sign(rate - self.target) * step, 0.0, 1.0))
