"""Walks through the generator's latent space: interpolations and vector arithmetic.

A generator that has learnt the data, rather than a list of pictures, maps a
straight path between two latent points to a gradual change of image, and adds
latent vectors meaningfully ("a cat, moved as a bear differs from a horse").
Both are pictures for the eye; the functions here make them reproducible.

Latent points are drawn from N(0, I), whose mass sits on a thin shell of radius
about √z_dim.  A straight line between two points passes well inside that shell
(its midpoint has norm ≈ √(z_dim / 2)), where the generator saw no training
input; the spherical path (slerp) stays on the shell.  Both are drawn, so the
difference can be seen.
"""

import numpy as np

from utils.plotting import tile_images

METHODS = ("linear", "spherical")


def interpolate(start, end, steps, method="linear"):
    """``steps`` latent points from ``start`` to ``end`` (both included), straight or spherical.

    Args:
        start: the first latent vector, shape (z_dim,).
        end: the last latent vector, the same shape.
        steps: the number of points, at least 2.
        method: 'linear' (a straight line) or 'spherical' (slerp; a straight line for ends
            that point the same or opposite ways).
    Returns:
        float64 array (steps, z_dim).
    Raises:
        ValueError: the ends are not 1-D vectors of one shape, ``method`` is unknown, or
            ``steps`` is below 2.
    """
    start, end = np.asarray(start, np.float64), np.asarray(end, np.float64)
    if start.shape != end.shape or start.ndim != 1:
        raise ValueError(f"start and end must be latent vectors of one shape; got {start.shape} and {end.shape}.")
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}; got {method!r}.")
    if int(steps) < 2:
        raise ValueError(f"steps must be at least 2 (both ends); got {steps}.")
    t = np.linspace(0.0, 1.0, int(steps))[:, None]
    if method == "spherical":
        cosine = np.dot(start, end) / (np.linalg.norm(start) * np.linalg.norm(end) + 1e-12)
        angle = np.arccos(np.clip(cosine, -1.0, 1.0))
        if np.sin(angle) > 1e-6:  # (anti)parallel vectors: the straight path is the only one
            return (np.sin((1 - t) * angle) * start + np.sin(t * angle) * end) / np.sin(angle)
    return (1 - t) * start + t * end


def interpolation_latents(z_dim, pairs=6, steps=10, method="linear", seed=0):
    """``pairs`` rows of ``steps`` latent points, each row between two random N(0, I) points.

    Args:
        z_dim: the size of a latent vector.
        pairs: how many pairs of end points (rows).
        steps: points per row, both ends included (at least 2).
        method: 'linear' or 'spherical' (see ``interpolate``).
        seed: seed of the numpy generator that draws the ends.
    Returns:
        float32 array (pairs * steps, z_dim), one row after the other.
    """
    rng = np.random.default_rng(seed)
    ends = rng.normal(size=(pairs, 2, z_dim))
    return np.concatenate([interpolate(a, b, steps, method) for a, b in ends]).astype("float32")


def generate(generator, latents, batch_size=256):
    """Images from latent points, in inference mode (batch norm uses its moving statistics).

    Args:
        generator: a Keras model (called with ``training=False``) from latent points to images.
        latents: latent points (N, z_dim), N >= 1.
        batch_size: points per call of the generator.
    Returns:
        float32 numpy images (N, H, W, C), in the generator's range ([-1, 1] here).
    """
    import keras

    images = [keras.ops.convert_to_numpy(generator(latents[k:k + batch_size], training=False))
              for k in range(0, len(latents), batch_size)]
    return np.concatenate(images).astype("float32")


def interpolation_grid(generator, z_dim, pairs=6, steps=10, method="linear", seed=0):
    """A uint8 picture: one row per latent pair, from one end (left) to the other (right).

    Args:
        generator: as for ``generate``.
        z_dim: the size of the generator's latent vector.
        pairs: rows of the picture, one per pair of end points.
        steps: images per row, both ends included.
        method: 'linear' or 'spherical' (see ``interpolate``).
        seed: seed of the end points (as for ``interpolation_latents``).
    Returns:
        uint8 array (H', W', C), the images tiled by ``tile_images``.
    """
    images = generate(generator, interpolation_latents(z_dim, pairs, steps, method, seed))
    return tile_images(images, rows=pairs, cols=steps)


