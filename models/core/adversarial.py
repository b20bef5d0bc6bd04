"""One adversarial training step as a Keras model, so that ``fit()`` trains a GAN.

``train_step`` is one of the book's "epochs": an update of the discriminator
or critic for each real batch the step's data holds (``n_critic`` side by
side, fresh real images for every update), then one update of the generator — the two updates
of ``models.core.updates``, one path for every model.  The losses are Keras
metrics named as the book names them (``d_loss``, ``d_loss_real``, ...), so
callbacks, ``History`` and TensorBoard see them like any model's loss.

The model holds its parts: the ``objective`` (``models.objectives``: the losses of
the adversary's scores), the ``penalties`` (``models.penalties``: clipping, the
gradient penalty, R1, R2, the user's own) and the ``recipe`` (``models.recipe``:
augmentation of what the adversary sees, an average of the generator to sample
with); spectral normalisation is built into the adversary's network.

The step is written once with ``keras.ops`` and runs on TensorFlow, JAX and PyTorch:
what differs between them (how a gradient is taken, and JAX's pure functions) is
``models.core.backends``; the book's single updates outside ``fit()`` run through
``models.core.replicas``.
"""

import functools
import itertools

import numpy as np
import keras
from keras import ops

from models.core import backends
from models.core.combined import CombinedModel
from models.core.guards import WEIGHT_LIMIT, LossMeans, NonFiniteUpdates, is_floating
from models.core.randomness import Randomness
from models.core.replicas import OptimizerStates, compiled_step
from models.core.updates import AdversarialUpdates
from models.recipe.augment import Augmentation
from models.recipe.average import GeneratorAverage
from models.recipe.hacks import Hacks
from models.recipe.options import Recipe


