"""The run folder: one object that knows where everything of a training run lives.

``run/<section>/<run id>_<data>/`` (the book's layout, e.g. ``run/gan/0001_camel``)::

    params.json, params.pkl       the constructor's arguments (``save``)
    images/sample_<epoch>.png     5×5 grids from one fixed noise batch
    weights/weights.weights.h5    the checkpoint: weights, optimizer state, training state
    history.json, losses.png      the loss history of that checkpoint, as data and as a plot
    quality.json, quality.png     sample quality scored while training (``QualityMonitor``)
    data.json                     which data the run trains on (the commands write it)
    eval/                         ``gdl-eval``'s measures, pictures and summary
    logs/                         TensorBoard (``tensorboard --logdir run/``)
    viz/                          model diagrams and summaries
    generator.keras, ...          whole networks (``save_model``)

Commands, ``load_model``, callbacks and notebooks ask this object for paths
instead of spelling them.  Every file is replaced atomically (``replace_atomically``).
"""

import contextlib
import fcntl
import json
import os
from pathlib import Path

from utils.paths import run_root

CHECKPOINT_NAME = "weights.weights.h5"


class RunFolderBusy(RuntimeError):
    """Another process is training into this run folder."""


class RunFolderTaken(FileExistsError):
    """The folder holds a saved run that this model is not: training there would replace it."""


class RunFolderError(OSError):
    """Writing the run folder failed (a full or read-only disk); the message says what was kept."""

    def __str__(self):
        return self.strerror if self.strerror else super().__str__()


