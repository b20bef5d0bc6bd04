"""One adversarial training step as a Keras model, so that ``fit()`` trains a GAN.

``train_step`` is one of the book's "epochs": ``n_critic`` updates of the
discriminator or critic, each on its own slice of the batch (fresh real
images for every update), then one update of the generator.  The losses are
Keras metrics named as the book names them (``d_loss``, ``d_loss_real``, ...),
so callbacks, ``History`` and TensorBoard see them like any model's loss.

What the loss is — the adversary's and the generator's, the adversary's output,
its targets, the extra terms (clipping, a gradient penalty) and the names of
what each update reports — is the model's ``objective`` (``models.objectives``).
The modern recipe's parts (``models.recipe``: augmentation of what the adversary
sees, an R1 penalty, an average of the generator to sample with) are the model's
``recipe``; spectral normalisation is built into the adversary's network.
A subclass says only what else differs (a conditional model's labels, InfoGAN's
codes), by overriding ``_critic_update(real, noise)`` or ``_generator_update(noise)``.

The step is written once with ``keras.ops`` and runs on TensorFlow, JAX and PyTorch:
what differs between them (how a gradient is taken, and JAX's pure functions) is
``models.core.backends``.  On TensorFlow it runs under ``tf.distribute`` strategies;
on JAX, Keras' JAX trainer jits it as a pure function of the model's state.
"""

import numpy as np
import keras
from keras import ops

from models.core import backends
from models.core.arguments import positive_int
from models.core.combined import CombinedModel, keep_statistics
from models.core.randomness import Randomness
from models.recipe.augment import Augmentation
from models.recipe.average import GeneratorAverage
from models.recipe.hacks import Hacks
from models.recipe.options import Recipe


