"""A training run into a run folder: what surrounds ``fit()`` so that a run loses nothing.

The folder is held (``RunFolder.locked``, taken once) while the run trains, a saved run of
another model is never replaced, leftovers of a save that ``kill -9`` cut short
are removed, the run folder's callbacks save grids, checkpoints and history,
and a divergence or a signal ends the run with an exception that says what was
kept.  The book's ``train`` and a command both train through ``train_run``; the
model only says how its batches are made.
"""

import contextlib
import sys

import numpy as np

from utils.runs.callbacks import TrainingDiverged, TrainingInterrupted, is_chief, run_callbacks
from utils.runs.folder import RunFolder, RunFolderTaken
from utils.runs.saved import checked_training_state, options_against_record, recorded_options


def train_run(model, dataset, run_folder, epochs, every, callbacks=(), tensorboard=True):
    """``model.fit(dataset)`` for ``epochs`` more one-step epochs, keeping ``run_folder``.

    Args:
        model: a model of this project (``d_losses``, ``epoch``, ``fixed_noise``...).
        dataset: the endless ``tf.data.Dataset`` of its batches.
        run_folder: where the run lives: a path, or a ``RunFolder`` (held already, or taken here).
        epochs: how many more epochs (steps) to train, counted from ``model.epoch``.
        every: grids and checkpoints every this many epochs.
        callbacks: more Keras callbacks, after the run folder's own.
        tensorboard: also write TensorBoard logs (losses and sample grids) under ``logs/``.
    Returns:
        ``fit``'s ``History``.
    Raises:
        TrainingDiverged: a step left something non-finite; nothing non-finite was saved.
        TrainingInterrupted: SIGINT or SIGTERM stopped the run after a whole step, saved.
        RunFolderTaken: the folder holds another model's run.
        RunFolderBusy: another process holds the folder.
    """
    folder = run_folder if isinstance(run_folder, RunFolder) else RunFolder(run_folder)
    # In a cluster only the chief writes the run folder, so only it holds the folder; a
    # command that already holds it (to build or load the model there) passes it on held.
    chief = is_chief(model)
    holding = folder.locked() if chief and not folder.held else contextlib.nullcontext()
    with holding:
        refuse_another_run(model, folder)
        folder.make()
        if chief:
            keep_options_recorded(model, folder)
        if chief:
            # Only the holder clears what a killed save left: another worker would delete the
            # temporary file of a save the chief is writing at that moment.
            folder.remove_leftovers()
        saving = run_callbacks(model, folder, every=every, epochs=epochs, tensorboard=tensorboard)
        divergence, stop = saving[0], saving[-1]
        first = model.epoch
        try:
            history = model.fit(dataset, initial_epoch=first, epochs=first + epochs, steps_per_epoch=1,
                                shuffle=False, verbose=0, callbacks=[*saving, *callbacks])
        finally:
            stop.restore()
    if divergence.message:
        raise TrainingDiverged(divergence.message, divergence.kept_epoch, divergence.lower)
    if stop.received is not None:
        raise TrainingInterrupted(stop.received, model.epoch, folder)
    return history


def keep_options_recorded(model, folder):
    """``run.json`` follows the model that trains into the folder: options it was loaded with that
    differ from those recorded (a new R1 weight, other hacks) are written there and said, so that
    ``run.json`` and the checkpoints that follow agree."""
    if not hasattr(model, "model_options"):
        return
    existed = folder.run_record.exists()
    current, changed = options_against_record(model, recorded_options(folder) if existed else {})
    if not changed:
        return
    with folder.writing("run.json"):
        folder.write_run_record(type(model).__name__, current)
    if existed:
        print(f"Note: {folder.run_record} now records {', '.join(changed.values())}: the run trains on "
              f"with them from epoch {model.epoch}.", file=sys.stderr)


def refuse_another_run(model, folder):
    """A folder's saved run is continued by the model it saved, never replaced by another.

    Args:
        model: the model about to train (its class, ``epoch`` and ``fixed_noise`` are compared).
        folder: the ``RunFolder``.
    Raises:
        RunFolderTaken: the folder's checkpoint is not this model's run at its epoch.
        SavedRunError: the folder's checkpoint is damaged.
    """
    if not folder.holds_run():
        return
    state = checked_training_state(folder.checkpoint)
    if (state is not None and state["model_class"] == type(model).__name__
            and state["epoch"] == model.epoch and np.array_equal(state["fixed_noise"], model.fixed_noise)):
        return
    epoch = f" at epoch {state['epoch']}" if state else ""
    raise RunFolderTaken(
        f"{folder} already holds a saved run{epoch}, which this model is not: training here "
        f"would replace it. Continue that run with load_model({type(model).__name__}, "
        f"'{folder}') (in the book's notebooks: mode = 'load'), or use another run folder.")
