"""Training plumbing shared by GAN, WGAN and WGAN-GP.

The three book classes differ in their losses and in what happens to the
critic after an update; everything else lives here once: the frozen combined
model, where real batches come from, the compiled (and distributable) training
steps, the run folder (sample grids from a fixed noise batch, weights, loss
curves, history) and saving/resuming.

A subclass provides:

* ``CRITIC`` (the prefix of its critic arguments, 'discriminator' or 'critic') and
  ``CRITIC_OUTPUT_ACTIVATION``;
* ``_discriminator_loss``: the loss the combined model is compiled with;
* ``_critic_update(real, noise, options)`` → 1-D tensor of the critic's losses;
* ``_generator_update(noise)`` → 1-D tensor of the generator's losses;
* ``D_LOSS_NAMES`` / ``G_LOSS_NAMES``: what those tensors hold, in SPEC order.
"""

import inspect
import json
import os
import pickle
from pathlib import Path

import numpy as np
import tensorflow as tf
import keras

from models.networks import build_discriminator, build_generator
from models.sources import make_source
from utils import plotting

WEIGHTS_FILE = "weights.weights.h5"
STATE_FILE = "training_state.h5"
HISTORY_FILE = "history.json"
LOSS_PLOT_FILE = "losses.png"


class CombinedModel(keras.Model):
    """z → D(G(z)), the model the generator is trained through.

    The book freezes the discriminator by toggling ``trainable`` around
    ``compile()``.  Keras 3 reads ``trainable`` when the train function is
    traced, so that recipe silently trains the discriminator too.  Here the
    model simply declares that its trainable weights are the generator's: every
    optimizer step through this model, including a user's own
    ``model.train_on_batch``, can only move the generator.
    """

    def __init__(self, generator, discriminator, **kwargs):
        super().__init__(**kwargs)
        self.generator = generator
        self.discriminator = discriminator

    def call(self, z, training=None):
        return self.discriminator(self.generator(z, training=training), training=training)

    def train_step(self, data):
        return keep_statistics(self.discriminator, lambda: super(CombinedModel, self).train_step(data))

    @property
    def trainable_weights(self):
        return self.generator.trainable_weights

    @property
    def trainable_variables(self):
        return self.generator.trainable_variables

    @property
    def non_trainable_weights(self):
        return self.generator.non_trainable_weights + self.discriminator.weights

    @property
    def non_trainable_variables(self):
        return self.non_trainable_weights


def keep_statistics(network, update):
    """Run ``update()`` and put back ``network``'s non-trainable weights afterwards.

    A frozen network still runs in training mode inside the other network's
    step (batch statistics, dropout), as it did in the book's Keras 2; but its
    batch-norm moving statistics must not move either, or it is not frozen.
    """
    frozen = network.non_trainable_weights
    saved = [tf.identity(weight.value) for weight in frozen]
    result = update()
    for weight, value in zip(frozen, saved):
        weight.assign(value)
    return result


def make_optimizer(name, learning_rate):
    """The book's ``get_opti``: 'adam' → Adam(β₁=0.5), 'rmsprop' → RMSprop, else Adam."""
    if name == "adam":
        return keras.optimizers.Adam(learning_rate=learning_rate, beta_1=0.5)
    if name == "rmsprop":
        return keras.optimizers.RMSprop(learning_rate=learning_rate)
    return keras.optimizers.Adam(learning_rate=learning_rate)


def resolve_precision(mixed_precision):
    """``True`` → bfloat16 on CPUs, float16 (with loss scaling) on GPUs; a policy name is taken as is."""
    if not mixed_precision:
        return None
    if isinstance(mixed_precision, str):
        return mixed_precision
    return "mixed_float16" if tf.config.list_logical_devices("GPU") else "mixed_bfloat16"


