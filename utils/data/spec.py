"""Which data set a run trains on, written into its run folder so that it can be judged against it.

``DataSpec('silhouettes', classes='horse')``, ``DataSpec('camel')``,
``DataSpec('cifar', label=7)``, ``DataSpec('celeb')``.  The commands load their
training data through it and write it as ``data.json``; ``gdl-eval`` reads it
back (or infers it from the folder name of a notebook's run, e.g. ``0001_camel``)
to load the real images that the samples are compared with.
"""

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

NAMES = ("silhouettes", "camel", "cifar", "celeb")
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
                   "truck")


@dataclass(frozen=True)
class RealImages:
    """Real images for evaluation: a reference sample of the training data, and held-out images.

    ``held_out_unseen`` says whether the generator never saw the held-out
    images (the silhouettes' fixed split) or whether they are only left out of
    the reference sample (the book's data sets, trained on whole).
    """

    train: np.ndarray
    held_out: np.ndarray
    train_labels: np.ndarray
    held_out_labels: np.ndarray
    held_out_unseen: bool
    class_names: tuple = ()


@dataclass(frozen=True)
class DataSpec:
    """One of the project's data sets, as a run trains on it.

    Attributes:
        name: one of ``NAMES``.
        classes: silhouettes only: 'horse', 'cat,dog' or 'all' (default 'horse').
        label: cifar only: the CIFAR-10 class (default 7, horses), or 'all'.
    Raises:
        ValueError: an unknown ``name``, or ``classes`` naming an unknown animal or one twice.
    """

    name: str
    classes: str = None  # silhouettes: 'horse', 'cat,dog' or 'all'
    label: int = None  # cifar: the CIFAR-10 class, or 'all' (a conditional model's ten classes)

    def __post_init__(self):
        if self.name not in NAMES:
            raise ValueError(f"Unknown data {self.name!r}; choose one of {', '.join(NAMES)}.")
        if self.name == "silhouettes":
            self._check_classes()
        if self.name == "cifar" and self.label is None:
            object.__setattr__(self, "label", 7)

    def _check_classes(self):
        from utils.data.silhouettes import class_indices

        if self.classes is None:
            object.__setattr__(self, "classes", "horse")
        names = str(self.classes).split(",")
        try:
            class_indices("all" if self.classes == "all" else names)
        except ValueError as error:
            raise ValueError(f"--classes {self.classes!r} (comma-separated): {error}") from None
        if len(set(names)) != len(names):
            raise ValueError(f"--classes {self.classes!r} names an animal twice; name each once.")

    @property
    def run_name(self):
        """The data part of the run folder's name (the notebooks' DATA_NAME)."""
        if self.name == "silhouettes":
            return f"silhouettes-{self.classes.replace(',', '-')}"
        if self.name == "cifar":
            if self.label == "all":
                return "cifar10"
            return "horses" if self.label == 7 else f"cifar{self.label}"
        return self.name

    @property
    def default_features(self):
        """The feature space its samples are scored in: the silhouette classifier for 28×28-born
        drawings and shapes, InceptionV3 for photographs."""
        return "silhouette" if self.name in ("silhouettes", "camel") else "inception"

    @property
    def silhouette_classes(self):
        from utils.data.silhouettes import SILHOUETTE_CLASSES

        return list(SILHOUETTE_CLASSES) if self.classes == "all" else self.classes.split(",")

    def load_training(self, input_dim, batch_size):
        """→ (x_train, using_generator): what the chapter's ``train`` is given.

        Args:
            input_dim: the model's image shape (H, W, C): silhouettes are loaded at H and C,
                CelebA at H; the camel drawings (28x28x1) and CIFAR (32x32x3) at their own size.
            batch_size: images per batch of the CelebA stream (unused for the others).
        Returns:
            ``(x_train, using_generator)``: float32 images (N, H, W, C) in [-1, 1] and False,
            or for CelebA an ``ImageStream`` and True.
        Raises:
            FileNotFoundError, DownloadError: the data is not there and cannot be downloaded.
        """
        from utils import loaders

        height, _, channels = input_dim
        if self.name == "silhouettes":
            x_train, _ = loaders.load_silhouettes(self.silhouette_classes, image_size=height,
                                                  channels=channels, split="train")
            return x_train, False
        if self.name == "camel":
            loaders.download_quickdraw("camel")  # nothing to do when the file is there
            return loaders.load_safari("camel")[0], False
        if self.name == "cifar":
            if self.label == "all":
                return self.load_labelled(input_dim)[0], False
            return loaders.load_cifar(self.label, 10)[0], False
        return loaders.load_celeb("celeb", height, batch_size), True

    def load_labelled(self, input_dim):
        """→ (images, labels 0..k-1, class names): a conditional model's training data.

        The silhouettes' labels are renumbered in the order of the classes asked for
        (``--classes cat,dog``: cat 0, dog 1); CIFAR-10 (``label='all'``) keeps its ten.

        Args:
            input_dim: the model's image shape (H, W, C); silhouettes are loaded at H and C,
                CIFAR-10 comes at 32x32x3.
        Returns:
            ``(images, labels, class_names)``: float32 images (N, H, W, C) in [-1, 1], int32
            labels (N,) and the tuple of class names the labels index.
        Raises:
            ValueError: silhouettes of a single animal, or data without class labels.
        """
        from utils import loaders

        height, _, channels = input_dim
        if self.name == "silhouettes":
            from utils.data.silhouettes import SILHOUETTE_CLASSES

            names = self.silhouette_classes
            if len(names) < 2:
                raise ValueError(
                    f"--classes {self.classes} names one animal, but a conditional model learns to draw "
                    f"the class it is asked for, so it needs at least two: for example --classes "
                    f"{names[0]},{'zebra' if names[0] != 'zebra' else 'horse'}, or --classes all.")
            x, y = loaders.load_silhouettes(names, image_size=height, channels=channels, split="train")
            renumber = np.array([names.index(name) if name in names else -1 for name in SILHOUETTE_CLASSES])
            return x, renumber[y].astype("int32"), tuple(names)
        if self.name == "cifar" and self.label == "all":
            from utils.data import cifar

            images, labels = cifar.load_all(10)
            return loaders._scale(images), labels[:, 0].astype("int32"), CIFAR10_CLASSES
        raise ValueError(
            f"{self.run_name} has no class labels to condition on: use --data silhouettes "
            f"(any --classes) or --data cifar (all ten CIFAR-10 classes).")

    def real_images(self, input_dim, n_train=2000, n_held_out=1000, seed=0):
        """Real images at the model's size: up to ``n_train`` for reference, ``n_held_out`` held out.

        Args:
            input_dim: the model's image shape (H, W, C).
            n_train: at most this many training images for reference.
            n_held_out: at most this many held-out images (without a fixed split, at most half
                of the images loaded).
            seed: seed of the random choice of images.
        Returns:
            ``RealImages``: for the silhouettes, from the fixed train/held-out split, labelled,
            ``held_out_unseen`` True; for the others, both parts drawn from the training data,
            without labels, ``held_out_unseen`` False.
        """
        from utils import loaders

        height, _, channels = input_dim
        if self.name == "silhouettes":
            from utils.data.silhouettes import SILHOUETTE_CLASSES

            load = lambda split: loaders.load_silhouettes(  # noqa: E731
                self.silhouette_classes, image_size=height, channels=channels, split=split)
            (train, train_labels), (held, held_labels) = load("train"), load("held-out")
            rng = np.random.default_rng(seed)
            keep_train = np.sort(rng.permutation(len(train))[:n_train])
            keep_held = np.sort(rng.permutation(len(held))[:n_held_out])
            return RealImages(train[keep_train], held[keep_held], train_labels[keep_train],
                              held_labels[keep_held], True, SILHOUETTE_CLASSES)
        if self.name == "celeb":
            stream = loaders.load_celeb("celeb", height, batch_size=100, shuffle=True, seed=seed)
            images = []
            while sum(len(batch) for batch in images) < n_train + n_held_out and len(images) < len(stream) * 2:
                images.append(next(stream)[0])
            images = np.concatenate(images)
            n_held_out = min(n_held_out, len(images) // 2)
        else:
            images = self.load_training(input_dim, 100)[0]
            images = images[np.random.default_rng(seed).permutation(len(images))]
            n_held_out = min(n_held_out, len(images) // 2)
        held, train = images[:n_held_out], images[n_held_out:n_held_out + n_train]
        no_labels = np.zeros(0, dtype=np.int64)
        return RealImages(train, held, no_labels, no_labels, False)

    # -- the record in the run folder ---------------------------------------------------

    def write(self, folder):
        """Write the spec as the run folder's ``data.json`` (fields that are None left out).

        Args:
            folder: the run folder, a path or a ``RunFolder``.
        Returns:
            The ``Path`` of ``data.json``.
        """
        from utils.runs.folder import RunFolder, replace_atomically

        path = RunFolder(folder).data_record
        record = {key: value for key, value in asdict(self).items() if value is not None}
        replace_atomically(path, lambda tmp: Path(tmp).write_text(json.dumps(record)))
        return path

    @classmethod
    def read(cls, folder):
        """The run's data: ``data.json``, else inferred from the folder's name; None if neither says.

        Args:
            folder: the run folder, a path or a ``RunFolder``.
        Returns:
            A ``DataSpec``, or None.
        Raises:
            ValueError: ``data.json`` is damaged, or the folder's name names unknown animals.
        """
        from utils.runs.folder import RunFolder

        folder = RunFolder(folder)
        if folder.data_record.exists():
            try:
                record = json.loads(folder.data_record.read_text())
                return cls(**record)
            except (ValueError, TypeError) as error:
                raise ValueError(
                    f"{folder.data_record} is damaged ({error}); it should hold e.g. "
                    f'{{"name": "silhouettes", "classes": "horse"}}. Fix it, or pass --data.') from None
        return cls.infer(folder.path.name)

    @classmethod
    def infer(cls, folder_name):
        """From a run folder's name ``<run id>_<data name>`` as the commands and notebooks make it.

        Args:
            folder_name: the folder's name, e.g. ``0001_camel`` or ``0002_silhouettes-cat-dog``.
        Returns:
            A ``DataSpec``, or None when the name says no data set of ``NAMES``.
        Raises:
            ValueError: a silhouettes name that names an unknown animal.
        """
        data_name = folder_name.split("_", 1)[1] if "_" in folder_name else folder_name
        if data_name.startswith("silhouettes-"):
            return cls("silhouettes", classes=data_name[len("silhouettes-"):].replace("-", ","))
        if data_name == "horses":
            return cls("cifar", label=7)
        if data_name == "cars":
            return cls("cifar", label=1)
        if data_name == "cifar10":  # all ten classes (there is no class 10)
            return cls("cifar", label="all")
        if data_name.startswith("cifar") and data_name[5:].isdigit():
            return cls("cifar", label=int(data_name[5:]))
        if data_name in ("camel", "celeb"):
            return cls(data_name)
        return None

    @classmethod
    def parse(cls, text):
        """``--data`` values: 'silhouettes:horse', 'silhouettes:all', 'camel', 'cifar:7', 'celeb'.

        Args:
            text: the value, ``<name>[:<detail>]``; silhouettes default to 'horse', cifar to 7.
        Returns:
            A ``DataSpec``.
        Raises:
            ValueError: an unknown name or animal, or a cifar class that is neither a number
                nor 'all'.
        """
        name, _, detail = text.partition(":")
        if name == "silhouettes":
            return cls(name, classes=detail or "horse")
        if name == "cifar":
            if detail == "all":
                return cls(name, label="all")
            if detail and not detail.isdigit():
                raise ValueError(f"cifar's class is a number (7 = horses) or 'all': got {text!r}.")
            return cls(name, label=int(detail) if detail else 7)
        return cls(name)