class AdversarialModel(AdversarialUpdates, keras.Model):
    """A generator and its adversary, trained against each other by ``fit()``.

    ``fit`` takes images (an array, a ``tf.data.Dataset``, or ``(images, labels)``
    pairs whose labels are ignored).  A batch ``(batch, H, W, C)`` makes one
    adversary update and one generator update on as many latent points; a batch
    ``(batch, n, H, W, C)`` makes ``n`` adversary updates, the ``i``-th on
    ``[:, i]``, then the generator's: ``fit(model.training_batches(x, 64, n_critic=5))``
    makes five critic updates on 64 images each and one generator update on 64
    latent points.
    """

    EXTRA_D_LOSS_NAMES = ()  # what a subclass's extra terms report, beyond the objective's and penalties'
    EXTRA_G_LOSS_NAMES = ()
    CONTROL = None  # what chooses what a sample shows: None, "labels" (CGAN) or "codes" (InfoGAN)

    def __init__(self, adversary, generator, objective, penalties=(), recipe=None, **kwargs):
        super().__init__(**kwargs)
        recipe = recipe or Recipe()
        # Plain parts, not Keras state.
        object.__setattr__(self, "objective", objective)
        object.__setattr__(self, "penalties", tuple(penalties))
        object.__setattr__(self, "recipe", recipe)
        self.adversary = adversary
        self.generator = generator
        self.random = Randomness.owned_by(self)
        if self.random.seed_generator is not None:
            # Off TensorFlow the penalties' layers (the gradient penalty's interpolation) are
            # tracked too, for their random state.
            self.penalty_layers = [layer for penalty in self.penalties for layer in penalty.layers]
        states = [state for penalty in self.penalties for state in penalty.states]
        if states:  # what a penalty keeps between updates (LeCam's anchors), saved with the model
            self.penalty_states = states
        # The book's gan.model: z → D(G(z)) with the adversary frozen.
        self.model = self.combined_model(generator, adversary)
        self.model.view = self.adversary_view
        self.augmentation = (Augmentation(recipe.policies, recipe.augment_probability, recipe.augment_target,
                                          recipe.augment_adjust_images, name="augmentation")
                             if recipe.policies else None)
        self.generator_average = (GeneratorAverage(generator, recipe.ema, recipe.ema_rampup,
                                                   name="generator_average")
                                  if recipe.ema else None)
        self.hacks = Hacks()
        # Lazy penalties' schedule inside fit(): None outside it (every update), else whether the
        # step being traced or run is one where they are due (``make_train_function``).
        object.__setattr__(self, "lazy_due", None)
        self.losses_tracker = LossMeans([*self.d_loss_names, *self.g_loss_names])
        self.finite_guard = NonFiniteUpdates()
        self._latent_dim = int(generator.inputs[0].shape[-1])
        self._book_steps = {}
        self._traced_rank = None  # of the batches fit's step was traced for (4, or 5: n side by side)
        probe = self._probe_inputs()
        self.model(probe)
        self(probe)

    def combined_model(self, generator, adversary):
        """The model the generator is trained through (``gan.model``)."""
        return CombinedModel(generator, adversary, name="model")

    def _probe_inputs(self):
        """One input of the generator, to build everything once."""
        return keras.ops.zeros((1, self._latent_dim))

    @property
    def hacks(self):
        """The GAN hacks in use (``models.recipe.hacks.Hacks``; all off unless the constructor was told)."""
        return self._hacks

    @hacks.setter
    def hacks(self, value):
        object.__setattr__(self, "_hacks", value)  # a plain value, not Keras state
        self._retrace()

    @property
    def sampling_generator(self):
        """The network samples are drawn with: the generator's average where the recipe keeps
        one (``ema``), else the generator itself."""
        if self.generator_average is not None:
            return self.generator_average.network
        return self.generator

    def adversary_view(self, images):
        """What the adversary is shown of ``images`` in training, real or generated, in either
        player's update: any instance noise (the hacks), then any augmentation (the recipe)."""
        images = self.hacks.noisy(images, self.random)
        if self.augmentation is not None:
            images = self.augmentation(images)
        return images

    def observe_real_scores(self, scores):
        """The adversary's scores of real images, for an adaptive augmentation's strength."""
        if self.augmentation is not None:
            threshold = 0.5 * (self.objective.real_label + self.objective.fake_label)
            self.augmentation.observe_real(scores, threshold)

    def after_generator_update(self):
        """What follows each generator update: the recipe's average moves towards it."""
        if self.generator_average is not None:
            self.generator_average.update(self.generator)

    @property
    def d_loss_names(self):
        """What each adversary update reports, in order (the columns of ``d_losses``): the
        objective's, then the penalties' that report (``d_loss_gp``), then a subclass's."""
        reported = tuple(p.reported_as for p in self.penalties if p.reported_as)
        return (*self.objective.d_loss_names, *reported, *self.EXTRA_D_LOSS_NAMES)

    @property
    def g_loss_names(self):
        """What each generator update reports, in order (the columns of ``g_losses``)."""
        return (*self.objective.g_loss_names, *self.EXTRA_G_LOSS_NAMES)

    def progress_names(self):
        """The losses the progress bar shows."""
        return ["d_loss", "g_loss", *(["d_acc"] if "d_acc" in self.d_loss_names else [])]

    def call(self, z, training=False):
        """Images from latent points: ``gan.predict(noise)`` is ``generator.predict(noise)`` (the
        averaged generator's, where the recipe keeps one)."""
        return self.sampling_generator(z, training=training)

    # -- configuration -------------------------------------------------------------

    def compile(self, d_optimizer="rmsprop", g_optimizer="rmsprop", **kwargs):
        """Set the two optimizers (Keras' other ``compile`` options: ``jit_compile``,
        ``steps_per_execution``, ``run_eagerly``...).

        The adversary and the combined model are compiled with the same two
        optimizers, so the book's ``discriminator.train_on_batch`` and
        ``model.train_on_batch`` continue the same optimizer state as ``fit``.
        """
        # ``jit_compile`` means XLA on TensorFlow (``xla`` keeps what was asked, for the config);
        # on JAX every step is jitted unless ``run_eagerly``: op by op it is many times slower.
        object.__setattr__(self, "xla", bool(kwargs.get("jit_compile", False)))
        if backends.name() == "jax" and not kwargs.get("run_eagerly"):
            kwargs["jit_compile"] = True
        super().compile(optimizer=None, **kwargs)
        if backends.name() == "jax":
            # Keras' JAX fit threads ``optimizer.variables`` through the jitted step: here, both.
            object.__setattr__(self, "optimizer", OptimizerStates(self))
        self.d_optimizer = self._wrap_optimizer(keras.optimizers.get(d_optimizer))
        self.g_optimizer = self._wrap_optimizer(keras.optimizers.get(g_optimizer))
        objective = self.objective
        for network, optimizer, loss in ((self.adversary, self.d_optimizer, objective.adversary_loss),
                                         (self.model, self.g_optimizer, objective.generator_loss)):
            network.compile(optimizer=optimizer, loss=loss, metrics=objective.adversary_metrics(),
                            jit_compile=self.jit_compile)
        # Built now, so saved weights carry their slots and a resumed run continues
        # with the same optimizer state.
        with backends.replica_scope(self.strategy):
            self.d_optimizer.build(self.adversary.trainable_variables)
            self.g_optimizer.build(self.generator.trainable_variables)

    def get_compile_config(self):
        # The constructor compiles with the book's optimizers; a saved .keras model is
        # restored with their state from its weights, so no compile config is kept.
        return None

    def _wrap_optimizer(self, optimizer):
        if self.dtype_policy.name == "mixed_float16" and not isinstance(
                optimizer, keras.optimizers.LossScaleOptimizer):
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        return optimizer

    @property
    def penalty_passes(self):
        """How many more passes of the adversary each of its updates makes for penalties that
        score points of their own (the gradient penalty's interpolates)."""
        return sum(p.own_points for p in self.penalties)

    @property
    def strategy(self):
        """The ``tf.distribute`` strategy the model was built under (None off TensorFlow)."""
        return self.distribute_strategy if backends.name() == "tensorflow" else None

    @property
    def replicas(self):
        """How many replicas each step runs on at once (1 off TensorFlow)."""
        return self.strategy.num_replicas_in_sync if self.strategy is not None else 1

    def make_train_function(self, force=False):
        """Keras' step function; with a lazy penalty (``every`` > 1), two — the step with it and the
        step without — and one that calls the one due, counting the generator's updates, so that
        the step without it costs what a step without it costs."""
        every = max((penalty.every for penalty in self.penalties), default=1)
        if every == 1:
            return super().make_train_function(force)
        if self.train_function is not None and not force:
            return self.train_function
        made = {}
        for due in (True, False):
            # A function of its own per schedule: JAX would share one trace between two jits of
            # the same bound method.
            object.__setattr__(self, "train_step", functools.partial(type(self).train_step, self))
            try:
                super().make_train_function(force=True)
            finally:
                object.__delattr__(self, "train_step")
            made[due] = self.train_function
        steps = itertools.count(int(ops.convert_to_numpy(self.g_optimizer.iterations)))

        def train_function(*args):
            due = next(steps) % every == 0
            object.__setattr__(self, "lazy_due", due)
            try:
                return made[due](*args)
            finally:
                object.__setattr__(self, "lazy_due", None)

        self.train_function = train_function
        return train_function

    def _retrace(self):
        self.train_function = None
        self._book_steps = {}

    @property
    def metrics(self):
        return [self.losses_tracker, self.finite_guard]

    @property
    def optimizers(self):
        """Every optimizer whose state a checkpoint holds."""
        return [self.d_optimizer, self.g_optimizer]

    def checkpoint_variables(self):
        """What a checkpoint holds: every weight of the networks and every optimizer's state."""
        return [*self.weights, *self.optimizer_variables()]

    def non_finite_updates(self):
        """How many updates since this epoch began left a loss, weight or optimizer state
        NaN or infinite (0 while training is sound); read once per step by the run's guard.

        Read from this process's replicas only: the weights are the same on every worker, so
        each decides alike, and a collective read here would hang a cluster whose other
        workers do not read at the same moment (only the chief saves).
        """
        if self.strategy is None:
            return int(float(ops.convert_to_numpy(self.finite_guard.count.value)))
        local = self.strategy.experimental_local_results(self.finite_guard.count.value)
        return int(sum(float(value) for value in local))

    def exploded_weights(self):
        """The paths of the trained weights beyond ``WEIGHT_LIMIT`` now: finite, but a run cannot
        train on from them (``models.core.guards``)."""
        return [v.path for v in self.trainable_weights
                if is_floating(v) and (np.abs(keras.ops.convert_to_numpy(v)) > WEIGHT_LIMIT).any()]

    def non_finite_state(self):
        """The paths of the variables a checkpoint would hold that are NaN or infinite now."""
        return [v.path for v in self.checkpoint_variables()
                if is_floating(v) and not np.isfinite(keras.ops.convert_to_numpy(v)).all()]

    # -- the step fit() runs -------------------------------------------------------------

    def train_step(self, *args):
        """One step on ``data``; on JAX Keras passes ``(state, data)`` and takes ``(logs, state)``."""
        if len(args) == 2:
            return self._stateless_step(*args)
        return self._step(args[0])

    def _step(self, data):
        """One step, stateful: an adversary update on each real batch the data holds (one, or
        ``n`` side by side: see the class), then one generator update."""
        real, labels, _ = keras.utils.unpack_x_y_sample_weight(data)
        real = ops.cast(real, "float32")
        if len(real.shape) == 4:  # (batch, H, W, C): one adversary update
            updates = [(real, labels)]
        else:  # (batch, n, H, W, C): n updates, the i-th on [:, i]
            updates = [(real[:, i], None if labels is None else labels[:, i]) for i in range(real.shape[1])]
        for batch, batch_labels in updates:
            batch_conditions = self.conditions_of(batch_labels)
            d = self.update_adversary(batch, batch_conditions)
        g = self.update_generator(self.latent_batch(ops.shape(batch)[0]), batch_conditions, real=batch)
        self.after_generator_update()
        return self._record(d, g)

    def conditions_of(self, labels):
        """What the updates condition on, from the labels ``fit`` was given: nothing here (the
        labels of ``(images, labels)`` pairs are ignored); a conditional model checks its classes."""
        return None

    def _stateless_step(self, state, data):
        """The step as JAX's trainer wants it: a pure function of Keras' state (trainable,
        non-trainable, optimizer and metric variables' values) → (logs, new state)."""
        groups = [self.trainable_variables, self.non_trainable_variables, self.optimizer.variables,
                  self.metrics_variables]
        variables = [v for group in groups for v in group]
        logs, values = backends.pure(self._step, variables)([v for part in state for v in part], data)
        new_state, start = [], 0
        for group in groups:
            new_state.append(values[start: start + len(group)])
            start += len(group)
        return logs, tuple(new_state)

    def _record(self, d, g):
        """The step's losses into the metric (the last adversary update's, as the book keeps),
        and whether they and every weight, batch-norm statistics included, are finite."""
        losses = ops.concatenate([ops.cast(d, "float32"), ops.cast(g, "float32")], axis=0)
        self.finite_guard.update_state([losses, *self.weights], bounded=self.trainable_weights)
        self.losses_tracker.update_state(losses)
        logs = self.losses_tracker.result()
        if self.strategy is not None:
            import tensorflow as tf

            if isinstance(self.strategy, tf.distribute.MultiWorkerMirroredStrategy):
                # Keras reduces logs across workers with reduce(MEAN, axis=0), which needs an axis.
                logs = {name: tf.reshape(value, (1,)) for name, value in logs.items()}
        return logs

    # -- single updates on given batches (the book's train_discriminator/train_generator) ----

    def critic_step(self, real):
        """One adversary update on the batch ``real`` (split across replicas) → its losses."""
        return self._on_replicas("critic", self.update_adversary, real)

    def generator_step(self, batch_size):
        """One generator update on ``batch_size`` latent points → its losses."""
        latent = np.zeros((int(batch_size), 0), "float32")  # carries only the batch size to each replica

        def update(latent):
            losses = self.update_generator(self.latent_batch(ops.shape(latent)[0]))
            self.after_generator_update()
            return losses

        return self._on_replicas("generator", update, latent)

    def _on_replicas(self, key, replica_fn, global_batch):
        """Run ``replica_fn`` on each replica's share of ``global_batch``; average what it returns
        (``models.core.replicas``; compiled once per kind of update)."""
        step = self._book_steps.get(key)
        if step is None:
            step = self._book_steps[key] = compiled_step(self, replica_fn)
        return np.asarray(ops.convert_to_numpy(step(global_batch)))

    def state_variables(self):
        """Every variable a step reads or changes: the networks', the optimizers' and the metrics'."""
        return backends.unique([*self.trainable_variables, *self.non_trainable_variables,
                                *self.optimizer_variables(), *self.metrics_variables])

    def optimizer_variables(self):
        """Every optimizer's state, in ``optimizers`` order."""
        return [v for optimizer in self.optimizers for v in optimizer.variables]


