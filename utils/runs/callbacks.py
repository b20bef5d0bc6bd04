"""Keras callbacks that write the run folder and keep a run safe to stop.

They work from the book's ``train()`` and from a plain ``fit()`` alike::

    gan.fit(dataset, epochs=..., callbacks=run_callbacks(gan, RunFolder('run/gan/0001_camel'), every=50))

``every`` counts Keras epochs; the book's ``train()`` makes each Keras epoch
one step (one of the book's "epochs"), so ``every`` is its ``print_every_n_batches``.
In a multi-worker cluster only the chief writes (``is_chief``).
"""

import json
import signal
import threading

import numpy as np
import tensorflow as tf
import keras

from models.core.guards import WEIGHT_LIMIT
from utils import plotting
from utils.runs.checkpoint import loss_table, non_finite_weights, read_training_state, write_checkpoint
from utils.runs.folder import replace_atomically


class TrainingInterrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM stopped training after a whole step, and the run was saved.

    Args:
        signum: the number of the signal received.
        epoch: the model's epoch when training stopped.
        folder: the run folder the run was saved in.
    """

    def __init__(self, signum, epoch, folder):
        self.signum, self.epoch, self.folder = signum, epoch, folder
        name = signal.Signals(signum).name
        super().__init__(f"{name} received: stopped after epoch {epoch} and saved the run in "
                         f"{folder}. Continue it with load_model(<class>, '{folder}') and train(...).")


class TrainingDiverged(FloatingPointError):
    """A loss, weight or optimizer state became NaN or infinite; nothing non-finite was saved.

    ``kept_epoch`` is the epoch of the last good checkpoint in the run folder, None if none;
    ``lower`` the settings to train with instead, ``{flag: value}`` (a command's flags).

    Args:
        message: what went non-finite, at which epoch, and what the run folder keeps.
        kept_epoch: as above.
        lower: as above.
    """

    def __init__(self, message, kept_epoch=None, lower=None):
        super().__init__(message)
        self.kept_epoch = kept_epoch
        self.lower = dict(lower or {})


def is_chief(strategy=None):
    """Whether this process writes the run folder: yes, unless ``strategy`` (a ``tf.distribute``
    strategy, or a model whose strategy to ask) spans a cluster and this process is not its chief.

    The cluster is known only through the strategy, never read from ``TF_CONFIG`` directly:
    a ``TF_CONFIG`` left in the environment of a run that did not ask for distribution
    must not stop it from saving.

    Args:
        strategy: a ``tf.distribute`` strategy, a ``keras.Model`` (its ``strategy``: None off
            TensorFlow), or None (a single process: the chief).
    Returns:
        True for the chief (or the first worker of a cluster without one), False otherwise.
    """
    if isinstance(strategy, keras.Model):
        strategy = getattr(strategy, "strategy", None)
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type or resolver.task_type == "chief":
        return True
    cluster = resolver.cluster_spec().as_dict()
    return resolver.task_type == "worker" and "chief" not in cluster and int(resolver.task_id or 0) == 0


def _last_losses_finite(model):
    last = [losses[-1] for losses in (model.d_losses, model.g_losses) if losses]
    return all(np.isfinite(np.asarray(values, dtype="float64")).all() for values in last)


def _non_finite_updates(model):
    """Updates this epoch that left something NaN or infinite, by the model's own guard (0 for a
    model without one)."""
    guard = getattr(model, "non_finite_updates", None)
    return guard() if guard is not None else 0


def _sound(model):
    """Whether the model's last step left its losses, weights and optimizer state finite."""
    return (_last_losses_finite(model) and not _non_finite_updates(model)
            and not non_finite_weights(model) and not _exploded(model))


def _examples(paths, shown=3):
    """The first ``shown`` variable paths, and how many more."""
    more = len(paths) - shown
    return ", ".join(paths[:shown]) + (f" and {more} more" if more > 0 else "")


def _exploded(model):
    """The paths of the model's trained weights gone beyond what any run trains on from."""
    exploded = getattr(model, "exploded_weights", None)
    return exploded() if exploded is not None else []


class SampleGrid(keras.callbacks.Callback):
    """The model's sample grid (``sample_batch``: 5×5 from its fixed noise for the chapter's
    models) every ``every`` epochs (``images/sample_<epoch>.png``)
    and at the end, also as an image in TensorBoard when ``tensorboard`` is set.

    Args:
        folder: the ``RunFolder``.
        every: save a grid after each Keras epoch whose index is a multiple of this.
        tensorboard: also log the grid to TensorBoard, under ``logs/samples``.
    """

    def __init__(self, folder, every, tensorboard=True):
        super().__init__()
        self.folder, self.every, self.tensorboard = folder, every, tensorboard
        self._writer = None

    def on_epoch_end(self, epoch, logs=None):
        if epoch % self.every == 0:
            self.save(epoch)

    def on_train_end(self, logs=None):
        self.save(self.model.epoch)
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def save(self, epoch):
        """Save the grid as ``images/sample_<epoch>.png``, unless the model or the grid is not finite.

        Args:
            epoch: the number in the file's name, and the TensorBoard step.
        Returns:
            The grid's ``Path``, or None when nothing was saved (not the chief, or non-finite).
        """
        if not is_chief(self.model):
            return None
        if not _sound(self.model):
            return None  # a diverging run: keep the last good grid
        images, (rows, cols) = self.model.sample_batch()
        if not np.isfinite(images).all():
            return None
        grid = plotting.tile_images(images, rows, cols)
        with self.folder.writing("a sample grid"):
            path = self.folder.save_sample_grid(grid, epoch)
        if self.tensorboard:
            if self._writer is None:
                self._writer = tf.summary.create_file_writer(str(self.folder.logs / "samples"))
            with self._writer.as_default():
                tf.summary.image("samples", grid[None], step=epoch)
        return path


