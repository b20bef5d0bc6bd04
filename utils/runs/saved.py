"""Rebuild a model from a run folder written by ``save`` and ``train``, checking everything it reads.

Each file is checked before it is trusted, and each failure names the file
and what to do: a folder that is not a run, params of another model class, a
damaged or truncated file, a checkpoint written by another class, or one
holding non-finite weights.
"""

import json
import pickle


from utils.runs.checkpoint import non_finite_weights, read_training_state
from utils.runs.folder import RunFolder


class SavedRunError(ValueError):
    """A run folder cannot be loaded as it is; the message names the file and the fix."""


class RefusedGlobal(pickle.UnpicklingError):
    """params.pkl refers to a class or function, which is never loaded."""


class _NoGlobalsUnpickler(pickle.Unpickler):
    """params.pkl holds only lists, tuples, numbers and strings: refuse anything that imports."""

    def find_class(self, module, name):
        raise RefusedGlobal(
            f"params.pkl refers to {module}.{name}; only plain values are allowed "
            f"(it may not come from this project, so it is not loaded)."
        )


def read_params(folder):
    """The constructor arguments: ``params.json`` (a dict), else the book's ``params.pkl`` (a list).

    Args:
        folder: the run folder, a path or a ``RunFolder``.
    Returns:
        A dict of arguments by name, or the book's list of them in order.
    Raises:
        SavedRunError: ``params.json`` is not a JSON object, or ``params.pkl`` is damaged.
        pickle.UnpicklingError: ``params.pkl`` refers to anything but plain values.
        FileNotFoundError: the folder holds neither file.
    """
    folder = RunFolder(folder)
    if folder.params_json.exists():
        params = _read_json(folder.params_json, "restore it from a backup, or delete it to fall back on params.pkl")
        if not isinstance(params, dict):
            raise SavedRunError(f"{folder.params_json} should hold the constructor's arguments by name.")
        return params
    if folder.params_pkl.exists():
        with open(folder.params_pkl, "rb") as f:
            try:
                return _NoGlobalsUnpickler(f).load()
            except RefusedGlobal:
                raise  # names what it referred to
            except Exception as error:
                raise SavedRunError(f"{folder.params_pkl} is damaged ({error}).") from None
    raise FileNotFoundError(
        f"No params.json or params.pkl in {folder}: it is not a saved run. "
        f"model.save(run_folder) writes them before training."
    )


def _read_json(path, fix):
    """A JSON file of a run folder; a damaged one is named, with ``fix``."""
    try:
        with open(path) as f:
            return json.load(f)
    except (ValueError, UnicodeDecodeError) as error:
        raise SavedRunError(f"{path} is not valid JSON ({error}); {fix}.") from None


def recorded_class(folder):
    """The name of the model class that wrote the run, or None where nothing records it.

    Args:
        folder: the run folder, a path or a ``RunFolder``.
    Returns:
        The class name from ``run.json``, else from the checkpoint; or None.
    Raises:
        SavedRunError: ``run.json`` or the checkpoint is damaged.
    """
    folder = RunFolder(folder)
    if folder.run_record.exists():
        from utils.chapters import model_classes

        fix = (f'it should hold {{"model_class": "GAN"}} (or another of '
               f'{", ".join(sorted(model_classes()))})')
        record = _read_json(folder.run_record, fix)
        if not isinstance(record, dict) or "model_class" not in record:
            raise SavedRunError(f"{folder.run_record} is damaged: {fix}.")
        return record["model_class"]
    if folder.checkpoint.exists():
        state = checked_training_state(folder.checkpoint)
        return state["model_class"] if state else None
    return None


def check_checkpoint_class(folder, recorded):
    """Refuse a checkpoint written by another class than the run records (one copied from
    another run): it would load as this run at the other run's epoch.

    Args:
        folder: the run folder, a path or a ``RunFolder``.
        recorded: the class name the run records (``recorded_class``); None checks nothing.
    Raises:
        SavedRunError: the checkpoint names another class, or is damaged.
    """
    folder = RunFolder(folder)
    if recorded is None or not folder.checkpoint.exists():
        return
    state = checked_training_state(folder.checkpoint)
    wrote = state["model_class"] if state else None
    if wrote is not None and wrote != recorded:
        raise SavedRunError(
            f"{folder.checkpoint} was written by a {wrote}, but {folder.run_record.name} records a "
            f"{recorded} run: the checkpoint comes from another run. Put back this run's own "
            f"checkpoint, or move this one to its {wrote} run's folder.")


def recorded_options(folder):
    """The model options (``BookModel.model_options``) the run was saved with; {} for older runs.

    Args:
        folder: the run folder, a path or a ``RunFolder``.
    Returns:
        A dict of options by name; empty without ``run.json`` or options in it.
    Raises:
        SavedRunError: ``run.json`` or its ``"options"`` is damaged.
    """
    folder = RunFolder(folder)
    if not folder.run_record.exists():
        return {}
    record = _read_json(folder.run_record, 'it should hold {"model_class": ..., "options": {...}}')
    options = record.get("options", {}) if isinstance(record, dict) else {}
    if not isinstance(options, dict):
        raise SavedRunError(f"{folder.run_record} is damaged: its \"options\" should be a JSON object.")
    return options


