"""The chapter's hyper-parameters, as the book's notebooks set them.

The one place the scripts (``utils/commands/cli.py``) and the notebooks read them, so a
run from the terminal and a run from Jupyter train the same model.  ``model``
holds the constructor arguments in the book's order: ``GAN(**preset.model)``.
"""

from dataclasses import dataclass, field, replace

RECIPES = ("book", "modern")


@dataclass(frozen=True)
class ChapterPreset:
    section: str
    data_name: str
    model: dict
    batch_size: int
    epochs: int
    print_every_n_batches: int
    train_options: dict = field(default_factory=dict)
    # Keyword-only options of the model class (beyond the book's arguments) the command defaults to.
    model_options: dict = field(default_factory=dict)
    # The modern recipe (``models.recipe``): book arguments it changes (dropout, learning rates),
    # the model options it sets (its parts, the loss) and its ``epochs``, chosen by the recipe
    # search (docs/modern-recipe.md).
    modern: dict = field(default_factory=dict)

    @property
    def input_dim(self):
        return tuple(self.model["input_dim"])

    def with_recipe(self, recipe):
        """This preset for ``recipe``: ``'book'`` (itself) or ``'modern'`` (its ``modern`` choices
        in ``model``, ``model_options`` and ``epochs``)."""
        if recipe not in RECIPES:
            raise ValueError(f"recipe={recipe!r}: expected one of {', '.join(map(repr, RECIPES))}.")
        if recipe == "book":
            return self
        if not self.modern:
            raise ValueError(
                f"The {self.section} preset ({self.data_name}) has no modern recipe yet: none was chosen "
                "by a measured ablation for it (docs/modern-recipe.md). Choose its parts yourself "
                "(ema=..., augment=..., spectral_norm=..., r1_weight=...; on the commands --ema, "
                "--augment, --spectral-norm, --r1).")
        modern = dict(self.modern)
        epochs = modern.pop("epochs", self.epochs)
        model = {**self.model, **{key: value for key, value in modern.items() if key in self.model}}
        options = {**self.model_options,
                   **{key: value for key, value in modern.items() if key not in self.model}}
        return replace(self, model=model, model_options=options, epochs=epochs)


GAN_CAMEL = ChapterPreset(
    section="gan",
    data_name="camel",
    model=dict(
        input_dim=(28, 28, 1),
        discriminator_conv_filters=[64, 64, 128, 128],
        discriminator_conv_kernel_size=[5, 5, 5, 5],
        discriminator_conv_strides=[2, 2, 2, 1],
        discriminator_batch_norm_momentum=None,
        discriminator_activation="relu",
        discriminator_dropout_rate=0.4,
        discriminator_learning_rate=0.0008,
        generator_initial_dense_layer_size=(7, 7, 64),
        generator_upsample=[2, 2, 1, 1],
        generator_conv_filters=[128, 64, 64, 1],
        generator_conv_kernel_size=[5, 5, 5, 5],
        generator_conv_strides=[1, 1, 1, 1],
        generator_batch_norm_momentum=0.9,
        generator_activation="relu",
        generator_dropout_rate=None,
        generator_learning_rate=0.0004,
        optimiser="rmsprop",
        z_dim=100,
    ),
    batch_size=64,
    epochs=6000,
    print_every_n_batches=5,
    # The search's choice (docs/modern-recipe.md): the relativistic pairing loss with R1 and R2
    # (γ = 1), spectral normalisation, no dropout in the discriminator, both learning rates doubled,
    # the generator's average; as many steps as the book's 500 take in time.
    modern=dict(loss="relativistic", r1_weight=1.0, r2_weight=1.0, spectral_norm=True,
                discriminator_dropout_rate=None, discriminator_learning_rate=0.0016,
                generator_learning_rate=0.0008, ema=0.999, epochs=450),
)

WGAN_CIFAR_HORSES = ChapterPreset(
    section="wgan",
    data_name="horses",
    model=dict(
        input_dim=(32, 32, 3),
        critic_conv_filters=[32, 64, 128, 128],
        critic_conv_kernel_size=[5, 5, 5, 5],
        critic_conv_strides=[2, 2, 2, 1],
        critic_batch_norm_momentum=None,
        critic_activation="leaky_relu",
        critic_dropout_rate=None,
        critic_learning_rate=0.00005,
        generator_initial_dense_layer_size=(4, 4, 128),
        generator_upsample=[2, 2, 2, 1],
        generator_conv_filters=[128, 64, 32, 3],
        generator_conv_kernel_size=[5, 5, 5, 5],
        generator_conv_strides=[1, 1, 1, 1],
        generator_batch_norm_momentum=0.8,
        generator_activation="leaky_relu",
        generator_dropout_rate=None,
        generator_learning_rate=0.00005,
        optimiser="rmsprop",
        z_dim=100,
    ),
    batch_size=128,
    epochs=6000,
    print_every_n_batches=5,
    train_options=dict(n_critic=5, clip_threshold=0.01),
)

