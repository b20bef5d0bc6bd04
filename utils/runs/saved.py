"""Rebuild a model from a run folder written by ``save`` and ``train``."""

import json
import pickle

from utils.runs.folder import RunFolder


class _NoGlobalsUnpickler(pickle.Unpickler):
    """params.pkl holds only lists, tuples, numbers and strings: refuse anything that imports."""

    def find_class(self, module, name):
        raise pickle.UnpicklingError(
            f"params.pkl refers to {module}.{name}; only plain values are allowed "
            f"(it may not come from this project, so it is not loaded)."
        )


def read_params(folder):
    """The constructor arguments: ``params.json`` (a dict), else the book's ``params.pkl`` (a list)."""
    folder = RunFolder(folder)
    if folder.params_json.exists():
        with open(folder.params_json) as f:
            return json.load(f)
    if folder.params_pkl.exists():
        with open(folder.params_pkl, "rb") as f:
            return _NoGlobalsUnpickler(f).load()
    raise FileNotFoundError(
        f"No params.json or params.pkl in {folder}: it is not a saved run. "
        f"model.save(run_folder) writes them before training."
    )


def load_model(model_class, folder, **options):
    """Rebuild ``model_class`` from ``folder`` and load its checkpoint.

    The checkpoint holds the weights, the optimizer state and the training state
    (epoch, loss history, fixed noise), so a further ``train`` call continues
    the run exactly where it stopped.  ``options`` are the keyword-only extras
    (``mixed_precision``, ``strategy``...).
    """
    folder = RunFolder(folder)
    params = read_params(folder)
    if isinstance(params, dict):
        model = model_class(**params, **options)
    else:
        model = model_class(*params, **options)
    model.load_weights(folder.checkpoint)
    return model
