"""Where data and runs live.

The book's code uses paths relative to the repository root (``./data``,
``run/gan/...``).  Scripts and notebooks may be started from elsewhere, so the
roots are resolved once here: an environment variable wins (tests point it at a
temporary folder), otherwise the folder next to this checkout's ``setup.cfg``,
otherwise the current directory.
"""

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _default_root(name):
    if (PROJECT_ROOT / "setup.cfg").exists():
        return PROJECT_ROOT / name
    return Path.cwd() / name


def data_root():
    """Folder holding ``<name>/`` data sets; ``GDL_DATA_DIR`` overrides it."""
    return Path(os.environ.get("GDL_DATA_DIR") or _default_root("data"))


def run_root():
    """Folder holding ``<section>/<run id>_<data>/`` runs; ``GDL_RUN_DIR`` overrides it."""
    return Path(os.environ.get("GDL_RUN_DIR") or _default_root("run"))
