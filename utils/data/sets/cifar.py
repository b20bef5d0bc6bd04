"""The book's CIFAR-10 (``--data cifar``): one class (7, horses, in the book) or all ten."""

from dataclasses import dataclass

from utils.data.sets.base import DataSet

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
                   "truck")
# Run names of the book's notebooks that name a class instead of its number.
NAMED_CLASSES = {"horses": 7, "cars": 1}


@dataclass(frozen=True)
class Cifar(DataSet):
    """CIFAR-10 at 32×32×3: ``label`` one class (default 7), or 'all' for a conditional model."""

    label: object = 7
    name = "cifar"

    def __post_init__(self):
        if self.label is None:
            object.__setattr__(self, "label", 7)

    @classmethod
    def from_command(cls, detail, classes=None, label=None, conditional=False):
        if conditional or detail == "all":
            return cls(label="all")
        if detail and not detail.isdigit():
            raise ValueError(f"cifar's class is a number (7 = horses) or 'all': got 'cifar:{detail}'.")
        return cls(label=int(detail) if detail else label)

    @classmethod
    def from_run_name(cls, run_name):
        if run_name in NAMED_CLASSES:
            return cls(label=NAMED_CLASSES[run_name])
        if run_name == "cifar10":  # all ten classes (there is no class 10)
            return cls(label="all")
        if run_name.startswith(cls.name) and run_name[len(cls.name):].isdigit():
            return cls(label=int(run_name[len(cls.name):]))
        return None

    @property
    def run_name(self):
        if self.label == "all":
            return "cifar10"
        return "horses" if self.label == 7 else f"cifar{self.label}"

    def load_training(self, input_dim, batch_size):
        from utils import loaders

        if self.label == "all":
            return self.load_labelled(input_dim)[0], False
        return loaders.load_cifar(self.label, 10)[0], False

    def load_labelled(self, input_dim):
        """All ten classes with their CIFAR-10 labels; one class has nothing to condition on."""
        if self.label != "all":
            return super().load_labelled(input_dim)
        from utils import loaders
        from utils.data import cifar

        images, labels = cifar.load_all(10)
        return loaders._scale(images), labels[:, 0].astype("int32"), CIFAR10_CLASSES