class Checkpoint(keras.callbacks.Callback):
    """Every ``every`` epochs and when training ends: the checkpoint (weights, optimizer and
    training state, one file), then ``history.json`` and ``losses.png`` from the same state.

    Non-finite weights or losses are never saved: the last good checkpoint stays.

    Args:
        folder: the ``RunFolder``.
        every: save after each Keras epoch whose index is a multiple of this.
    """

    def __init__(self, folder, every):
        super().__init__()
        self.folder, self.every = folder, every
        self.saved_epoch = self.refused_epoch = None

    def on_epoch_end(self, epoch, logs=None):
        if epoch % self.every == 0:
            self.save()

    def on_train_end(self, logs=None):
        self.save()

    def save(self):
        model = self.model
        if not is_chief(model) or self.saved_epoch == model.epoch:
            return False
        if not _sound(model):
            if self.refused_epoch != model.epoch:
                kept = (f"{self.folder.checkpoint} keeps the last good checkpoint" if self.folder.holds_run()
                        else "no checkpoint had been saved yet")
                print(f"\nNot saved: epoch {model.epoch} has non-finite losses, weights or optimizer state, "
                      f"or weights beyond {WEIGHT_LIMIT:g}; {kept}.")
                self.refused_epoch = model.epoch
            return False
        with self.folder.writing("the checkpoint"):
            self.folder.weights.mkdir(parents=True, exist_ok=True)
            write_checkpoint(model, self.folder.checkpoint)
            replace_atomically(self.folder.history, lambda tmp: _write_history(model, tmp))
            replace_atomically(self.folder.loss_plot, lambda tmp: plotting.save_loss_plot(
                loss_panels(model), tmp, title=f"{type(model).__name__} training"))
        self.saved_epoch = model.epoch
        return True


def _write_history(model, path):
    with open(path, "w") as f:
        json.dump({
            "epoch": model.epoch,
            "d_loss_names": list(model.d_loss_names),
            "g_loss_names": list(model.g_loss_names),
            "d_losses": model.d_losses,
            "g_losses": model.g_losses,
        }, f)


def loss_panels(model):
    """Named series for the loss plot: a 'loss' panel, and an 'accuracy' one for the GAN.

    Args:
        model: a model with ``d_loss_names``, ``d_losses``, ``g_loss_names`` and ``g_losses``.
    Returns:
        ``{panel: {series name: float64 array, one value per epoch}}``, as ``save_loss_plot`` takes.
    """
    panels = {"loss": {}}
    for names, history in ((model.d_loss_names, model.d_losses), (model.g_loss_names, model.g_losses)):
        values = loss_table(history, names)
        for k, name in enumerate(names):
            panel = "accuracy" if "acc" in name else "loss"
            panels.setdefault(panel, {})[name] = values[:, k]
    return panels


class StopOnDivergence(keras.callbacks.Callback):
    """Stop after the first step that left a loss, a weight or an optimizer's state NaN or
    infinite, or a trained weight beyond any sound run's (``models.core.guards.WEIGHT_LIMIT``);
    ``message`` names the epoch, what went wrong, what the run folder keeps and what to lower
    (the model's ``divergence_advice``: the settings out of their usual range).

    The losses come from the step's logs, the rest from the model's own guard
    (``non_finite_updates``: each update checked on the device, one number read
    per step) and, once it fires, from the variables themselves (``non_finite_state``).

    Args:
        folder: the ``RunFolder`` whose last good checkpoint the message names; None: no folder.
    """

    def __init__(self, folder=None):
        super().__init__()
        self.folder = folder
        self.message = self.kept_epoch = None
        self.lower = {}
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        losses = [f"{name} is {float(value)}" for name, value in (logs or {}).items()
                  if not np.isfinite(float(value))]
        if not losses and not _non_finite_updates(self.model):
            return
        found = losses + self._non_finite_variables() + self._exploded_variables()
        if not found:
            found = ["an update's loss or weights were NaN or infinite (since clipped or overwritten)"]
        advice = getattr(self.model, "divergence_advice", None)
        advice, self.lower = advice() if advice is not None else ("Lower the learning rates", {})
        self.message = (f"Training diverged at epoch {self._epoch}: {'; '.join(found)}. "
                        f"Training stopped{self._kept()}. {advice}, or check the data for NaN or "
                        "infinite values.")
        self.model.stop_training = True

    def _exploded_variables(self):
        paths = _exploded(self.model)
        return [f"{len(paths)} weight(s) grew beyond {WEIGHT_LIMIT:g} ({_examples(paths)})"] if paths else []

    def _non_finite_variables(self):
        paths = non_finite_weights(self.model)
        if not paths:
            return []
        owners = sorted({path.split("/")[0] for path in paths})
        return [f"{len(paths)} variable(s) of {', '.join(owners)} are NaN or infinite ({_examples(paths)})"]

    def _kept(self):
        if self.folder is None:
            return ""
        try:
            state = read_training_state(self.folder.checkpoint)
        except (OSError, KeyError, ValueError):
            state = None
        if state is None:
            return "; the run folder holds no checkpoint to continue from"
        self.kept_epoch = state["epoch"]
        return f"; {self.folder.checkpoint} keeps the last good checkpoint (epoch {state['epoch']})"


