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

import tensorflow as tf
import keras

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


def _chosen(images, p):
    """A (n, 1, 1, 1) float mask: 1 for each image that a policy applied with probability p hits."""
    n = tf.shape(images)[0]
    return tf.cast(tf.random.uniform((n, 1, 1, 1)) < p, images.dtype)


def translate(images, p, ratio=0.125):
    """Shift each chosen image by up to ``ratio`` of its size in each direction, filling with 0."""
    n, height, width = tf.shape(images)[0], tf.shape(images)[1], tf.shape(images)[2]
    reach_y = tf.cast(tf.cast(height, tf.float32) * ratio + 0.5, tf.int32)
    reach_x = tf.cast(tf.cast(width, tf.float32) * ratio + 0.5, tf.int32)
    hit = tf.cast(tf.random.uniform((n,)) < p, tf.int32)
    shift_y = hit * tf.random.uniform((n,), -reach_y, reach_y + 1, tf.int32)
    shift_x = hit * tf.random.uniform((n,), -reach_x, reach_x + 1, tf.int32)
    rows = tf.range(height)[None, :] - shift_y[:, None]  # (n, H): the source row of each row
    cols = tf.range(width)[None, :] - shift_x[:, None]
    rows_inside = tf.cast((rows >= 0) & (rows < height), images.dtype)
    cols_inside = tf.cast((cols >= 0) & (cols < width), images.dtype)
    moved = tf.gather(images, tf.clip_by_value(rows, 0, height - 1), axis=1, batch_dims=1)
    moved = tf.gather(moved, tf.clip_by_value(cols, 0, width - 1), axis=2, batch_dims=1)
    inside = rows_inside[:, :, None, None] * cols_inside[:, None, :, None]
    return moved * inside


def cutout(images, p, ratio=0.5):
    """Set a square of ``ratio`` of the image's size, at a random place, to 0 in each chosen image."""
    n, height, width = tf.shape(images)[0], tf.shape(images)[1], tf.shape(images)[2]
    size_y = tf.cast(tf.cast(height, tf.float32) * ratio + 0.5, tf.int32)
    size_x = tf.cast(tf.cast(width, tf.float32) * ratio + 0.5, tf.int32)
    top = tf.random.uniform((n, 1), 0, height + (1 - size_y % 2), tf.int32) - size_y // 2
    left = tf.random.uniform((n, 1), 0, width + (1 - size_x % 2), tf.int32) - size_x // 2
    rows, cols = tf.range(height)[None, :], tf.range(width)[None, :]
    in_rows = tf.cast((rows >= top) & (rows < top + size_y), images.dtype)
    in_cols = tf.cast((cols >= left) & (cols < left + size_x), images.dtype)
    hole = in_rows[:, :, None, None] * in_cols[:, None, :, None] * _chosen(images, p)
    return images * (1.0 - hole)


def color(images, p):
    """Random brightness, saturation and contrast of each chosen colour image (as DiffAugment)."""
    def draw(low, high):
        return tf.random.uniform((tf.shape(images)[0], 1, 1, 1), low, high, dtype=images.dtype)

    hit = _chosen(images, p)
    x = images + hit * (draw(0.0, 1.0) - 0.5)
    mean = tf.reduce_mean(x, axis=3, keepdims=True)
    x = mean + (x - mean) * (1.0 + hit * (draw(0.0, 2.0) - 1.0))
    mean = tf.reduce_mean(x, axis=[1, 2, 3], keepdims=True)
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
        self.built = True  # nothing depends on the images' shape

    def call(self, images):
        p = tf.cast(self.probability, images.dtype)
        for name in self.policies:
            images = OPERATIONS[name](images, p)
        return images

    def observe_real(self, scores, threshold):
        """Adapt ``p`` from the adversary's scores of a batch of real images (with a target only).

        ``threshold`` separates "real" from "fake" scores (0.5 for a probability, 0 for a score).
        """
        if not self.target:
            return
        scores = tf.cast(tf.reshape(scores, (-1,)), tf.float32)
        rate = tf.reduce_mean(tf.sign(scores - threshold))
        step = tf.cast(tf.size(scores), tf.float32) / self.adjust_images
        self.probability.assign(tf.clip_by_value(
            self.probability + tf.sign(rate - self.target) * step, 0.0, 1.0))