def class_means(latents, labels, min_count=10):
    """{class: mean latent vector} for the classes with at least ``min_count`` samples.

    Args:
        latents: latent points (N, z_dim).
        labels: the class of each point's image, N integers.
        min_count: classes with fewer points are left out.
    Returns:
        ``{int class: mean vector (z_dim,)}``.
    Raises:
        ValueError: ``latents`` and ``labels`` differ in length.
    """
    latents, labels = np.asarray(latents), np.asarray(labels)
    if len(latents) != len(labels):
        raise ValueError(f"{len(latents)} latent vectors but {len(labels)} labels.")
    means = {}
    for label in np.unique(labels):
        chosen = latents[labels == label]
        if len(chosen) >= min_count:
            means[int(label)] = chosen.mean(axis=0)
    return means


def analogies(means, rows=4, seed=0):
    """Triples (a, b, c) of distinct classes for "c + (b − a)", chosen reproducibly.

    Args:
        means: ``{class: mean latent vector}`` (``class_means``); only its keys are used.
        rows: how many triples at most.
        seed: seed of the numpy generator.
    Returns:
        A sorted list of distinct ``(a, b, c)`` int tuples, at most ``rows`` (fewer when
        100 draws did not find more); empty with fewer than three classes.
    """
    classes = sorted(means)
    if len(classes) < 3:
        return []
    rng = np.random.default_rng(seed)
    triples = set()
    attempts = 0
    while len(triples) < rows and attempts < 100:
        triples.add(tuple(int(c) for c in rng.choice(classes, size=3, replace=False)))
        attempts += 1
    return sorted(triples)


def analogy_latents(means, triples):
    """Four latent points per triple: mean a, mean b, mean c, and mean c + (mean b − mean a).

    The mean of many latent points is much shorter than a typical one, so each
    point is rescaled to the norm of a typical N(0, I) draw (√z_dim); otherwise
    the generator would be asked for images from where it saw no input.

    Args:
        means: ``{class: mean latent vector (z_dim,)}``.
        triples: ``(a, b, c)`` tuples of classes in ``means``.
    Returns:
        float32 array (4 * len(triples), z_dim), each point of norm √z_dim.
    """
    rows = []
    for a, b, c in triples:
        for point in (means[a], means[b], means[c], means[c] + means[b] - means[a]):
            rows.append(point * np.sqrt(len(point)) / (np.linalg.norm(point) + 1e-12))
    return np.asarray(rows, dtype="float32")


def analogy_picture(generator, means, triples, class_names):
    """A labelled picture, one row per triple: a, b, c, then c + (b − a); or None without triples.

    Args:
        generator: as for ``generate``.
        means: ``{class: mean latent vector}``.
        triples: ``(a, b, c)`` tuples of classes in ``means`` (``analogies``).
        class_names: the name of each class, indexed by class.
    Returns:
        A PIL RGB image (captions on the left), or None when ``triples`` is empty.
    """
    if not triples:
        return None
    from PIL import Image, ImageDraw

    from utils.plotting import enlarge

    images = generate(generator, analogy_latents(means, triples))
    grid = tile_images(images, rows=len(triples), cols=4)
    scale = max(1, int(np.ceil(256 / grid.shape[1])))
    picture = enlarge(grid, scale).convert("RGB")
    caption_width = 190
    labelled = Image.new("RGB", (picture.width + caption_width, picture.height), "white")
    labelled.paste(picture, (caption_width, 0))
    draw = ImageDraw.Draw(labelled)
    row_height = picture.height / len(triples)
    for k, (a, b, c) in enumerate(triples):
        text = f"{class_names[a]}, {class_names[b]}, {class_names[c]}:\n{class_names[c]} + ({class_names[b]} - {class_names[a]})"
        draw.multiline_text((4, k * row_height + row_height / 2 - 12), text, fill="black")
    return labelled
