"""``python -m utils.commands.run_figure RUN [RUN ...] OUT.png``: a picture of runs, for the README.

Each run's last sample grid, then their sample quality while training (the
Fréchet distance at each score, the held-out real images' floor dashed) — against
steps for one run, against training time for several (``--labels book,modern``),
read from the run folders as the training command left them.
"""

import argparse
import os
import re

from utils.commands.cli import refuse
from utils.evaluation.quality import read_quality
from utils.runs.folder import RunFolder

PICTURES = (".png", ".jpg", ".jpeg", ".svg", ".pdf")


def _step(path):
    return int(re.sub(r"\D", "", path.stem) or 0)


def last_grid(folder):
    """The sample grid of the latest epoch in ``images/``."""
    grids = sorted(folder.images.glob("sample_*.png"), key=_step)
    if not grids:
        raise FileNotFoundError(f"{folder.images} holds no sample grid: train the run first.")
    return grids[-1]


def run_figure(run_folder, out, more=(), labels=None):
    """Write the picture of ``run_folder`` (and of the ``more`` run folders beside it) to ``out``.

    Args:
        run_folder: the run whose grid comes first.
        out: the picture to write (PNG).
        more: further run folders: their last grids beside the first, their curves on one plot.
        labels: a name for each run (default: the folders' names).
    Returns:
        ``out``.
    """
    import matplotlib.image
    from matplotlib.figure import Figure

    folders = [RunFolder(folder) for folder in (run_folder, *more)]
    labels = list(labels) if labels else [folder.path.name for folder in folders]
    if len(labels) != len(folders):
        raise ValueError(f"{len(labels)} labels for {len(folders)} runs: give one per run.")
    grids = [last_grid(folder) for folder in folders]
    qualities = [read_quality(folder) for folder in folders]
    for folder, quality in zip(folders, qualities):
        if quality is None:
            raise FileNotFoundError(f"{folder.quality} is missing: train with quality scoring on.")
    records = [[r for r in quality["records"] if r.get("finite", True)] for quality in qualities]
    # Against training time where every score records it (the runs' costs per step differ).
    timed = len(folders) > 1 and all("training_seconds" in r for run in records for r in run)
    figure = Figure(figsize=(4.5 * (len(folders) + 1), 3.6), dpi=100)
    for k, (grid, label) in enumerate(zip(grids, labels)):
        axis = figure.add_subplot(1, len(folders) + 1, k + 1)
        axis.imshow(matplotlib.image.imread(grid), cmap="gray")
        title = f"samples at step {_step(grid)}"
        axis.set_title(f"{label}: {title}" if len(folders) > 1 else title, fontsize="medium")
        axis.axis("off")
    curves = figure.add_subplot(1, len(folders) + 1, len(folders) + 1)
    for run, label in zip(records, labels):
        x = [r["training_seconds"] / 60 if timed else r["epoch"] for r in run]
        curves.plot(x, [r["fid"] for r in run], marker="o", markersize=3,
                    label=label if len(folders) > 1 else None)
    curves.axhline(qualities[0]["floor"]["fid"], linestyle="--", color="gray", label="held-out real images")
    curves.set_xlabel("training minutes" if timed else "step")
    curves.set_ylabel("Fréchet distance (lower is better)")
    curves.set_yscale("log")
    curves.legend(fontsize="small")
    curves.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(out)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m utils.commands.run_figure", description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", help="one or more run folders, e.g. run/gan/0001_silhouettes-horse, "
                        "then the picture to write, e.g. docs/images/gan_silhouettes.png")
    parser.add_argument("--labels", default=None, help="comma-separated names of the runs, e.g. book,modern")
    args = parser.parse_args(argv)
    if len(args.runs) < 2:
        parser.error("give a run folder and the picture to write")
    *runs, out = args.runs
    if os.path.isdir(out) or not out.lower().endswith(PICTURES):
        parser.error(f"the last argument is the picture to write, and {out!r} is "
                     f"{'a folder' if os.path.isdir(out) else 'not a picture file name'}: end with one, "
                     f"e.g. docs/images/runs.png ({', '.join(PICTURES)})")
    try:
        print(run_figure(runs[0], out, more=runs[1:], labels=args.labels.split(",") if args.labels else None))
    except (OSError, ValueError) as error:
        refuse("run_figure", str(error))


if __name__ == "__main__":
    main()
