"""Rebuild a model from a run folder written by ``save`` and ``train``."""

import json
import os
import pickle


class _NoGlobalsUnpickler(pickle.Unpickler):
    """params.pkl holds only lists, tuples, numbers and strings: refuse anything that imports."""

    def find_class(self, module, name):
        raise pickle.UnpicklingError(
            f"params.pkl refers to {module}.{name}; only plain values are allowed "
            f"(it may not come from this project, so it is not loaded)."
        )


def read_params(folder):
    """The constructor arguments: ``params.json`` (a dict), else the book's ``params.pkl`` (a list)."""
    json_path = os.path.join(folder, "params.json")
    pkl_path = os.path.join(folder, "params.pkl")
    if os.path.exists(json_path):
        with open(json_path) as f:
            return json.load(f)
    if os.path.exists(pkl_path):
        with open(pkl_path, "rb") as f:
            return _NoGlobalsUnpickler(f).load()
    raise FileNotFoundError(
        f"No params.json or params.pkl in {folder}: it is not a saved run. "
        f"model.save(run_folder) writes them before training."
    )


def load_model(model_class, folder, **options):
    """Rebuild ``model_class`` from ``folder``, load its weights and, if saved, its training state.

    With the training state (optimizer slots, epoch, loss history, fixed noise)
    a further ``train`` call continues the run exactly where it stopped.
    ``options`` are the keyword-only extras (``mixed_precision``, ``strategy``...).
    """
    folder = str(folder)
    params = read_params(folder)
    if isinstance(params, dict):
        model = model_class(**params, **options)
    else:
        model = model_class(*params, **options)
    model.load_weights(os.path.join(folder, "weights", "weights.weights.h5"))
    model.restore_training_state(folder)
    return model