class RunFolder:
    """The paths of one run; ``os.fspath(folder)`` is the folder itself.

    Args:
        path: the run folder, a str or ``os.PathLike`` (it need not exist yet).
    """

    def __init__(self, path):
        self.path = Path(os.fspath(path))
        self.held = False  # True inside ``locked()``: whoever trains into it need not take it again

    @classmethod
    def for_run(cls, section, run_id, data_name):
        """``run/<section>/<run id>_<data name>/`` under ``utils.paths.run_root()``.

        Raises ValueError for a run id that is not one plain folder name: ``../x``, ``a/b``
        or an absolute path would put the run outside the run root.

        Args:
            section: the chapter's folder under the run root, e.g. ``gan``.
            run_id: the run's id, e.g. ``0001`` (str() is taken).
            data_name: the data part of the name, e.g. ``camel`` (``DataSpec.run_name``).
        Returns:
            A ``RunFolder``.
        Raises:
            ValueError: ``run_id`` is empty, starts with '.', or holds '/', '\\' or NUL.
        """
        run_id = str(run_id)
        if not run_id or run_id.startswith(".") or any(c in run_id for c in "/\\\0"):
            raise ValueError(
                f"--run-id {run_id!r} is not a plain folder name: it must not be empty, start with "
                "'.', or contain '/' or '\\' (runs live under the run root, run/<section>/<run id>_<data>; "
                "set GDL_RUN_DIR to move the run root).")
        return cls(run_root() / section / f"{run_id}_{data_name}")

    def __fspath__(self):
        return str(self.path)

    def __str__(self):
        return str(self.path)

    def __repr__(self):
        return f"RunFolder({str(self.path)!r})"

    @property
    def images(self):
        return self.path / "images"

    @property
    def weights(self):
        return self.path / "weights"

    @property
    def viz(self):
        return self.path / "viz"

    @property
    def logs(self):
        return self.path / "logs"

    @property
    def checkpoint(self):
        return self.weights / CHECKPOINT_NAME

    @property
    def params_json(self):
        return self.path / "params.json"

    @property
    def params_pkl(self):
        return self.path / "params.pkl"

    @property
    def run_record(self):
        """``run.json``: which model class wrote the run."""
        return self.path / "run.json"

    @property
    def lock_file(self):
        return self.path / ".lock"

    @property
    def history(self):
        return self.path / "history.json"

    @property
    def loss_plot(self):
        return self.path / "losses.png"

    @property
    def quality(self):
        return self.path / "quality.json"

    @property
    def quality_plot(self):
        return self.path / "quality.png"

    @property
    def data_record(self):
        """``data.json``: the data set the run trains on, so that it can be evaluated against it."""
        return self.path / "data.json"

    @property
    def evaluation(self):
        return self.path / "eval"

    def sample(self, epoch):
        """The sample grid saved at ``epoch``.

        Args:
            epoch: the epoch in the file's name.
        Returns:
            The ``Path`` ``images/sample_<epoch>.png``.
        """
        return self.images / f"sample_{epoch}.png"

    def save_sample_grid(self, grid, epoch):
        """Write a grid (``plotting.tile_images``) as the sample of ``epoch``, whole or not at all.

        Returns:
            The grid's ``Path``.
        """
        from utils import plotting

        path = self.sample(epoch)
        path.parent.mkdir(parents=True, exist_ok=True)
        replace_atomically(path, lambda tmp: plotting.save_grid(grid, tmp))
        return path

    def archive(self, network_name):
        """Where ``save_model`` puts a whole network (``generator.keras``, ``critic.keras``...).

        Args:
            network_name: the network's name, e.g. ``generator``.
        Returns:
            The ``Path`` ``<folder>/<network_name>.keras``.
        """
        return self.path / f"{network_name}.keras"

    def make(self):
        for folder in (self.images, self.weights, self.viz):
            folder.mkdir(parents=True, exist_ok=True)
        return self

    def holds_run(self):
        """Whether a checkpoint has been saved here (a run to resume, not to overwrite)."""
        return self.checkpoint.exists()

    @contextlib.contextmanager
    def writing(self, what, then=None):
        """Turn a failed write (a full or read-only disk) into one clear error saying what was kept.

        Args:
            what: what the block writes, for the message (e.g. ``"the checkpoint"``).
            then: what to do once space or rights are back (default: continue the run, or start
                it again when it has no checkpoint yet).
        Raises:
            RunFolderError: an ``OSError`` was raised in the block (or HDF5's ``RuntimeError``
                carrying the disk's errno).
        """
        try:
            yield
        except RunFolderError:
            raise
        except (OSError, RuntimeError) as raised:
            error = raised if isinstance(raised, OSError) else disk_error(raised)
            if error is None:
                raise
            raise self.unwritable(error, f"write {what} in", then=then) from error

    def unwritable(self, error, doing, then=None, elsewhere=""):
        """The ``RunFolderError`` for a write that failed with ``error`` (an ``OSError``): what was
        being done, the cause, what the folder keeps, and what to do once space or rights are back
        (``then``; default: continue the run, or start it again when it has no checkpoint yet)."""
        if self.holds_run():
            kept = f"The last complete checkpoint, {self.checkpoint}, is kept and loads."
            then = then or "continue the run (--resume, or load_model and train)"
        else:
            kept = "No checkpoint had been saved yet."
            then = then or "run the same command again"
        return RunFolderError(
            error.errno, f"Could not {doing} {self.path} ({error.strerror or error}). {kept} Free some "
            f"space or make the folder writable{elsewhere}, then {then}.")

    def write_run_record(self, model_class, options):
        """``run.json``: the class that wrote the run and the options it was built with, whole."""
        write_json_atomically(self.run_record, {"model_class": model_class, "options": options})

    def remove_leftovers(self):
        """Temporary files of saves that a ``kill -9`` cut short (the saved files are whole)."""
        for leftover in self.path.rglob(".tmp-*"):
            leftover.unlink(missing_ok=True)
        restore_replaced_folder(self.evaluation)

    @contextlib.contextmanager
    def locked(self):
        """Hold the folder while this process trains into it: any other holder is refused.

        Taken once per run: whoever holds it passes this object on, and ``held`` tells
        ``train_run`` not to take it again.  The kernel drops the lock when the process
        ends, however it ends.

        Raises:
            RunFolderBusy: another process (or another ``locked()`` here) holds the folder.
        """
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            handle = open(self.lock_file, "a+")
        except OSError as error:
            raise self.unwritable(error, "create the run folder's lock file in", then="run again",
                                  elsewhere=" (or train into another: --run-id, GDL_RUN_DIR)") from None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            owner = handle.read().strip() or "another process"
            handle.close()
            raise RunFolderBusy(
                f"{self.path} is being trained into by {owner}. Wait until it finishes, "
                f"or train into another run folder (--run-id).") from None
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(f"process {os.getpid()}")
            handle.flush()
        except OSError as error:
            with contextlib.suppress(OSError):  # closing flushes, and fails the same way
                handle.close()
            raise self.unwritable(error, "write the run folder's lock file in", then="run again",
                                  elsewhere=" (or train into another: --run-id, GDL_RUN_DIR)") from None
        self.held = True
        try:
            yield self
        finally:
            self.held = False
            fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()


