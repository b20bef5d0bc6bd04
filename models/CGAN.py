"""A conditional GAN: the user chooses what is drawn.

The chapter's networks with a class label fed to both (``models.conditioning``):
the generator maps ``[z, label]`` to an image, the discriminator judges
``[image, label]`` pairs, so it rejects a good horse presented as a cat and the
generator must draw the class it is asked for.  Labels are integers, shape (N,).

Four objectives (``models.objectives``), chosen by ``loss``:

* ``'gan'`` (default): the chapter's GAN — binary cross-entropy, a sigmoid
  discriminator, one update on the real batch and one on the fake batch, then
  the generator through the frozen discriminator; the GAN hacks apply;
* ``'wgan-gp'``: the second edition's conditional WGAN-GP — a linear critic,
  ``n_critic`` critic updates on −f(real) + f(fake) + ``grad_weight``·GP (the
  penalty's gradient is taken with respect to the image, at the pair's label);
* ``'hinge'``: the hinge loss of SAGAN and BigGAN, with the GAN's two updates;
* ``'relativistic'``: R3GAN's pairing loss, real and fake scored together in one update.

With ``matching_aware=True`` the discriminator also sees each real image
beside a wrong label, as a fake (the matching-aware discriminator of Reed et
al., 2016): a real horse called a dog must be rejected too, so the label is
judged apart from realism and the generator is pushed harder to draw the class
asked for.  The fake term (``d_loss_fake``, ``d_acc_fake``) is then the mean
over the fakes and the mismatched pairs (the update's ``negatives``).

Fakes are drawn for the labels of the real batch they are trained against, so
the classes are drawn as often as the data holds them.  ``fit`` takes
``(images, labels)``; ``train(x_train, y_train, ...)`` is the book's loop.
"""

import numpy as np
from keras import ops

from models.core import backends
import keras

from models import arguments as checks
from models.core.book import BookModel
from models.conditioning import (ConditionalCombinedModel, build_conditional_discriminator,
                                 build_conditional_generator)
from models.objectives import objective_for

LOSSES = ("gan", "wgan-gp", "hinge", "relativistic")
GRID_COLUMNS = 10  # sample grids: one row per class, this many fixed latent points


