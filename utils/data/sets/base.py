"""What every data set a run can train on answers: its run name, its training images, real
images to judge samples against, and the record written into the run folder.

One subclass per data set (``utils.data.sets``); the commands, the quality monitor and
``gdl-eval`` ask a data set, never its name.
"""

from dataclasses import asdict, dataclass
from typing import ClassVar

import numpy as np


@dataclass(frozen=True)
class RealImages:
    """Real images for evaluation: a reference sample of the training data, and held-out images.

    ``held_out_unseen`` says whether the generator never saw the held-out
    images (the silhouettes' fixed split) or whether they are only left out of
    the reference sample (data sets trained on whole).
    """

    train: np.ndarray
    held_out: np.ndarray
    train_labels: np.ndarray
    held_out_labels: np.ndarray
    held_out_unseen: bool
    class_names: tuple = ()


def split_off(images, n_train, n_held_out):
    """``RealImages`` from images in random order: the first ``n_held_out`` (at most half) held
    out, up to ``n_train`` of the rest as the reference; no labels."""
    n_held_out = min(n_held_out, len(images) // 2)
    held, train = images[:n_held_out], images[n_held_out:n_held_out + n_train]
    no_labels = np.zeros(0, dtype=np.int64)
    return RealImages(train, held, no_labels, no_labels, False)


def drawn_apart(images, n_train, n_held_out, seed):
    """``split_off`` of ``images`` shuffled with ``seed``."""
    return split_off(images[np.random.default_rng(seed).permutation(len(images))], n_train, n_held_out)


@dataclass(frozen=True)
class DataSet:
    """A data set as a run trains on it; subclasses are frozen dataclasses of their options.

    Class attributes:
        name: the ``--data`` name and the ``name`` of the run folder's ``data.json``.
        default_features: the feature space its samples are scored in ('silhouette' or
            'inception', see ``utils.evaluation.features.features_for``).
        animal_classes: the silhouette classifier names its images' classes, so that
            ``gdl-eval`` counts modes and measures control with it.
    """

    name: ClassVar[str]
    default_features: ClassVar[str] = "inception"
    animal_classes: ClassVar[bool] = False

    @property
    def run_name(self):
        """The data part of the run folder's name (the notebooks' DATA_NAME)."""
        return self.name

    @classmethod
    def from_command(cls, detail, classes=None, label=None, conditional=False):
        """The data set of ``--data <name>[:<detail>]`` with the command's --classes/--label;
        ``conditional``: for a model that trains on (image, label) pairs."""
        if detail:
            raise ValueError(f"--data {cls.name} takes no ':{detail}'; pass --data {cls.name}.")
        return cls()

    @classmethod
    def from_run_name(cls, run_name):
        """The data set a run folder's data name says, or None when it is not this one's."""
        return cls() if run_name == cls.name else None

    def load_training(self, input_dim, batch_size):
        """→ ``(x_train, using_generator)``: float32 images (N, H, W, C) in [-1, 1] and False,
        or a stream of batches (``ImageStream``) and True.

        Args:
            input_dim: the model's image shape (H, W, C).
            batch_size: images per batch of a stream.
        """
        raise NotImplementedError

    def load_labelled(self, input_dim):
        """→ ``(images, labels 0..k-1, class names)``: a conditional model's training data."""
        raise ValueError(
            f"{self.run_name} has no class labels to condition on: use --data silhouettes "
            f"(any --classes), --data cifar (all ten CIFAR-10 classes) or --data images:DIR with one "
            f"subfolder of images per class.")

    def real_images(self, input_dim, n_train=2000, n_held_out=1000, seed=0):
        """Real images at the model's size: up to ``n_train`` for reference, ``n_held_out`` held
        out (at most half of the images, drawn apart at random with ``seed``).

        Returns:
            ``RealImages``.
        """
        return drawn_apart(self.load_training(input_dim, 100)[0], n_train, n_held_out, seed)

    # -- the record in the run folder ---------------------------------------------------

    def record(self):
        """What ``data.json`` holds: the name and the options that are set."""
        return {"name": self.name, **{key: value for key, value in asdict(self).items() if value is not None}}

    def write(self, folder):
        """Write the record as the run folder's ``data.json``; returns its ``Path``.

        Args:
            folder: the run folder, a path or a ``RunFolder``.
        """
        from utils.runs.folder import RunFolder, write_json_atomically

        path = RunFolder(folder).data_record
        write_json_atomically(path, self.record())
        return path
