"""Where data and runs live.

The book's code uses paths relative to the repository root (``./data``,
``run/gan/...``).  Scripts and notebooks may be started from elsewhere, so the
roots are resolved once here: an environment variable wins (tests point it at a
temporary folder), otherwise the folder next to this checkout's ``setup.cfg``,
otherwise the current directory.
"""

import os
import tempfile
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _default_root(name):
    if (PROJECT_ROOT / "setup.cfg").exists():
        return PROJECT_ROOT / name
    return Path.cwd() / name


def data_root():
    """Folder holding ``<name>/`` data sets; ``GDL_DATA_DIR`` overrides it."""
    return _root("GDL_DATA_DIR", "data", "the data sets")


def run_root():
    """Folder holding ``<section>/<run id>_<data>/`` runs; ``GDL_RUN_DIR`` overrides it."""
    return _root("GDL_RUN_DIR", "run", "the runs")


def _root(variable, name, holds):
    """The environment's folder, refused with a message naming the variable when it is a file."""
    given = os.environ.get(variable)
    if not given:
        return _default_root(name)
    path = Path(given)
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(
            f"{variable}={given} is a file, not a folder: point {variable} at a folder for {holds} "
            f"(it is made if missing), or unset it to use {_default_root(name)}.")
    return path


def keras_home():
    """Keras' own cache folder, where ``keras.utils.get_file`` keeps downloads: ``$KERAS_HOME``,
    else ``~/.keras``."""
    return os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")


def writable_folder_problem(folder):
    """None when ``folder`` is (or can be made) a folder this process can write in, else why not
    (asked before any work, so that a tool does not fail after it)."""
    if os.path.exists(folder) and not os.path.isdir(folder):
        return "it is a file, not a folder; give a folder."
    try:
        os.makedirs(folder, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder):
            pass
    except OSError as error:
        return f"cannot write there ({error.strerror or error}); give a folder you can write in."
    return None