class AdversarialModel:
    """The shared part of GAN, WGAN and WGAN-GP (see the module docstring)."""

    D_LOSS_NAMES = ()
    G_LOSS_NAMES = ()
    SECTION = ""

    def _setup(self, arguments):
        """Build networks and optimizers from the ``locals()`` of a book-style ``__init__``."""
        self.name = self.SECTION  # the book's attribute
        self._params = {name: arguments[name] for name in self.param_names()}
        for name, value in self._params.items():
            setattr(self, name, value)
        mixed_precision, jit_compile, strategy = (
            arguments[name] for name in ("mixed_precision", "jit_compile", "strategy"))
        self.d_losses = []
        self.g_losses = []
        self.epoch = 0
        self.jit_compile = bool(jit_compile)
        self.strategy = strategy or tf.distribute.get_strategy()
        self.dtype_policy = resolve_precision(mixed_precision)
        self._fixed_noise = None
        self._functions = {}
        self._sources = {}

        with self.strategy.scope():
            critic, self.generator = self._build_networks(
                self.dtype_policy, synchronized=self.strategy.num_replicas_in_sync > 1
            )
            self._critic_network = critic
            self.d_optimizer = self._optimizer(self._critic_learning_rate())
            self.g_optimizer = self._optimizer(self.generator_learning_rate)
            critic.compile(
                optimizer=self.d_optimizer,
                loss=self._discriminator_loss,
                metrics=self._metrics(),
                jit_compile=self.jit_compile,
            )
            self.model = CombinedModel(self.generator, critic, name="model")
            self.model(keras.ops.zeros((1, self.z_dim)))
            self.model.compile(
                optimizer=self.g_optimizer,
                loss=self._discriminator_loss,
                metrics=self._metrics(),
                jit_compile=self.jit_compile,
            )
            # Built now, so save_weights/load_weights carry their slots and a resumed
            # run continues with the same optimizer state.
            self.d_optimizer.build(critic.trainable_variables)
            self.g_optimizer.build(self.generator.trainable_variables)

    # -- the networks, from the book's arguments -----------------------------------

    CRITIC_ARGUMENTS = ("conv_filters", "conv_kernel_size", "conv_strides",
                        "batch_norm_momentum", "activation", "dropout_rate")
    GENERATOR_ARGUMENTS = ("initial_dense_layer_size", "upsample", "conv_filters",
                           "conv_kernel_size", "conv_strides", "batch_norm_momentum",
                           "activation", "dropout_rate")

    def _critic_learning_rate(self):
        return getattr(self, f"{self.CRITIC}_learning_rate")

    def _build_networks(self, dtype, synchronized):
        critic = build_discriminator(
            self.input_dim,
            *(getattr(self, f"{self.CRITIC}_{name}") for name in self.CRITIC_ARGUMENTS),
            output_activation=self.CRITIC_OUTPUT_ACTIVATION,
            name=self.CRITIC,
            dtype=dtype,
            synchronized=synchronized,
        )
        generator = build_generator(
            self.z_dim,
            *(getattr(self, f"generator_{name}") for name in self.GENERATOR_ARGUMENTS),
            dtype=dtype,
            synchronized=synchronized,
        )
        return critic, generator

    def _metrics(self):
        return None

    def _optimizer(self, learning_rate):
        optimizer = make_optimizer(self.optimiser, learning_rate)
        if self.dtype_policy == "mixed_float16":
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        return optimizer

    def get_opti(self, lr):
        """The book's helper, kept for readers who call it."""
        return make_optimizer(self.optimiser, lr)

    # -- one optimizer update ------------------------------------------------------

    def _descend(self, optimizer, network, tape, loss):
        """Apply ``loss``'s gradient to ``network`` only (the other network stays frozen).

        Keras sums gradients across replicas, so each replica contributes its
        loss divided by the number of replicas: the update is the gradient of
        the global-batch mean.
        """
        variables = network.trainable_variables
        with tape:
            scaled = optimizer.scale_loss(loss / self.strategy.num_replicas_in_sync)
        gradients = tape.gradient(scaled, variables)
        optimizer.apply(gradients, variables)

    def _fit_critic(self, images, label):
        """One update of the discriminator/critic on one labelled batch, like ``train_on_batch``."""
        critic = self._critic_network
        labels = tf.fill((tf.shape(images)[0], 1), label)
        with tf.GradientTape() as tape:
            predictions = critic(images, training=True)
            loss = tf.reduce_mean(self._discriminator_loss(labels, predictions))
        self._descend(self.d_optimizer, critic, tape, loss)
        return loss, labels, predictions

    def _fit_generator(self, noise):
        """One update of the generator through the combined model, towards the "real" label."""
        labels = tf.ones((tf.shape(noise)[0], 1))

        def update():
            with tf.GradientTape() as tape:
                predictions = self.model(noise, training=True)
                loss = tf.reduce_mean(self._discriminator_loss(labels, predictions))
            self._descend(self.g_optimizer, self.generator, tape, loss)
            return loss, labels, predictions

        return keep_statistics(self._critic_network, update)

    def _noise(self, batch_size):
        return tf.random.normal((batch_size, self.z_dim))

    # -- compiled, distributed steps -----------------------------------------------

    def _per_replica(self, batch_size):
        replicas = self.strategy.num_replicas_in_sync
        if batch_size % replicas:
            raise ValueError(
                f"batch_size={batch_size} must be divisible by the {replicas} replicas of "
                f"the distribution strategy (each replica trains on batch_size / replicas)."
            )
        return batch_size // replicas

    def _source(self, x_train, batch_size, using_generator):
        key = (id(x_train), batch_size, bool(using_generator))
        if key not in self._sources:
            # Keep x_train referenced so its id cannot be reused by another object.
            self._sources[key] = (x_train, make_source(x_train, batch_size, using_generator, self.strategy))
        return self._sources[key][1]

    def _on_replicas(self, replica_fn, *args):
        """Run ``replica_fn`` on every replica and average what it returns."""
        per_replica = self.strategy.run(replica_fn, args=args)
        return self.strategy.reduce(tf.distribute.ReduceOp.MEAN, per_replica, axis=None)

    def _run(self, key, replica_fn, source, n_batches, *options):
        """Trace once per key: fetch batches, run ``replica_fn`` on every replica, average.

        ``options`` (e.g. the clip threshold) are passed as tensors, so a new value
        does not retrace the step.
        """
        step = self._functions.get(key)
        if step is None:
            inner = tf.function(replica_fn, jit_compile=True) if self.jit_compile else replica_fn

            def step(*options):
                fetched = [source.fetch() for _ in range(n_batches)] if source else []
                return self._on_replicas(inner, fetched, *options)

            step = self._functions[key] = tf.function(step)
        return step(*(tf.constant(value, tf.float32) for value in options)).numpy()

    def _updates(self, x_train, batch_size, using_generator, n_critic, options, generator):
        """``n_critic`` critic updates, then (if ``generator``) one generator update, in one graph.

        Returns the last critic update's losses (the book's loop keeps the last),
        followed by the generator's.
        """
        source = self._source(x_train, batch_size, using_generator)
        per_replica = self._per_replica(batch_size)

        def replica_fn(fetched, *options):
            for batch in fetched:
                real = source.take(batch, per_replica)
                losses = self._critic_update(real, self._noise(per_replica), *options)
            if generator:
                losses = tf.concat([losses, self._generator_update(self._noise(per_replica))], 0)
            return losses

        key = ("epoch" if generator else "critic", id(source), n_critic)
        return self._run(key, replica_fn, source, n_critic, *options)

    def _critic_step(self, x_train, batch_size, using_generator, n_updates, *options):
        return self._updates(x_train, batch_size, using_generator, n_updates, options, generator=False)

    def _generator_step(self, batch_size):
        per_replica = self._per_replica(batch_size)

        def replica_fn(fetched):
            return self._generator_update(self._noise(per_replica))

        return self._run(("generator", per_replica), replica_fn, None, 0)

    def _epoch_step(self, x_train, batch_size, using_generator, n_critic, *options):
        """One book "epoch": n_critic critic updates, then one generator update."""
        values = self._updates(x_train, batch_size, using_generator, n_critic, options, generator=True)
        n_d = len(self.D_LOSS_NAMES)
        return values[:n_d], values[n_d:]

    def train_on_fixed_batch(self, real, critic_noise, generator_noise, *options):
        """One critic update then one generator update on given inputs, split across replicas.

        The training loop draws its own batches and noise; this fixes them, so a
        step can be compared between devices or strategies (see tests/test_distribute.py).
        Returns the critic's and the generator's losses, as the loop records them.
        """
        options = tuple(tf.constant(value, tf.float32) for value in options)

        def replica_fn(real, critic_noise, generator_noise, *options):
            d = self._critic_update(real, critic_noise, *options)
            return tf.concat([d, self._generator_update(generator_noise)], axis=0)

        inputs = [self._split_across_replicas(x) for x in (real, critic_noise, generator_noise)]
        values = tf.function(self._on_replicas)(replica_fn, *inputs, *options).numpy()
        n_d = len(self.D_LOSS_NAMES)
        return values[:n_d], values[n_d:]

    def _split_across_replicas(self, value):
        value = tf.convert_to_tensor(np.asarray(value, dtype="float32"))
        per_replica = self._per_replica(int(value.shape[0]))

        def shard(context):
            start = context.replica_id_in_sync_group * per_replica
            return value[start : start + per_replica]

        return self.strategy.experimental_distribute_values_from_function(shard)

    # -- the training loop ---------------------------------------------------------

    def _train_loop(self, x_train, batch_size, epochs, run_folder, print_every_n_batches,
                    using_generator, n_critic=1, options=()):
        """The book's loop: step, record, and every ``print_every_n_batches`` save progress."""
        run_folder = str(run_folder)
        _make_run_folders(run_folder)
        self._ensure_fixed_noise()
        progress = keras.utils.Progbar(
            epochs,
            stateful_metrics=self._progress_names(),
            unit_name="batch",
        )
        for step in range(epochs):
            d, g = self._epoch_step(x_train, batch_size, using_generator, n_critic, *options)
            due = self.epoch % print_every_n_batches == 0
            if due:
                self.sample_images(run_folder)
            self._record(d, g)
            self.epoch += 1
            if due or step == epochs - 1:
                self.save_progress(run_folder)
            progress.update(step + 1, values=self._progress_values(d, g))
        self.sample_images(run_folder)

    def _record(self, d, g):
        self.d_losses.append([float(v) for v in d])
        g = [float(v) for v in g]
        self.g_losses.append(g if len(self.G_LOSS_NAMES) > 1 else g[0])

    def _progress_names(self):
        return ["d_loss", "g_loss"]

    def _progress_values(self, d, g):
        return [("d_loss", float(d[0])), ("g_loss", float(g[0]))]

    # -- run folder: samples, curves, weights, resumable state --------------------

    def _ensure_fixed_noise(self):
        """One noise batch per model, so successive grids show the same 25 latent points."""
        if self._fixed_noise is None:
            self._fixed_noise = np.random.normal(0.0, 1.0, (25, self.z_dim)).astype("float32")
        return self._fixed_noise

    def sample_images(self, run_folder):
        """Save a 5×5 grid from the fixed noise batch as ``images/sample_<epoch>.png``."""
        noise = self._ensure_fixed_noise()
        images = self.generator(noise, training=False)
        path = os.path.join(run_folder, "images", f"sample_{self.epoch}.png")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        plotting.save_image_grid(keras.ops.convert_to_numpy(images), path)
        return path

    def loss_curves(self):
        """Named series for the loss plot: one panel per dict entry."""
        d = np.asarray(self.d_losses, dtype=float).reshape(len(self.d_losses), -1)
        g = np.asarray(self.g_losses, dtype=float).reshape(len(self.g_losses), -1)
        panels = {"loss": {}}
        for names, values in ((self.D_LOSS_NAMES, d), (self.G_LOSS_NAMES, g)):
            for k, name in enumerate(names):
                panel = "accuracy" if "acc" in name else "loss"
                panels.setdefault(panel, {})[name] = values[:, k] if len(values) else []
        return panels

    def save_progress(self, run_folder):
        """Everything needed to look at a run and to resume it; each file is replaced atomically."""
        weights_dir = os.path.join(run_folder, "weights")
        os.makedirs(weights_dir, exist_ok=True)
        _atomic(os.path.join(weights_dir, WEIGHTS_FILE), self.model.save_weights)
        _atomic(os.path.join(weights_dir, STATE_FILE), self._save_training_state)
        _atomic(os.path.join(run_folder, HISTORY_FILE), self._save_history)
        _atomic(os.path.join(run_folder, LOSS_PLOT_FILE), self._save_loss_plot)

    def _save_history(self, path):
        history = {
            "epoch": self.epoch,
            "d_loss_names": list(self.D_LOSS_NAMES),
            "g_loss_names": list(self.G_LOSS_NAMES),
            "d_losses": self.d_losses,
            "g_losses": self.g_losses,
        }
        with open(path, "w") as f:
            json.dump(history, f)

    def _save_loss_plot(self, path):
        plotting.save_loss_plot(self.loss_curves(), path, title=f"{type(self).__name__} training")

    def _save_training_state(self, path):
        """Epoch and fixed noise; optimizer slots travel in the weights file (both models are compiled)."""
        import h5py

        with h5py.File(path, "w") as f:
            f.attrs["epoch"] = self.epoch
            f.create_dataset("fixed_noise", data=self._ensure_fixed_noise())

    def restore_training_state(self, run_folder):
        """Continue a saved run: epoch, loss history and fixed noise (weights and optimizer
        slots come from ``load_weights``).

        Returns False when the folder holds no training state (a fresh run).
        """
        import h5py

        state_path = os.path.join(run_folder, "weights", STATE_FILE)
        history_path = os.path.join(run_folder, HISTORY_FILE)
        if not os.path.exists(state_path):
            return False
        with h5py.File(state_path, "r") as f:
            self.epoch = int(f.attrs["epoch"])
            self._fixed_noise = np.asarray(f["fixed_noise"], dtype="float32")
        if os.path.exists(history_path):
            with open(history_path) as f:
                history = json.load(f)
            # An interrupt can land between recording a step and counting it.
            self.d_losses = history["d_losses"][: self.epoch]
            self.g_losses = history["g_losses"][: self.epoch]
        return True

    # -- the book's save / load surface ----------------------------------------------

    @classmethod
    def param_names(cls):
        """The constructor's book arguments, in the book's order."""
        signature = inspect.signature(cls.__init__)
        return [
            p.name
            for p in signature.parameters.values()
            if p.kind is p.POSITIONAL_OR_KEYWORD and p.name != "self"
        ]

    def save(self, folder):
        """Write the constructor arguments (params.json, and params.pkl for the book) and diagrams."""
        folder = str(folder)
        os.makedirs(folder, exist_ok=True)
        params = [self._params[name] for name in self.param_names()]
        with open(os.path.join(folder, "params.json"), "w") as f:
            json.dump(dict(zip(self.param_names(), params)), f, indent=2)
        with open(os.path.join(folder, "params.pkl"), "wb") as f:
            pickle.dump(params, f)
        self.plot_model(folder)

    def save_model(self, run_folder):
        """Whole-model ``.keras`` archives of both networks (the book saved ``.h5`` models)."""
        os.makedirs(run_folder, exist_ok=True)
        self._critic_network.save(os.path.join(run_folder, f"{self._critic_network.name}.keras"))
        self.generator.save(os.path.join(run_folder, "generator.keras"))

    def load_weights(self, filepath):
        """Load ``weights/weights.weights.h5``; the book's ``weights/weights.h5`` name is understood."""
        filepath = str(filepath)
        if not filepath.endswith(".weights.h5") and not os.path.exists(filepath):
            keras3_name = filepath[: -len(".h5")] + ".weights.h5" if filepath.endswith(".h5") else None
            if keras3_name and os.path.exists(keras3_name):
                filepath = keras3_name
            else:
                raise FileNotFoundError(
                    f"No weights file at {filepath}. Keras 3 weight files end in '.weights.h5': "
                    f"this project saves them as {os.path.join(os.path.dirname(filepath) or '.', WEIGHTS_FILE)}."
                )
        if not os.path.exists(filepath):
            raise FileNotFoundError(
                f"No weights file at {filepath}. Train first (it is written every "
                f"print_every_n_batches), or point at a run's weights/{WEIGHTS_FILE}."
            )
        self.model.load_weights(filepath)

    def plot_model(self, run_folder):
        """Diagrams in ``viz/`` when pydot and graphviz are installed; text summaries always."""
        viz = os.path.join(str(run_folder), "viz")
        os.makedirs(viz, exist_ok=True)
        networks = {"model": self.model, self._critic_network.name: self._critic_network,
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


def _missing_diagram_tools():
    """Keras' plot_model needs pydot and graphviz's ``dot``; name whichever is missing."""
    import importlib.util
    import shutil

    missing = [name for name, found in (
        ("pydot", importlib.util.find_spec("pydot") is not None),
        ("graphviz", shutil.which("dot") is not None),
    ) if not found]
    return " and ".join(missing)


def _make_run_folders(run_folder):
    for sub in ("viz", "images", "weights"):
        os.makedirs(os.path.join(run_folder, sub), exist_ok=True)


def _atomic(path, write):
    """Write through a temporary name, so an interrupted save never leaves half a file."""
    base, name = os.path.split(path)
    tmp = os.path.join(base, f".tmp-{name}")
    write(tmp)
    os.replace(tmp, path)
