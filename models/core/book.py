"""The book's surface on top of the Keras model: what the chapter's readers type.

GAN, WGAN and WGANGP are ``keras.Model``s (``models.core.adversarial``) trained by
``fit()``.  ``BookModel``, their base class, adds what the book prints, as thin
layers over that:

* the constructor's book arguments (``param_names``, kept as attributes, in
  ``params.json``/``params.pkl`` and in the Keras config);
* ``train(x_train, batch_size, epochs, run_folder, print_every_n_batches, ...)``:
  ``fit()`` with each Keras epoch one of the book's "epochs" (one batch) and the
  run folder's callbacks;
* ``train_discriminator``/``train_critic`` and ``train_generator``: one update;
* ``d_losses``, ``g_losses``, ``epoch``: the per-epoch history every ``fit`` keeps;
* ``save``, ``save_model``, ``load_weights``, ``sample_images``, ``plot_model``,
  ``get_opti``.  Where a book name is also a Keras one (``save``,
  ``load_weights``, ``name``), both meanings work: ``save('x.keras')`` is Keras'
  whole-model save, ``save(folder)`` the book's; ``load_weights`` takes Keras
  weight files and the book's ``weights/weights.h5`` name.
"""

import functools
import inspect
import os
import pickle
from pathlib import Path

import numpy as np
import keras

from models import arguments as checks
from models.core import backends
from models.recipe import hacks as gan_hacks
from models.recipe.options import Recipe
from models.core.adversarial import AdversarialModel
from models.ops.precision import resolve_precision
from models.ops.fast_conv import with_plain_layers
from utils.data.batches import book_batch, is_dataset, is_stream, labelled_batches, training_dataset
from models.networks import build_discriminator, build_generator
from models.penalties import recipe_penalties
from utils import plotting
from utils.runs.checkpoint import read_training_state
from utils.runs.folder import RunFolder, keras3_weights_file, replace_atomically, write_json_atomically
from utils.runs.training import refuse_another_run, train_run


def make_optimizer(name, learning_rate, adam_betas=()):
    """The book's ``get_opti``: 'adam' → Adam(β₁=0.5), 'rmsprop' → RMSprop, else Adam; with
    ``adam_betas`` (the recipe's), Adam at those betas whatever ``name`` says."""
    if adam_betas:
        return keras.optimizers.Adam(learning_rate=learning_rate, beta_1=adam_betas[0], beta_2=adam_betas[1])
    if name == "adam":
        return keras.optimizers.Adam(learning_rate=learning_rate, beta_1=0.5)
    if name == "rmsprop":
        return keras.optimizers.RMSprop(learning_rate=learning_rate)
    return keras.optimizers.Adam(learning_rate=learning_rate)


class BookHistory(keras.callbacks.Callback):
    """Keeps the book's ``d_losses``, ``g_losses`` and ``epoch`` from every ``fit``'s epoch logs."""

    def on_epoch_end(self, epoch, logs=None):
        model = self.model
        model.d_losses.append([float(logs[name]) for name in model.d_loss_names])
        g = [float(logs[name]) for name in model.g_loss_names]
        model.g_losses.append(g if len(g) > 1 else g[0])
        model.epoch = epoch + 1