class StopOnSignal(keras.callbacks.Callback):
    """SIGINT (Ctrl-C) and SIGTERM (``kill``, SLURM, Kubernetes) finish the current step, then stop.

    The callbacks before it save the run as training ends.  A second Ctrl-C
    stops at once (``KeyboardInterrupt``); saves are atomic, so the last
    checkpoint still loads.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        super().__init__()
        self.received = None
        self._previous = {}
        self._any_worker = None

    def on_train_begin(self, logs=None):
        self.received = None
        if threading.current_thread() is not threading.main_thread():
            return  # only the main thread may handle signals
        for signum in self.SIGNALS:
            self._previous[signum] = signal.signal(signum, self._handle)

    def _handle(self, signum, frame):
        if self.received is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.received = signum
        print(f"\n{signal.Signals(signum).name} received: finishing this step, then saving "
              "(Ctrl-C again to stop at once).", flush=True)

    def on_train_batch_end(self, batch, logs=None):
        stop = self.received is not None
        if isinstance(getattr(self.model, "strategy", None), tf.distribute.MultiWorkerMirroredStrategy):
            # Every worker must stop after the same step, or the others wait for it forever.
            stop = self._stop_anywhere(stop)
            if stop and self.received is None:
                self.received = signal.SIGTERM  # another worker of the cluster was told to stop
        if stop:
            self.model.stop_training = True

    def _stop_anywhere(self, stop):
        """Whether any worker of the cluster received a signal (one all-reduce of a flag)."""
        strategy = self.model.strategy
        if self._any_worker is None:
            def any_worker(flag):
                flags = strategy.run(tf.identity, args=(flag,))
                return strategy.reduce(tf.distribute.ReduceOp.SUM, flags, axis=None) > 0

            self._any_worker = tf.function(any_worker)
        return bool(self._any_worker(tf.constant(float(stop))))

    def on_train_end(self, logs=None):
        self.restore()

    def restore(self):
        """Put the previous handlers back (also when training ends with an exception)."""
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}


class RunProgress(keras.callbacks.Callback):
    """One progress bar for the whole run, however many Keras epochs it has.

    Args:
        epochs: the number of epochs the bar counts to.
        names: the keys of the epoch logs shown beside the bar.
    """

    def __init__(self, epochs, names):
        super().__init__()
        self.epochs, self.names = epochs, list(names)
        self._bar, self._first = None, None

    def on_train_begin(self, logs=None):
        self._bar = keras.utils.Progbar(self.epochs, stateful_metrics=self.names, unit_name="epoch")
        self._first = None

    def on_epoch_end(self, epoch, logs=None):
        if self._first is None:
            self._first = epoch
        logs = logs or {}
        self._bar.update(epoch - self._first + 1,
                         values=[(name, float(logs[name])) for name in self.names if name in logs])


def run_callbacks(model, folder, every, epochs=None, tensorboard=True):
    """The callbacks that keep a run folder: divergence check, grids, checkpoint, TensorBoard,
    one progress bar (when ``epochs`` is given) and safe stopping, in the order they must run.

    Args:
        model: the model that will train (its strategy says whether this process writes).
        folder: the ``RunFolder``.
        every: grids and checkpoints every this many epochs.
        epochs: the epochs of this ``fit``, for the progress bar; None: no bar.
        tensorboard: also write TensorBoard logs (losses and grids) under ``logs/``.
    Returns:
        A list of callbacks, ``StopOnDivergence`` first and ``StopOnSignal`` last.
    """
    callbacks = [StopOnDivergence(folder), SampleGrid(folder, every, tensorboard), Checkpoint(folder, every)]
    if tensorboard and is_chief(model):
        callbacks.append(keras.callbacks.TensorBoard(log_dir=str(folder.logs), write_graph=False,
                                                     profile_batch=0))
    if epochs is not None:
        callbacks.append(RunProgress(epochs, model.progress_names()))
    callbacks.append(StopOnSignal())  # last: its handlers stay in place while the others save
    return callbacks
