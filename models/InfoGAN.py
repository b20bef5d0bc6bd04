"""InfoGAN (Chen et al. 2016): the chapter's GAN, with latent codes it learns to mean something.

The generator's input is ``z`` (noise, N(0, I), ``z_dim`` numbers) followed by
structured codes: a categorical code ``c`` (uniform over ``categorical_dim``
values, given one-hot) and ``continuous_dim`` continuous codes, uniform in
[-1, 1].  Nothing tells the generator what the codes mean.  An auxiliary head
``Q`` on the discriminator's body reads the codes back from the generated
image; both players are rewarded when it can, which maximises a variational
lower bound of the mutual information between the codes and the image.  The
generator then uses the categorical code for the biggest discrete choice in
the data (often the class: ``utils.evaluation.codes`` measures how well) and
the continuous codes for smooth variations.

The adversarial part is the chapter's GAN unchanged (binary cross-entropy, the
book's two discriminator updates per step, the generator trained towards
"real" with the discriminator frozen).  The information term (the lower bound,
up to constants)::

    info = info_weight · CE(c, Q_logits(x)) + continuous_weight · MSE(continuous codes, Q_means(x))

(the MSE is the Gaussian log-likelihood with unit variance, up to constants)
is added to the discriminator's fake-batch update, which also trains the Q
head, and to the generator's update.  ``d_loss`` and ``g_loss`` stay the
adversarial losses, comparable with the GAN's; ``d_info`` and ``g_info`` are
the information terms.

The GAN hacks (``models.recipe.hacks``) apply as in the GAN.  The code options are
kept with the run like them (``model_options``: the Keras config and
``run.json``), so ``load_model`` rebuilds the same networks.  Sample grids show
what the codes do: one row per category, the columns sweeping the first
continuous code from -1 to 1 (``sample_batch``, which the run folder's grids use).
"""

import hashlib
import numbers

import numpy as np
from keras import ops

from models.core import backends
import keras
from keras import layers

from models import arguments as checks
from models.core.book import BookModel, make_optimizer
from models.objectives.minimax import Minimax
from models.networks import weight_init
from utils import plotting

GRID_COLUMNS = 10  # the sample grid sweeps the first continuous code over this many values

# The keyword-only options that shape the codes; they are saved with the run (``model_options``).
CODE_OPTIONS = ("categorical_dim", "continuous_dim", "info_weight", "continuous_weight", "q_dense_size")


def _non_negative(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value) or value < 0:
        raise ValueError(f"{name}={value!r}: expected a number of at least 0.")
    return float(value)