@keras.saving.register_keras_serializable(package="gdl")
class CGAN(BookModel):
    SECTION = "cgan"
    CONTROL = "labels"
    ADVERSARY_NAME = "discriminator"

    def __init__(
        self,
        input_dim,
        discriminator_conv_filters,
        discriminator_conv_kernel_size,
        discriminator_conv_strides,
        discriminator_batch_norm_momentum,
        discriminator_activation,
        discriminator_dropout_rate,
        discriminator_learning_rate,
        generator_initial_dense_layer_size,
        generator_upsample,
        generator_conv_filters,
        generator_conv_kernel_size,
        generator_conv_strides,
        generator_batch_norm_momentum,
        generator_activation,
        generator_dropout_rate,
        generator_learning_rate,
        optimiser,
        z_dim,
        num_classes,
        *,
        loss="gan",
        grad_weight=10.0,
        matching_aware=False,
        label_smoothing=0.0,
        label_flip=0.0,
        instance_noise=0.0,
        mixed_precision=False,
        jit_compile=False,
        strategy=None,
        **recipe,
    ):
        checks.positive_int("num_classes", num_classes, minimum=2)
        self._setup(locals())
        self.matching_aware = bool(matching_aware)
        # Kept as given, so that a run saved with loss='gan' and another weight keeps it too.
        self.grad_weight = checks.positive_number("grad_weight", grad_weight)

    @property
    def discriminator(self):
        return self.adversary

    @property
    def critic(self):
        return self.adversary

    def make_objective(self, arguments):
        return objective_for(arguments["loss"], LOSSES, grad_weight=arguments["grad_weight"])

    def model_options(self):
        return {**super().model_options(), "loss": self.objective.name, "grad_weight": self.grad_weight,
                "matching_aware": self.matching_aware}

    # -- the conditional networks ------------------------------------------------------------

    def _build_networks(self, params, dtype, output_activation, synchronized, **adversary_options):
        adversary = build_conditional_discriminator(
            params["num_classes"], params["input_dim"],
            *(params[f"{self.ADVERSARY_NAME}_{name}"] for name in self.ADVERSARY_ARGUMENTS),
            output_activation=output_activation, name=self.ADVERSARY_NAME, dtype=dtype,
            synchronized=synchronized, **adversary_options)
        generator = build_conditional_generator(
            params["num_classes"], params["z_dim"],
            *(params[f"generator_{name}"] for name in self.GENERATOR_ARGUMENTS),
            dtype=dtype, synchronized=synchronized)
        return adversary, generator

    def combined_model(self, generator, adversary):
        return ConditionalCombinedModel(generator, adversary, name="model")

    def _probe_inputs(self):
        return [keras.ops.zeros((1, self._latent_dim)), keras.ops.zeros((1,), dtype="int32")]

    # -- the step fit() runs -------------------------------------------------------------

    def fit(self, x=None, y=None, *args, **kwargs):
        """``keras.Model.fit`` on ``(images, labels)``; labels given as an array are checked first
        (inside a jitted JAX step an out-of-range label cannot be refused)."""
        if y is not None and not hasattr(y, "element_spec"):
            checks.check_labels(y, self.num_classes, "y")
        return super().fit(x, y, *args, **kwargs)

    def conditions_of(self, labels):
        """The batch's classes, which both networks are conditioned on; refused when missing or
        out of range."""
        if labels is None:
            raise ValueError("CGAN trains on (images, labels): call fit(images, labels) or pass a "
                             "dataset of (images, labels) pairs.")
        classes = ops.cast(ops.reshape(labels, (-1,)), "int32")
        if backends.name() == "tensorflow":
            import tensorflow as tf

            # Out of range, a label would become an all-zero one-hot vector: refuse it (in a
            # plain fit the labels reach the model only here).  XLA drops assertions; a
            # jitted JAX step cannot raise, so there ``fit`` checks array labels beforehand.
            tf.debugging.assert_non_negative(classes, message="CGAN labels must be classes 0 … num_classes − 1")
            tf.debugging.assert_less(classes, self.num_classes,
                                     message=f"CGAN labels must be classes 0 … {self.num_classes - 1}")
        return classes

    def negatives(self, real, conditions):
        """With ``matching_aware``, the real images beside wrong labels: the adversary rejects them
        with the fakes."""
        return (real, self.wrong_labels(conditions)) if self.matching_aware else None

    def wrong_labels(self, classes):
        """For each label, another class drawn uniformly from the other ``num_classes − 1``."""
        shift = self.random.integers(ops.shape(classes), 1, self.num_classes)
        return (classes + shift) % self.num_classes

    # -- the book's verbs -----------------------------------------------------------------

    def train(self, x_train, y_train, batch_size, epochs, run_folder, print_every_n_batches=50,
              n_critic=None, *, callbacks=(), tensorboard=True):
        """Per "epoch": the discriminator's (or ``n_critic`` critic) updates, then one generator
        update, on ``(x_train, y_train)`` batches; ``fit()`` underneath.

        Args:
            x_train: the training images, (N, H, W, C) in [-1, 1].
            y_train: their classes, integers 0 … num_classes − 1, shape (N,).
            batch_size, epochs, run_folder, print_every_n_batches, callbacks, tensorboard: as
                ``GAN.train``.
            n_critic: adversary updates per generator update; None: the objective's (1, or 5
                for ``'wgan-gp'``).
        Returns:
            ``fit``'s ``History``.
        """
        return self._train(x_train, batch_size, epochs, run_folder, print_every_n_batches,
                           False, callbacks, tensorboard, y_train=y_train, n_critic=n_critic)

    # -- drawing chosen classes --------------------------------------------------------------

    def generate(self, labels, noise=None, batch_size=256):
        """Images of the given classes, drawn by the sampling generator (the average, if kept).

        Args:
            labels: classes 0 … num_classes − 1, one per image.
            noise: (len(labels), z_dim) latent points; None draws fresh N(0, I) ones.
            batch_size: images per call of the generator.
        Returns:
            A numpy array (len(labels), H, W, C) in [-1, 1].
        """
        labels = np.asarray(labels, dtype="int32").reshape(-1)
        if labels.size and (labels.min() < 0 or labels.max() >= self.num_classes):
            raise ValueError(f"labels must be classes 0-{self.num_classes - 1}; got "
                             f"{sorted(set(labels.tolist()))}.")
        if noise is None:
            noise = np.random.normal(size=(len(labels), self.z_dim))
        noise = np.asarray(noise, dtype="float32")
        parts = [keras.ops.convert_to_numpy(self.sampling_generator(
            [noise[k:k + batch_size], labels[k:k + batch_size]], training=False))
            for k in range(0, len(labels), batch_size)]
        return np.concatenate(parts) if parts else np.zeros((0, *self.input_dim), "float32")

    def class_grid_inputs(self, columns=GRID_COLUMNS):
        """The grid's ``(noise, labels)``: row k is class k, column j the fixed latent point j."""
        noise = np.tile(self.fixed_noise[:columns], (self.num_classes, 1))
        labels = np.repeat(np.arange(self.num_classes, dtype="int32"), columns)
        return noise, labels

    def sample_batch(self):
        """One row per class, all drawn from the same fixed noise: the label alone changes."""
        noise, labels = self.class_grid_inputs()
        return self.generate(labels, noise), (self.num_classes, GRID_COLUMNS)

    @property
    def sampler(self):
        """For evaluation: latent points → images, the classes taken in turn in runs of ten
        (so a batch of samples covers them evenly and an interpolation row keeps its class)."""
        def draw(latents, training=False):
            n = int(latents.shape[0])
            labels = (np.arange(n) // GRID_COLUMNS) % self.num_classes
            return self.sampling_generator([latents, labels.astype("int32")], training=training)

        return draw