def disk_error(error):
    """The ``OSError`` an HDF5 ``RuntimeError`` stands for (h5py reports a failed write, such as a
    full disk, as "... errno = 28, error message = 'No space left on device' ..."), or None."""
    import re

    found = re.search(r"errno = (\d+)", str(error))
    if not found:
        return None
    number = int(found.group(1))
    return OSError(number, os.strerror(number))


def keras3_weights_file(filepath):
    """The file the book means by ``weights/weights.h5``: Keras 3 saves ``weights/weights.weights.h5``.

    Args:
        filepath: the weights file asked for, a str or ``os.PathLike``.
    Returns:
        A str: ``filepath`` itself when it ends in ``.weights.h5``, exists, or does not end
        in ``.h5``; else its ``.weights.h5`` twin.
    Raises:
        FileNotFoundError: a ``.h5`` path that exists neither as given nor as ``.weights.h5``.
    """
    filepath = os.fspath(filepath)
    if filepath.endswith(".weights.h5") or os.path.exists(filepath):
        return filepath
    if filepath.endswith(".h5"):
        keras3_name = filepath[: -len(".h5")] + ".weights.h5"
        if os.path.exists(keras3_name):
            return keras3_name
        raise FileNotFoundError(
            f"No weights file at {filepath}. Keras 3 weight files end in '.weights.h5': "
            f"this project saves them as {os.path.join(os.path.dirname(filepath) or '.', CHECKPOINT_NAME)}."
        )
    return filepath


def replace_folder_atomically(path, write):
    """Write the folder ``path`` whole under a temporary name beside it, then swap it in.

    ``write(staging)`` fills the staging folder.  The previous folder is renamed
    aside, the new one renamed into place, and the old one deleted: an
    interruption while writing leaves the previous folder as it was, and one
    between the two renames is undone by ``restore_replaced_folder``.

    Args:
        path: the folder to write.
        write: a callable given the staging folder (a ``Path``) to fill.
    Returns:
        ``path``, as a ``Path``.
    Raises:
        Exception: whatever ``write`` raises, once the staging folder is removed (``path``
            is left as it was).
    """
    import shutil

    path = Path(path)
    restore_replaced_folder(path)
    staging = path.with_name(f".writing-{path.name}")
    aside = path.with_name(f".replaced-{path.name}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        write(staging)
        if path.exists():
            os.rename(path, aside)
        os.rename(staging, path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    shutil.rmtree(aside, ignore_errors=True)
    return path


def restore_replaced_folder(path):
    """Undo what an interrupted ``replace_folder_atomically`` left: its staging folder goes, and
    the previous folder comes back if it was renamed aside but not yet replaced.

    Args:
        path: the folder ``replace_folder_atomically`` was writing.
    """
    import shutil

    path = Path(path)
    shutil.rmtree(path.with_name(f".writing-{path.name}"), ignore_errors=True)
    aside = path.with_name(f".replaced-{path.name}")
    if aside.exists():
        if path.exists():
            shutil.rmtree(aside, ignore_errors=True)
        else:
            os.rename(aside, path)


def replace_atomically(path, write):
    """Write ``path`` through a temporary name in its folder, then swap it in.

    An interrupted save (a signal, ``kill -9``, a full disk) leaves the previous
    file whole and no temporary file behind.  ``write(tmp_path)`` writes the file;
    the name keeps the real one's ending (Keras wants ``.weights.h5``).

    Args:
        path: the file to write; its folder must exist.
        write: a callable given the temporary path (a str) to write the whole file to.
    Returns:
        ``path``, as a ``Path``.
    Raises:
        Exception: whatever ``write`` raises, or the disk's ``OSError``, once the temporary
            file is removed (``path`` is left as it was).
    """
    path = Path(path)
    tmp = path.with_name(f".tmp-{path.name}")
    try:
        write(str(tmp))
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_json_atomically(path, data, indent=None):
    """``data`` as JSON in ``path``, written whole or not at all (``replace_atomically``)."""
    return replace_atomically(path, lambda tmp: Path(tmp).write_text(json.dumps(data, indent=indent)))