@keras.saving.register_keras_serializable(package="gdl")
class InfoGAN(BookModel):
    EXTRA_D_LOSS_NAMES = ("d_info",)  # beyond the GAN objective's: the information term
    EXTRA_G_LOSS_NAMES = ("g_info",)
    SECTION = "infogan"
    ADVERSARY_NAME = "discriminator"
    CONTROL = "codes"

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
        *,
        label_smoothing=0.0,
        label_flip=0.0,
        instance_noise=0.0,
        categorical_dim=10,
        continuous_dim=2,
        info_weight=1.0,
        continuous_weight=0.1,
        q_dense_size=128,
        mixed_precision=False,
        jit_compile=False,
        strategy=None,
        **recipe,
    ):
        # Checked before anything is built; locals() then carries the checked values.
        categorical_dim = checks.positive_int("categorical_dim", categorical_dim, minimum=2)
        continuous_dim = checks.positive_int("continuous_dim", continuous_dim, minimum=0)
        info_weight = _non_negative("info_weight", info_weight)
        continuous_weight = _non_negative("continuous_weight", continuous_weight)
        q_dense_size = checks.positive_int("q_dense_size", q_dense_size)
        self._setup(locals())

    def model_options(self):
        """The GAN hacks and the code options: they change the networks' shapes and the losses,
        so they go wherever the book's keyword options go (``get_config`` for Keras' own saving,
        ``run.json`` for the run folder) and come back through ``load_model``."""
        return {**super().model_options(), **{name: getattr(self, name) for name in CODE_OPTIONS}}

    def _setup(self, arguments):
        """The GAN's setup (networks, Keras model, optimizers); then the Q head's optimizer.

        The code options are set first, as plain attributes: Keras builds the
        model inside ``_setup`` (``build`` adds the Q head), before the book's
        arguments become attributes.  The Q head learns in the discriminator's
        fake-batch update; the discriminator's optimizer is built on the
        discriminator's variables when the model is compiled, so the head gets
        an optimizer of its own, of the same kind and learning rate.  Adam and
        RMSprop update each variable on its own, so the rule is the same; only
        Adam's bias correction counts the head's own updates (one per step,
        where the discriminator's optimizer counts two).
        """
        for name in CODE_OPTIONS:
            object.__setattr__(self, name, arguments[name])
        super()._setup(arguments)
        with backends.replica_scope(self.strategy):
            self.q_optimizer = self._wrap_optimizer(
                make_optimizer(self.optimiser, self.discriminator_learning_rate, self.recipe.adam_betas))
            self.q_optimizer.build(self.q_head_variables)

    @property
    def optimizers(self):
        return [*super().optimizers, self.q_optimizer]

    def build(self, input_shape):
        """Add the Q head on the discriminator's body (Keras wants a built model's state made here)."""
        self.q_network, joint = self._build_q_network()
        # The discriminator and Q in one pass (one dropout mask, one batch-norm update).
        # Not an attribute Keras tracks: its weights are the discriminator's and Q's.
        object.__setattr__(self, "_d_and_q", joint)

    def make_objective(self, arguments):
        return Minimax()

    def _build_networks(self, params, dtype, output_activation, synchronized, **adversary_options):
        # The book's generator, fed the noise and the codes.
        latent_size = params["z_dim"] + self.categorical_dim + self.continuous_dim
        return super()._build_networks({**params, "z_dim": latent_size}, dtype, output_activation,
                                       synchronized, **adversary_options)

    def _build_q_network(self):
        """Dense(q_dense_size) → LeakyReLU(0.2) → [categorical logits, continuous means] on the Flatten output."""
        discriminator = self.discriminator
        flatten = [layer for layer in discriminator.layers if isinstance(layer, layers.Flatten)][-1]
        policy = self.dtype_policy
        x = layers.Dense(self.q_dense_size, kernel_initializer=weight_init(), name="q_dense",
                         dtype=policy)(flatten.output)
        x = layers.LeakyReLU(negative_slope=0.2, name="q_activation", dtype=policy)(x)
        # Outputs in float32, like the discriminator's, so the losses stay exact under mixed precision.
        logits = layers.Dense(self.categorical_dim, kernel_initializer=weight_init(),
                              name="q_categorical", dtype="float32")(x)
        if self.continuous_dim:
            means = layers.Dense(self.continuous_dim, kernel_initializer=weight_init(),
                                 name="q_continuous", dtype="float32")(x)
        else:  # no continuous code: an empty output keeps Q's outputs the same two
            means = keras.ops.cast(logits[:, :0], "float32")
        q_network = keras.Model(discriminator.inputs[0], [logits, means], name="q_network")
        joint = keras.Model(discriminator.inputs[0], [discriminator.outputs[0], logits, means],
                            name="discriminator_and_q")
        return q_network, joint

    @property
    def discriminator(self):
        return self.adversary

    @property
    def latent_dim(self):
        """The generator's input size: z_dim + categorical_dim + continuous_dim."""
        return self.z_dim + self.categorical_dim + self.continuous_dim

    @property
    def q_head_variables(self):
        """Q's own trainable variables (its body is the discriminator's)."""
        shared = {id(v) for v in self.discriminator.trainable_variables}
        return [v for v in self.q_network.trainable_variables if id(v) not in shared]

    # -- the latent points ---------------------------------------------------------------

    def latent_batch(self, batch_size):
        """Every latent point of training: z ~ N(0, I), one-hot c ~ U{0..k-1}, codes ~ U(-1, 1)."""
        z = self.random.normal((batch_size, self.z_dim))
        categories = self.random.integers((batch_size,), 0, self.categorical_dim)
        continuous = self.random.uniform((batch_size, self.continuous_dim), -1.0, 1.0)
        return ops.concatenate([z, ops.one_hot(categories, self.categorical_dim), continuous], axis=1)

    def sample_latent(self, n, categories=None, continuous=None, seed=None):
        """``n`` latent points as a float32 array ``(n, latent_dim)``, for grids and evaluation.

        ``categories``: None (uniform), one value for all, or one per point.
        ``continuous``: None (uniform in [-1, 1]), one number for all codes, one
        row of ``continuous_dim`` values for all points, or an ``(n, continuous_dim)`` array.
        ``seed`` makes the draw repeatable (``numpy.random.default_rng(seed)``).
        """
        n = checks.positive_int("n", n)
        rng = np.random.default_rng(seed)
        z = rng.standard_normal((n, self.z_dim))
        if categories is None:
            categories = rng.integers(0, self.categorical_dim, n)
        categories = np.asarray(categories)
        if not np.issubdtype(categories.dtype, np.integer) or categories.ndim > 1:
            raise ValueError(f"categories must be an integer or one integer per point; got {categories!r}.")
        categories = np.broadcast_to(categories, (n,)) if categories.ndim == 0 else categories
        if categories.shape != (n,):
            raise ValueError(f"categories must hold one value per point ({n}); got {categories.shape[0]}.")
        if categories.min() < 0 or categories.max() >= self.categorical_dim:
            raise ValueError(
                f"categories must lie in [0, categorical_dim) = [0, {self.categorical_dim}); got values "
                f"from {categories.min()} to {categories.max()}.")
        if continuous is None:
            continuous = rng.uniform(-1.0, 1.0, (n, self.continuous_dim))
        try:
            continuous = np.broadcast_to(np.asarray(continuous, dtype="float64"), (n, self.continuous_dim))
        except ValueError:
            raise ValueError(
                f"continuous must be a number, {self.continuous_dim} values or an array "
                f"({n}, {self.continuous_dim}); got shape {np.shape(continuous)}.") from None
        one_hot = np.eye(self.categorical_dim)[categories]
        return np.concatenate([z, one_hot, continuous], axis=1).astype("float32")

    def split_latent(self, latent):
        """``(z, categories, continuous)`` of latent points: the noise, c as integers, the codes."""
        latent = np.asarray(latent)
        if latent.ndim != 2 or latent.shape[1] != self.latent_dim:
            raise ValueError(f"latent must be shaped (n, {self.latent_dim}); got {latent.shape}.")
        z_end, c_end = self.z_dim, self.z_dim + self.categorical_dim
        return latent[:, :z_end], np.argmax(latent[:, z_end:c_end], axis=1), latent[:, c_end:]

    # -- the information term ----------------------------------------------------------

    def info_loss(self, latent, logits, means):
        """→ (info term, categorical cross-entropy, continuous MSE) of Q's reading of ``latent``'s codes.

        info = info_weight · CE + continuous_weight · MSE; minimising it
        maximises the variational lower bound of I(codes; G(z, codes)).
        """
        latent = ops.cast(latent, "float32")
        z_end, c_end = self.z_dim, self.z_dim + self.categorical_dim
        categories = ops.argmax(latent[:, z_end:c_end], axis=1)
        ce = ops.mean(ops.sparse_categorical_crossentropy(categories, ops.cast(logits, "float32"),
                                                          from_logits=True))
        if self.continuous_dim:
            mse = ops.mean(ops.square(latent[:, c_end:] - ops.cast(means, "float32")))
        else:
            mse = ops.zeros([], "float32")
        return self.info_weight * ce + self.continuous_weight * mse, ce, mse

    # -- what the updates ask of the model ------------------------------------------------

    def adversary_outputs(self, inputs):
        """The discriminator's scores and, in the same pass, Q's reading of the codes
        ``(logits, means)`` (one dropout mask, one batch-norm update for both)."""
        scores, logits, means = self._d_and_q(inputs, training=True)
        return scores, (logits, means)

    def extra_adversary_terms(self, scored, latent):
        """The information term on the fakes (``d_info``): the fake batch's step trains Q too."""
        if scored.fake is None:
            return {}
        return {"d_info": self.info_loss(latent, *scored.fake.extras)[0]}

    def extra_generator_terms(self, latent, extras):
        """The information term on the generator's images (``g_info``)."""
        return {"g_info": self.info_loss(latent, *extras)[0]}

    def adversary_groups(self, sides):
        """The discriminator's variables, and Q's own in the step that scores the fakes."""
        groups = super().adversary_groups(sides)
        return [*groups, (self.q_optimizer, self.q_head_variables)] if "fake" in sides else groups

    # -- the book's methods -----------------------------------------------------------------

    def train_discriminator(self, x_train, batch_size, using_generator=False):
        """→ [d_loss, d_loss_real, d_loss_fake, d_acc, d_acc_real, d_acc_fake, d_info]"""
        real = self._book_batch(x_train, batch_size, using_generator)
        return [float(v) for v in self.critic_step(real)]

    def train_generator(self, batch_size):
        """One generator update (through the frozen discriminator and Q) on ``batch_size`` latent
        points with random codes → [g_loss, g_acc, g_info]."""
        return [float(v) for v in self.generator_step(batch_size)]

    def train(self, x_train, batch_size, epochs, run_folder, print_every_n_batches=50,
              using_generator=False, *, callbacks=(), tensorboard=True, n_critic=None):
        """One "epoch" is one batch: a discriminator step then a generator step, as the GAN's.

        The run folder's grids are the code grids of ``sample_batch``.  ``fit()``
        underneath: ``callbacks`` are passed on; returns its ``History``.  ``n_critic``:
        discriminator updates per epoch, as ``GAN.train``.
        """
        return self._train(x_train, batch_size, epochs, run_folder, print_every_n_batches,
                           using_generator, callbacks, tensorboard, n_critic=n_critic)

    def progress_names(self):
        return ["d_loss", "g_loss", "d_acc", "g_info"]

    # -- what the codes do -----------------------------------------------------------------

    @property
    def fixed_noise(self):
        """The latent points of the sample grid, rows × columns: ``(categorical_dim · 10, latent_dim)``.

        Row ``r`` is category ``r`` with its own fixed z; the columns sweep the
        first continuous code from -1 to 1, the others at 0 (without continuous
        codes the columns are ten z's per category).  Drawn once (numpy's
        global generator, as the book's fixed noise), and saved in the run's
        checkpoint, so a resumed run's grids show the same points.
        """
        if self._fixed_noise is None:
            self._fixed_noise = self._grid_latent()
        return self._fixed_noise

    @fixed_noise.setter
    def fixed_noise(self, value):
        self._fixed_noise = None if value is None else np.asarray(value, dtype="float32")

    def _grid_latent(self):
        rows, cols = self.categorical_dim, GRID_COLUMNS
        categories = np.repeat(np.arange(rows), cols)
        continuous = np.zeros((rows * cols, self.continuous_dim))
        if self.continuous_dim:
            z = np.repeat(np.random.normal(0.0, 1.0, (rows, self.z_dim)), cols, axis=0)
            continuous[:, 0] = np.tile(np.linspace(-1.0, 1.0, cols), rows)
        else:
            z = np.random.normal(0.0, 1.0, (rows * cols, self.z_dim))
        one_hot = np.eye(rows)[categories]
        return np.concatenate([z, one_hot, continuous], axis=1).astype("float32")

    def sample_batch(self):
        """The sample grid's images and its (rows, columns): one row per category, ten columns."""
        latent = self.fixed_noise
        expected = (self.categorical_dim * GRID_COLUMNS, self.latent_dim)
        if latent.shape != expected:
            raise ValueError(
                f"fixed_noise is shaped {latent.shape}, but InfoGAN's grid needs {expected} "
                f"(categorical_dim rows × {GRID_COLUMNS} columns of latent_dim values); set "
                f"fixed_noise = None to draw a new one.")
        images = keras.ops.convert_to_numpy(self.sampling_generator(latent, training=False))
        return images, (self.categorical_dim, GRID_COLUMNS)

    def sample_grid(self):
        """The code grid as a uint8 picture (``plotting.tile_images`` of ``sample_batch``)."""
        images, (rows, cols) = self.sample_batch()
        return plotting.tile_images(images, rows, cols)

    @property
    def sampler(self):
        """For evaluation: N(0, I) points of ``z_dim`` → images, the codes filled in by ``with_codes``."""
        def draw(latents, training=False):
            return self.sampling_generator(self.with_codes(keras.ops.convert_to_numpy(latents)),
                                           training=training)

        return draw

    def with_codes(self, z):
        """Noise points ``(n, z_dim)`` completed into latent points ``(n, latent_dim)`` for evaluation.

        Evaluation draws ``z_dim`` numbers per image, as for the GAN.  The
        categories are taken in turn in runs of ten (a batch of samples covers
        them evenly, and an interpolation row keeps its category, as the
        CGAN's classes); each run of ten gets its own continuous codes, uniform
        in [-1, 1], from a generator seeded by the points themselves, so the
        same points always give the same images.
        """
        z = np.asarray(z, dtype="float32")
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"z must be shaped (n, z_dim={self.z_dim}); got {z.shape}.")
        runs = np.arange(len(z)) // GRID_COLUMNS
        seed = int.from_bytes(hashlib.sha256(z.tobytes()).digest()[:8], "little")
        codes = np.random.default_rng(seed).uniform(-1.0, 1.0, (int(runs.max(initial=-1)) + 1,
                                                                 self.continuous_dim))
        one_hot = np.eye(self.categorical_dim)[runs % self.categorical_dim]
        return np.concatenate([z, one_hot, codes[runs]], axis=1).astype("float32")

    def predict_codes(self, images, batch_size=256):
        """Q's reading of ``images``: ``(categories, continuous)``, the most likely category of each
        image (int array) and the means of its continuous codes (``(N, continuous_dim)``)."""
        images = checks.image_array(images, "images")
        if tuple(images.shape[1:]) != tuple(self.input_dim):
            raise ValueError(
                f"images are shaped {tuple(images.shape[1:])}, but the model was built for "
                f"input_dim={tuple(self.input_dim)}.")
        batch_size = checks.positive_int("batch_size", batch_size)
        categories, means = [], []
        for start in range(0, len(images), batch_size):
            logits, mean = self.q_network(images[start: start + batch_size].astype("float32"), training=False)
            categories.append(np.argmax(keras.ops.convert_to_numpy(logits), axis=1))
            means.append(keras.ops.convert_to_numpy(mean))
        return np.concatenate(categories).astype(np.int64), np.concatenate(means).astype("float32")

