"""The animal silhouettes installed with the project (``--data silhouettes``, works offline)."""

from dataclasses import dataclass

import numpy as np

from utils.data.sets.base import DataSet, RealImages


@dataclass(frozen=True)
class Silhouettes(DataSet):
    """Silhouettes of some animals: ``classes`` 'horse', 'cat,dog' or 'all' (default 'horse').

    Trained on the fixed training split; the held-out split is never seen, so the real images a
    run is judged against include images the generator never saw.

    Raises:
        ValueError: ``classes`` names an unknown animal, or one twice.
    """

    classes: str = "horse"
    name = "silhouettes"
    default_features = "silhouette"
    animal_classes = True

    def __post_init__(self):
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

    @classmethod
    def from_command(cls, detail, classes=None, label=None, conditional=False):
        return cls(classes=detail or classes)  # None: horses; '' is refused by name

    @classmethod
    def from_run_name(cls, run_name):
        prefix = f"{cls.name}-"
        return cls(classes=run_name[len(prefix):].replace("-", ",")) if run_name.startswith(prefix) else None

    @property
    def run_name(self):
        return f"{self.name}-{self.classes.replace(',', '-')}"

    @property
    def silhouette_classes(self):
        """The animals, in the order asked for."""
        from utils.data.silhouettes import SILHOUETTE_CLASSES

        return list(SILHOUETTE_CLASSES) if self.classes == "all" else self.classes.split(",")

    def _load(self, input_dim, split):
        from utils.data.silhouettes import load_silhouettes

        height, _, channels = input_dim
        return load_silhouettes(self.silhouette_classes, image_size=height, channels=channels, split=split)

    def load_training(self, input_dim, batch_size):
        """The training split, at the model's height and channels."""
        return self._load(input_dim, "train")[0], False

    def load_labelled(self, input_dim):
        """The training split, labels renumbered in the order of the classes asked for
        (``--classes cat,dog``: cat 0, dog 1).

        Raises:
            ValueError: a single animal (a conditional model needs two classes at least).
        """
        from utils.data.silhouettes import SILHOUETTE_CLASSES

        names = self.silhouette_classes
        if len(names) < 2:
            raise ValueError(
                f"--classes {self.classes} names one animal, but a conditional model learns to draw "
                f"the class it is asked for, so it needs at least two: for example --classes "
                f"{names[0]},{'zebra' if names[0] != 'zebra' else 'horse'}, or --classes all.")
        x, y = self._load(input_dim, "train")
        renumber = np.array([names.index(name) if name in names else -1 for name in SILHOUETTE_CLASSES])
        return x, renumber[y].astype("int32"), tuple(names)

    def real_images(self, input_dim, n_train=2000, n_held_out=1000, seed=0):
        """From the fixed split, labelled with the ten animals' indices; ``held_out_unseen``."""
        from utils.data.silhouettes import SILHOUETTE_CLASSES

        (train, train_labels), (held, held_labels) = self._load(input_dim, "train"), self._load(input_dim, "held-out")
        rng = np.random.default_rng(seed)
        keep_train = np.sort(rng.permutation(len(train))[:n_train])
        keep_held = np.sort(rng.permutation(len(held))[:n_held_out])
        return RealImages(train[keep_train], held[keep_held], train_labels[keep_train],
                          held_labels[keep_held], True, SILHOUETTE_CLASSES)