WGANGP_CELEB = ChapterPreset(
    section="wgangp",
    data_name="celeb",
    model=dict(
        input_dim=(64, 64, 3),
        critic_conv_filters=[64, 128, 256, 512],
        critic_conv_kernel_size=[5, 5, 5, 5],
        critic_conv_strides=[2, 2, 2, 2],
        critic_batch_norm_momentum=None,
        critic_activation="leaky_relu",
        critic_dropout_rate=None,
        critic_learning_rate=0.0002,
        generator_initial_dense_layer_size=(4, 4, 512),
        generator_upsample=[1, 1, 1, 1],
        generator_conv_filters=[256, 128, 64, 3],
        generator_conv_kernel_size=[5, 5, 5, 5],
        generator_conv_strides=[2, 2, 2, 2],
        generator_batch_norm_momentum=0.9,
        generator_activation="leaky_relu",
        generator_dropout_rate=None,
        generator_learning_rate=0.0002,
        optimiser="adam",
        grad_weight=10,
        z_dim=100,
        batch_size=64,
    ),
    batch_size=64,
    epochs=6000,
    print_every_n_batches=5,
    train_options=dict(n_critic=5),
)

# -- beyond the book: the controllable GANs (models/CGAN.py, models/InfoGAN.py) ----------------


def _discriminator_names(model):
    """A WGAN preset's arguments with critic_* renamed discriminator_* (the GAN's names)."""
    return {key.replace("critic_", "discriminator_"): value for key, value in model.items()}


CGAN_SILHOUETTES = ChapterPreset(
    section="cgan",
    data_name="silhouettes",
    # The camel GAN's networks and optimisers, conditioned on the ten animals.
    model=dict(GAN_CAMEL.model, num_classes=10),
    # Real images with wrong labels shown as fakes too, for stronger control of the class
    # (measured in docs/beyond-the-book.md).
    model_options=dict(matching_aware=True),
    batch_size=64,
    epochs=3000,  # how control grows with the steps: docs/beyond-the-book.md
    print_every_n_batches=50,
    # The search's choice (docs/modern-recipe.md): the GAN chapter's modern parts at the book's
    # learning rates, over the same 3000 steps.
    modern=dict(loss="relativistic", r1_weight=1.0, r2_weight=1.0, spectral_norm=True,
                discriminator_dropout_rate=None, ema=0.999),
)

CGAN_CIFAR = ChapterPreset(
    section="cgan",
    data_name="cifar",
    # The CIFAR WGAN's networks with the GAN's loss and DCGAN's Adam (lr 2e-4, beta_1 0.5).
    model=dict(_discriminator_names(WGAN_CIFAR_HORSES.model), discriminator_learning_rate=0.0002,
               generator_learning_rate=0.0002, optimiser="adam", num_classes=10),
    batch_size=128,
    epochs=6000,
    print_every_n_batches=50,
)

INFOGAN_SILHOUETTES = ChapterPreset(
    section="infogan",
    data_name="silhouettes",
    # The camel GAN's layer shapes, with the InfoGAN paper's MNIST choices for the rest
    # (LeakyReLU(0.2), no dropout, Adam with beta_1 0.5 at 2e-4 / 1e-3, 62 noise dimensions
    # beside the codes): why, in docs/beyond-the-book.md.
    model=dict(GAN_CAMEL.model, z_dim=62, discriminator_activation="leaky_relu",
               discriminator_dropout_rate=None, optimiser="adam",
               discriminator_learning_rate=0.0002, generator_learning_rate=0.001),
    batch_size=64,
    epochs=1000,
    print_every_n_batches=50,
)


# Each chapter's preset, by the key of the notebooks and the registry (``utils.chapters``).
BY_CHAPTER = {"04_01": GAN_CAMEL, "04_02": WGAN_CIFAR_HORSES, "04_03": WGANGP_CELEB,
              "cgan": CGAN_SILHOUETTES, "infogan": INFOGAN_SILHOUETTES}


def get(chapter, recipe="book"):
    """The preset for '04_01', '04_02', '04_03', or beyond the book 'cgan' and 'infogan' (what the
    notebooks call), for the book's recipe or the modern one.

    Args:
        chapter: the notebook's key.
        recipe: ``'book'`` or ``'modern'`` (``ChapterPreset.with_recipe``).
    Returns:
        A ``ChapterPreset``: ``Model(**preset.model, **preset.model_options)`` builds its model.
    """
    try:
        preset = BY_CHAPTER[chapter]
    except KeyError:
        raise KeyError(f"No preset {chapter!r}; choose one of {', '.join(BY_CHAPTER)}.") from None
    return preset.with_recipe(recipe)
