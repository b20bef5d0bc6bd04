"""``python -m utils.commands.run_figure RUN_FOLDER OUT.png``: one picture of a run, for the README.

Its last sample grid beside its sample quality while training (the Fréchet
distance at each score, the held-out real images' floor dashed), read from the
run folder as the training command left it.
"""

import argparse
import json
import re
import sys

from utils.runs.folder import RunFolder


def _step(path):
    return int(re.sub(r"\D", "", path.stem) or 0)


def last_grid(folder):
    """The sample grid of the latest epoch in ``images/``."""
    grids = sorted(folder.images.glob("sample_*.png"), key=_step)
    if not grids:
        raise FileNotFoundError(f"{folder.images} holds no sample grid: train the run first.")
    return grids[-1]


def run_figure(run_folder, out):
    """Write the picture of ``run_folder`` to ``out``; returns ``out``."""
    import matplotlib.image
    from matplotlib.figure import Figure

    folder = RunFolder(run_folder)
    grid = last_grid(folder)
    if not folder.quality.exists():
        raise FileNotFoundError(f"{folder.quality} is missing: train with quality scoring on.")
    quality = json.loads(folder.quality.read_text())
    records = [r for r in quality["records"] if r.get("finite", True)]
    figure = Figure(figsize=(9, 3.6), dpi=100)
    left, right = figure.add_subplot(1, 2, 1), figure.add_subplot(1, 2, 2)
    left.imshow(matplotlib.image.imread(grid), cmap="gray")
    left.set_title(f"samples at step {_step(grid)}", fontsize="medium")
    left.axis("off")
    right.plot([r["epoch"] for r in records], [r["fid"] for r in records], marker="o", markersize=3)
    right.axhline(quality["floor"]["fid"], linestyle="--", color="gray", label="held-out real images")
    right.set_xlabel("step")
    right.set_ylabel("Fréchet distance (lower is better)")
    right.set_yscale("log")
    right.legend(fontsize="small")
    right.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(out)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m utils.commands.run_figure", description=__doc__.split("\n\n")[0])
    parser.add_argument("run_folder", help="a run folder, e.g. run/gan/0001_silhouettes-horse")
    parser.add_argument("out", help="the picture to write, e.g. docs/images/gan_silhouettes.png")
    args = parser.parse_args(argv)
    try:
        print(run_figure(args.run_folder, args.out))
    except (FileNotFoundError, KeyError, ValueError) as error:
        sys.exit(f"run_figure: {error}")


if __name__ == "__main__":
    main()
