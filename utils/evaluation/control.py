"""What a controllable GAN lets the user choose, measured.

* A conditional GAN is asked for each class in turn, from the same noise; the
  silhouette classifier says what it drew.  The share of each class's samples
  judged to be that class is the measure of control (1.0: every sample is what
  was asked for; 1/k: the label is ignored).  The classifier's own accuracy
  on held-out real images of each class is printed beside it: no generator
  can be judged better than real images are, so that is the ceiling.
* An InfoGAN learns its categorical code without labels; its auxiliary head
  reads the code of held-out real images, and ``utils.evaluation.codes`` says
  how well those codes match the true animals (normalised mutual information,
  and accuracy under the best one-to-one matching of codes to animals).
"""

import numpy as np

from utils.evaluation import measures
from utils.plotting import tile_images

COLUMNS = 10  # samples shown per class


def class_control(model, class_names, judge_names, classify, per_class=100, seed=0, real=None):
    """A CGAN's per-class accuracy and a picture (one row per class, the same noise in each).

    ``class_names[k]`` is the model's class ``k``; ``classify`` maps images to indices into
    ``judge_names`` (the classifier's classes).  ``real``, an optional ``(images, labels)``
    pair of held-out real images with labels indexing ``judge_names``, adds the classifier's
    accuracy on them (``real_per_class``, ``real_mean``): the ceiling of the measure.

    Args:
        model: a conditional GAN (``z_dim``, ``generate(labels, noise)``).
        class_names: the model's class names, in its label order; each must be in ``judge_names``.
        judge_names: the classifier's class names, a list in its label order.
        classify: a callable from images to class indices into ``judge_names``.
        per_class: samples drawn for each class.
        seed: seed of the noise, the same for every class.
        real: optional ``(images, labels)`` numpy arrays of held-out real images.
    Returns:
        ``(report, grid)``: ``report`` holds ``per_class`` (``{name: share}``), ``mean``,
        ``samples_per_class`` and ``chance`` (1 / number of classes), and with ``real``
        also ``real_per_class``, ``real_mean`` and ``real_images``; ``grid`` is a uint8
        picture, one row of ``COLUMNS`` samples per class.
    Raises:
        ValueError: a class name is not in ``judge_names``, or ``real`` has no image of a class.
    """
    noise = np.random.default_rng(seed).normal(size=(per_class, model.z_dim)).astype("float32")
    asked, judged, rows = [], [], []
    for k, name in enumerate(class_names):
        images = model.generate(np.full(per_class, k), noise)
        asked.append(np.full(per_class, judge_names.index(name)))
        judged.append(classify(images))
        rows.append(images[:COLUMNS])
    report = {
        **_named_shares(np.concatenate(asked), np.concatenate(judged), class_names, judge_names),
        "samples_per_class": int(per_class),
        "chance": 1.0 / len(class_names),
    }
    if real is not None:
        images, labels = real
        wanted = np.isin(labels, [judge_names.index(name) for name in class_names])
        shares = _named_shares(labels[wanted], classify(images[wanted]), class_names, judge_names)
        report.update(real_per_class=shares["per_class"], real_mean=shares["mean"],
                      real_images=int(wanted.sum()))
    return report, tile_images(np.concatenate(rows), rows=len(class_names), cols=COLUMNS)


def _named_shares(asked, judged, class_names, judge_names):
    """``per_class_accuracy`` keyed by class name, in ``class_names``' order, and its mean."""
    by_name = {judge_names[c]: share for c, share in measures.per_class_accuracy(asked, judged).items()}
    missing = [name for name in class_names if name not in by_name]
    if missing:
        raise ValueError(f"no images of {', '.join(missing)} to judge.")
    per_class = {name: by_name[name] for name in class_names}
    return {"per_class": per_class, "mean": float(np.mean(list(per_class.values())))}
