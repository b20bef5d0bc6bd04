"""Run a chapter command with the tiny networks: ``python tests/tiny_command.py 04_01 ARGS...``.

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
from dataclasses import replace

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def fingerprint(model):
    import numpy as np

    return float(sum(np.abs(w).sum() * (k + 1) for k, w in enumerate(model.get_weights())))


def tiny_generator_parameters(params):
    from models.core.networks import build_generator
    from models.GAN import GAN

    arguments = [params[f"generator_{name}"] for name in GAN.GENERATOR_ARGUMENTS]
    return build_generator(params["z_dim"], *arguments).count_params()


def main(chapter, argv):
    from models.core.book import BookModel
    from tiny import camel_preset
    from utils import chapters
    from utils.commands import cli

    tiny = camel_preset(8).model
    chapters.CHAPTERS[chapter] = replace(chapters.CHAPTERS[chapter], preset=camel_preset(8))
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
        if model.generator.count_params() != tiny_generator_parameters(tiny):
            sys.exit(f"tiny_command: the command trained a {model.generator.count_params()}-parameter "
                     f"generator, not the tiny preset's: the registry patch did not reach it.")
        print("\n" + json.dumps({"epoch": model.epoch, "fingerprint": fingerprint(model),
                                 "parameters": model.count_params()}), flush=True)
    sys.exit(code)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