def options_against_record(model, recorded):
    """The model's options as ``run.json`` keeps them (plain JSON values), and those that differ
    from ``recorded`` (run.json's options) as ``{name: "name value (was old)"}``."""
    current = json.loads(json.dumps(model.model_options()))
    return current, {name: f"{name} {value!r} (was {recorded.get(name)!r})"
                     for name, value in current.items() if recorded.get(name) != value}


def checked_training_state(path):
    """The training state of a checkpoint, with a clear error for a damaged file.

    Args:
        path: the checkpoint file.
    Returns:
        ``read_training_state``'s dict, or None for a plain weights file.
    Raises:
        SavedRunError: the file cannot be read, or its training state is incomplete.
    """
    try:
        return read_training_state(path)
    except (OSError, KeyError, ValueError) as error:
        raise SavedRunError(
            f"{path} is damaged or incomplete ({error}). Restore it from a backup, or start the "
            f"run again in another folder.") from None


def check_finite_weights(model, path):
    """Refuse weights holding NaN or infinity: the run diverged before the file was written.

    Args:
        model: the model, its weights loaded.
        path: the file they were loaded from, for the message.
    Raises:
        SavedRunError: a weight (or saved optimizer state) is not finite.
    """
    bad = non_finite_weights(model)
    if bad:
        raise SavedRunError(
            f"{path} holds non-finite weights ({', '.join(bad[:3])}{'...' if len(bad) > 3 else ''}): "
            f"the run diverged before this file was written. Use an earlier checkpoint.")


def load_model(model_class, folder, **options):
    """Rebuild ``model_class`` from ``folder`` and load its checkpoint.

    The checkpoint holds the weights, the optimizer state and the training state
    (epoch, loss history, fixed noise), so a further ``train`` call continues
    the run exactly where it stopped.  ``options`` are the keyword-only extras
    (``mixed_precision``, ``strategy``...); the model options saved with the run
    (the GAN hacks) are passed too, unless ``options`` names them.

    Args:
        model_class: the model's class (``GAN``, ``WGAN``...), which wrote the run.
        folder: the run folder, a path or a ``RunFolder``.
        **options: keyword-only constructor options; they win over the recorded ones.
    Returns:
        The model, with the checkpoint's weights, optimizer and training state.
    Raises:
        SavedRunError: a file is damaged, the run or its params belong to another class, the
            checkpoint does not fit the model, or it holds non-finite weights.
        FileNotFoundError: the folder holds no params or no checkpoint.
        pickle.UnpicklingError: ``params.pkl`` refers to anything but plain values.
    """
    folder = RunFolder(folder)
    writer = recorded_class(folder)
    check_checkpoint_class(folder, writer)
    if writer is not None and writer != model_class.__name__:
        raise SavedRunError(
            f"{folder} holds a {writer} run, not a {model_class.__name__} one: load it with "
            f"load_model({writer}, ...) (or resume it with its own command).")
    params = read_params(folder)
    expected = model_class.param_names()
    given = list(params) if isinstance(params, dict) else None
    if (given is not None and set(given) != set(expected)) or (given is None and len(params) != len(expected)):
        source = folder.params_json if given is not None else folder.params_pkl
        said = f" although {folder.run_record.name} says {writer}" if writer else ""
        raise SavedRunError(
            f"{source} does not fit {model_class.__name__}'s constructor ({', '.join(expected)}){said}: "
            f"the params were written by another model.")
    recorded = recorded_options(folder)
    if not folder.run_record.exists() and folder.checkpoint.exists() and not options:
        raise SavedRunError(
            f"{folder.run_record} is missing: it records the options the run was built with (its loss, "
            f"the recipe's parts), without which its checkpoint cannot be read right. Restore it, or "
            f"pass the run's options to load_model (e.g. loss='hinge', ema=0.999).")
    from models.recipe.options import checkpoint_differences

    differ = checkpoint_differences(recorded, options) if folder.run_record.exists() else {}
    if differ:
        said = ", ".join(f"{name}={new!r} (the run has {old!r})" for name, (old, new) in differ.items())
        raise SavedRunError(
            f"load_model({model_class.__name__}, '{folder}', {said}): that would change what the run's "
            f"checkpoint holds, so it could not be saved back into the run. Load it without "
            f"{', '.join(differ)}, or start a new run.")
    options = {**recorded, **options}  # what the caller says wins
    model = model_class(**params, **options) if given is not None else model_class(*params, **options)
    if not folder.checkpoint.exists():
        raise FileNotFoundError(
            f"No checkpoint in {folder}: {folder.checkpoint} is written by train(), every "
            f"print_every_n_batches epochs. Train first, or point at another run.")
    # The checkpoint's training state was read and checked above (its class, or run.json's).
    try:
        model.load_weights(folder.checkpoint)
    except (OSError, ValueError) as error:
        if not folder.run_record.exists():
            raise SavedRunError(
                f"{folder.checkpoint} does not fit a {model_class.__name__} built with the options "
                f"given ({error}), and {folder.run_record.name}, which records the run's, is missing: "
                f"restore it, or pass the run's options to load_model.") from None
        raise SavedRunError(
            f"{folder.checkpoint} cannot be loaded into a {model_class.__name__} built from "
            f"{folder.params_json.name} and {folder.run_record.name} ({error}). If either was edited, "
            f"restore it (they say how the run was built); otherwise restore the checkpoint from a "
            f"backup, or start again in another folder.") from None
    check_finite_weights(model, folder.checkpoint)
    return model
