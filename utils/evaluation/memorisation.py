"""The book's memorisation check: is the generator copying its training set?

After training the WGAN on CIFAR horses the book generates a few samples and,
for each, looks up the training image closest to it (mean absolute difference
over all pixels).  If the samples were copies, their nearest neighbours would be
the same pictures; a generator that has learnt the distribution produces images
that resemble, but are not, any one training image.

The book compared every sample to every image in a Python loop.  Here the
distances are computed with numpy, a chunk of training images at a time, so
6,000 CIFAR images (or more) never need more than a few megabytes at once.
"""

import math
import os
from collections import namedtuple

import numpy as np

from utils.plotting import save_image_grid

SAMPLES_FILE = "memorisation_samples.png"
NEAREST_FILE = "memorisation_nearest.png"

MemorisationCheck = namedtuple(
    "MemorisationCheck", ["indices", "distances", "samples_path", "nearest_path"]
)

# Elements of the (samples, chunk, pixels) difference array computed at once:
# 4M float32 values = 16 MB.
_BUDGET = 4_000_000


def _flat(images, name):
    images = np.asarray(images)
    if images.ndim < 2:
        raise ValueError(f"{name} must be a batch of images (N, ...), got shape {images.shape}.")
    return images.reshape(len(images), -1).astype(np.float32, copy=False)


def nearest_training_images(samples, x_train, chunk=None):
    """For each sample, the closest training image by mean absolute pixel difference.

    Args:
        samples: generated images `(S, H, W, C)` (or any `(S, ...)` shape).
        x_train: training images `(N, H, W, C)`, same image shape and scale as
            `samples` (the notebooks use [-1, 1]).
        chunk: how many training images to compare at once.  By default as
            many as keep the difference array near 16 MB.

    Returns:
        `(indices, distances)`: for each sample the index in `x_train` of its
        nearest image (the first one, if several are equally close) and the
        mean absolute difference to it, in the images' own units (on [-1, 1]
        images that is twice the book's distance on [0, 1] images).

    Raises:
        ValueError: an argument is not a batch of images, their image shapes differ,
            `x_train` is empty, or `chunk` is below 1.
    """
    samples_flat = _flat(samples, "samples")
    train_flat = _flat(x_train, "x_train")
    if np.asarray(samples).shape[1:] != np.asarray(x_train).shape[1:]:
        raise ValueError(
            f"samples {np.asarray(samples).shape[1:]} and x_train "
            f"{np.asarray(x_train).shape[1:]} must have the same image shape."
        )
    if len(train_flat) == 0:
        raise ValueError("x_train is empty: there is nothing to compare with.")
    n_samples, n_pixels = samples_flat.shape
    if chunk is None:
        chunk = max(1, _BUDGET // max(1, n_samples * n_pixels))
    chunk = int(chunk)
    if chunk < 1:
        raise ValueError(f"chunk must be at least 1, got {chunk}.")

    best_index = np.zeros(n_samples, dtype=np.int64)
    best_distance = np.full(n_samples, np.inf, dtype=np.float32)
    for start in range(0, len(train_flat), chunk):
        block = train_flat[start : start + chunk]
        # (S, 1, P) - (1, B, P) -> (S, B): mean |difference| per (sample, image) pair.
        distances = np.abs(samples_flat[:, None, :] - block[None, :, :]).mean(axis=2)
        local = distances.argmin(axis=1)
        local_distance = distances[np.arange(n_samples), local]
        better = local_distance < best_distance  # strict: earlier images win ties
        best_index[better] = start + local[better]
        best_distance[better] = local_distance[better]
    return best_index, best_distance


def save_memorisation_check(samples, x_train, folder, chunk=None, cols=5):
    """Saves the samples and their nearest training images as two grids of the same layout.

    The pictures go to `<folder>/images/memorisation_samples.png` and
    `<folder>/images/memorisation_nearest.png` (`folder` is a run folder, as
    for `sample_images`): sample k and its nearest training image sit in the
    same place of the two grids.  Images are expected in [-1, 1].

    Args:
        samples: generated images `(S, H, W, C)`, C = 1 or 3.
        x_train: training images `(N, H, W, C)`, the same image shape and scale.
        folder: the run folder (a path); `images/` is made in it.
        chunk: training images compared at once (see `nearest_training_images`).
        cols: images per row of both grids (at most S).

    Returns:
        `MemorisationCheck(indices, distances, samples_path, nearest_path)`.
        The first two are `nearest_training_images`' results, the last two the
        paths (str) of the two grids.

    Raises:
        ValueError: as for `nearest_training_images`.
    """
    samples = np.asarray(samples)
    indices, distances = nearest_training_images(samples, x_train, chunk=chunk)
    nearest = np.asarray(x_train)[indices]
    cols = max(1, min(cols, len(samples)))
    rows = math.ceil(len(samples) / cols)
    images = os.path.join(str(folder), "images")
    os.makedirs(images, exist_ok=True)
    samples_path = save_image_grid(samples, os.path.join(images, SAMPLES_FILE), rows, cols)
    nearest_path = save_image_grid(nearest, os.path.join(images, NEAREST_FILE), rows, cols)
    return MemorisationCheck(indices, distances, samples_path, nearest_path)
