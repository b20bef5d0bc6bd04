"""The chapter registry: for each section of chapter 4, its preset, model class, command and data.

One table for the commands (``utils.commands.cli``), the benchmark and the precision
check, so that a new section is added in one place.  The model class is imported
when first asked for, so that ``gdl-gan --help`` answers without starting TensorFlow.
"""

import importlib
from dataclasses import dataclass, field

from utils import presets


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
                "gdl-gan", "GAN", presets.GAN_CAMEL, "camel", "0001"),
        Chapter("04_02", "WGAN on CIFAR-10 horses (chapter 4, section 2)", "CIFAR WGAN",
                "gdl-wgan", "WGAN", presets.WGAN_CIFAR_HORSES, "cifar", "0002"),
        Chapter("04_03", "WGAN-GP on CelebA faces (chapter 4, section 3)", "CelebA WGAN-GP",
                "gdl-wgangp", "WGANGP", presets.WGANGP_CELEB, "celeb", "0001"),
    )
}


# Beyond the book: the controllable GANs of the study material, with commands of their own.
CONTROLLABLE = {
    chapter.key: chapter for chapter in (
        Chapter("cgan", "conditional GAN on the ten animal silhouettes", "silhouette CGAN",
                "gdl-cgan", "CGAN", presets.CGAN_SILHOUETTES, "silhouettes", "0001",
                default_classes="all", conditional=True, other_presets={"cifar": presets.CGAN_CIFAR}),
        Chapter("infogan", "InfoGAN on the ten animal silhouettes", "silhouette InfoGAN",
                "gdl-infogan", "InfoGAN", presets.INFOGAN_SILHOUETTES, "silhouettes", "0001",
                default_classes="all"),
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