class BookModel(AdversarialModel):
    """The book's attributes and verbs (see the module docstring) on the Keras adversarial model.

    A subclass gives its book constructor (which calls ``_setup(locals())``), the
    objective it trains with (``make_objective``) and its book methods.
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "train" in cls.__dict__:
            cls.train = _also_torch_mode_switch(cls.__dict__["train"])

    SECTION = ""
    ADVERSARY_NAME = "critic"  # the book's name of the adversary: its network's name and its arguments' prefix
    ADVERSARY_ARGUMENTS = ("conv_filters", "conv_kernel_size", "conv_strides",
                        "batch_norm_momentum", "activation", "dropout_rate")
    GENERATOR_ARGUMENTS = ("initial_dense_layer_size", "upsample", "conv_filters",
                           "conv_kernel_size", "conv_strides", "batch_norm_momentum",
                           "activation", "dropout_rate")

    def _setup(self, arguments):
        """Build the networks, the Keras model and its optimizers from a book ``__init__``'s ``locals()``."""
        params = {name: arguments[name] for name in self.param_names()}
        checks.check_book_arguments(params, self.ADVERSARY_NAME)
        model_name = type(self).__name__
        objective = self.make_objective(arguments)
        hacks = gan_hacks.Hacks(**{name: arguments.get(name, 0.0) for name in gan_hacks.NAMES}).check()
        objective.check_hacks(model_name, hacks)
        recipe = Recipe.from_options(model_name, arguments.get("recipe") or {})
        penalties = (*objective.penalties(), *recipe_penalties(recipe, objective))
        for penalty in penalties:
            penalty.check(model_name, params, self.ADVERSARY_NAME)
        self._check_recipe(recipe, objective, params["input_dim"])
        strategy = backends.strategy_for(arguments["strategy"])
        policy = resolve_precision(arguments["mixed_precision"])
        with backends.replica_scope(strategy):
            adversary, generator = self._build_networks(
                params, policy, objective.output_activation,
                synchronized=strategy is not None and strategy.num_replicas_in_sync > 1,
                spectral_norm=recipe.spectral_norm, minibatch_std=recipe.minibatch_std)
            AdversarialModel.__init__(self, adversary, generator, objective, penalties=penalties,
                                      recipe=recipe, name=self.SECTION, dtype=policy)
            # Plain attributes, as the book's: Keras would wrap lists in tracked containers.
            object.__setattr__(self, "_params", params)
            for name, value in params.items():
                object.__setattr__(self, name, value)
            self.hacks = hacks
            self.d_losses = []
            self.g_losses = []
            self.epoch = 0
            self.trained_batch_size = None  # set by train(); recorded in checkpoints
            self._fixed_noise = None
            self._book_iterators = {}
            self.compile(
                d_optimizer=make_optimizer(self.optimiser, params[f"{self.ADVERSARY_NAME}_learning_rate"],
                                           recipe.adam_betas),
                g_optimizer=make_optimizer(self.optimiser, self.generator_learning_rate, recipe.adam_betas),
                jit_compile=bool(arguments["jit_compile"]),
            )

    def make_objective(self, arguments):
        """The model's ``models.objectives.Objective``, from its constructor's ``locals()``."""
        raise NotImplementedError

    @staticmethod
    def _check_recipe(recipe, objective, input_dim):
        if any(p.penalises_gradient for p in objective.penalties()):
            for name in ("r1_weight", "r2_weight"):
                if getattr(recipe, name):
                    raise ValueError(
                        f"{name}={getattr(recipe, name)!r}: loss={objective.name!r} already penalises "
                        f"the critic's gradient; use one penalty ({name}=0, or another loss).")
        if "color" in recipe.policies and input_dim[-1] != 3:
            raise ValueError(
                f"augment={recipe.augment!r}: 'color' needs colour images, and these have "
                f"{input_dim[-1]} channel(s); use 'translation,cutout'.")

    def _build_networks(self, params, dtype, output_activation, synchronized, **adversary_options):
        """The adversary and the generator; ``adversary_options`` are the recipe's parts built into
        the adversary (``build_discriminator``'s ``spectral_norm``, ``minibatch_std``)."""
        adversary = build_discriminator(
            params["input_dim"],
            *(params[f"{self.ADVERSARY_NAME}_{name}"] for name in self.ADVERSARY_ARGUMENTS),
            output_activation=output_activation,
            name=self.ADVERSARY_NAME,
            dtype=dtype,
            synchronized=synchronized,
            **adversary_options,
        )
        generator = build_generator(
            params["z_dim"],
            *(params[f"generator_{name}"] for name in self.GENERATOR_ARGUMENTS),
            dtype=dtype,
            synchronized=synchronized,
        )
        return adversary, generator

    @classmethod
    def param_names(cls):
        """The constructor's book arguments, in the book's order."""
        signature = inspect.signature(cls.__init__)
        return [
            p.name
            for p in signature.parameters.values()
            if p.kind is p.POSITIONAL_OR_KEYWORD and p.name != "self"
        ]

    def model_options(self):
        """The keyword-only options beyond the book's arguments that shape training (the GAN
        hacks and the recipe's parts), kept with the run so that ``load_model`` and ``--resume``
        rebuild the same model."""
        return {**self.hacks.as_dict(), **self.recipe.as_dict()}

    def get_config(self):
        policy = self.dtype_policy.name
        return {**self._params, **self.model_options(),
                "mixed_precision": policy if policy.startswith("mixed") else False,
                "jit_compile": self.xla}

    @classmethod
    def from_config(cls, config):
        config = {key: value for key, value in config.items() if key not in ("name", "trainable", "dtype")}
        return cls(**config)

    # Where each setting a divergence can come from usually lies: beyond it, it is named first.
    USUAL = {"learning_rate": 0.01, "r1_weight": 100.0, "r2_weight": 100.0, "lecam_weight": 10.0,
             "grad_weight": 100.0}
    FLAGS = {"adversary": "--d-learning-rate", "generator": "--g-learning-rate", "r1_weight": "--r1",
             "r2_weight": "--r2", "lecam_weight": "--lecam", "grad_weight": "--grad-weight"}

    @property
    def learning_rate_arguments(self):
        """Each network's learning-rate argument of the book, by role: ``adversary``, ``generator``."""
        return {"adversary": f"{self.ADVERSARY_NAME}_learning_rate", "generator": "generator_learning_rate"}

    def divergence_settings(self):
        """The settings a divergence can come from, ``{name: (flag, argument, value, out of usual
        range)}``: both learning rates and every penalty weight that is set, each by its command-line
        flag and its Python argument."""
        settings = {}
        for role, name in self.learning_rate_arguments.items():
            value = float(self._params[name])
            settings[role] = (self.FLAGS[role], name, value, value > self.USUAL["learning_rate"])
        for penalty in self.penalties:
            if penalty.name in self.FLAGS:
                value = float(getattr(penalty, "gamma", penalty.weight))
                settings[penalty.name] = (self.FLAGS[penalty.name], penalty.name, value,
                                          value > self.USUAL[penalty.name])
        return settings

    def divergence_advice(self):
        """What to lower after a divergence: the settings beyond their usual range, named, else the
        learning rates; each by its flag and, for Python users, its argument.

        Returns:
            ``(advice, lower)``: the sentence, and ``{flag: value}`` to train with instead (a tenth of
            the usual bound for a setting beyond it; else each learning rate divided by ten).
        """
        def named(chosen):
            return " and ".join(f"{flag} {value:g} ({argument}= in Python)" for flag, argument, value, _ in chosen)

        settings = self.divergence_settings()
        wild = {name: setting for name, setting in settings.items() if setting[3]}
        if wild:
            lower = {setting[0]: 0.1 * self.USUAL["learning_rate" if name in ("adversary", "generator") else name]
                     for name, setting in wild.items()}
            return f"Lower {named(wild.values())}, far beyond the usual range", lower
        rates = [setting for role, setting in settings.items() if role in ("adversary", "generator")]
        return (f"Lower the learning rates (now {named(rates)})",
                {flag: value / 10 for flag, _, value, _ in rates})

    def set_learning_rates(self, adversary=None, generator=None):
        """Train on with other learning rates (a resumed run): each optimizer's rate and the book
        argument that records it (``save`` then writes it to params.json).

        Returns:
            ``{"adversary" / "generator": (old, new)}`` for each rate given.
        """
        changed = {}
        asked = {"adversary": adversary, "generator": generator}
        for role, name in self.learning_rate_arguments.items():
            value = asked[role]
            if value is None:
                continue
            optimizers = [self.g_optimizer] if role == "generator" else \
                [o for o in self.optimizers if o is not self.g_optimizer]
            for optimizer in optimizers:
                optimizer.learning_rate = value
            changed[role] = (self._params[name], value)
            self._params[name] = value
            object.__setattr__(self, name, value)
        return changed

    def get_opti(self, lr):
        """The book's helper, kept for readers who call it."""
        return make_optimizer(self.optimiser, lr)

    # -- the book's history, kept by every fit -------------------------------------------

    def fit(self, x=None, *args, callbacks=None, **kwargs):
        """``keras.Model.fit``; the epoch logs also extend ``d_losses``, ``g_losses`` and ``epoch``.

        Images that cannot work (another shape than ``input_dim``, pixels not in
        [-1, 1], NaN) are refused before the first step.
        """
        rank = None
        if is_dataset(x):
            spec = x.element_spec[0] if isinstance(x.element_spec, tuple) else x.element_spec
            checks.check_batch_shape(spec.shape, self.input_dim, "the dataset")
            rank = spec.shape.rank
        elif x is not None and not is_stream(x):
            checks.check_images(x, self.input_dim, "x")
            rank = 4
        if rank is not None and rank != self._traced_rank:
            # One update per batch, or n side by side: a step of its own, not a relaxed one.
            self._traced_rank = rank
            self._retrace()
        return super().fit(x, *args, callbacks=[BookHistory(), *(callbacks or [])], **kwargs)

    @property
    def fixed_noise(self):
        """One latent batch per model, so that successive grids show the same 25 points."""
        if self._fixed_noise is None:
            self._fixed_noise = np.random.normal(0.0, 1.0, (25, self.z_dim)).astype("float32")
        return self._fixed_noise

    @fixed_noise.setter
    def fixed_noise(self, value):
        self._fixed_noise = np.asarray(value, dtype="float32")

    # -- the book's training verbs -----------------------------------------------------------

    def _train(self, x_train, batch_size, epochs, run_folder, print_every_n_batches,
               using_generator, callbacks=(), tensorboard=True, y_train=None, n_critic=None):
        """The book's loop as ``fit()``: the arguments checked, the batches made (``y_train``, a
        conditional model's classes, makes them ``(images, labels)``; ``n_critic`` adversary
        updates per step, None: the objective's), then a training run into the run folder
        (``utils.runs.training.train_run``), a Keras epoch for each of the book's.
        """
        batch_size = checks.positive_int("batch_size", batch_size)
        epochs = checks.positive_int("epochs", epochs, minimum=0)
        every = checks.positive_int("print_every_n_batches", print_every_n_batches)
        if not using_generator and not is_stream(x_train):
            checks.check_images(x_train, self.input_dim)
            checks.check_batch_fits(batch_size, len(x_train), f"batch_size={batch_size} (--batch-size)")
        if y_train is not None:
            checks.check_labels(y_train, self.num_classes)
        self.trained_batch_size = batch_size  # recorded in checkpoints, kept by --resume
        dataset = self.training_batches(x_train, batch_size, n_critic, y_train, using_generator)
        images_spec = dataset.element_spec[0] if y_train is not None else dataset.element_spec
        checks.check_batch_shape(images_spec.shape, self.input_dim, "x_train")
        return train_run(self, dataset, run_folder, epochs, every, callbacks, tensorboard)

    def training_batches(self, x_train, batch_size, n_critic=None, y_train=None, using_generator=False):
        """The endless dataset ``train`` fits on, for ``fit`` too: shuffled batches of
        ``batch_size`` images (with ``y_train``, ``(images, labels)``), ``n_critic`` of them per
        step side by side, one per adversary update (None: the objective's, 1 or 5).

        ``model.fit(model.training_batches(x, 64, n_critic=5), steps_per_epoch=100)``
        """
        n_critic = checks.positive_int("n_critic", self.objective.default_n_critic if n_critic is None else n_critic)
        if y_train is None:
            return training_dataset(x_train, batch_size, using_generator, n_critic)
        return labelled_batches(x_train, y_train, batch_size, n_critic)

    def _book_batch(self, x_train, batch_size, using_generator):
        return book_batch(x_train, batch_size, using_generator, self._book_iterators)

    @property
    def sampler(self):
        """What evaluation draws images with from N(0, I) latent points of size ``z_dim``: the
        sampling generator here (the average, where the recipe keeps one); models whose generator takes more (labels, codes) say how to fill it."""
        return self.sampling_generator

    def sample_batch(self):
        """The images of the run's sample grid and its (rows, columns): 5×5 from the fixed noise
        batch here; a model whose generator takes more says how its grid is laid out."""
        images = keras.ops.convert_to_numpy(self.sampling_generator(self.fixed_noise, training=False))
        return images, (5, 5)

    def sample_images(self, run_folder):
        """Save the sample grid (``sample_batch``) as ``images/sample_<epoch>.png``."""
        images, (rows, cols) = self.sample_batch()
        return str(RunFolder(run_folder).save_sample_grid(plotting.tile_images(images, rows, cols), self.epoch))

    # -- the book's save / load surface ----------------------------------------------

    def save(self, filepath, *args, **kwargs):
        """The book's ``save(folder)``: constructor arguments (params.json, and params.pkl for the
        book) and diagrams.  A ``.keras`` or ``.h5`` file name is Keras' whole-model save."""
        if os.fspath(filepath).endswith((".keras", ".h5")):
            return super().save(filepath, *args, **kwargs)
        folder = RunFolder(filepath)
        refuse_another_run(self, folder)
        names = self.param_names()
        params = [self._params[name] for name in names]
        with folder.writing("the run's arguments"):
            folder.path.mkdir(parents=True, exist_ok=True)
            folder.write_run_record(type(self).__name__, self.model_options())
            write_json_atomically(folder.params_json, dict(zip(names, params)), indent=2)
            replace_atomically(folder.params_pkl, lambda tmp: _pickle_to(params, tmp))
            self.plot_model(folder)

    def save_model(self, run_folder):
        """Whole-model ``.keras`` archives of both networks (the book saved ``.h5`` models); the
        generator's is the one samples are drawn with (its average, where the recipe keeps one)."""
        folder = RunFolder(run_folder)
        with folder.writing("the networks' .keras archives"):
            folder.path.mkdir(parents=True, exist_ok=True)
            for network in (self.adversary, self.sampling_generator):
                # Keras' own layers in the archive, so that it loads without this project; written
                # whole or not at all (a temporary archive, then a rename).
                plain = with_plain_layers(network)
                replace_atomically(folder.archive(network.name), lambda tmp, plain=plain: plain.save(tmp))

    def load_weights(self, filepath, *args, **kwargs):
        """Load a weights file: Keras' ``.weights.h5``, or the book's ``weights/weights.h5`` name.

        A run folder's checkpoint also restores the training state (epoch, loss
        history, fixed noise), so a further ``train`` continues the run.
        """
        filepath = keras3_weights_file(filepath)
        if not os.path.exists(filepath):
            raise FileNotFoundError(
                f"No weights file at {filepath}. Train first (it is written every "
                f"print_every_n_batches), or point at a run's weights/weights.weights.h5."
            )
        super().load_weights(filepath, *args, **kwargs)
        if filepath.endswith(".weights.h5"):
            state = read_training_state(filepath)
            if state is not None:
                self._restore(state)

    def _restore(self, state):
        for kind, names in (("d_losses", self.d_loss_names), ("g_losses", self.g_loss_names)):
            widths = {len(row) for row in state[kind]}
            if widths and widths != {len(names)}:
                raise ValueError(
                    f"its {kind} hold {widths.pop()} losses per step where this model reports "
                    f"{len(names)} ({', '.join(names)}): it was trained with another loss or model options")
        self.epoch = state["epoch"]
        self.fixed_noise = state["fixed_noise"]
        self.d_losses = state["d_losses"]
        single = len(self.g_loss_names) == 1
        self.g_losses = [g[0] for g in state["g_losses"]] if single else state["g_losses"]

    def plot_model(self, run_folder):
        """Diagrams in ``viz/`` when pydot and graphviz are installed; text summaries always."""
        viz = RunFolder(run_folder).viz
        viz.mkdir(parents=True, exist_ok=True)
        networks = {"model": self.model, self.adversary.name: self.adversary,
                    "generator": self.generator}
        for name, network in networks.items():
            lines = []
            network.summary(print_fn=lambda line, *args, **kwargs: lines.append(line))
            Path(viz, f"{name}_summary.txt").write_text("\n".join(lines) + "\n")
        missing = _missing_diagram_tools()
        if missing:
            print(f"plot_model: wrote text summaries to {viz} ({missing} not installed, so no diagrams)")
            return
        for name, network in networks.items():
            keras.utils.plot_model(
                network, to_file=os.path.join(viz, f"{name}.png"),
                show_shapes=True, show_layer_names=True,
            )


def _also_torch_mode_switch(train):
    """The book's ``train(x_train, ...)``, which on PyTorch is also ``nn.Module.train(mode)``: Keras'
    PyTorch trainer calls ``model.train()`` and ``model.eval()`` (``train(False)``) to switch modes."""

    @functools.wraps(train)
    def method(self, *args, **kwargs):
        if backends.name() == "torch" and (not args or isinstance(args[0], bool)) and set(kwargs) <= {"mode"}:
            import torch

            return torch.nn.Module.train(self, *args, **kwargs)
        return train(self, *args, **kwargs)

    return method


def _missing_diagram_tools():
    """Keras' plot_model needs pydot and graphviz's ``dot``; name whichever is missing."""
    import importlib.util
    import shutil

    missing = [name for name, found in (
        ("pydot", importlib.util.find_spec("pydot") is not None),
        ("graphviz", shutil.which("dot") is not None),
    ) if not found]
    return " and ".join(missing)


def _pickle_to(value, path):
    with open(path, "wb") as f:
        pickle.dump(value, f)
