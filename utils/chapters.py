"""The chapter registry: for each section of chapter 4, its preset, model class, command and data.

One table for the commands (``utils.commands.cli``), the benchmark and the precision
check, so that a new section is added in one place.  The model class is imported
when first asked for, so that ``gdl-gan --help`` answers without starting TensorFlow.
"""

import argparse
import ast
import importlib
from dataclasses import dataclass, field
from pathlib import Path

from utils import presets

def objective_table(folder=Path(__file__).resolve().parent.parent / "models" / "objectives"):
    """{name: (summary, binary_targets)} of every objective (``models.objectives``), read from its
    module's source: the objectives import Keras, and a command's ``--help`` answers without
    starting TensorFlow.  A class's ``name``, ``summary`` and ``binary_targets`` are its own or
    inherited from a class of the same folder."""
    classes = {}
    for path in sorted(folder.glob("*.py")):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ClassDef):
                values = {target.id: statement.value.value for statement in node.body
                          if isinstance(statement, ast.Assign) and isinstance(statement.value, ast.Constant)
                          for target in statement.targets if isinstance(target, ast.Name)}
                classes[node.name] = ([base.id for base in node.bases if isinstance(base, ast.Name)], values)

    def attribute(name, key):
        bases, values = classes[name]
        if key in values:
            return values[key]
        return next((found for base in bases if base in classes
                     for found in [attribute(base, key)] if found is not None), None)

    return {attribute(name, "name"): (attribute(name, "summary"), bool(attribute(name, "binary_targets")))
            for name in classes if attribute(name, "name")}


# What a command's --loss can name: what each objective is, and whether it trains on 0/1 targets,
# where the label hacks apply.
LOSSES = objective_table()


@dataclass(frozen=True)
class CommandOption:
    """One of a command's own options: ``flag`` and its argparse ``settings``, and the keyword it
    sets, of the model's constructor (``to='model'``) or of ``train`` (``to='train'``).  Where
    ``preset_default`` names an entry of the preset's ``model_options``, that is the default."""
    flag: str
    settings: dict
    to: str = "model"
    preset_default: str = None

    @property
    def keyword(self):
        return self.flag[2:].replace("-", "_")


@dataclass(frozen=True)
class Chapter:
    key: str            # '04_01': the notebook's number
    title: str
    label: str          # short name for tables
    command: str
    class_name: str     # the book's class, in models/<class_name>.py
    preset: presets.ChapterPreset
    book_data: str      # the --data value of the book's data set
    run_id: str         # the notebook's RUN_ID
    default_classes: str = "horse"  # --classes for the silhouettes
    conditional: bool = False       # trains on (images, labels)
    other_presets: dict = field(default_factory=dict)  # --data value → its preset, where it differs
    losses: tuple = ("gan",)        # the objectives its model trains with; several: --loss, first default
    options: tuple = ()             # the command's own options (CommandOption)

    @property
    def label_hacks(self):
        """Whether any of its losses trains on 0/1 targets, so that the label hacks may apply."""
        return any(LOSSES[loss][1] for loss in self.losses)

    @property
    def model_class(self):
        return getattr(importlib.import_module(f"models.{self.class_name}"), self.class_name)

    @property
    def data_choices(self):
        return tuple(dict.fromkeys([self.book_data, "silhouettes", *self.other_presets]))

    def preset_for(self, data_name):
        return self.other_presets.get(data_name, self.preset)


CHAPTERS = {
    chapter.key: chapter for chapter in (
        Chapter("04_01", "GAN on Quick, Draw! camels (chapter 4, section 1)", "camel GAN",
                "gdl-gan", "GAN", presets.get("04_01"), "camel", "0001", losses=("gan", "hinge", "relativistic")),
        Chapter("04_02", "WGAN on CIFAR-10 horses (chapter 4, section 2)", "CIFAR WGAN",
                "gdl-wgan", "WGAN", presets.get("04_02"), "cifar", "0002", losses=("wgan",)),
        Chapter("04_03", "WGAN-GP on CelebA faces (chapter 4, section 3)", "CelebA WGAN-GP",
                "gdl-wgangp", "WGANGP", presets.get("04_03"), "celeb", "0001", losses=("wgan-gp",)),
    )
}


# Beyond the book: the controllable GANs of the study material, with commands of their own.
CONTROLLABLE = {
    chapter.key: chapter for chapter in (
        Chapter("cgan", "conditional GAN on the ten animal silhouettes", "silhouette CGAN",
                "gdl-cgan", "CGAN", presets.get("cgan"), "silhouettes", "0001",
                default_classes="all", conditional=True, other_presets={"cifar": presets.CGAN_CIFAR},
                losses=("gan", "wgan-gp", "hinge", "relativistic"), options=(
                    CommandOption("--n-critic", dict(type=int, default=None, help=(
                        "discriminator/critic updates per generator update (default: the loss's, "
                        "1, or 5 for wgan-gp)")), to="train"),
                    CommandOption("--grad-weight", dict(type=float, default=10.0, help=(
                        "with --loss wgan-gp: the gradient penalty's weight"))),
                    CommandOption("--matching-aware", dict(
                        action=argparse.BooleanOptionalAction, default=None, help=(
                            "the discriminator also rejects real images shown with a wrong label "
                            "(Reed et al., 2016), for stronger control of the class")),
                        preset_default="matching_aware"),
                )),
        Chapter("infogan", "InfoGAN on the ten animal silhouettes", "silhouette InfoGAN",
                "gdl-infogan", "InfoGAN", presets.get("infogan"), "silhouettes", "0001",
                default_classes="all", options=(
                    CommandOption("--categorical-dim", dict(type=int, default=10, help=(
                        "values of the categorical code (one row of the grid each)"))),
                    CommandOption("--continuous-dim", dict(type=int, default=2, help=(
                        "continuous codes, uniform in [-1, 1]"))),
                    CommandOption("--info-weight", dict(type=float, default=1.0, help=(
                        "weight of the mutual-information term for the categorical code"))),
                    CommandOption("--continuous-weight", dict(type=float, default=0.1, help=(
                        "weight of the mutual-information term for the continuous codes"))),
                )),
    )
}


def every_chapter():
    """Every command's chapter: the book's and the controllable GANs (read from the two tables
    each time, so that a change to either, such as a test's smaller networks, is seen)."""
    return {**CHAPTERS, **CONTROLLABLE}


def get(key):
    try:
        return every_chapter()[key]
    except KeyError:
        raise KeyError(f"No chapter {key!r}; choose one of {sorted(CHAPTERS) + sorted(CONTROLLABLE)}.") from None


def model_classes():
    """Every model class whose runs the project can reload, by name (what run.json records)."""
    return {chapter.class_name: chapter.model_class for chapter in every_chapter().values()}
