"""Run a chapter command with tiny networks: ``python tests/tiny_command.py CHAPTER ARGS...``
(04_01, 04_02, 04_03, cgan or infogan).

The subprocess tests (signals, kill -9, several workers) exercise the real
command, ``utils.commands.cli.run``, in its own process; only the networks are shrunk so
that a step takes milliseconds.  The model's final weights are printed as a
JSON line (``{"epoch": ..., "fingerprint": ..., "parameters": ...}``) so that tests can
compare processes; a model that is not the tiny one stops it with an error, so that the
shrinking cannot silently stop working.
"""

import json
import os
import sys

# The project before tests/ (this script's folder, first on the path), whose models/ and utils/
# hold tests and would hide the packages of the same names.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def fingerprint(model):
    import numpy as np

    return float(sum(np.abs(w).sum() * (k + 1) for k, w in enumerate(model.get_weights())))


def main(chapter, argv):
    from models.core.book import BookModel
    from tiny import is_tiny, use_tiny_chapters
    from utils.commands import cli

    use_tiny_chapters(batch_size=8)
    holder = {}
    train = BookModel._train

    def remembering(model, *args, **kwargs):  # the model the command trains
        holder["model"] = model
        return train(model, *args, **kwargs)

    BookModel._train = remembering
    try:
        cli.run(chapter, argv)
        code = 0
    except SystemExit as stop:
        code = stop.code
    model = holder.get("model")
    if model is not None:
        if not is_tiny(model):
            sys.exit(f"tiny_command: the command trained a {model.generator.count_params()}-parameter "
                     f"generator, not the tiny preset's: the registry patch did not reach it.")
        print("\n" + json.dumps({"epoch": model.epoch, "fingerprint": fingerprint(model),
                                 "parameters": model.count_params()}), flush=True)
    sys.exit(code)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
