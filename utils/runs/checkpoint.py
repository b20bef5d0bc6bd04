"""One checkpoint = one file: the model's weights and optimizer state, and its training state.

The training state (epoch, loss history, the fixed noise of the sample grids,
and which class wrote it) is stored as a group inside the Keras weights file,
so that one atomic file replacement saves all of it: weights, state and history
of a checkpoint always agree, whatever interrupts the save.  Keras' own
``load_weights`` reads such a file and ignores the extra group.

The file is built in memory and then written with plain file writes: HDF5 writing
to a full disk raises a ``RuntimeError`` instead of an ``OSError`` and leaves
objects that fail again when they are freed (at exit, a segmentation fault);
a plain write fails once, with the disk's ``OSError``, which the run folder names.
"""

import io

import h5py
import numpy as np

from utils.runs.folder import replace_atomically

STATE_GROUP = "gdl_training_state"


def write_checkpoint(model, path):
    """Save ``model`` (weights, optimizer slots, epoch, losses, fixed noise, the batch size it
    trains at) to ``path`` atomically.

    Args:
        model: a model of this project (``epoch``, ``fixed_noise``, ``d_losses``,
            ``d_loss_names``, ``g_losses``, ``g_loss_names``).
        path: the checkpoint file; its name ends in ``.weights.h5``.
    Returns:
        ``path``, as a ``Path``.
    """

    def write(tmp):
        buffer = weights_in_memory(model)
        if buffer is None:  # Keras' saving steps moved: its own file write (see weights_in_memory)
            model.save_weights(tmp)
            buffer = io.BytesIO(open(tmp, "rb").read())
        with h5py.File(buffer, "a") as f:
            state = f.create_group(STATE_GROUP)
            state.attrs["epoch"] = int(model.epoch)
            state.attrs["model_class"] = type(model).__name__
            if getattr(model, "trained_batch_size", None):
                state.attrs["batch_size"] = int(model.trained_batch_size)
            state.create_dataset("fixed_noise", data=np.asarray(model.fixed_noise, dtype="float32"))
            state.create_dataset("d_losses", data=loss_table(model.d_losses, model.d_loss_names))
            state.create_dataset("g_losses", data=loss_table(model.g_losses, model.g_loss_names))
        with open(tmp, "wb") as f:
            f.write(buffer.getbuffer())

    return replace_atomically(path, write)


def weights_in_memory(model):
    """What ``model.save_weights`` writes to a ``.weights.h5`` file, as an in-memory HDF5 file.

    Keras' own saving steps (``saving_lib``'s weights store and state walk), pointed at a
    ``BytesIO``: ``save_weights`` itself takes only a path.  This module and
    ``utils.evaluation.determinism`` are the two that use Keras' or TensorFlow's private API;
    should these steps move, this returns None and the checkpoint is written by
    ``save_weights`` itself (a full disk may then end in HDF5's error: never a lost checkpoint).

    Returns:
        A ``BytesIO`` holding the HDF5 file, or None where Keras' steps are not found.
    """
    try:
        from keras.src.saving import saving_lib

        store_class, save_state = saving_lib.H5IOStore, saving_lib._save_state
    except (ImportError, AttributeError):  # pragma: no cover - private API moved
        return None
    buffer = io.BytesIO()
    store = store_class(buffer, mode="w")
    save_state(model, store, None, "", set())
    store.close()
    return buffer


def non_finite_weights(model):
    """The paths of the model's weights (and, where the model says what a checkpoint holds, its
    optimizer state) holding NaN or infinite values: never saved, never loaded.

    Args:
        model: a Keras model; its ``non_finite_state()`` answers when it has one.
    Returns:
        A list of variable paths (strings); empty when every value is finite.
    """
    state = getattr(model, "non_finite_state", None)
    if state is not None:
        return state()
    return [w.path for w in model.weights if not np.isfinite(np.asarray(w.numpy(), dtype="float64")).all()]


def loss_table(losses, names):
    """A loss history (one list, or one number, per epoch) as an (epochs, len(names)) array.

    Args:
        losses: one entry per epoch: a number, or a list of ``len(names)`` numbers.
        names: the names of the losses, one per column.
    Returns:
        float64 array (len(losses), len(names)).
    Raises:
        ValueError: the entries do not hold ``len(names)`` numbers each.
    """
    return np.asarray(losses, dtype="float64").reshape(len(losses), len(names))


def read_training_state(path):
    """The training state saved in a checkpoint, or None for a plain weights file.

    Args:
        path: the ``.weights.h5`` file.
    Returns:
        A dict: ``epoch`` (int), ``model_class`` (str), ``batch_size`` (int, or None when not
        recorded), ``fixed_noise`` (float32 array), ``d_losses`` and ``g_losses`` (lists of
        rows, one per epoch); or None.
    Raises:
        OSError: the file cannot be read as HDF5.
        KeyError: the state group is incomplete.
    """
    with h5py.File(path, "r") as f:
        if STATE_GROUP not in f:
            return None
        state = f[STATE_GROUP]
        return {
            "epoch": int(state.attrs["epoch"]),
            "model_class": str(state.attrs["model_class"]),
            "batch_size": int(state.attrs["batch_size"]) if "batch_size" in state.attrs else None,
            "fixed_noise": np.asarray(state["fixed_noise"], dtype="float32"),
            "d_losses": np.asarray(state["d_losses"]).tolist(),
            "g_losses": np.asarray(state["g_losses"]).tolist(),
        }