class AdversarialModel(keras.Model):
    """A generator and its adversary, trained against each other by ``fit()``.

    ``fit`` takes images (an array, a ``tf.data.Dataset``, or ``(images, labels)``
    pairs whose labels are ignored).  Each batch that reaches ``train_step`` is
    split into ``n_critic`` slices, one per adversary update; the generator
    update uses as many latent points as one slice holds.  So with
    ``n_critic=5``, ``fit(x, batch_size=5 * 64)`` makes five critic updates on
    64 images each and one generator update on 64 latent points.
    """

    EXTRA_D_LOSS_NAMES = ()  # what a subclass's adversary update reports beyond its objective's
    EXTRA_G_LOSS_NAMES = ()
    CONTROL = None  # what chooses what a sample shows: None, "labels" (CGAN) or "codes" (InfoGAN)

    def __init__(self, adversary, generator, objective, n_critic=1, recipe=None, **kwargs):
        super().__init__(**kwargs)
        object.__setattr__(self, "objective", objective)  # a plain part, not Keras state
        recipe = recipe or Recipe()
        object.__setattr__(self, "recipe", recipe)
        self.adversary = adversary
        self.generator = generator
        self.random = Randomness.owned_by(self)
        if self.random.seed_generator is not None:
            # Off TensorFlow the objective's layers (the gradient penalty's interpolation) are
            # tracked too, for their random state.
            self.objective_layers = list(objective.layers)
        # The book's gan.model: z → D(G(z)) with the adversary frozen.
        self.model = self.combined_model(generator, adversary)
        self.model.view = self.adversary_view
        self.augmentation = (Augmentation(recipe.policies, recipe.augment_probability, recipe.augment_target,
                                          name="augmentation")
                             if recipe.policies else None)
        self.generator_average = (GeneratorAverage(generator, recipe.ema, name="generator_average")
                                  if recipe.ema else None)
        self.hacks = Hacks()
        self._n_critic = int(n_critic)
        self.losses_tracker = LossMeans([*self.d_loss_names, *self.g_loss_names])
        self.finite_guard = NonFiniteUpdates()
        self._latent_dim = int(generator.inputs[0].shape[-1])
        self._book_steps = {}
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
        """What each adversary update reports, in order (the columns of ``d_losses``)."""
        return (*self.objective.d_loss_names, *self.EXTRA_D_LOSS_NAMES)

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
    def n_critic(self):
        """Adversary updates per generator update (a new value retraces the step)."""
        return self._n_critic

    @n_critic.setter
    def n_critic(self, value):
        value = positive_int("n_critic", value)
        if value != self._n_critic:
            self._n_critic = int(value)
            self._retrace()

    @property
    def strategy(self):
        """The ``tf.distribute`` strategy the model was built under (None off TensorFlow)."""
        return self.distribute_strategy if backends.name() == "tensorflow" else None

    @property
    def replicas(self):
        """How many replicas each step runs on at once (1 off TensorFlow)."""
        return self.strategy.num_replicas_in_sync if self.strategy is not None else 1

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

    def non_finite_state(self):
        """The paths of the variables a checkpoint would hold that are NaN or infinite now."""
        return [v.path for v in self.checkpoint_variables()
                if _floating(v) and not np.isfinite(keras.ops.convert_to_numpy(v)).all()]

    # -- the step fit() runs -------------------------------------------------------------

    def train_step(self, *args):
        """One step on ``data``; on JAX Keras passes ``(state, data)`` and takes ``(logs, state)``."""
        if len(args) == 2:
            return self._stateless_step(*args)
        return self._step(args[0])

    def _step(self, data):
        """One step, stateful (what a subclass with other data overrides)."""
        real, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        real = ops.cast(real, "float32")
        n = self.n_critic
        for i in range(n):
            batch = real[i::n]
            d = self._critic_update(batch, self._noise(ops.shape(batch)[0]))
        g = self._generator_update(self._noise(ops.shape(batch)[0]))
        self.after_generator_update()
        return self._record(d, g)

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

    def _critic_update(self, real, noise):
        """The adversary's step on ``real`` and fakes drawn from ``noise`` → its losses."""
        return self.objective.critic_update(self, real, self.draw_fakes(noise))

    def _generator_update(self, noise):
        """The generator's step through the frozen adversary → its losses."""
        return self.objective.generator_report(*self.fit_generator(noise))

    def draw_fakes(self, inputs):
        """The adversary's fakes: as ``generator.predict``, or, where the objective says so,
        with the generator in training mode (as the book's WGAN-GP critic model) but frozen."""
        if self.objective.fakes_in_training_mode:
            return keep_statistics(self.generator, lambda: self.generator(inputs, training=True))
        return self.generator(inputs, training=False)

    def _record(self, d, g):
        """The step's losses into the metric (the last adversary update's, as the book keeps),
        and whether they and every weight, batch-norm statistics included, are finite."""
        losses = ops.concatenate([ops.cast(d, "float32"), ops.cast(g, "float32")], axis=0)
        self.finite_guard.update_state([losses, *self.weights])
        self.losses_tracker.update_state(losses)
        logs = self.losses_tracker.result()
        if self.strategy is not None:
            import tensorflow as tf

            if isinstance(self.strategy, tf.distribute.MultiWorkerMirroredStrategy):
                # Keras reduces logs across workers with reduce(MEAN, axis=0), which needs an axis.
                logs = {name: tf.reshape(value, (1,)) for name, value in logs.items()}
        return logs

    def _noise(self, batch_size):
        return self.random.normal((batch_size, self._latent_dim))

    # -- one optimizer update ------------------------------------------------------

    def descend(self, optimizer, network, compute):
        """Apply the gradient of ``compute()``'s loss to ``network`` only (the other network stays
        frozen).  ``compute()`` returns ``(loss, aux)``; so does this."""
        return self.descend_together(compute, [(optimizer, network.trainable_variables)])

    def descend_together(self, compute, groups):
        """Apply the gradient of ``compute()``'s loss to each ``(optimizer, variables)`` group: all
        gradients first, then the updates, so that no gradient sees variables already moved.

        ``compute()`` returns ``(loss, aux)``, the loss to descend and anything else to hand
        back; this returns the same pair.  Each optimizer scales the loss its own way
        (mixed precision).  Keras sums gradients across replicas, so each replica
        contributes its loss divided by the number of replicas: the update is the
        gradient of the global-batch mean.
        """
        replicas = self.replicas

        def scaled():
            loss, aux = compute()
            return [optimizer.scale_loss(loss / replicas) for optimizer, _ in groups], (loss, aux)

        (loss, aux), gradients = backends.gradients(scaled, [variables for _, variables in groups])
        for (optimizer, variables), grads in zip(groups, gradients):
            backends.apply(optimizer, grads, variables)
        # Checked right after the update: later steps (the WGAN's clipping) may hide a NaN.
        self.finite_guard.update_state([loss, *(v for optimizer, variables in groups
                                                for v in (*variables, *optimizer.variables))])
        return loss, aux

    def _critic_batch(self, inputs, label):
        """What the adversary is trained on for a batch all labelled ``label``: the true labels
        (for accuracies), the targets the GAN hacks make of them, and the inputs it sees
        (the images with any instance noise, a conditional model's classes beside them)."""
        images = inputs[0] if isinstance(inputs, (list, tuple)) else inputs
        n = ops.shape(images)[0]
        labels = ops.full((n, 1), label, dtype="float32")
        targets = self.hacks.targets(label, n, self.random) if self.hacks.active else labels
        seen = self.adversary_view(images)
        if isinstance(inputs, (list, tuple)):
            seen = [seen, *inputs[1:]]
        return labels, targets, seen

    def fit_critic(self, inputs, label):
        """One update of the adversary on one labelled batch, like ``train_on_batch``.

        Args:
            inputs: its images (or, for a conditional model, ``[images, classes]``).
            label: the batch's label (the objective's ``real_label`` or ``fake_label``).
        Returns:
            ``(loss, labels, scores)``: the loss (against the targets the hacks make of the
            labels), the batch's true labels (for accuracies) and the adversary's scores.
        """
        labels, targets, seen = self._critic_batch(inputs, label)
        real = label == self.objective.real_label
        penalised = bool(self.recipe.r1_weight) and real

        def compute():
            if penalised:
                scores, penalty = self._scores_and_r1(seen)
            else:
                scores = self.adversary(seen, training=True)
            loss = ops.mean(self.objective.adversary_loss(targets, scores))
            optimised = loss + 0.5 * self.recipe.r1_weight * penalty if penalised else loss
            return optimised, (loss, scores)

        _, (loss, scores) = self.descend(self.d_optimizer, self.adversary, compute)
        if real:
            self.observe_real_scores(scores)
        return loss, labels, scores

    def _scores_and_r1(self, seen):
        """The adversary's scores of real ``seen`` inputs and R1 = mean ‖∇ₓ logit‖² over them (the
        gradient of the images only; a conditional model's labels stay fixed)."""
        conditional = isinstance(seen, (list, tuple))
        images = seen[0] if conditional else seen
        def logits_of(x):
            scores = self.adversary([x, *seen[1:]] if conditional else x, training=True)
            return self.objective.logits(scores), scores

        scores, gradients = backends.input_gradient(logits_of, images)
        penalty = ops.mean(ops.sum(ops.square(ops.cast(gradients, "float32")),
                                   axis=list(range(1, len(images.shape)))))
        return scores, penalty

    def fit_generator(self, noise):
        """One update of the generator through the combined model, towards the "real" label.

        Args:
            noise: the combined model's input (for a conditional model ``[z, classes]``).
        Returns:
            ``(loss, labels, scores)`` as ``fit_critic``.
        """
        first = noise[0] if isinstance(noise, (list, tuple)) else noise
        labels = ops.full((ops.shape(first)[0], 1), self.objective.real_label, dtype="float32")

        def compute():
            scores = self.model(noise, training=True)
            return ops.mean(self.objective.generator_loss(labels, scores)), scores

        def update():
            loss, scores = self.descend(self.g_optimizer, self.generator, compute)
            return loss, labels, scores

        return keep_statistics(self.adversary, update)

    # -- single updates on given batches (the book's train_discriminator/train_generator) ----

    def critic_step(self, real):
        """One adversary update on the batch ``real`` (split across replicas) → its losses."""
        return self._on_replicas("critic", lambda real: self._critic_update(
            real, self._noise(ops.shape(real)[0])), real)

    def generator_step(self, batch_size):
        """One generator update on ``batch_size`` latent points → its losses."""
        latent = np.zeros((int(batch_size), 0), "float32")  # carries only the batch size to each replica

        def update(latent):
            losses = self._generator_update(self._noise(ops.shape(latent)[0]))
            self.after_generator_update()
            return losses

        return self._on_replicas("generator", update, latent)

    def _on_replicas(self, key, replica_fn, global_batch):
        """Run ``replica_fn`` on each replica's share of ``global_batch``; average what it returns
        (one replica off TensorFlow; on JAX, jitted as a pure function of the model's state)."""
        step = self._book_steps.get(key)
        if step is None:
            step = self._book_steps[key] = self._book_step(replica_fn)
        return np.asarray(ops.convert_to_numpy(step(global_batch)))

    def _book_step(self, replica_fn):
        backend = backends.name()
        if backend == "tensorflow":
            import tensorflow as tf

            strategy = self.distribute_strategy
            inner = tf.function(replica_fn, jit_compile=True) if self.jit_compile else replica_fn

            def replicated(batch):
                per_replica = strategy.run(inner, args=(batch,))
                return strategy.reduce(tf.distribute.ReduceOp.MEAN, per_replica, axis=None)

            replicated = tf.function(replicated)
            return lambda batch: replicated(split_across_replicas(strategy, batch))
        if backend == "jax":
            import jax

            variables = self.state_variables()
            pure = backends.pure(replica_fn, variables)
            function = pure if self.run_eagerly else jax.jit(pure)

            def step(batch):
                result, values = function([v.value for v in variables], ops.convert_to_tensor(batch))
                for variable, value in zip(variables, values):
                    variable.assign(value)
                return result

            return step
        return lambda batch: replica_fn(ops.convert_to_tensor(np.asarray(batch, dtype="float32")))

    def state_variables(self):
        """Every variable a step reads or changes: the networks', the optimizers' and the metrics'."""
        return backends.unique([*self.trainable_variables, *self.non_trainable_variables,
                                *self.optimizer_variables(), *self.metrics_variables])

    def optimizer_variables(self):
        """Every optimizer's state, in ``optimizers`` order."""
        return [v for optimizer in self.optimizers for v in optimizer.variables]


