"""What a controllable GAN lets the user choose, measured.

* A conditional GAN is asked for each class in turn, from the same noise; the
  silhouette classifier says what it drew.  The share of each class's samples
  judged to be that class is the measure of control (1.0: every sample is what
  was asked for; 1/k: the label is ignored).
* An InfoGAN learns its categorical code without labels; its auxiliary head
  reads the code of held-out real images, and ``utils.evaluation.codes`` says
  how well those codes match the true animals (normalised mutual information,
  and accuracy under the best one-to-one matching of codes to animals).
"""

import numpy as np

from utils.evaluation import measures
from utils.plotting import tile_images

COLUMNS = 10  # samples shown per class


def class_control(model, class_names, judge_names, classify, per_class=100, seed=0):
    """A CGAN's per-class accuracy and a picture (one row per class, the same noise in each).

    ``class_names[k]`` is the model's class ``k``; ``classify`` maps images to indices into
    ``judge_names`` (the classifier's classes).
    """
    noise = np.random.default_rng(seed).normal(size=(per_class, model.z_dim)).astype("float32")
    asked, judged, rows = [], [], []
    for k, name in enumerate(class_names):
        images = model.generate(np.full(per_class, k), noise)
        asked.append(np.full(per_class, judge_names.index(name)))
        judged.append(classify(images))
        rows.append(images[:COLUMNS])
    shares = measures.per_class_accuracy(np.concatenate(asked), np.concatenate(judged))
    by_name = {judge_names[c]: share for c, share in shares.items()}
    report = {
        "per_class": {name: by_name[name] for name in class_names},
        "mean": float(np.mean([by_name[name] for name in class_names])),
        "samples_per_class": int(per_class),
        "chance": 1.0 / len(class_names),
    }
    return report, tile_images(np.concatenate(rows), rows=len(class_names), cols=COLUMNS)
