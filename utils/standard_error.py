"""Standard error redirected at the file-descriptor level, for one piece of work.

C and C++ libraries (TensorFlow's notices, libjpeg's warnings) write to file descriptor 2 directly,
past Python's `sys.stderr`; only pointing descriptor 2 elsewhere catches them.
"""

import contextlib
import os
import sys


@contextlib.contextmanager
def standard_error_to(target):
    """Send everything written to standard error (Python and C libraries alike) to `target` for the
    duration: a path (appended to) or an open binary file.  A traceback printed afterwards is
    visible again."""
    sys.stderr.flush()
    saved = os.dup(2)
    if isinstance(target, (str, os.PathLike)):
        with open(target, "ab") as log:
            os.dup2(log.fileno(), 2)
    else:
        os.dup2(target.fileno(), 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