class NonFiniteUpdates(keras.metrics.Metric):
    """How many checks since the last reset found a NaN or infinite value in what they were given.

    The adversarial step checks each update's loss, variables and optimizer state
    and, at its end, every weight: a NaN need not reach the losses (a clip or a
    ReLU can drop it, depending on the CPU's kernels), so the losses alone cannot
    tell that training diverged.  Not saved with the model (metrics are not).
    """

    def __init__(self, name="non_finite_updates", **kwargs):
        super().__init__(name=name, **kwargs)
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def update_state(self, tensors):
        finite = all_finite(tensors)
        self.count.assign_add(ops.cast(ops.logical_not(finite), self.dtype))

    def result(self):
        return self.count


def all_finite(tensors):
    """One boolean: whether every floating-point tensor in ``tensors`` is free of NaN and ±inf.

    ``isfinite`` on every element: a max, min or clip could turn a NaN into a number.
    """
    checks = [ops.all(ops.isfinite(ops.convert_to_tensor(t))) for t in tensors if _floating(t)]
    return ops.all(ops.stack(checks)) if checks else ops.convert_to_tensor(True)


def _floating(tensor):
    return keras.backend.standardize_dtype(tensor.dtype).startswith(("float", "bfloat"))


class LossMeans(keras.metrics.Metric):
    """The mean of each named loss since the last reset, as ``{name: mean}``.

    One metric for all of a step's losses rather than one ``Mean`` each: Keras
    resets and reads metrics eagerly at every epoch, and the book's ``train()``
    makes every step an epoch, so two variables cost far less than sixteen.
    """

    def __init__(self, names, name="losses", **kwargs):
        super().__init__(name=name, **kwargs)
        self.names = list(names)
        self.total = self.add_variable(shape=(len(self.names),), initializer="zeros", name="total")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def update_state(self, values):
        self.total.assign_add(ops.cast(values, self.dtype))
        self.count.assign_add(ops.ones([], self.dtype))

    def result(self):
        means = self.total / ops.maximum(self.count, ops.ones([], self.dtype))
        return {name: means[i] for i, name in enumerate(self.names)}

    def get_config(self):
        return {**super().get_config(), "names": self.names}


class OptimizerStates:
    """What Keras' JAX trainer takes as ``model.optimizer``: it threads ``optimizer.variables``
    through the jitted step and writes them back; a GAN's are all its optimizers'."""

    built = True

    def __init__(self, model):
        self._model = model

    @property
    def variables(self):
        return backends.unique(self._model.optimizer_variables())


def split_across_replicas(strategy, value):
    """A global batch as per-replica slices (the first replica takes the first rows)."""
    import tensorflow as tf

    value = tf.convert_to_tensor(np.asarray(value, dtype="float32"))
    replicas = strategy.num_replicas_in_sync
    if replicas == 1:
        return value
    size = int(value.shape[0])
    if size % replicas:
        raise ValueError(
            f"batch_size={size} must be divisible by the {replicas} replicas of the "
            f"distribution strategy (each replica trains on batch_size / replicas).")
    per_replica = size // replicas

    def shard(context):
        start = context.replica_id_in_sync_group * per_replica
        return value[start: start + per_replica]

    return strategy.experimental_distribute_values_from_function(shard)
